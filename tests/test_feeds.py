"""Normalising feeds of every format into Posts, without a network."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from helpers import rss
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_units import DANGER

from pelican_reciprocity.feeds import assign_first_seen, parse_feed, parse_feed_quickly

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def parse(body, base="https://friend.example/feed.xml", **kw):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return parse_feed(body, base=base, now=NOW, **kw)


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/blog/">
  <title type="html">&lt;b&gt;Atom&lt;/b&gt; blog</title>
  <link rel="alternate" href="https://atom.example/"/>
  <entry>
    <title type="html">Hello &lt;img src=x onerror=alert(1)&gt;world</title>
    <link rel="alternate" href="posts/hello/"/>
    <id>tag:atom.example,2026:1</id>
    <updated>2026-10-01T10:00:00+02:00</updated>
    <category term="cats"/><category term="Cats"/>
    <content type="html">&lt;p&gt;Body &lt;a href="/rel"&gt;link&lt;/a&gt;&lt;script&gt;x()&lt;/script&gt;&lt;/p&gt;</content>
  </entry>
</feed>"""


@pytest.mark.parametrize("fast", [True, False], ids=["etree", "feedparser"])
def test_atom_with_xml_base_html_title_and_script(fast):
    """Both readers: feedparser's own sanitising is off, ours cleans its output."""
    feed = parse(ATOM, fast=fast)
    assert feed.parser == ("etree" if fast else "feedparser")
    assert feed.problem is None and feed.title == "Atom blog"
    [post] = feed.posts
    assert post.title == "Hello world"
    assert post.url == "https://atom.example/blog/posts/hello/"
    assert post.date == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    assert post.tags == ("cats",)
    assert "script" not in post.summary_html
    assert 'href="https://atom.example/rel"' in post.summary_html


def test_the_quick_reader_reads_what_the_fast_one_does_and_declines_the_rest():
    """The fetch reads a body on its download loop only through the fast
    reader: the same posts as the full parse, and None (not a lenient read)
    for a body only the lenient reader can read."""
    item = {"title": "First", "link": "https://g.example/1", "description": "<p>a b</p>"}
    good = rss("Good", [{**item, "date": datetime(2026, 10, 5, tzinfo=UTC)}])
    options = {"base": "https://g.example/", "now": datetime(2026, 10, 6, tzinfo=UTC)}
    assert parse_feed_quickly(good.encode(), **options) == parse_feed(good.encode(), **options)
    bad = good.replace("<channel>", "<channel><br>").encode()
    assert parse_feed(bad, **options).parser == "feedparser"
    assert parse_feed_quickly(bad, **options) is None
    json_feed = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": []})
    assert parse_feed_quickly(json_feed.encode(), **options) == parse_feed(
        json_feed.encode(), **options
    )


def test_rss_missing_title_date_and_duplicates():
    body = rss(
        "R",
        [
            {
                "link": "https://r.example/1",
                "description": "<p>A post with no title at all here</p>",
            },
            {"title": "Dup", "link": "https://r.example/1"},
            {"title": "Two", "link": "https://www.r.example/2/"},
            {"title": "Two again", "link": "http://r.example/2"},
        ],
    )
    feed = parse(body)
    assert [p.title for p in feed.posts] == ["A post with no title at all here", "Two"]
    assert all(p.date is None and not p.dated for p in feed.posts)


def test_first_seen_dates_are_remembered():
    feed = parse(rss("R", [{"title": "t", "link": "https://r.example/1"}]))
    dated, table = assign_first_seen(feed.posts, {}, NOW)
    assert dated[0].date == NOW and not dated[0].dated
    later = datetime(2026, 11, 5, tzinfo=UTC)
    again, table2 = assign_first_seen(feed.posts, table, later)
    assert again[0].date == NOW and table2 == table


def test_future_dates_are_not_trusted():
    feed = parse(rss("R", [{"title": "t", "link": "https://r.example/1",
                            "date": datetime(2099, 1, 1, tzinfo=UTC)}]))  # fmt: skip
    assert feed.posts[0].date is None


def test_json_feed_1_1_and_1_0():
    for version in ("1", "1.1"):
        body = json.dumps(
            {
                "version": f"https://jsonfeed.org/version/{version}",
                "title": "J",
                "home_page_url": "https://j.example/",
                "items": [
                    {"id": "1", "url": "/p/1", "title": "<i>One</i>",
                     "content_html": "<p>x<script>y</script></p>",
                     "date_published": "2026-10-01T00:00:00Z", "tags": ["a", 3]},
                    {"id": "2", "content_text": "no url"},
                    "junk",
                ],
            }
        )  # fmt: skip
        feed = parse(body, content_type="application/feed+json")
        assert feed.problem is None
        [post] = feed.posts
        assert post.url == "https://j.example/p/1" and post.title == "One"
        assert post.tags == ("a",) and "script" not in post.summary_html


def test_rss_1_and_0_92():
    rdf = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example/"><title>RDF</title><link>https://rdf.example/</link></channel>
<item rdf:about="https://rdf.example/1"><title>Item</title><link>https://rdf.example/1</link>
<dc:date>2026-09-01T00:00:00Z</dc:date></item></rdf:RDF>"""
    assert parse(rdf).posts[0].date == datetime(2026, 9, 1, tzinfo=UTC)
    old = """<rss version="0.92"><channel><title>Old</title><link>https://old.example/</link>
<item><description>Only a description &amp; an enclosure</description>
<enclosure url="https://old.example/a.mp3" length="1" type="audio/mpeg"/></item></channel></rss>"""
    [post] = parse(old).posts
    assert post.url == "https://old.example/a.mp3"
    assert post.title == "Only a description & an enclosure"


def test_non_utf8_encoding_is_decoded():
    body = rss("Кириллица", [{"title": "Привет", "link": "https://ru.example/1"}])
    body = body.replace('encoding="utf-8"', 'encoding="windows-1251"').encode("cp1251")
    feed = parse(body)
    assert feed.title == "Кириллица" and feed.posts[0].title == "Привет"


def test_relative_links_use_the_friend_site_for_local_files():
    body = rss("R", [{"title": "t", "link": "/2026/post/"}], link="/")
    feed = parse(body, base="https://friend.example/")
    assert feed.posts[0].url == "https://friend.example/2026/post/"


def test_html_page_and_garbage_are_problems_not_exceptions():
    assert "HTML page" in parse("<!DOCTYPE html><html><body>hi</body></html>").problem
    assert parse(b"\x00\xff\xfe garbage").problem
    assert parse(b"").problem == "empty response"
    assert "JSON" in parse(b'{"version": 2}').problem


def test_feed_wrapped_in_html_is_dug_out():
    inner = rss("Wrapped", [{"title": "t", "link": "https://w.example/1"}])
    inner = inner.split("?>", 1)[1]
    page = f"<!DOCTYPE html>\n<html>{inner}</html>"
    feed, slow = parse(page), parse(page, fast=False)
    assert feed.problem is None and feed.posts[0].title == "t"
    # the feed inside is well-formed: the fast path reads it, as feedparser does
    assert (feed.parser, slow.parser) == ("etree", "feedparser")
    assert [(p.url, p.title) for p in feed.posts] == [(p.url, p.title) for p in slow.posts]


#: Bodies near a feed wrapped in another document, and just past it.
WRAPPING = st.lists(
    st.sampled_from([b"<rss", b"<rss>", b"<rss ", b"</rss>", b"</rss  >", b"</rss", b"<feed ",
                     b"</feed>", b"<rdf:RDF>", b"</rdf:RDF >", b"x", b" ", b">", b"<html>", b"\n",
                     b"</feedx>", b"<feedx "]),
    max_size=14,
).map(b"".join)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(WRAPPING)
def test_a_wrapped_feed_is_found_where_the_pattern_finds_it(body):
    """Two scans find what <(rss|feed|rdf:RDF)[\\s>].*</\\1\\s*> finds, without
    its time growing with the square of the body (below)."""
    import re

    from pelican_reciprocity.feeds import _wrapped

    match = re.search(rb"<(rss|feed|rdf:RDF)[\s>].*</\1\s*>", body, re.S)
    assert _wrapped(body) == (match and (match.start(), match.group(0)))


def test_many_openings_and_no_close_are_no_wrapped_feed():
    from pelican_reciprocity.feeds import _wrapped

    # 1.2 MB: the pattern above would take hours on it (5 s for 120 KB)
    assert _wrapped(b"<feed " * 200_000) is None


def test_only_web_links_survive():
    body = rss("R", [{"title": "bad", "link": "javascript:alert(1)"},
                     {"title": "ftp", "link": "ftp://x.example/1"}])  # fmt: skip
    assert parse(body, base=None).posts == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_bytes(data):
    feed = parse(data)
    assert feed.problem or isinstance(feed.posts, list)


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(TEXT, TEXT, TEXT, st.booleans())
def test_generated_rss_is_always_safe(title, link, description, fast):
    body = rss(title, [{"title": title, "link": link, "description": description}])
    feed = parse(body, fast=fast)
    for post in feed.posts:
        assert post.url.startswith(("http://", "https://"))
        assert not DANGER.search(post.summary_html)
        assert post.date is None or post.date.tzinfo is not None


URLS = st.sampled_from(
    ["https://a.example/1", "/relative/2", "https://a.example/1#frag", "javascript:x", ""]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, URLS, st.booleans(), TEXT), max_size=5))
def test_fast_path_matches_feedparser_on_generated_rss(items):
    entries = []
    for title, link, dated, description in items:
        entry = {"title": title, "link": link, "description": description}
        if dated:
            entry["date"] = NOW
        entries.append(entry)
    body = rss("Gen", entries).encode("utf-8")
    fast = parse(body)
    slow = parse_feed(body, base="https://friend.example/feed.xml", now=NOW, fast=False)
    assert slow.parser == "feedparser"
    try:
        ET.fromstring(body)
    except ET.ParseError:
        pass  # not well-formed: the fast path rightly hands it to feedparser
    else:
        assert fast.parser == "etree"
    assert [(p.url, p.date) for p in fast.posts] == [(p.url, p.date) for p in slow.posts]
    assert [p.title.split() for p in fast.posts] == [p.title.split() for p in slow.posts]


HTML_ENTITIES = """<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>Caf&eacute; &amp; co</title><link>https://e.example/</link>
<item><title>Fr&uuml;h&nbsp;&mdash; &hellip;</title><link>https://e.example/1</link>
<description>&lt;p&gt;One&nbsp;two &amp;amp; three&lt;/p&gt; &copy;{extra}</description>
<media:thumbnail>https://e.example/i.jpg</media:thumbnail>
<pubDate>Mon, 05 Oct 2026 10:00:00 GMT</pubDate></item></channel></rss>"""


def test_html_named_entities_are_read_by_the_fast_path_as_feedparser_reads_them():
    """A feed whose only fault is HTML's named entities stays on the fast
    path; one with a name no one knows is still feedparser's."""
    body = HTML_ENTITIES.format(extra="")
    fast, slow = parse(body), parse(body, fast=False)
    assert (fast.parser, slow.parser) == ("etree", "feedparser")
    assert fast.title == slow.title == "Café & co"
    [a], [b] = fast.posts, slow.posts
    assert a.title == b.title == "Früh — …"
    assert a.summary_text == b.summary_text and "One two & three ©" in a.summary_text
    assert a.image == b.image == "https://e.example/i.jpg"  # the address as the element's text
    assert parse(HTML_ENTITIES.format(extra="&nosuchentity;")).parser == "feedparser"


#: Dates near the RFC 822 form any_date reads without email.utils, and
#: just past its edges.
RFC822_LIKE = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["", "Mon, ", "Thu, ", "Xyz, ", "Monday, ", "mon ", "Mon,"]),
        st.sampled_from(["1", "05", "31", "0", "39", "123"]),
        st.sampled_from([" "]),
        st.sampled_from(["Oct", "Feb", "Apr", "oct", "OCT", "Foo", "Mai", "October"]),
        st.sampled_from([" 2026", " 1999", " 0099", " 99", " 1000", " 9999"]),
        st.sampled_from([" 10:00:00", " 10:00", " 23:59:59", " 24:00:00", " 1:2", " 10:61:00"]),
        st.sampled_from([" GMT", " UT", " UTC", " Z", " +0000", " -0000", " +0130", " -0930",
                         " +0099", " +2400", " +9999", " EST", " gmt", " +01:00", "", " GMT x"]),
    ),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(RFC822_LIKE)
@example("Mon, 05 Oct 2026 10:00:00 -0000")  # email.utils: a naive date
@example("05 Oct 0099 10:00 GMT")  # email.utils: 1999
@example("Thu, 31 Apr 2026 10:00 GMT")
@example("05 Oct 2026 10:00 +2400")
@example("Monday, 5 Oct 2026 23:59:59 -0930")
def test_rfc822_dates_are_read_as_email_utils_reads_them(text):
    import email.utils

    from pelican_reciprocity.feeds import _rfc822

    quick = _rfc822(text)
    if quick is not None:
        slow = email.utils.parsedate_to_datetime(text)
        assert (quick, quick.utcoffset()) == (slow, slow.utcoffset())


NEW_YEAR_FEEDS = {
    "atom": (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        '<link href="https://x.example/"/><entry><title>Eve</title>'
        '<link href="https://x.example/eve"/><id>https://x.example/eve</id>'
        "<published>2025-12-31T00:00:00+01:00</published></entry></feed>"
    ),
    "rss": (
        '<rss version="2.0"><channel><title>T</title><link>https://x.example/</link>'
        "<item><title>Eve</title><link>https://x.example/eve</link>"
        "<pubDate>Wed, 31 Dec 2025 00:00:00 +0100</pubDate></item></channel></rss>"
    ),
    "json": (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": '
        '[{"id": "1", "url": "https://x.example/eve", "title": "Eve", '
        '"date_published": "2025-12-31T00:00:00+01:00"}]}'
    ),
}


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", sorted(NEW_YEAR_FEEDS))
def test_a_post_shows_on_its_authors_day_in_every_language(kind, fast):
    """Midnight at +01:00 on 31 December is the 31st where it was written,
    though it is still the 30th in UTC; ordering uses the instant."""
    from pelican_reciprocity.i18n import Strings
    from pelican_reciprocity.render import post_view

    body = NEW_YEAR_FEEDS[kind].encode()
    now = datetime(2026, 1, 5, tzinfo=UTC)
    post = parse_feed(body, base="https://x.example/", now=now, fast=fast).posts[0]
    assert post.date.timestamp() == datetime(2025, 12, 30, 23, tzinfo=UTC).timestamp()
    english = post_view(post, None, Strings("en"), None)
    assert (str(english.date_iso), str(english.date_text)) == ("2025-12-31", "December 31, 2025")
    german = post_view(post, None, Strings("de"), None)
    assert str(german.date_text) == "31. Dezember 2025"


@pytest.mark.parametrize(
    "written", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "1970-01-01T00:00:00Z"]
)
def test_impossible_dates_are_unknown_not_fatal(written):
    body = NEW_YEAR_FEEDS["atom"].replace("2025-12-31T00:00:00+01:00", written).encode()
    post = parse_feed(body, base="https://x.example/", now=datetime(2026, 1, 5, tzinfo=UTC)).posts[
        0
    ]
    assert post.date is None


_SECTION = st.lists(
    st.sampled_from(
        ["x" * 600, "]", "]]", "] ]>", "\r\n", "\r", "é", "\ue000", "\ue0001\ue001", "<p>",
         "&amp;", "\x01", "\x0b", "\ufffe", "<!--", "-->", "<?", "?>", " "]
    ),
    max_size=8,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            _SECTION,
            st.sampled_from(["", "<!-- <![CDATA[ -->", "<?pi <![CDATA[ ?>", "tail", "<b/>t"]),
        ),
        max_size=4,
    ),
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", None]),
    st.booleans(),
)
def test_long_cdata_read_beside_the_parser_gives_its_tree(sections, encoding, bom):
    """A long CDATA section is taken out of the XML and put back after: the
    tree is the parser's, or both give none (bad bytes, a section inside a
    comment, a mark's characters in the markup)."""
    from test_corpus import _whole

    from pelican_reciprocity.feeds import _xml_root

    items = "".join(
        f"<item><description><![CDATA[{text}]]>{after}</description></item>"
        for text, after in sections
    )
    declared = f' encoding="{encoding}"' if encoding else ""
    document = f'<?xml version="1.0"{declared}?><rss><channel>{items}</channel></rss>'
    body = (b"\xef\xbb\xbf" if bom else b"") + document.encode(encoding or "utf-8", "replace")
    mine, whole = _xml_root(body), _whole(body)
    assert (mine is None) == (whole is None)
    if whole is not None:
        assert ET.tostring(mine) == ET.tostring(whole)


@pytest.mark.parametrize(
    "markup",
    [
        "<!-- <![CDATA[ --><x>{long}</x><!-- ]]> -->",
        "<?pi <![CDATA[ ?><x>{long}</x><?pi ]]> ?>",
        "<x><![CDATA[{long}]]></x><!-- <![CDATA[ --><y>{long}</y><!-- ]]> -->",
    ],
)
def test_cdata_written_inside_a_comment_is_not_a_section(markup):
    """Only a real section is taken out: one written in a comment or a
    processing instruction is the parser's to skip."""
    from test_corpus import _whole

    from pelican_reciprocity.feeds import _xml_root

    body = f"<r>{markup.format(long='y' * 600)}</r>".encode()
    assert ET.tostring(_xml_root(body)) == ET.tostring(_whole(body))
    assert _xml_root(body).find("x").text == "y" * 600
