"""Return the visit: each responder's latest post, for the reader and the blogger.

The seed-shaped thread: twelve commenters with websites (served on loopback,
which the ``inside`` fixture's resolver counts as public), some with feeds,
some without, one whose site leads inside the network, and two spammers.
"""

from __future__ import annotations

import json
import logging
import tomllib

from helpers import build, make_site, page, posts, reciprocity_records, rss
from pelican.log import LimitFilter
from test_cli import run
from test_thanks_build import FIRST_PARAGRAPH, thanks_section

ARTICLE = {"title": "Saving tomato seed", "slug": "tomato-seed", "body": FIRST_PARAGRAPH}
HOME = "<!DOCTYPE html><html><head><title>{name}</title>{link}</head><body>Hello</body></html>"
FEED = '<link rel="alternate" type="application/rss+xml" href="{href}">'


def seed_thread(feed_server, inside, titles=None):
    """Twelve commenters and two spammers (one of the twelve leads inside the
    network when ``inside`` is given); returns {name: site URL} and the thread.
    ``titles`` names each blog's newest post (for the README's picture)."""
    server = feed_server
    sites = {}

    def home(slug, name, feed=None, href=None):
        link = FEED.format(href=href) if href else ""
        sites[name] = server.put(f"/{slug}/", HOME.format(name=name, link=link))
        if feed:
            items = posts(slug, 2, host=f"{slug}.example")
            if titles and slug in titles:
                items[0]["title"] = titles[slug]
            body = rss(name, items, link=sites[name])
            server.put(f"/{slug}/{feed}", body, "application/rss+xml")

    home("lena", "Lena Okafor", "feed.xml", "feed.xml")  # advertised
    home("priya", "Priya Raman", "atom.xml")  # found at a usual path
    home("tom", "Tom", "feed.xml", "/tom/feed.xml")
    home("rue", "Rue", "rss.xml", "rss.xml")
    home("ade", "Ade")  # a site with no feed
    home("bea", "Bea")
    for slug, name in [("nas", "Nas"), ("wren", "Wren"), ("kit", "Kit"), ("sam", "Sam"),
                       ("max", "Max")]:  # fmt: skip
        home(slug, name)
    if inside is not None:
        port = inside.httpd.server_address[1]
        sites["Jo Bloggs"] = server.put(
            "/jo/",
            "",
            status=302,
            headers={"Location": f"http://inside.example:{port}/feed/secret"},
        )
    thread = [
        (name, url, f"Thank you for this, {name.split()[0]} here. Fermenting now.")
        for name, url in sites.items()
    ]
    thread += [
        ("Follower Shop", server.url("/spam-shop/"),
         "Best site to buy instagram followers: https://cheap-followers.example/buy"),
        ("SEO Guy", server.url("/spam-seo/"),
         FIRST_PARAGRAPH + ' More at <a href="https://seo.example/">seo.example</a>'),
    ]  # fmt: skip
    return sites, thread


def write_comments(site, thread):
    folder = site / "content" / "comments" / "tomato-seed"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, url, text) in enumerate(thread, 1):
        (folder / f"{i:03d}.md").write_text(
            f"author: {name}\ndate: 2026-11-{i:02d} 10:00\nwebsite: {url}\n\n{text}\n",
            encoding="utf-8",
        )


def test_the_thanks_page_names_each_responders_latest_post(
    feed_server, inside, tmp_path, monkeypatch, caplog
):
    _sites, thread = seed_thread(feed_server, inside)
    site = make_site(
        tmp_path,
        friends=None,
        articles=[ARTICLE],
        settings={"RECIPROCITY_RESPONDER_FEEDS": True, "RECIPROCITY_AUTO_MAX_AGE_DAYS": 0},
    )
    write_comments(site, thread)
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    thanks = page(site, "thanks/index.html")
    for slug, name in [("lena", "Lena Okafor"), ("priya", "Priya Raman"), ("tom", "Tom"),
                       ("rue", "Rue")]:  # fmt: skip
        latest = (
            f'their latest post: <a class="reciprocity-latest" '
            f'href="https://{slug}.example/{slug}/0/" rel="nofollow ugc">{slug} post 0</a>'
        )
        assert latest in thanks, name
    assert thanks.count("their latest post:") == 4  # no feed, no line; and nothing invented
    assert "Intranet" not in thanks and "secret post" not in thanks
    [warning] = [w for w in reciprocity_records(caplog, logging.WARNING) if "Jo Bloggs" in w]
    assert "non-public address 127.0.0.2" in warning
    assert inside.requests == 0
    # held spammers' sites are never requested, now or later
    assert not [p for p in feed_server.hits if p.startswith("/spam")]
    # the article's own thanks section is left as it was (thanks_page is the default)
    assert "their latest post" not in thanks_section(page(site, "tomato-seed.html"))
    # the ledger keeps each responder's feed once discovered
    ledger = json.loads((site / "reciprocity" / "ledger.json").read_text(encoding="utf-8"))
    feeds = {p["name"]: p.get("feed") for p in ledger["people"].values()}
    assert feeds["Lena Okafor"] == feed_server.url("/lena/feed.xml")
    assert feeds["Ade"] is None
    # a rebuild within the TTL asks nobody anything, and gives the same page
    feed_server.reset()
    LimitFilter._raised_messages.clear()
    build(site, monkeypatch)
    assert feed_server.requests == 0, dict(feed_server.hits)
    assert page(site, "thanks/index.html") == thanks


def test_everywhere_puts_the_latest_post_in_each_thanks_section(
    feed_server, inside, tmp_path, monkeypatch
):
    _sites, thread = seed_thread(feed_server, inside)
    site = make_site(
        tmp_path,
        friends=None,
        articles=[ARTICLE],
        settings={
            "RECIPROCITY_RESPONDER_FEEDS": True,
            "RECIPROCITY_RESPONDER_LATEST": "everywhere",
        },
    )
    write_comments(site, thread[:3])
    build(site, monkeypatch)
    section = thanks_section(page(site, "tomato-seed.html"))
    assert section.count("their latest post:") == 3  # Lena, Priya and Tom have feeds


def test_report_names_the_latest_post_and_add_promotes_a_responder(
    feed_server, inside, tmp_path, monkeypatch
):
    sites, thread = seed_thread(feed_server, inside)
    site = make_site(
        tmp_path, friends=None, articles=[ARTICLE], settings={"RECIPROCITY_RESPONDER_FEEDS": True}
    )
    write_comments(site, thread)
    build(site, monkeypatch)
    report = json.loads(run(site, "report", "--json").stdout)
    owed = {row["name"]: row for row in report["owed"]}
    assert owed["Lena Okafor"]["latest_post"]["title"] == "lena post 0"
    assert owed["Lena Okafor"]["latest_post"]["url"] == "https://lena.example/lena/0/"
    assert owed["Ade"]["latest_post"] is None
    text = run(site, "report").stdout
    assert "their latest post: lena post 0" in text
    added = run(site, "-s", "pelicanconf.py", "add", "--from-responder", "lena okafor")
    assert added.returncode == 0, added.stderr
    friends = tomllib.loads((site / "friends.toml").read_text(encoding="utf-8"))["friends"]
    assert friends == [
        {"name": "Lena Okafor", "url": sites["Lena Okafor"],
         "feed": feed_server.url("/lena/feed.xml")}
    ]  # fmt: skip
    unknown = run(site, "add", "--from-responder", "Nobody")
    assert unknown.returncode == 2 and "nobody named or with the site 'Nobody'" in unknown.stderr


def test_social_profiles_have_their_own_feeds_and_the_busiest_are_visited_first():
    from datetime import UTC, datetime

    from pelican_reciprocity.model import Person, Response
    from pelican_reciprocity.responders import to_visit
    from pelican_reciprocity.social import profile_feed as social_feed

    assert social_feed("https://mastodon.example/@lena") == "https://mastodon.example/@lena.rss"
    assert social_feed("https://bsky.app/profile/lena.example") == (
        "https://bsky.app/profile/lena.example/rss"
    )
    assert social_feed("https://lena.example/blog/") is None

    def person(name, day, url="https://x.example/", friend=False):
        said = Response(
            id=name,
            kind="comment",
            target="slug:a",
            author_name=name,
            published=datetime(2026, 11, day, tzinfo=UTC),
        )
        return Person(key=f"name:{name}", name=name, url=url, friend=friend, responses=(said,))  # fmt: skip

    people = [person("Old", 1), person("New", 20), person("No site", 25, url=""),
              person("A friend", 28, friend=True), person("Mid", 10)]  # fmt: skip
    assert [r.name for r in to_visit(people, set(), 2)] == ["New", "Mid"]
