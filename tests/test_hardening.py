"""Hostile inputs from other people's servers: each costs only itself.

The acceptance build of the hardening issue: every input that once stopped a
build, reached inside the network or blocked the downloads, served from the
loopback server at once, built cold, warm and offline.
"""

from __future__ import annotations

import html
import json
import logging
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from helpers import NOW, build, make_site, page, posts, reciprocity_records, rss
from pelican.log import LimitFilter
from test_refresh import config_for
from test_thanks_build import thanks_section
from test_units import page_is_safe

import pelican_reciprocity.feeds as feeds_module
import pelican_reciprocity.refresh as refresh_module
from pelican_reciprocity.discovery import NoFeed, discover
from pelican_reciprocity.feeds import parse_feed
from pelican_reciprocity.fetch import Limits
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import refresh
from pelican_reciprocity.webmention import Sender

SITEURL = "https://me.example"
TARGET = f"{SITEURL}/tomato-seed.html"
ARTICLE = {"title": "Saving tomato seed", "slug": "tomato-seed", "body": "Ferment the seed."}


def _mention(i: int, name: str, published: object, text: str = "Thanks for this") -> dict:
    return {
        "wm-id": i,
        "wm-property": "in-reply-to",
        "wm-target": TARGET,
        "author": {"name": name, "url": f"https://person{i}.example/"},
        "published": published,
        "content": {"text": text},
    }


def _nested_divs_feed(items: int, depth: int) -> str:
    body = "<div>" * depth + "deep words here" + "</div>" * depth
    entries = "".join(
        f"<item><title>Nested {i}</title><link>https://nested.example/{i}/</link>"
        f"<description><![CDATA[{body}]]></description></item>"
        for i in range(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Nested</title>'
        f"<link>https://nested.example/</link>{entries}</channel></rss>"
    )


def _big_json_feed(items: int) -> str:
    newest = NOW - timedelta(hours=1)
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Everything ever",
            "home_page_url": "https://big.example/",
            "items": [
                {
                    "id": f"https://big.example/{i}",
                    "url": f"https://big.example/{i}",
                    "title": f"Big post {i}",
                    "content_html": f"<p>Post {i}</p>",
                    "date_published": (newest - timedelta(minutes=i)).isoformat(),
                }
                for i in range(items)
            ],
        }
    )


def hostile_site(feed_server, tmp_path, monkeypatch):
    server = feed_server
    friends = [
        {"name": "Good Friend", "feed": server.add("good", rss("Good", posts("good", 3)))},
        {"name": "Slow but fine", "feed": server.url("/slow/1/slowgood")},
        {"name": "Script redirect", "feed": server.put("/r/js", "", status=302,
                                                        headers={"Location": "javascript:alert(1)"})},
        {"name": "Bad port", "feed": server.put("/r/port", "", status=302,
                                                 headers={"Location": "http://127.0.0.1:99999/"})},
        {"name": "Unicode ETag", "feed": server.put(
            "/etag", rss("Etag", posts("etag", 2)), "application/rss+xml",
            headers={"ETag": '"caf\xc3\xa9"', "Last-Modified": "Mitt\xc3\xa9woch"})},
        {"name": "Everything ever", "feed": server.add(
            "big", _big_json_feed(45_000), "application/feed+json")},
        {"name": "Nested", "feed": server.add("nested", _nested_divs_feed(12, 60_000))},
    ]  # fmt: skip
    server.add("slowgood", rss("Slow", posts("slowgood", 2)))
    mentions = [
        _mention(1, "Good responder", "2026-11-20T10:00:00+00:00"),
        _mention(2, "In milliseconds", 1764000000000),
        _mention(3, "End of time", "9999-12-31T23:59:59-12:00"),
        _mention(4, "Lone \ud800 surrogate", "2026-11-21T10:00:00+00:00"),
        _mention(5, "\u202egnihtemos\u202c Override", "2026-11-22T10:00:00+00:00"),
    ]
    server.webmentions = [_mention(9, "Mentioned in ms", 1764000000000)]
    feed = {"type": "feed", "children": mentions}
    source = server.put("/mentions.json", json.dumps(feed), "application/json")
    deep = server.put("/deep.json", "[" * 100_000 + "]" * 100_000, "application/json")
    monkeypatch.setenv("WEBMENTION_IO_TOKEN", "s3cret-token")
    site = make_site(
        tmp_path,
        friends=friends,
        articles=[ARTICLE],
        settings={
            "SITEURL": SITEURL,
            "RECIPROCITY_TIMEOUT": 5,
            "RECIPROCITY_RESPONSE_SOURCES": [source, deep],
            "RECIPROCITY_WEBMENTION_IO_DOMAIN": "me.example",
            "RECIPROCITY_WEBMENTION_IO_API": server.url("/api/mentions.jf2"),
        },
    )
    folder = site / "content" / "comments" / "tomato-seed"
    folder.mkdir(parents=True)
    (folder / "001.md").write_text(
        "author: Year One\ndate: 0001-01-01T00:00:00+01:00\n\nFrom the distant past.\n",
        encoding="utf-8",
    )
    return site


BAD = {
    "Script redirect": "feed of Script redirect (",
    "Bad port": "feed of Bad port (",
    "deep JSON": "deep.json",
    "year 9999": "9999-12-31",
    "year 1": "0001-01-01",
}


def test_every_hostile_input_costs_only_itself_cold_warm_and_offline(
    feed_server, tmp_path, monkeypatch, caplog
):
    site = hostile_site(feed_server, tmp_path, monkeypatch)
    for run in ("cold", "warm", "offline"):
        if run == "offline":
            monkeypatch.setenv("RECIPROCITY_OFFLINE", "1")
        caplog.clear()
        caplog.set_level(logging.INFO)
        LimitFilter._raised_messages.clear()  # each build is its own `pelican` run
        feed_server.reset()
        build(site, monkeypatch)
        if run != "cold":
            assert feed_server.requests == 0, (run, dict(feed_server.hits))
        friends_page = page(site, "friends/index.html")
        for title in ("good post 0", "slowgood post 0", "etag post 0", "Big post 0", "Nested 0"):
            assert title in friends_page, (run, title)
        assert "Big post 44999" not in friends_page
        # as a reader gets it: an all-ASCII page has its other characters as references
        thanks = html.unescape(thanks_section(page(site, "tomato-seed.html")))
        for name in ("Good responder", "In milliseconds", "End of time", "Year One",
                     "Mentioned in ms", "Override"):  # fmt: skip
            assert name in thanks, (run, name)
        assert "Lone \ufffd surrogate" in thanks, run
        assert "\u202e" not in thanks, run
        warnings = reciprocity_records(caplog, logging.WARNING)
        for what, needle in BAD.items():
            named = [w for w in warnings if needle in w]
            assert len(named) == 1, (run, what, warnings)
        for good in ("Good Friend", "Slow but fine", "Unicode ETag", "Everything ever", "Nested"):
            assert not any(f"feed of {good} (" in w for w in warnings), (run, good, warnings)
        for path in (site / "output").rglob("*.html"):
            assert page_is_safe(path.read_text(encoding="utf-8")), path
    # the UTF-8 ETag was never stored, so it never has to be sent back
    stored = [p.read_bytes() for p in (site / "cache").rglob("*") if p.is_file()]
    assert stored and not any(b"caf\xc3\xa9" in data for data in stored)


@pytest.mark.parametrize("heavy_kind", ["malformed", "big"])
def test_a_slow_parse_never_makes_another_feed_time_out(
    feed_server, tmp_path, monkeypatch, heavy_kind
):
    """A body that may take long to read is read beside the downloads: while
    one feed takes 3 s to read, a healthy feed answering in 1 s (timeout 2 s)
    still arrives. Both kinds: one only the lenient reader reads (it is the
    slow one), and one too big to read on the download loop (the fast reader
    is the slow one)."""
    import feedparser

    heavy_xml = rss("Heavy", posts("heavy", 1))
    if heavy_kind == "malformed":
        heavy_xml = heavy_xml.replace("<channel>", "<channel><br>", 1)
        owner, name = feedparser, "parse"
    else:
        padding = "<!--" + "x" * (refresh_module.QUICK_BYTES + 1) + "-->"
        heavy_xml = heavy_xml.replace("<channel>", "<channel>" + padding, 1)
        owner, name = feeds_module, "_parse_etree"
    heavy = feed_server.add("heavy", heavy_xml)
    feed_server.add("healthy", rss("Healthy", posts("healthy", 1)))
    healthy = feed_server.url("/slow/1/healthy")
    real = getattr(owner, name)

    def slow_for_heavy(body, *args, **kwargs):
        if b"Heavy" in body:
            time.sleep(3)  # holds the thread as a 100,000-entry feed would
        return real(body, *args, **kwargs)

    monkeypatch.setattr(owner, name, slow_for_heavy)
    friends = [Friend(name="Heavy", feed=heavy), Friend(name="Healthy", feed=healthy)]
    gathered = refresh(friends, config_for(tmp_path, timeout=2))
    outcomes = {state.friend.name: (state.outcome, state.error) for state in gathered.feeds}
    assert outcomes == {"Heavy": ("updated", None), "Healthy": ("updated", None)}


def test_a_feed_quick_to_read_is_read_on_the_download_loop(feed_server, tmp_path, monkeypatch):
    """Handing each body to the parser thread cost a second of CPU per 1,000
    feeds: a small, well-formed one is read where it was downloaded, and
    only the others go to the thread (a malformed one after a quick try)."""
    good = feed_server.add("good", rss("Good", posts("good", 2)))
    bad = feed_server.add("bad", rss("Bad", posts("bad", 2)).replace("<channel>", "<channel><br>"))
    where: dict[str, list[str]] = {}
    real = feeds_module.parse_feed

    def recorded(body, **kwargs):
        name = "Good" if b"Good" in body else "Bad"
        label = "full" if kwargs.get("lenient", True) else "quick"
        where.setdefault(name, []).append(f"{label} {threading.current_thread().name}")
        return real(body, **kwargs)

    monkeypatch.setattr(feeds_module, "parse_feed", recorded)
    # One at a time: a body that arrives while the thread has work goes there too.
    for name, url in (("Good", good), ("Bad", bad)):
        gathered = refresh([Friend(name=name, feed=url)], config_for(tmp_path))
        assert gathered.feeds[0].outcome == "updated"
    loop = threading.main_thread().name
    assert where["Good"] == [f"quick {loop}"]
    assert where["Bad"][0] == f"quick {loop}"
    assert where["Bad"][1].startswith("full reciprocity-parse") and len(where["Bad"]) == 2


def test_only_the_newest_posts_of_a_huge_feed_are_read():
    items = posts("many", 500)
    items.reverse()  # oldest first: the cap keeps the newest wherever they are
    parsed = parse_feed(rss("Many", items).encode(), base=None, max_posts=20)
    assert sorted(p.title for p in parsed.posts) == sorted(f"many post {i}" for i in range(20))
    everything = parse_feed(rss("Many", items).encode(), base=None)
    assert len(everything.posts) == 500


# -- the address policy, with a resolver that names hosts as an attacker would ----------


def test_a_public_address_never_leads_inside_for_feeds_sources_discovery_or_notify(
    feed_server, inside, tmp_path
):
    port = inside.httpd.server_address[1]
    secret = f"http://inside.example:{port}/feed/secret"
    jump = feed_server.put("/jump", "", status=302, headers={"Location": secret})
    page = feed_server.put(
        "/page",
        f'<html><head><link rel="alternate" type="application/rss+xml" href="{secret}">'
        "</head><body>Hi</body></html>",
    )
    config = config_for(tmp_path)
    gathered = refresh([Friend(name="Jumper", feed=jump)], config, sources=[jump])
    [state] = gathered.feeds
    assert state.outcome == "failed" and "non-public address 127.0.0.2" in state.error
    body, error = gathered.sources[jump]
    assert body is None and "non-public address 127.0.0.2" in error
    with pytest.raises(NoFeed, match=r"non-public address 127\.0\.0\.2"):
        discover(page, Limits(timeout=3), deadline=10)
    sender = Sender(timeout=3, deadline=10, interval=0, allow_private=False, user_agent="t")
    outcome = sender.send("https://me.example/a.html", jump)
    assert outcome.status == "refused" and "non-public address 127.0.0.2" in outcome.detail
    assert inside.requests == 0  # nothing ever reached the server inside


def test_dns_rebinding_cannot_reach_inside_and_idna_names_one_host(feed_server, inside):
    port = feed_server.httpd.server_address[1]
    # checked as public, then answering 127.0.0.2 to whoever asks again
    inside.answers["rebind.example"] = ["93.184.216.34", "127.0.0.2", "127.0.0.2"]
    sender = Sender(timeout=2, deadline=4, interval=0, allow_private=False, user_agent="t")
    outcome = sender.send("https://me.example/a.html", f"http://rebind.example:{port}/wm/x")
    assert outcome.status == "failed"  # the checked (unreachable) address, never the new one
    assert inside.requests == 0 and inside.asked.count("rebind.example") == 1
    # faß.example: IDNA 2003 says fass.example, IDNA 2008 (httpx) xn--fa-hia.example
    inside.answers["xn--fa-hia.example"] = ["127.0.0.1"]
    inside.asked.clear()
    trusting = Sender(timeout=3, deadline=10, interval=0, allow_private=True, user_agent="t")
    outcome = trusting.send("https://me.example/a.html", f"http://faß.example:{port}/wm/link-tag")
    assert outcome.status == "sent", outcome
    assert set(inside.asked) == {"xn--fa-hia.example"}  # checked the host it connected to
    assert f"xn--fa-hia.example:{port}" in feed_server.hosts  # and the server was told so


def test_notify_deadline_covers_a_trickling_answer(feed_server):
    sender = Sender(timeout=10, deadline=2, interval=0, allow_private=True, user_agent="t")
    started = time.monotonic()
    outcome = sender.send("https://me.example/a.html", feed_server.url("/trickle-headers"))
    assert outcome.status == "failed" and "deadline" in outcome.detail
    assert time.monotonic() - started < 8  # the trickle alone would take a minute


# -- bounded work: OPML ------------------------------------------------------------------


def test_import_opml_of_50000_outlines_is_linear_and_skips_local_files(tmp_path):
    import tomllib

    site = make_site(tmp_path, friends=[{"name": "Me", "feed": "https://me.example/feed.xml"}])
    outlines = [
        f'<outline type="rss" text="Blog {i}" xmlUrl="https://blog{i}.example/feed.xml" '
        f'htmlUrl="https://blog{i}.example/"/>'
        for i in range(50_000)
    ]
    outlines += ['<outline text="Secrets" xmlUrl="file:///etc/passwd"/>',
                 '<outline text="Nearby" xmlUrl="../notes/feed.xml"/>']  # fmt: skip
    (site / "big.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>' + "\n".join(outlines) + "</body></opml>",
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "pelican_reciprocity", "import-opml", "big.opml"]
    done = subprocess.run(command, cwd=site, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "imported 50000 friend(s)" in done.stdout
    assert "'file:///etc/passwd' is not a web address (--allow-local)" in done.stdout
    assert "'../notes/feed.xml' is not a web address" in done.stdout
    text = (site / "friends.toml").read_text(encoding="utf-8")
    friends = tomllib.loads(text)["friends"]
    assert len(friends) == 50_001 and friends[0]["name"] == "Me"
    assert friends[-1] == {"name": "Blog 49999", "url": "https://blog49999.example/",
                           "feed": "https://blog49999.example/feed.xml"}  # fmt: skip
    (site / "local.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        + "".join(outlines[-2:])
        + "</body></opml>",
        encoding="utf-8",
    )
    local = subprocess.run(
        [*command[:-1], "local.opml", "--allow-local"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "imported 2 friend(s)" in local.stdout, local.stdout[-500:]


def test_the_lenient_opml_reader_reads_each_character_a_bounded_number_of_times(monkeypatch):
    from pelican_reciprocity import friends

    scanned: list[int] = []
    real = re.match

    def counting(pattern, text, *flags):
        if pattern == friends._TAG_BODY:
            scanned.append(len(text))
        return real(pattern, text, *flags)

    monkeypatch.setattr(friends.re, "match", counting)
    # raw "&" makes it malformed XML; each outline leaves a quote open
    hostile = "<outline text=\"a & b xmlUrl='https://x.example/f' title=\"x>\n"
    for copies in (100, 1_000, 10_000):
        scanned.clear()
        text = "<opml><body>" + hostile * copies + "</body></opml>"
        friends.read_opml(text.encode())
        assert len(scanned) == copies and sum(scanned) <= len(text)
    good, _ = friends.read_opml(
        b'<opml><body><outline text="A &amp; B" xmlUrl="https://a.example/f" htmlUrl="https://a.example/">'
        b'<outline title="C & D" xmlUrl="https://c.example/f"/></body></opml>'
    )
    assert [e["feed"] for e in good] == ["https://a.example/f", "https://c.example/f"]


FAILS_AFTER_REPORT = """
import logging, sys
from pelican_reciprocity import job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

def broken_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")

job.save_touched = broken_disk  # the forked child inherits it
settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=10)
running = job.Job.start(settings, Work(friends=(Friend(name="A", feed=sys.argv[2]),)))
assert running.process is None
report, touched = running.result()
running.finish(timeout=10)
print(report.feeds[sys.argv[2]][0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_a_failure_after_the_job_reported_is_logged_not_lost(tmp_path):
    """Work the job does after handing over its result (writing the cache)
    fails loudly: one WARNING with the reason, and the build goes on."""
    feed = tmp_path / "feed.xml"
    feed.write_text(rss("A", posts("a")), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", FAILS_AFTER_REPORT, str(tmp_path / "cache"), feed.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "updated"
    [warning] = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert "failed while saving the cache (exit code 1)" in warning
    assert "No space left on device" in warning


def test_check_fetch_and_add_name_bad_input_in_one_line(feed_server, tmp_path):
    from test_cli import run

    friends = [
        {"name": "Good Friend", "feed": feed_server.add("good", rss("Good", posts("good", 2)))},
        {"name": "Script redirect", "feed": feed_server.put(
            "/r/js", "", status=302, headers={"Location": "javascript:alert(1)"})},
        {"name": "Unicode ETag", "feed": feed_server.put(
            "/etag", rss("Etag", posts("etag", 2)), "application/rss+xml",
            headers={"ETag": '"caf\xc3\xa9"'})},
    ]  # fmt: skip
    site = make_site(tmp_path, friends=friends)
    for args in (("check", "--refresh"), ("fetch", "--refresh"), ("check", "--refresh")):
        done = run(site, *args)
        assert "Traceback" not in done.stderr + done.stdout, args
        assert "Script redirect" in done.stderr + done.stdout, args
    refused = "redirect to a non-web address 'javascript:alert(1)' refused"
    assert refused in done.stderr
    expected = {
        "http://[::1": "is not a valid address",
        "http://127.0.0.1:99999/": "Port out of range",
        "file:///dev/stdin": "is not a regular file",
        feed_server.url("/r/js"): refused,
    }
    for url, message in expected.items():
        done = run(site, "add", url)
        assert done.returncode in (1, 2), (url, done.stderr)
        assert "Traceback" not in done.stderr
        [line] = [x for x in done.stderr.splitlines() if x.startswith("pelican-reciprocity: ")]
        assert message in line, (url, line)


# -- the owner's files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[rules]\nblock_words = "casino"\n', "[rules] block_words must be a list of strings"),
        ("[rules]\nblock_domains = [1, 2]\n", "[rules] block_domains must be a list of strings"),
        ('[rules]\nblock_word = ["casino"]\n', "unknown key 'block_word' in [rules]"),
        ('rules = "none"\n', "[rules] must be a table"),
        ('[response]\nid = "x"\nstatus = "approved"\n', "'response' must be [[response]] tables"),
    ],
)
def test_each_key_of_the_moderation_file_is_checked(tmp_path, text, expected):
    from pelican_reciprocity.moderation_file import load_moderation
    from pelican_reciprocity.settings import ConfigError

    path = tmp_path / "moderation.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_moderation(path)
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_files_that_cannot_be_written_are_one_line(tmp_path, monkeypatch, caplog):
    from test_cli import run
    from test_thanks_build import THREAD, write_thread

    (tmp_path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    site = make_site(
        tmp_path,
        friends=[],
        articles=[{"title": "Saving tomato seed", "slug": "tomato-seed"}],
        settings={
            "RECIPROCITY_LEDGER_FILE": "blocker/ledger.json",
            "RECIPROCITY_MODERATION_FILE": "blocker/moderation.toml",
        },
    )
    write_thread(site, thread=THREAD)  # the spammer is held
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)  # the site is still built
    assert "Lena Okafor" in thanks_section(page(site, "tomato-seed.html"))
    warnings = reciprocity_records(caplog, logging.WARNING)
    assert any(w.startswith("reciprocity: cannot write") and "moderation.toml" in w
               and "1 held response(s) not recorded yet" in w for w in warnings), "\n".join(warnings)  # fmt: skip
    assert any("ledger.json" in w and "not updat" in w for w in warnings), warnings
    (site / "friends.toml").unlink()
    (site / "friends.toml").mkdir()  # now the friends file cannot be replaced
    done = run(site, "-s", "pelicanconf.py", "export-opml", "blocker/out.opml")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pelican-reciprocity: cannot write" in done.stderr


def test_nothing_private_is_published(feed_server, tmp_path, monkeypatch):
    secret = feed_server.add("secret", rss("Secret", posts("secret", 2, host="secret.example")))
    with_token = secret.replace("http://", "http://reader:hunter2@") + "?token=s3cret&page=1"
    hidden = feed_server.add("hidden", rss("Hidden", posts("hidden", 2, host="hidden.example")))
    site = make_site(
        tmp_path,
        friends=[
            {"name": "Token feed", "feed": with_token, "url": "https://ann:pw@secret.example/"},
            {"name": "Colleague", "feed": hidden, "private": True},
        ],
        articles=[{"title": "Hello", "meta": {"Highlights": "https://hidden.example/hidden/0/"}}],
    )
    build(site, monkeypatch)
    published = page(site, "friends/index.html") + page(site, "friends.opml")
    for leak in ("hunter2", "s3cret", "reader:", "ann:pw", "Colleague", "hidden post 1"):
        assert leak not in published, leak
    assert "secret post 0" in published and "page=1" in published  # the rest is kept
    article = page(site, "article-0.html")
    assert "hidden post 0" in article  # named by the article, so shown there
    assert "hidden post 1" not in article  # but never picked automatically
