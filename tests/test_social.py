"""Responses from Mastodon and Bluesky: the real API answers of the shared
corpus (read in place), served by a loopback fake of both APIs."""

from __future__ import annotations

import json
import logging
import re

import pytest
from conftest import corpus_dir
from helpers import build, make_site, page, posts, reciprocity_records, rss
from test_thanks_build import thanks_section
from test_units import page_is_safe

from pelican_reciprocity.social import announcements, api_urls, facets_html, read_bluesky

STATUS = "110446983926957470"
POST = "at://aliceisjustplaying.bsky.social/app.bsky.feed.post/3jt5x"


def _corpus(network: str, name: str):
    return json.loads((corpus_dir("social") / network / name).read_bytes())


def test_announcements_as_a_reader_copies_them():
    found, bad = announcements(
        "bluesky",
        "https://bsky.app/profile/alice.example/post/3jt5x, at://did:plc:abc/app.bsky.feed.post/3k2",
    )
    assert [a.at_uri for a in found] == [
        "at://alice.example/app.bsky.feed.post/3jt5x",
        "at://did:plc:abc/app.bsky.feed.post/3k2",
    ]
    found, bad = announcements("mastodon", ["https://mastodon.social/@halcy/110446983926957470",
                                            "https://mastodon.social/about"])  # fmt: skip
    assert [a.status for a in found] == [STATUS] and len(bad) == 1
    urls = api_urls(found[0], "https://public.api.bsky.app")
    assert urls["context"] == f"https://mastodon.social/api/v1/statuses/{STATUS}/context"


def test_bluesky_text_and_link_facets_count_bytes():
    text = "héllo see example.com <b>"
    start = len("héllo see ".encode())
    facets = [{"index": {"byteStart": start, "byteEnd": start + 11},
               "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}]}]  # fmt: skip
    assert facets_html(text, facets) == (
        '<p>héllo see <a href="https://example.com">example.com</a> &lt;b&gt;</p>'
    )


def test_the_corpus_thread_skips_blocked_and_deleted_posts():
    data = _corpus(
        "bluesky", "getPostThread_real-HANDEDITED_2023-04_blocked-notFound-in-replies.json"
    )
    result = read_bluesky("getPostThread", data, "article:a", "corpus")
    assert [r.author_name for r in result.responses] == ["nvpkp", "Brian Graham", "tautologer"]
    assert all(r.author_url.startswith("https://bsky.app/profile/") for r in result.responses)
    assert not result.problems


def _same_bytes_offline(site, feed_server, monkeypatch, **settings) -> None:
    """Rebuilt offline, from the cache: every output file the same, byte for
    byte (the avatars' PNGs too), and not one request."""

    def files() -> dict:
        return {p: p.read_bytes() for p in (site / "output").rglob("*") if p.is_file()}

    first = files()
    feed_server.reset()
    monkeypatch.setenv("RECIPROCITY_OFFLINE", "1")
    build(site, monkeypatch, **settings)
    assert feed_server.requests == 0
    assert files() == first


def _fake_apis(feed_server):
    """The corpus answers at the paths each API would serve them."""
    fosstodon = _corpus("mastodon", "status_fosstodon_video-card_111337272989523541.json")
    spoiler = _corpus(
        "mastodon",
        "status_mastodon-social_remote-spoiler-mention-hashtag-emoji_110446223051565765.json",
    )
    private = _corpus("mastodon", "context_mastodon-social_1-ancestor-1-descendant.json")
    context = {"ancestors": [], "descendants": [fosstodon, spoiler, *private["descendants"]]}
    base = f"/api/v1/statuses/{STATUS}"
    put = feed_server.put
    put(f"{base}/context", json.dumps(context), "application/json")
    put(f"{base}/favourited_by", json.dumps(_corpus("mastodon", "favourited_by_localhost_1-account.json")), "application/json")  # fmt: skip
    put(f"{base}/reblogged_by", json.dumps(_corpus("mastodon", "reblogged_by_localhost_1-account.json")), "application/json")  # fmt: skip
    x = "/xrpc/app.bsky.feed."
    put(x + "getPostThread", json.dumps(_corpus("bluesky", "getPostThread_real-HANDEDITED_2023-04_blocked-notFound-in-replies.json")), "application/json")  # fmt: skip
    put(x + "getLikes", json.dumps(_corpus("bluesky", "getLikes_real_2023_1-like.json")), "application/json")  # fmt: skip
    put(x + "getRepostedBy", json.dumps(_corpus("bluesky", "getRepostedBy_real_2023_1-actor.json")), "application/json")  # fmt: skip
    put(x + "getQuotes", json.dumps({"uri": POST, "posts": []}), "application/json")


def _site(tmp_path, articles, settings):
    """A site with one friend (a local feed) and these articles and settings."""
    feed = tmp_path / "friend.xml"
    feed.write_text(rss("Lena", posts("lena", host="lena.example")), encoding="utf-8")
    friends = [{"name": "Lena", "feed": feed.as_uri()}]
    return make_site(tmp_path, friends=friends, articles=articles, settings=settings)


@pytest.fixture
def social_site(feed_server, tmp_path):
    _fake_apis(feed_server)
    mastodon = feed_server.url(f"/@halcy/{STATUS}")
    articles = [
        {"title": "Tooted", "slug": "tooted", "meta": {"Mastodon": mastodon}},
        {"title": "Skeeted", "slug": "skeeted", "meta": {"Bluesky": POST}},
    ]
    return _site(tmp_path, articles, {"RECIPROCITY_BLUESKY_API": feed_server.base})


def test_mastodon_and_bluesky_threads_are_thanked_counted_and_kept_offline(
    social_site, feed_server, monkeypatch, caplog
):
    site = social_site
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    tooted = thanks_section(page(site, "tooted.html"))
    assert ">jaxwxboss</span>" in tooted  # a public reply, custom emoji codes left out
    assert "halcy" in tooted  # the reply with a content warning is thanked too
    assert "doo-doo head" not in page(site, "thanks/index.html")  # what the warning hides
    assert "final status" not in page(site, "tooted.html")  # a private reply never is
    assert "1 person liked this" in tooted and "reposted 1 time" in tooted
    skeeted = thanks_section(page(site, "skeeted.html"))
    for name in ("nvpkp", "Brian Graham", "tautologer"):
        assert name in skeeted, name
    assert "1 person liked this" in skeeted and "reposted 1 time" in skeeted
    for path in (site / "output").rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert page_is_safe(html), path
        assert not re.search(r"<script|<iframe|cdn\.bsky|files\.mastodon|/avatars/", html), path
    _same_bytes_offline(site, feed_server, monkeypatch)


def test_a_warm_build_that_thanks_social_repliers_imports_no_http_client_or_babel(
    social_site, feed_server, monkeypatch
):
    """Within the TTL nothing is asked of the APIs, so nothing that asks is
    loaded: no event loop, no HTTP client, and (an English site) no Babel
    for the thanks line's list of names."""
    from test_foundation import banned_imports_of_a_build

    site = social_site
    build(site, monkeypatch)  # cold: asks both APIs
    asked = feed_server.requests
    assert banned_imports_of_a_build(site) == []
    assert feed_server.requests == asked
    assert "1 person liked this" in thanks_section(page(site, "tooted.html"))


def test_an_api_that_fails_is_one_warning_and_the_last_copy_is_used(
    social_site, feed_server, monkeypatch, caplog
):
    site = social_site
    build(site, monkeypatch, RECIPROCITY_CACHE_TTL=0)
    feed_server.put(f"/api/v1/statuses/{STATUS}/context", "slow down", status=429,
                    headers={"Retry-After": "120"})  # fmt: skip
    caplog.set_level(logging.INFO)
    build(site, monkeypatch, RECIPROCITY_CACHE_TTL=0)
    [warning] = [w for w in reciprocity_records(caplog, logging.WARNING) if "/context" in w]
    assert "mastodon API" in warning and "429" in warning and "last good copy" in warning
    assert "jaxwxboss" in thanks_section(page(site, "tooted.html"))


def test_add_a_friend_by_their_social_profile(feed_server, tmp_path):
    from test_cli import run

    from pelican_reciprocity.social import profile_feed

    assert profile_feed("@lena@mastodon.example") == "https://mastodon.example/@lena.rss"
    assert profile_feed("https://bsky.app/profile/lena.example") == (
        "https://bsky.app/profile/lena.example/rss"
    )
    assert profile_feed("https://lena.example/blog/") is None
    feed_server.put("/@lena.rss", rss("Lena on Mastodon", posts("lena")), "application/rss+xml")
    site = make_site(tmp_path, friends=None)
    done = run(site, "add", feed_server.url("/@lena"))
    assert done.returncode == 0, done.stderr
    assert feed_server.url("/@lena.rss") in (site / "friends.toml").read_text(encoding="utf-8")


@pytest.fixture
def tls_servers(tmp_path, monkeypatch):
    """Two https servers on loopback, trusted through SSL_CERT_FILE as a
    real CA would be: an account's domain, and the server it lives on."""
    import ssl

    import trustme
    from feedserver import FeedServer

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    servers = []
    for _ in range(2):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        servers.append(FeedServer(tls=context).start())
    yield servers
    for server in servers:
        server.close()


def test_add_at_user_at_instance_finds_the_account_by_webfinger(tls_servers, tmp_path):
    """``add @lena@domain``: WebFinger on the domain names the server the
    account lives on (not always the same), whose RSS is added."""
    from test_cli import run

    domain, instance = tls_servers
    host = domain.base.split("//")[1]
    finger = {
        "subject": f"acct:lena@{host}",
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": instance.url("/users/lena")},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": instance.url("/@lena")},
        ],
    }  # fmt: skip
    asked = f"/.well-known/webfinger?resource=acct:lena@{host}"
    domain.put(asked, json.dumps(finger), "application/jrd+json")
    lena = rss("Lena", posts("lena"), link=instance.url("/@lena"))
    instance.put("/@lena.rss", lena, "application/rss+xml")
    site = make_site(tmp_path, friends=None)
    done = run(site, "add", f"@lena@{host}")
    assert done.returncode == 0, done.stderr
    friends = (site / "friends.toml").read_text(encoding="utf-8")
    assert f'feed = "{instance.url("/@lena.rss")}"' in friends
    assert domain.hits[asked] == 1
    # an account whose domain is its server: no WebFinger answer, the usual place
    domain.put(
        "/@nas.rss", rss("Nas", posts("nas"), link=domain.url("/@nas")), "application/rss+xml"
    )
    done = run(site, "add", f"@nas@{host}")
    assert done.returncode == 0, done.stderr
    assert domain.url("/@nas.rss") in (site / "friends.toml").read_text(encoding="utf-8")


def test_likes_and_boosts_are_read_to_the_last_page(social_site, feed_server, monkeypatch):
    """Mastodon pages with Link headers, Bluesky with cursors; each page is
    cached on its own, so an offline rebuild reads them all again."""
    from urllib.parse import quote

    def account(i):
        return {"id": str(i), "acct": f"fan{i}", "display_name": f"Fan {i}",
                "url": f"https://mastodon.example/@fan{i}"}  # fmt: skip

    first = f"/api/v1/statuses/{STATUS}/favourited_by?limit=80"
    second = f"/api/v1/statuses/{STATUS}/favourited_by?limit=80&max_id=7"
    feed_server.put(first, json.dumps([account(1), account(2)]), "application/json",
                    headers={"Link": f'<{feed_server.url(second)}>; rel="next"'})  # fmt: skip
    feed_server.put(second, json.dumps([account(3)]), "application/json")
    likes = f"/xrpc/app.bsky.feed.getLikes?uri={quote(POST, safe='')}&limit=100"

    def actor(i):
        return {"actor": {"did": f"did:plc:{i}", "handle": f"fan{i}.example"}}

    feed_server.put(likes, json.dumps({"likes": [actor(i) for i in range(100)], "cursor": "c1"}),
                    "application/json")  # fmt: skip
    feed_server.put(likes + "&cursor=c1",
                    json.dumps({"likes": [actor(i) for i in range(100, 103)], "cursor": "c2"}),
                    "application/json")  # fmt: skip
    build(social_site, monkeypatch)
    assert "3 people liked this" in thanks_section(page(social_site, "tooted.html"))
    assert "103 people liked this" in thanks_section(page(social_site, "skeeted.html"))
    assert feed_server.hits[second] == 1 and feed_server.hits[likes + "&cursor=c1"] == 1
    assert not any("cursor=c2" in path for path in feed_server.hits)  # not a full page: the end
    _same_bytes_offline(social_site, feed_server, monkeypatch)


def test_the_announcement_is_found_among_the_owners_posts_on_both_networks(
    feed_server, tmp_path, monkeypatch
):
    """No metadata: the owner's own posts that link to the article announce it."""
    _fake_apis(feed_server)
    article_url = "https://me.example/tooted.html"
    other = {"id": "1", "url": feed_server.url("/@me/1"), "visibility": "public",
             "content": '<p>Unrelated <a href="https://elsewhere.example/">link</a></p>'}  # fmt: skip
    toot = {"id": STATUS, "url": feed_server.url(f"/@me/{STATUS}"), "visibility": "public",
            "content": "<p>New post!</p>", "card": {"url": article_url}}  # fmt: skip
    feed_server.put("/api/v1/accounts/lookup", json.dumps({"id": "42"}), "application/json")
    feed_server.put("/api/v1/accounts/42/statuses", json.dumps([other, toot]), "application/json")
    skeet = {"post": {"uri": POST, "record": {"text": "New post! me.example/skeeted.html",
             "facets": [{"index": {"byteStart": 10, "byteEnd": 33}, "features": [
                 {"uri": "https://me.example/skeeted.html"}]}]}}}  # fmt: skip
    feed = "/xrpc/app.bsky.feed.getAuthorFeed?actor=me.example&limit=100&filter=posts_no_replies"
    feed_server.put(feed, json.dumps({"feed": [skeet]}), "application/json")
    articles = [{"title": t, "slug": t.lower()} for t in ("Tooted", "Skeeted", "Quiet")]
    site = _site(
        tmp_path,
        articles,
        {
            "SITEURL": "https://me.example",
            "RECIPROCITY_BLUESKY_API": feed_server.base,
            "RECIPROCITY_BLUESKY_ACCOUNT": "me.example",
            "RECIPROCITY_MASTODON_ACCOUNT": feed_server.url("/@me"),
        },
    )
    build(site, monkeypatch)
    assert ">jaxwxboss</span>" in thanks_section(page(site, "tooted.html"))
    assert "Brian Graham" in thanks_section(page(site, "skeeted.html"))
    assert "reciprocity-thanks" not in page(site, "quiet.html")
    assert feed_server.hits[f"/api/v1/statuses/{STATUS}/context"] == 1
    assert not [p for p in feed_server.hits if "/statuses/1/" in p]  # the unrelated toot


def test_a_reply_deleted_upstream_is_gone_at_the_next_refresh(
    social_site, feed_server, monkeypatch
):
    build(social_site, monkeypatch, RECIPROCITY_CACHE_TTL=0)
    assert ">jaxwxboss</span>" in thanks_section(page(social_site, "tooted.html"))
    spoiler = _corpus(
        "mastodon",
        "status_mastodon-social_remote-spoiler-mention-hashtag-emoji_110446223051565765.json",
    )
    feed_server.put(f"/api/v1/statuses/{STATUS}/context",
                    json.dumps({"ancestors": [], "descendants": [spoiler]}), "application/json")  # fmt: skip
    build(social_site, monkeypatch, RECIPROCITY_CACHE_TTL=0)
    assert "jaxwxboss" not in page(social_site, "tooted.html")
    assert "jaxwxboss" not in page(social_site, "thanks/index.html")


def test_a_server_that_needs_a_token_gets_it_and_nothing_else_does(
    feed_server, tmp_path, monkeypatch, caplog
):
    """GoToSocial: the token from MASTODON_TOKEN goes to that one server, and
    never into logs, the cache or pages."""
    from feedserver import FeedServer

    _fake_apis(feed_server)
    bluesky = FeedServer().start()  # another origin: it must never see the token
    try:
        _fake_apis(bluesky)
        monkeypatch.setenv("MASTODON_TOKEN", "gts-s3cret")
        articles = [
            {"title": "Tooted", "slug": "tooted",
             "meta": {"Mastodon": feed_server.url(f"/@halcy/{STATUS}")}},
            {"title": "Skeeted", "slug": "skeeted", "meta": {"Bluesky": POST}},
        ]  # fmt: skip
        site = _site(tmp_path, articles, {
            "RECIPROCITY_BLUESKY_API": bluesky.base,
            "RECIPROCITY_MASTODON_TOKEN_SERVER": feed_server.base,
        })  # fmt: skip
        caplog.set_level(logging.DEBUG)
        build(site, monkeypatch)
        assert set(feed_server.authorizations) == {"Bearer gts-s3cret"}
        assert set(bluesky.authorizations) == {""}
        assert ">jaxwxboss</span>" in thanks_section(page(site, "tooted.html"))
        assert "Brian Graham" in thanks_section(page(site, "skeeted.html"))
        assert "gts-s3cret" not in "\n".join(r.getMessage() for r in caplog.records)
        for path in [*(site / "cache").rglob("*"), *(site / "output").rglob("*")]:
            if path.is_file():
                assert b"gts-s3cret" not in path.read_bytes(), path
    finally:
        bluesky.close()


def _picture(format_: str, size: tuple[int, int], colour: str) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=format_)
    return out.getvalue()


def _claims_to_be_huge() -> bytes:
    """A PNG that says 5,000 x 5,000 pixels (under Pillow's own bomb limit)
    and holds almost nothing: decoding it would cost 100 MB for nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 5_000, 5_000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_avatars_are_copied_into_the_site_as_a_facepile_with_initials_when_one_fails(
    social_site, feed_server, inside, monkeypatch, caplog
):
    """The pictures of who liked and reposted are fetched at build time,
    squared by Pillow and written into the output: the page never names a
    social server's media host, and a picture that cannot be had (a bomb, a
    404, an address inside the network) is the person's initials."""
    from PIL import Image

    site = social_site
    base = f"/api/v1/statuses/{STATUS}"
    favourites = _corpus("mastodon", "favourited_by_localhost_1-account.json")
    favourites[0]["avatar_static"] = feed_server.put("/media/fav.jpg", _picture("JPEG", (400, 300), "green"), "image/jpeg")  # fmt: skip
    feed_server.put(f"{base}/favourited_by", json.dumps(favourites), "application/json")
    boosts = _corpus("mastodon", "reblogged_by_localhost_1-account.json")
    boosts[0]["avatar_static"] = feed_server.put("/media/bomb.png", _claims_to_be_huge(), "image/png")  # fmt: skip
    feed_server.put(f"{base}/reblogged_by", json.dumps(boosts), "application/json")
    likes = _corpus("bluesky", "getLikes_real_2023_1-like.json")
    likes["likes"][0]["actor"]["avatar"] = feed_server.url("/media/gone.png")  # a 404
    feed_server.put("/xrpc/app.bsky.feed.getLikes", json.dumps(likes), "application/json")
    reposts = _corpus("bluesky", "getRepostedBy_real_2023_1-actor.json")
    inside_port = inside.base.rsplit(":", 1)[1]
    reposts["repostedBy"][0]["avatar"] = f"http://inside.example:{inside_port}/secret.png"
    feed_server.put("/xrpc/app.bsky.feed.getRepostedBy", json.dumps(reposts), "application/json")

    caplog.set_level(logging.INFO)
    out = build(site, monkeypatch, RECIPROCITY_AVATARS=True)
    tooted = thanks_section(page(site, "tooted.html"))
    copies = sorted((out / "theme" / "reciprocity-avatars").glob("*.png"))
    assert len(copies) == 1  # the one real picture
    with Image.open(copies[0]) as square:
        assert square.format == "PNG" and square.size == (64, 64)
    assert f'src="/theme/reciprocity-avatars/{copies[0].name}"' in tooted
    faces = re.findall(r'<ul class="reciprocity-facepile">(.*?)</ul>', tooted, re.S)
    assert len(faces) == 1 and faces[0].count("<li>") == 2  # the like and the boost
    assert 'class="reciprocity-avatar reciprocity-initials"' in faces[0]  # the bomb's owner
    skeeted = thanks_section(page(site, "skeeted.html"))
    assert skeeted.count("reciprocity-initials") == 2  # the 404 and the inside address
    warnings = [w for w in reciprocity_records(caplog, logging.WARNING) if "avatar of" in w]
    assert len(warnings) == 3, warnings
    assert any("/media/bomb.png" in w and "not an avatar" in w for w in warnings)
    assert inside.requests == 0
    for path in out.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert page_is_safe(html), path
        assert not re.search(r"<script|<iframe|/media/|inside\.example|cdn\.bsky", html), path
    _same_bytes_offline(site, feed_server, monkeypatch, RECIPROCITY_AVATARS=True)


def test_initials_and_squares_of_hostile_pictures():
    from pelican_reciprocity.avatars import square
    from pelican_reciprocity.render import initials

    assert initials("Jo Bloggs") == "JB"
    assert initials("Mary Ann Smith") == "MS"
    assert initials("@lena@social.example") == "L"
    assert initials("🌿") == ""
    for body in (b"", b"GIF89a", _claims_to_be_huge(), b"<svg onload=alert(1)>", b"\0" * 100):
        picture, problem = square(body)
        assert picture is None and problem, body[:10]
    picture, problem = square(_picture("GIF", (10, 500), "red"))
    assert problem is None and picture.startswith(b"\x89PNG")
    assert square(_picture("GIF", (10, 500), "red")) == (picture, None)  # same bytes each time


def test_the_social_archive_keeps_each_thread_for_a_build_with_no_cache_and_no_server(
    social_site, feed_server, monkeypatch, caplog
):
    """RECIPROCITY_SOCIAL_ARCHIVE: each answer is kept as a readable file to
    commit; a deletion upstream reaches it; a fresh clone built offline (no
    cache) shows the same thread from it."""
    import shutil

    site = social_site
    archive = site / "reciprocity" / "social"
    build(site, monkeypatch, RECIPROCITY_SOCIAL_ARCHIVE="reciprocity/social")
    host = feed_server.base.split("//")[1].replace(":", "_")
    context = archive / "mastodon" / host / STATUS / "context.json"
    thread = archive / "bluesky" / "aliceisjustplaying.bsky.social" / "3jt5x"
    assert "jaxwxboss" in context.read_text(encoding="utf-8")
    assert (thread / "getPostThread.json").is_file() and (thread / "getLikes.json").is_file()
    first = thanks_section(page(site, "tooted.html")), thanks_section(page(site, "skeeted.html"))

    shutil.rmtree(site / "cache")  # a fresh clone: no cache, and no network
    feed_server.reset()
    monkeypatch.setenv("RECIPROCITY_OFFLINE", "1")
    caplog.set_level(logging.INFO)
    build(site, monkeypatch, RECIPROCITY_SOCIAL_ARCHIVE="reciprocity/social")
    assert feed_server.requests == 0
    again = thanks_section(page(site, "tooted.html")), thanks_section(page(site, "skeeted.html"))
    assert again == first
    assert not [w for w in reciprocity_records(caplog, logging.WARNING) if "API" in w]

    monkeypatch.delenv("RECIPROCITY_OFFLINE")  # the reply is deleted upstream
    spoiler = _corpus(
        "mastodon",
        "status_mastodon-social_remote-spoiler-mention-hashtag-emoji_110446223051565765.json",
    )
    feed_server.put(f"/api/v1/statuses/{STATUS}/context",
                    json.dumps({"ancestors": [], "descendants": [spoiler]}), "application/json")  # fmt: skip
    build(site, monkeypatch, RECIPROCITY_SOCIAL_ARCHIVE="reciprocity/social")
    assert "jaxwxboss" not in context.read_text(encoding="utf-8")
    assert "jaxwxboss" not in page(site, "tooted.html")


def test_a_profile_that_proves_a_site_is_the_person_of_that_site():
    """Mastodon: a link verified by rel="me" (an unverified one proves
    nothing); Bluesky: a handle that is a domain, not a host's sub-account."""
    from pelican_reciprocity.identity import identify

    def account(verified: str | None) -> dict:
        link = '<a href="https://wren.example/" rel="me">wren.example</a>'
        return {
            "id": "2", "acct": "wren@social.example", "display_name": "W.",
            "url": "https://social.example/@wren",
            "fields": [{"name": "Blog", "value": link, "verified_at": verified}],
        }  # fmt: skip

    def status(id_: str, verified: str | None) -> dict:
        return {"id": id_, "uri": f"u{id_}", "url": f"https://social.example/@wren/{id_}",
                "visibility": "public", "content": "<p>hi</p>", "account": account(verified)}  # fmt: skip

    from pelican_reciprocity.social import read_mastodon

    context = {"descendants": [status("1", "2026-01-01T00:00:00Z"), status("2", None)]}
    replies = read_mastodon("context", context, "article:a", "test").responses
    assert [r.author_site for r in replies] == ["https://wren.example/", ""]
    friends = {"url:wren.example": "Wren Adeyemi", "name:wren adeyemi": "Wren Adeyemi"}
    people, _ = identify(replies[:1], friends)
    assert people[0].friend and people[0].url == "https://wren.example/"
    people, _ = identify(replies[1:], friends)
    assert not people[0].friend

    def liked_by(handle: str) -> str:
        data = {"likes": [{"actor": {"did": "did:plc:x", "handle": handle}}]}
        return read_bluesky("getLikes", data, "article:a", "test").responses[0].author_site

    assert liked_by("priya.example") == "https://priya.example/"
    assert liked_by("priya.bsky.social") == ""
    assert liked_by("handle.invalid") == ""
