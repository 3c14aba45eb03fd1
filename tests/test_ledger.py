"""The reciprocity ledger, `report`, `notify` and microformats."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import mf2py
from helpers import build, make_site, page, posts, rss
from test_cli import run

from pelican_reciprocity import ledger, ledger_file
from pelican_reciprocity.identity import Directory, identify
from pelican_reciprocity.model import ArticleFacts, Response


def test_owed_counts_responses_since_the_last_highlight_or_link():
    identity = Directory()
    identity.add("url:lena.example", "Lena Okafor", "https://lena.example/", friend=True)
    responses = [
        Response(id=f"r{i}", kind="comment", target="slug:a", author_name="Lena Okafor",
                 author_url="https://lena.example/", published=datetime(2026, 11, d, tzinfo=UTC))
        for i, d in enumerate([1, 10, 20, 21])
    ]  # fmt: skip
    people, _ = identify(responses, {})
    article = ArticleFacts(
        key="a",
        url="https://me.example/a.html",
        date=datetime(2026, 11, 15, tzinfo=UTC),
        curated=(("url:lena.example", "https://lena.example/p/1"),),
        links=("https://lena.example/p/2", "https://other.example/"),
    )
    data = ledger.build_ledger(identity, people, {r.id: "a" for r in responses}, [article])
    lena = data["url:lena.example"]
    assert lena["received"]["count"] == 4 and lena["owed"] == 2
    assert lena["given"]["curated"]["count"] == 1 and lena["given"]["links"]["count"] == 1
    assert lena["last_given"] == "2026-11-15T00:00:00+00:00"
    # stable text: same inputs, same bytes
    again = ledger.build_ledger(identity, people, {r.id: "a" for r in responses}, [article])
    assert ledger_file.dumps({"people": data}) == ledger_file.dumps({"people": again})


def test_outbound_links_leave_the_site():
    html = '<a href="https://me.example/x">own</a> <a href="https://a.example/p">a</a> <a href="#top">x</a>'
    assert ledger.outbound_links(html, "https://me.example") == ["https://a.example/p"]


def notify_site(
    tmp_path, feed_server, *, allow_private=True, names=("link-header", "link-tag", "a-tag", "none")
):
    targets = {name: feed_server.url(f"/wm/{name}") for name in names}
    items = [
        {"title": f"Post {name}", "link": url, "date": datetime(2026, 11, 1, tzinfo=UTC)}
        for name, url in targets.items()
    ]
    feed = feed_server.add("wm", rss("WM friend", items, link=feed_server.url("/wm/")))
    site = make_site(
        tmp_path,
        friends=[{"name": "Mentioned", "url": feed_server.url("/wm/"), "feed": feed}],
        articles=[
            {
                "title": "Highlighting",
                "slug": "highlighting",
                "meta": {"Highlights": ", ".join(targets.values())},
            },
        ],
        settings={
            "SITEURL": "https://me.example",
            "RECIPROCITY_ALLOW_PRIVATE_ADDRESSES": allow_private,
            "RECIPROCITY_NOTIFY_INTERVAL": 0,
        },
    )
    return site, targets


def test_notify_sends_once_per_highlighted_post(tmp_path, feed_server, monkeypatch):
    site, targets = notify_site(tmp_path, feed_server)
    build(site, monkeypatch)
    dry = run(site, "notify")
    assert dry.returncode == 0 and "4 webmention(s) to send" in dry.stdout
    assert feed_server.received == []  # a dry run never sends
    sent = run(site, "notify", "--send")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    received = sorted(
        (path, parse_qs(body)["source"][0], parse_qs(body)["target"][0])
        for path, body in feed_server.received
    )
    source = "https://me.example/highlighting.html"
    assert received == sorted(
        ("/wm/endpoint", source, targets[name]) for name in ("link-header", "link-tag", "a-tag")
    )
    assert f"unsupported: {targets['none']}" in sent.stdout
    again = run(site, "notify", "--send")
    assert again.returncode == 0 and len(feed_server.received) == 3  # never twice
    data = json.loads((site / "reciprocity" / "ledger.json").read_text(encoding="utf-8"))
    statuses = sorted(v["status"] for v in data["webmentions"].values())
    assert statuses == ["sent", "sent", "sent", "unsupported"]
    # a rebuild keeps what notify recorded
    build(site, monkeypatch)
    data = json.loads((site / "reciprocity" / "ledger.json").read_text(encoding="utf-8"))
    assert len(data["webmentions"]) == 4


def test_notify_refuses_private_endpoints_and_local_sites(tmp_path, feed_server, monkeypatch):
    site, _ = notify_site(tmp_path, feed_server, allow_private=False)
    build(site, monkeypatch)
    result = run(site, "notify", "--send")
    assert feed_server.received == []
    assert "refused" in result.stdout and "non-public address 127.0.0.1" in result.stdout
    (site / "local.py").write_text(
        (site / "pelicanconf.py").read_text().replace("https://me.example", "http://localhost:8000")
    )
    local = run(site, "-s", "local.py", "notify", "--send")
    assert local.returncode == 2 and "notify needs the published site's address" in local.stderr


def test_report_and_its_stable_json(tmp_path, feed_server, monkeypatch):
    feed = feed_server.add(
        "lena", rss("Lena", posts("lena", host="lena.example"), link="https://lena.example/")
    )
    site = make_site(
        tmp_path,
        friends=[{"name": "Lena Okafor", "url": "https://lena.example/", "feed": feed}],
        articles=[
            {
                "title": "Post",
                "slug": "post",
                "meta": {"Highlights": "https://lena.example/lena/2/"},
            }
        ],
    )
    folder = site / "content" / "comments" / "post"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"{i}.md").write_text(
            f"author: Lena Okafor\nwebsite: https://lena.example/\ndate: 2026-06-0{i + 1}\n\nHi {i}",
            encoding="utf-8",
        )
    build(site, monkeypatch)
    text = run(site, "report")
    assert text.returncode == 0
    assert "Lena Okafor responded 3 times since you last highlighted them" in text.stdout
    first, second = run(site, "report", "--json").stdout, run(site, "report", "--json").stdout
    assert first == second
    data = json.loads(first)
    assert data["owed"][0]["name"] == "Lena Okafor" and data["owed"][0]["owed"] == 3
    assert data["suggestions"] and all("lena.example" in s["url"] for s in data["suggestions"])
    assert "https://lena.example/lena/2/" not in [s["url"] for s in data["suggestions"]]
    assert data["share"] == {"responding": 1, "articles": 1}
    assert run(site, "report", "--since", "soon").returncode == 2


def test_highlights_parse_as_h_cite(tmp_path, feed_server, monkeypatch):
    feed = feed_server.add("mf", rss("MF", posts("mf", host="mf.example")))
    site = make_site(tmp_path, friends=[{"name": "MF", "url": "https://mf.example/", "feed": feed}])
    build(site, monkeypatch)
    html = page(site, "article-0.html")
    section = html[html.index('<section class="reciprocity-highlights"') :]
    parsed = mf2py.parse(doc=section)
    cites = [item for item in parsed["items"] if "h-cite" in item["type"]]
    assert cites
    for cite in cites:
        assert cite["properties"]["name"][0].startswith("mf post")
        assert re.match(r"https://mf\.example/", cite["properties"]["url"][0])


def test_the_share_counts_responses_not_links_and_adds_up_to_100():
    lena = "https://lena.example/"
    directory = Directory()
    directory.add("url:lena.example", "Lena", lena, friend=True)
    day = datetime(2026, 11, 1, tzinfo=UTC)
    facts = [
        ArticleFacts(key="a", url="a", date=day, links=("https://en.wikipedia.org/wiki/Seed",)),
        ArticleFacts(key="b", url="b", date=day, links=("https://lena.example/post/",)),
        ArticleFacts(key="c", url="c", date=day, curated=(("url:lena.example", lena + "x/"),)),
    ]
    data = {"articles": ledger.article_records(facts, directory)}
    assert ledger.share_of_responses(data, None) == (2, 3)
    assert ledger.percentages(6, 9) == (67, 33)
    assert ledger.percentages(0, 0) == (0, 100)


def test_the_ledger_keeps_each_date_on_its_authors_day():
    from datetime import timedelta, timezone

    paris = timezone(timedelta(hours=1))
    directory = Directory()
    directory.add("url:lena.example", "Lena", "https://lena.example/", friend=True)
    early = Response(id="r1", kind="comment", target="slug:a", author_name="Lena",
                     author_url="https://lena.example/",
                     published=datetime(2025, 12, 31, 0, 30, tzinfo=paris))  # fmt: skip
    late = Response(id="r2", kind="comment", target="slug:a", author_name="Lena",
                    author_url="https://lena.example/",
                    published=datetime(2025, 12, 30, 23, 45, tzinfo=UTC))  # fmt: skip
    people, _ = identify([early, late], {"url:lena.example": "Lena"})
    given = ArticleFacts(
        key="a", url="a", date=datetime(2025, 12, 31, 0, 40, tzinfo=paris),
        curated=(("url:lena.example", "https://lena.example/p/"),),
    )  # fmt: skip
    data = ledger.build_ledger(directory, people, {"r1": "a", "r2": "a"}, [given])
    lena = data["url:lena.example"]
    # the later instant wins, shown with its own offset (23:45 UTC is after 00:30 at +01:00)
    assert lena["received"]["last"] == "2025-12-30T23:45:00+00:00"
    assert lena["last_given"] == "2025-12-31T00:40:00+01:00"  # the author's day: the 31st
    assert lena["owed"] == 1  # 23:45 UTC is after the highlight at 23:40 UTC


def test_notify_killed_between_send_and_record_never_sends_twice(
    tmp_path, feed_server, monkeypatch
):
    import os
    import signal
    import subprocess
    import sys
    import time

    site, targets = notify_site(tmp_path, feed_server, names=("link-tag", "hold", "a-tag"))
    hold = targets["hold"]
    build(site, monkeypatch)
    feed_server.hold.set()
    command = [sys.executable, "-m", "pelican_reciprocity", "notify", "--send"]
    proc = subprocess.Popen(command, cwd=site, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not any(path == "/wm/hold" for path, _ in feed_server.received):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # after the endpoint got it, before the answer
        proc.wait()
    feed_server.hold.clear()
    again = run(site, "notify", "--send")
    assert again.returncode == 0, again.stdout + again.stderr
    to_hold = [body for path, body in feed_server.received if path == "/wm/hold"]
    assert len(to_hold) == 1  # never twice, whatever the first run had recorded
    assert f"interrupted: {hold}" in again.stdout
    data = json.loads((site / "reciprocity" / "ledger.json").read_text(encoding="utf-8"))
    statuses = sorted(v["status"] for v in data["webmentions"].values())
    assert statuses.count("sending") == 1 and "sent" in statuses


def test_links_out_are_scanned_again_only_for_articles_that_changed(tmp_path, monkeypatch):

    articles = [
        {"title": f"Post {i}", "slug": f"post-{i}", "body": f"See <https://other{i}.example/p>."}
        for i in range(4)
    ]
    feed = tmp_path / "feed.xml"
    feed.write_text(rss("Lena", posts("lena", host="lena.example")), encoding="utf-8")
    site = make_site(tmp_path, friends=[{"name": "Lena", "feed": feed.as_uri()}], articles=articles)
    build(site, monkeypatch)
    ledger_path = site / "reciprocity" / "ledger.json"
    first = ledger_path.read_text(encoding="utf-8")
    scanned = []
    real = ledger.outbound_links

    def counting(html, own):
        scanned.append(html)
        return real(html, own)

    monkeypatch.setattr(ledger, "outbound_links", counting)  # read when a scan is needed
    build(site, monkeypatch)
    assert scanned == [] and ledger_path.read_text(encoding="utf-8") == first
    changed = site / "content" / "a2.md"
    changed.write_text(
        changed.read_text(encoding="utf-8").replace("other2.example", "moved.example"),
        encoding="utf-8",
    )
    build(site, monkeypatch)
    assert len(scanned) == 1 and "https://moved.example/p" in scanned[0]


def _ledger_inputs():
    identity = Directory()
    for i in range(12):  # enough friends that a set's order differs between processes
        identity.add(f"url:f{i}.example", f"Friend {i}", f"https://f{i}.example/", friend=True)
    article = ArticleFacts(
        key="a",
        url="https://me.example/a.html",
        date=datetime(2026, 11, 15, tzinfo=UTC),
        curated=(("url:f1.example", "https://f1.example/p/1"),),
        links=("https://f2.example/p/2",),
    )
    return identity, [article]


def test_the_ledger_is_not_read_again_while_its_inputs_and_file_are_unchanged(
    tmp_path, monkeypatch
):
    identity, facts = _ledger_inputs()
    path, memo = tmp_path / "ledger.json", tmp_path / "cache" / "ledger-inputs.json"
    assert ledger_file.update(path, identity, [], {}, facts, memo=memo)
    loads = []
    real = ledger_file.load
    monkeypatch.setattr(ledger_file, "load", lambda p: loads.append(p) or real(p))
    assert not ledger_file.update(path, identity, [], {}, facts, memo=memo)
    assert loads == []  # same inputs, untouched file: nothing read, nothing built
    # New inputs are written...
    moved = [dataclasses.replace(facts[0], links=("https://f3.example/p/3",))]
    assert ledger_file.update(path, identity, [], {}, moved, memo=memo) and len(loads) == 1
    assert json.loads(path.read_text(encoding="utf-8"))["people"]["url:f3.example"]
    # ... and a ledger the owner (or notify) touched is read again, and mended.
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["people"]["url:f3.example"]
    path.write_text(ledger_file.dumps(data), encoding="utf-8")
    assert ledger_file.update(path, identity, [], {}, moved, memo=memo) and len(loads) == 2
    assert json.loads(path.read_text(encoding="utf-8"))["people"]["url:f3.example"]
    # A damaged memo only costs the shortcut.
    memo.write_text("{not json", encoding="utf-8")
    assert not ledger_file.update(path, identity, [], {}, moved, memo=memo) and len(loads) == 3
    assert not ledger_file.update(path, identity, [], {}, moved, memo=memo) and len(loads) == 3


def test_the_ledger_inputs_digest_is_the_same_in_every_process():
    """Sets iterate in a different order under each hash seed: the digest
    must not, or no rebuild would ever find its ledger up to date."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_ledger as t; "
        "from pelican_reciprocity import ledger_file; "
        "identity, facts = t._ledger_inputs(); "
        "print(ledger_file.inputs_digest(identity, [], {}, facts))"
    )
    here = str(Path(__file__).parent)
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, here],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_the_ledger_follows_what_an_articles_url_is_made_from(tmp_path, monkeypatch):
    """The ledger is checked against what each article's facts are made of,
    not the facts: an unchanged rebuild makes none, while a new URL pattern,
    or a new value of a field it names, still reaches the ledger."""
    from pelican_reciprocity import articles

    feed = tmp_path / "feed.xml"
    feed.write_text(rss("Lena", posts("lena", host="lena.example")), encoding="utf-8")
    site = make_site(
        tmp_path,
        friends=[{"name": "Lena", "feed": feed.as_uri()}],
        articles=[{"title": "Post", "slug": "post", "meta": {"Category": "garden"}}],
    )
    ledger_path = site / "reciprocity" / "ledger.json"

    def url() -> str:
        return json.loads(ledger_path.read_text(encoding="utf-8"))["articles"]["post"]["url"]

    build(site, monkeypatch)
    assert url() == "post.html"
    made = []
    real = articles.LinkScan.of
    monkeypatch.setattr(articles.LinkScan, "of", lambda *a: made.append(1) or real(*a))
    build(site, monkeypatch)
    assert made == []  # nothing the facts are made of changed
    by_category = {"ARTICLE_URL": "{category}/{slug}/", "ARTICLE_SAVE_AS": "{category}/{slug}.html"}
    build(site, monkeypatch, **by_category)
    assert url() == "garden/post/" and made == [1]
    post = site / "content" / "a0.md"
    post.write_text(post.read_text(encoding="utf-8").replace("garden", "kitchen"), encoding="utf-8")
    build(site, monkeypatch, **by_category)
    assert url() == "kitchen/post/" and made == [1, 1]


def test_an_article_class_with_its_own_url_is_asked_for_it():
    """A plugin's content class may make its URL its own way: then the URL
    itself is what the ledger is checked against."""
    from pelican.contents import Article

    from pelican_reciprocity.articles import _Patterns

    class Elsewhere(Article):
        url = property(lambda self: "elsewhere/post.html")

    article = object.__new__(Elsewhere)
    assert _Patterns().url_inputs(article) == "elsewhere/post.html"
