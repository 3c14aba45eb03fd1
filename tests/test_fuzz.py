"""Every reader, driven with generated hostile input: never an exception,
always a result or a problem.

Hypothesis runs with a fixed seed (the profile in conftest.py) and a bounded
number of examples, so CI sees the same inputs every time.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pelican_reciprocity.cache import FeedCache
from pelican_reciprocity.feeds import parse_feed
from pelican_reciprocity.friends import from_entries, load_friends, read_opml
from pelican_reciprocity.friends_file import _toml
from pelican_reciprocity.model import ReadResult
from pelican_reciprocity.moderation_file import load_moderation
from pelican_reciprocity.sanitize import clean_html, summarise, to_text, valid_text
from pelican_reciprocity.settings import ConfigError
from pelican_reciprocity.sources import (
    read_comment_folder,
    read_source,
    read_thanks,
    read_webmentions,
)
from pelican_reciprocity.urls import public_url

#: Any text, lone surrogates and bidirectional controls included.
_RAW_TEXT = st.text(st.characters(blacklist_categories=()), max_size=120)
_SPIKES = st.sampled_from(["\ud800", "\udfff", "\u202e", "\u2066", "<b>", "&amp;", "<p>" * 40])
ANY_TEXT = st.one_of(
    _RAW_TEXT, st.builds(lambda a, spike, b: a + spike + b, _RAW_TEXT, _SPIKES, _RAW_TEXT)
)
#: What a hostile server would put in a field: dates, markup, odd characters.
FIELD = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        [
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+01:00",
            "2026-11-20T10:00:00+99:00",
            "<div>" * 200,
            "<script>alert(1)</script>",
            "javascript:alert(1)",
            "\u202egnp.exe",
            "\ud800",
            "http://[::1",
            "https://user:pw@x.example/?token=1",
            "&amp;amp;",
            "",
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
JSON = st.recursive(
    FIELD,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from([
    "wm-id", "wm-property", "wm-target", "wm-received", "wm-private", "author", "name", "url",
    "photo", "published", "content", "html", "text", "url", "wm-source", "links", "children",
    "data", "activity", "type", "target", "source", "id", "verified_date",
])  # fmt: skip
MENTION = st.recursive(FIELD, lambda inner: st.dictionaries(KEYS, inner, max_size=8), max_leaves=16)
FUZZ = settings(max_examples=120, deadline=None)


def _never_raises(result: ReadResult) -> None:
    assert isinstance(result, ReadResult)
    for response in result.responses:
        for text in (response.author_name, response.excerpt_html, response.text):
            text.encode("utf-8")  # valid Unicode, whatever came in
            assert "\u202e" not in text


# -- feeds --------------------------------------------------------------------------------


@FUZZ
@given(st.dictionaries(ANY_TEXT, JSON, max_size=6), st.lists(st.dictionaries(
    st.sampled_from(["id", "url", "external_url", "title", "summary", "content_html",
                     "content_text", "date_published", "date_modified", "tags", "image"]),
    JSON, max_size=8), max_size=6))  # fmt: skip
def test_json_feeds_never_raise(top, items):
    body = json.dumps(
        {**top, "version": "https://jsonfeed.org/version/1.1", "items": items}, default=str
    ).encode("utf-8", "surrogatepass")
    feed = parse_feed(body, base="https://friend.example/", max_posts=3)
    assert feed.problem or len(feed.posts) <= 3
    for post in feed.posts:
        post.title.encode("utf-8")


XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80)


@FUZZ
@given(
    st.sampled_from(["rss", "atom", "rdf"]),
    st.lists(st.tuples(XML_TEXT, XML_TEXT, XML_TEXT, XML_TEXT), max_size=5),
    st.booleans(),
)
def test_xml_feeds_never_raise(kind, items, cut):
    from xml.sax.saxutils import escape

    if kind == "atom":
        entries = "".join(
            f"<entry><title>{escape(t)}</title><link href='{escape(u, {chr(39): '&#39;'})}'/>"
            f"<updated>{escape(d)}</updated><summary type='html'>{escape(b)}</summary></entry>"
            for t, u, d, b in items
        )
        body = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>F</title>{entries}</feed>"
    else:
        entries = "".join(
            f"<item><title>{escape(t)}</title><link>{escape(u)}</link>"
            f"<pubDate>{escape(d)}</pubDate><description>{escape(b)}</description></item>"
            for t, u, d, b in items
        )
        body = f"<rss version='2.0'><channel><title>F</title>{entries}</channel></rss>"
    data = body.encode("utf-8")
    if cut:
        data = data[: len(data) // 2]  # malformed: the lenient reader's turn
    feed = parse_feed(data, base="https://friend.example/")
    assert feed.problem or isinstance(feed.posts, list)


# -- responses ----------------------------------------------------------------------------


@FUZZ
@given(st.lists(MENTION, max_size=6), st.booleans())
def test_webmention_json_never_raises(children, legacy):
    data = {"links": children} if legacy else {"type": "feed", "children": children}
    _never_raises(read_webmentions(data, "https://webmention.io/"))
    body = json.dumps(data, default=str).encode("utf-8", "surrogatepass")
    _never_raises(read_source(body, "https://webmention.io/"))


@FUZZ
@given(
    st.sampled_from(["rss", "atom", "disqus", "blogger"]),
    st.lists(st.tuples(XML_TEXT, XML_TEXT, XML_TEXT), max_size=4),
    st.integers(min_value=0, max_value=400),
)
def test_comment_feeds_and_exports_never_raise(kind, comments, cut):
    from xml.sax.saxutils import escape

    if kind == "disqus":
        posts = "".join(
            f"<post dsq:id='{i}'><message>{escape(m)}</message><createdAt>{escape(d)}</createdAt>"
            f"<author><name>{escape(n)}</name></author><thread dsq:id='t'/></post>"
            for i, (n, d, m) in enumerate(comments)
        )
        body = (
            "<disqus xmlns='http://disqus.com' xmlns:dsq='http://disqus.com/disqus-internals'>"
            f"<thread dsq:id='t'><link>https://me.example/a.html</link></thread>{posts}</disqus>"
        )
    elif kind == "blogger":
        body = "<feed xmlns='http://www.w3.org/2005/Atom'>" + "".join(
            "<entry><category term='http://schemas.google.com/blogger/2008/kind#comment'/>"
            f"<author><name>{escape(n)}</name></author><published>{escape(d)}</published>"
            f"<content>{escape(m)}</content></entry>"
            for n, d, m in comments
        ) + "</feed>"  # fmt: skip
    else:
        body = "<rss version='2.0'><channel><title>C</title>" + "".join(
            f"<item><title>By: {escape(n)}</title><pubDate>{escape(d)}</pubDate>"
            f"<description>{escape(m)}</description><link>https://me.example/a.html#c</link></item>"
            for n, d, m in comments
        ) + "</channel></rss>"  # fmt: skip
    data = body.encode("utf-8")
    _never_raises(read_source(data[: len(data) - cut] if cut else data, "https://me.example/c"))


@FUZZ
@given(st.lists(st.tuples(ANY_TEXT, FIELD, ANY_TEXT), min_size=1, max_size=3))
def test_comment_files_never_raise(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("comments")
    for index, (author, date, body) in enumerate(files):
        text = f"author: {author}\ndate: {date}\n\n{body}\n"
        (folder / f"{index}.md").write_bytes(text.encode("utf-8", "surrogatepass"))
    _never_raises(read_comment_folder(folder, "slug"))


@FUZZ
@given(st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=4), FIELD))
def test_thanks_metadata_never_raises(value):
    _never_raises(read_thanks(value, "article-key"))


@FUZZ
@given(
    st.sampled_from([("mastodon", k) for k in ("context", "favourited_by", "reblogged_by")]
                    + [("bluesky", k) for k in ("getPostThread", "getLikes", "getRepostedBy",
                                                "getQuotes")]),
    st.recursive(MENTION, lambda inner: st.dictionaries(st.sampled_from(
        ["descendants", "thread", "replies", "post", "record", "text", "facets", "likes",
         "actor", "repostedBy", "posts", "account", "visibility", "spoiler_text", "content",
         "created_at", "createdAt", "handle", "displayName", "emojis", "uri"]), inner,
        max_size=6) | st.lists(inner, max_size=4), max_leaves=30),
)  # fmt: skip
def test_social_answers_never_raise(which, data):
    from pelican_reciprocity.social import read_bluesky, read_mastodon

    network, kind = which
    reader = read_mastodon if network == "mastodon" else read_bluesky
    _never_raises(reader(kind, data, "article:a", "https://api.example/"))


# -- the owner's files, cache entries, OPML -------------------------------------------------


@FUZZ
@given(st.lists(JSON, max_size=5))
def test_friend_entries_are_each_a_friend_or_a_problem(entries):
    result = from_entries(entries, source="friends.toml", base_dir=Path("/site"))
    assert len(result.friends) + len(result.problems) <= len(entries)


@FUZZ
@given(ANY_TEXT)
def test_a_friends_or_moderation_file_is_read_or_one_clear_error(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("owner")
    for name, reader in (
        ("friends.toml", lambda p: load_friends(str(p), folder)),
        ("moderation.toml", load_moderation),
    ):
        path = folder / name
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            reader(path)
        except ConfigError as exc:
            assert str(path) in str(exc)


@FUZZ
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(
    ["url", "posts", "etag", "fetched_at", "checked_at", "first_seen", "title", "raw", "format"]),
    JSON, max_size=8)))  # fmt: skip
def test_a_damaged_cache_entry_is_dropped_never_fatal(tmp_path_factory, data):
    cache = FeedCache(tmp_path_factory.mktemp("cache"))
    url = "https://friend.example/feed.xml"
    path = cache.path_for(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, default=str), encoding="utf-8", errors="surrogatepass")
    entry = cache.load(url)
    assert entry is None or entry.url == url


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.dictionaries(
    st.sampled_from(["xmlUrl", "htmlUrl", "text", "title", "type"]), XML_TEXT, max_size=5),
    max_size=5))  # fmt: skip
def test_opml_never_raises(noise, outlines):
    from xml.sax.saxutils import quoteattr

    tags = "".join(
        "<outline " + " ".join(f"{k}={quoteattr(v)}" for k, v in o.items()) + "/>" for o in outlines
    )
    for data in (noise, f"<opml><body>{tags}</body></opml>".encode(), noise + tags.encode()):
        entries, _skipped = read_opml(data)
        assert all(isinstance(e["feed"], str) for e in entries)


# -- normalisers ----------------------------------------------------------------------------


@FUZZ
@given(ANY_TEXT)
def test_sanitised_text_is_valid_unicode_without_bidi_overrides(text):
    for out in (to_text(text), clean_html(text), summarise(text, 10)[0], valid_text(text)):
        out.encode("utf-8")
        assert "\u202e" not in out and "\u2066" not in out


#: Text with what the repairs look for: C1 controls, bidirectional controls,
#: double-encoded UTF-8 ("Ã©"), and Latin-1 and wider characters around them.
REPAIRABLE = st.text(
    st.sampled_from(list("a é\x85\x92\x9d\u202a\u202e\u2066\u2069’…Ã©\u00a9\ud800"))
)


@FUZZ
@given(REPAIRABLE)
def test_text_repairs_search_before_they_translate_with_the_same_result(text):
    """valid_text and the feeds' _repair skip str.translate when nothing it
    maps is there (it costs about 120 ns a character): the same text out."""
    from pelican_reciprocity.feeds import _CP1252, _repair
    from pelican_reciprocity.sanitize import _BIDI

    encodable = text
    try:
        encodable.encode("utf-8")
    except UnicodeEncodeError:
        encodable = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert valid_text(text) == (text if text.isascii() else encodable.translate(_BIDI))
    repaired = text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        repaired = text.encode("iso-8859-1").decode("utf-8")
    assert _repair(text) == (text if not text or text.isascii() else repaired.translate(_CP1252))


@FUZZ
@given(ANY_TEXT, st.lists(ANY_TEXT, max_size=3))
def test_friends_file_strings_round_trip_through_toml(name, tags):
    name, tags = valid_text(name), [valid_text(t) for t in tags]
    text = f"name = {_toml(name)}\ntags = {_toml(tags)}\n"
    assert tomllib.loads(text) == {"name": name, "tags": tags}


@FUZZ
@given(st.sampled_from(["http", "https"]), st.sampled_from(["", "u@", "u:p@", "a:b:c@"]),
       st.lists(st.tuples(st.sampled_from(["token", "api_key", "page", "Secret", "id", "AUTH"]),
                          st.text("abc123", max_size=5)), max_size=4))  # fmt: skip
def test_published_urls_carry_no_credentials(scheme, userinfo, params):
    from urllib.parse import urlencode

    url = f"{scheme}://{userinfo}feeds.example/feed.xml?{urlencode(params)}"
    public = public_url(url)
    assert "@" not in public
    for key, _ in params:
        if key.lower() in ("token", "api_key", "secret", "auth"):
            assert f"{key}=" not in public
        else:
            assert f"{key}=" in public


@FUZZ
@given(
    st.one_of(
        ANY_TEXT, st.from_regex(r"https?://[a-z@:\[\]]{0,12}(/[a-z?=&@]{0,12})?", fullmatch=True)
    )
)
def test_a_url_with_nothing_to_remove_is_kept_as_the_full_parse_would(url):
    from pelican_reciprocity.urls import _without_secrets

    assert public_url(url) == _without_secrets(url)


@given(st.text(alphabet=st.sampled_from("ab &<>\"'\n\r\t;é"), max_size=20) | ANY_TEXT)
@example('A "quoted" name')
@example("both ' and \"")
@example("tab\there")
def test_a_blogroll_attribute_is_quoted_as_quoteattr_quotes_it(value):
    """The OPML blogroll skips ``quoteattr`` for values with nothing to
    escape: the bytes must be those it would have written."""
    from xml.sax.saxutils import quoteattr

    from pelican_reciprocity.render import _attribute

    assert _attribute(value) == quoteattr(value)
