"""End-to-end: comments in, a thank-you section and a moderation file out."""

from __future__ import annotations

import logging
import re
import tomllib

from helpers import build, make_site, page, reciprocity_records
from test_units import page_is_safe

FIRST_PARAGRAPH = (
    "Saving tomato seed is easier than it looks. Ferment the seed for three days, "
    "rinse it well, and dry it on a plate rather than on kitchen paper, which it sticks to."
)
ARTICLE = {
    "title": "Saving tomato seed",
    "slug": "tomato-seed",
    "body": FIRST_PARAGRAPH + "\n\nNext year I will try beans.",
}

#: A real-looking thread: twelve people and two spammers.
THREAD = [
    ("Lena Okafor", "https://lena.example/", "Great post. Agree."),
    ("Nas", "", "Thanks!"),
    ("Priya Raman", "https://priya.example/", "Lovely write-up, and the plate trick works."),
    ("Tom", "https://tom.example/blog/", "I lost a whole batch to mould last year, so this is timely."),
    ("Wren", "", "Brilliant. Sharing with my allotment group."),
    ("Jo Bloggs", "https://jo.example/", "Do you ferment with the lid on or off?"),
    ("Sam", "", "+1"),
    ("Ade", "https://ade.example/", "Merci, très utile !"),
    ("Kit", "", "My gran did exactly this. Nice to see it written down."),
    ("Rue", "https://rue.example/", "How long do the seeds keep once dried?"),
    ("Max", "", "Great post."),
    ("Bea", "https://bea.example/", "Three days seems long - is two enough?"),
    ("Follower Shop", "https://cheap-followers.example/",
     "Best site to buy instagram followers: https://cheap-followers.example/buy"),
    ("SEO Guy", "https://seo.example/",
     FIRST_PARAGRAPH + " More at <a href=\"https://seo.example/\">seo.example</a>"),
]  # fmt: skip


def write_thread(site, slug="tomato-seed", thread=THREAD):
    folder = site / "content" / "comments" / slug
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, url, text) in enumerate(thread, 1):
        # A title makes each file a valid Pelican article: only the plugin's
        # exclusion of the comments folder keeps them from being published.
        meta = [f"title: Comment {i}", f"author: {name}", f"date: 2026-11-{i:02d} 10:00"]
        if url:
            meta.append(f"website: {url}")
        (folder / f"{i:03d}.md").write_text(
            "\n".join(meta) + "\n\n" + text + "\n", encoding="utf-8"
        )


def thanks_section(html):
    start = html.index('<section class="reciprocity-thanks"')
    return html[start : html.index("</section>", start)]


def test_thread_of_fourteen_thanks_twelve_and_holds_two(tmp_path, monkeypatch, caplog):
    site = make_site(tmp_path, friends=None, articles=[ARTICLE])
    write_thread(site)
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    html = page(site, "tomato-seed.html")
    assert html.count('<section class="reciprocity-thanks"') == 1
    section = thanks_section(html)
    for name, url, _ in THREAD[:12]:
        assert name in section, name
        if url:
            assert f'href="{url}" rel="nofollow ugc noopener"' in section
    assert "Follower Shop" not in html and "SEO Guy" not in html
    assert "cheap-followers" not in html and "seo.example" not in html
    # comment files are not turned into articles of their own
    assert not list((site / "output").rglob("comment-*.html"))
    # the moderation file: outside content/ and output/, holding both, with reasons
    moderation = site / "reciprocity" / "moderation.toml"
    data = tomllib.loads(moderation.read_text(encoding="utf-8"))
    held = {entry["author"]: entry for entry in data["response"]}
    assert set(held) == {"Follower Shop", "SEO Guy"}
    assert any("spam phrase" in r for r in held["Follower Shop"]["reasons"])
    assert any("copied from the article" in r for r in held["SEO Guy"]["reasons"])
    assert all(entry["status"] == "held" for entry in held.values())
    lines = reciprocity_records(caplog, logging.WARNING)
    assert "reciprocity: 2 responses held for moderation (see reciprocity/moderation.toml)" in lines
    # everyone who responded is on the thanks page
    responders = page(site, "thanks/index.html")
    assert "Lena Okafor" in responders and "Follower Shop" not in responders


def test_approving_and_blocking_in_the_file_is_kept(tmp_path, monkeypatch):
    site = make_site(tmp_path, friends=None, articles=[ARTICLE])
    write_thread(site)
    build(site, monkeypatch)
    moderation = site / "reciprocity" / "moderation.toml"
    text = moderation.read_text(encoding="utf-8")
    # the owner approves one (keeping their own comment in the file) and blocks the other
    text = "# my notes\n" + text
    text = re.sub(r'(author = "SEO Guy")', r"\1", text)
    entries = text.split("[[response]]")
    entries = [
        e.replace('status = "held"', 'status = "approved"') if "Follower Shop" in e else
        e.replace('status = "held"', 'status = "blocked"') if "SEO Guy" in e else e
        for e in entries
    ]  # fmt: skip
    moderation.write_text("[[response]]".join(entries), encoding="utf-8")
    build(site, monkeypatch)
    section = thanks_section(page(site, "tomato-seed.html"))
    assert "Follower Shop" in section and "SEO Guy" not in section
    after = moderation.read_text(encoding="utf-8")
    assert after.startswith("# my notes") and after.count("[[response]]") == 2
    assert 'status = "blocked"' in after


def test_a_new_response_held_later_is_added_to_the_owners_edited_file(tmp_path, monkeypatch):
    """The file is read with the standard parser, and only when a response
    is held that it does not list yet is it read again to add to: the
    owner's comments, decisions and order stay as they wrote them."""
    site = make_site(tmp_path, friends=None, articles=[ARTICLE])
    write_thread(site)
    build(site, monkeypatch)
    moderation = site / "reciprocity" / "moderation.toml"
    edited = "# my notes\n" + moderation.read_text(encoding="utf-8").replace(
        'status = "held"', 'status = "approved"', 1
    )
    moderation.write_text(edited, encoding="utf-8")
    build(site, monkeypatch)  # nothing new held: the file is left as it is
    assert moderation.read_text(encoding="utf-8") == edited
    spam = [("More Followers", "https://more-followers.example/",
             "Best site to buy instagram followers: https://more-followers.example/buy")]  # fmt: skip
    write_thread(site, thread=[*THREAD, *spam])
    build(site, monkeypatch)
    after = moderation.read_text(encoding="utf-8")
    assert after.startswith(edited)  # added to, never rewritten
    entries = tomllib.loads(after)["response"]
    assert [e["status"] for e in entries] == ["approved", "held", "held"]
    assert entries[-1]["author"] == "More Followers"


def test_friends_get_a_badge_and_plain_links(feed_server, tmp_path, monkeypatch):
    from helpers import posts, rss

    feed = feed_server.add("lena", rss("Lena", posts("lena", host="lena.example")))
    site = make_site(
        tmp_path,
        friends=[{"name": "Lena Okafor", "url": "https://lena.example/", "feed": feed}],
        articles=[ARTICLE],
    )
    write_thread(site, thread=THREAD[:3])
    build(site, monkeypatch)
    section = thanks_section(page(site, "tomato-seed.html"))
    assert 'href="https://lena.example/" rel="noopener"' in section
    assert 'reciprocity-badge">friend' in section
    assert re.search(
        r"Thanks to .*Lena Okafor.*, .*Nas.* and .*Priya Raman.* for responding", section
    )


def test_only_the_article_responded_to_is_thanked_among_articles_sharing_picks(
    feed_server, tmp_path, monkeypatch
):
    """Articles with the same highlights share one value for them; thanking
    one must not thank the others."""
    from helpers import posts, rss

    feed = feed_server.add("lena", rss("Lena", posts("lena", host="lena.example")))
    site = make_site(
        tmp_path,
        friends=[{"name": "Lena Okafor", "url": "https://lena.example/", "feed": feed}],
        articles=[ARTICLE, {"title": "Beans", "slug": "beans"}, {"title": "Peas", "slug": "peas"}],
    )
    write_thread(site, thread=THREAD[:3])
    build(site, monkeypatch)
    highlights = re.compile(r'<section class="reciprocity-highlights".*?</section>', re.S)
    pages = {slug: page(site, f"{slug}.html") for slug in ("tomato-seed", "beans", "peas")}
    assert all(highlights.search(html) for html in pages.values())
    assert highlights.search(pages["beans"]).group(0) == highlights.search(pages["peas"]).group(0)
    assert "Priya Raman" in thanks_section(pages["tomato-seed"])
    assert "reciprocity-thanks" not in pages["beans"] + pages["peas"]


def test_hostile_responders_cannot_inject(tmp_path, monkeypatch):
    site = make_site(
        tmp_path,
        friends=None,
        articles=[
            {**ARTICLE, "meta": {"Thanks": 'Evil <javascript:alert(1)>, "><script>x</script>'}}
        ],
    )
    write_thread(
        site,
        thread=[
            (
                '<img src=x onerror="alert(1)">',
                "javascript:alert(1)",
                "<script>alert(1)</script>Hi",
            ),
            ("Normal", 'https://ok.example/" onmouseover="alert(1)', "<iframe src=//x></iframe>ok"),
        ],
    )
    build(site, monkeypatch)
    for path in (site / "output").rglob("*.html"):
        assert page_is_safe(path.read_text(encoding="utf-8")), path


def test_likes_and_reposts_are_counted_and_thanks_metadata_named(tmp_path, monkeypatch):
    import json

    mentions = {
        "children": [
            {"wm-id": i, "wm-property": prop, "wm-target": "/tomato-seed.html",
             "author": {"name": f"Fan {i}", "url": f"https://fan{i}.example/"}}
            for i, prop in enumerate(["like-of", "like-of", "repost-of", "in-reply-to"])
        ]
    }  # fmt: skip
    (tmp_path / "mentions.json").write_text(json.dumps(mentions), encoding="utf-8")
    site = make_site(
        tmp_path,
        friends=None,
        articles=[{**ARTICLE, "meta": {"Thanks": "Lena Okafor <https://lena.example/>, Nas"}}],
        settings={"RECIPROCITY_RESPONSE_SOURCES": ["mentions.json"]},
    )
    build(site, monkeypatch)
    section = thanks_section(page(site, "tomato-seed.html"))
    assert "Fan 3" in section and "Lena Okafor" in section and "Nas" in section
    assert "Fan 0" not in section  # likes are counted, not named
    assert "2 people liked this" in section and "reposted 1 time" in section


def test_webmention_io_directly_incremental_and_token_kept_secret(
    feed_server, tmp_path, monkeypatch, caplog
):
    def mention(i, prop="in-reply-to"):
        return {"wm-id": i, "wm-property": prop, "wm-target": "https://me.example/tomato-seed.html",
                "author": {"name": f"Person {i}", "url": f"https://p{i}.example/"},
                "content": {"text": f"Reply number {i}"}}  # fmt: skip

    feed_server.webmentions = [mention(i) for i in range(1, 6)]
    monkeypatch.setenv("WEBMENTION_IO_TOKEN", "s3cret-token")
    site = make_site(
        tmp_path,
        friends=None,
        articles=[ARTICLE],
        settings={
            "SITEURL": "https://me.example",
            "RECIPROCITY_WEBMENTION_IO_DOMAIN": "me.example",
            "RECIPROCITY_WEBMENTION_IO_API": feed_server.url("/api/mentions.jf2"),
            "RECIPROCITY_CACHE_TTL": 0,
        },
    )
    caplog.set_level(logging.DEBUG)
    build(site, monkeypatch)
    assert "Person 5" in thanks_section(page(site, "tomato-seed.html"))
    assert "since_id" not in feed_server.queries[0]
    feed_server.webmentions.append(mention(6))
    build(site, monkeypatch)
    assert feed_server.queries[-1]["since_id"] == ["5"]  # only newer ones asked for
    assert "Person 6" in thanks_section(page(site, "tomato-seed.html"))
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for path in [*(site / "cache").rglob("*"), *(site / "output").rglob("*")]:
        if path.is_file():
            assert "s3cret-token" not in path.read_text(encoding="utf-8", errors="replace"), path
    assert "s3cret-token" not in everything
    # a wrong token is a warning, and the mentions already held still show
    monkeypatch.setenv("WEBMENTION_IO_TOKEN", "wrong")
    caplog.clear()
    build(site, monkeypatch)
    assert "Person 6" in thanks_section(page(site, "tomato-seed.html"))
    warnings = reciprocity_records(caplog, logging.WARNING)
    assert any("webmention.io for me.example failed: HTTP 401" in w for w in warnings)
    assert not any("wrong" in w for w in warnings)


def test_a_broken_moderation_file_is_one_clear_line(tmp_path, monkeypatch, caplog):
    import pytest

    site = make_site(tmp_path, friends=None, articles=[ARTICLE])
    write_thread(site, thread=THREAD[:2])
    (site / "reciprocity").mkdir()
    (site / "reciprocity" / "moderation.toml").write_text(
        '[[response]]\nid = "x\n', encoding="utf-8"
    )
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit):
        build(site, monkeypatch)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "moderation.toml: cannot read the moderation file" in line


def test_response_source_urls_use_the_cache_and_the_last_good_copy(
    feed_server, tmp_path, monkeypatch, caplog
):
    import json

    mentions = {"children": [{"wm-id": 1, "wm-property": "in-reply-to",
                              "wm-target": "/tomato-seed.html",
                              "author": {"name": "Remote Reader", "url": "https://rr.example/"},
                              "content": {"text": "Replying from afar."}}]}  # fmt: skip
    url = feed_server.add("mentions", json.dumps(mentions), "application/json")
    site = make_site(
        tmp_path,
        friends=None,
        articles=[ARTICLE],
        settings={"RECIPROCITY_RESPONSE_SOURCES": [url], "RECIPROCITY_CACHE_TTL": 0},
    )
    build(site, monkeypatch)
    assert "Remote Reader" in thanks_section(page(site, "tomato-seed.html"))
    feed_server.close()
    caplog.set_level(logging.WARNING)
    build(site, monkeypatch)
    assert "Remote Reader" in thanks_section(page(site, "tomato-seed.html"))
    assert any(
        f"response source {url} failed" in line and "using the last good copy" in line
        for line in reciprocity_records(caplog, logging.WARNING)
    )


def test_a_theme_that_places_the_thanks_gets_no_second_copy(tmp_path, monkeypatch):
    from pathlib import Path

    import pelican

    overrides = tmp_path / "overrides"
    overrides.mkdir()
    simple = Path(pelican.__file__).parent / "themes" / "simple" / "templates" / "article.html"
    article = simple.read_text().replace(
        "{{ article.content }}",
        '{% include "reciprocity/thanks.html" %}{{ article.content }}',
    )
    (overrides / "article.html").write_text(article)
    site = make_site(
        tmp_path / "site",
        friends=None,
        articles=[ARTICLE],
        settings={"THEME_TEMPLATES_OVERRIDES": [str(overrides)]},
    )
    write_thread(site, thread=THREAD[:2])
    build(site, monkeypatch)
    html = page(site, "tomato-seed.html")
    assert html.count('<section class="reciprocity-thanks"') == 1
    assert html.index('<section class="reciprocity-thanks"') < html.index(
        "Next year I will try beans"
    )
