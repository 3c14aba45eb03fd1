"""Turn a fetched body (RSS 0.9x/1.0/2.0, Atom or JSON Feed) into plain Posts.

Parsing never raises: like feedparser itself, it returns a result with a
``problem`` string when the body is not a usable feed.
"""

from __future__ import annotations

import calendar
import contextlib
import email.utils
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import field
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from typing import Any
from urllib.parse import urljoin

from .model import Post, order_of, record
from .sanitize import summarise, to_text, truncate_text, valid_text
from .urls import absolute, is_web_url

#: Dates further in the future than this are treated as missing, so a feed
#: with a bogus "2099" date cannot pin itself to the top of every page.
FUTURE_SLACK = timedelta(days=2)
TITLE_WORDS = 12
MAX_TAGS = 12


@record
class ParsedFeed:
    """A body read as a feed; ``problem`` says why it is unusable, as feedparser's bozo does."""

    posts: list[Post] = field(default_factory=list)
    title: str = ""
    link: str | None = None
    format: str = ""
    problem: str | None = None  # why the body is unusable, or None
    parser: str = ""  # which reader produced it: "etree", "feedparser" or "json"
    warnings: list[str] = field(default_factory=list)
    author: str = ""  # the feed's own author, when it names one (a person's name)


def parse_feed(
    body: bytes,
    *,
    base: str | None,
    content_type: str = "",
    summary_words: int = 40,
    now: datetime | None = None,
    fast: bool = True,
    summaries: int | None = None,
    friend: str = "",
    max_posts: int | None = None,
    lenient: bool = True,
) -> ParsedFeed:
    """Parse any supported feed format; ``base`` resolves relative links.

    Only the newest ``summaries`` posts are summarised now (None: all of
    them); the rest keep a short raw prefix to summarise if ever shown.
    ``friend`` is the key of the friend whose feed this is. Only the newest
    ``max_posts`` entries are read at all (None: every one).
    ``fast=False`` skips the ElementTree path (the tests compare the two);
    ``lenient=False`` skips the lenient reader (see :func:`parse_feed_quickly`).
    """
    now = now or datetime.now(UTC)
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") or "json" in content_type.lower():
        result = _parse_json_feed(body, base=base, words=summary_words, now=now, limit=max_posts)
    else:
        result = _parse_xml_feed(
            body,
            base=base,
            content_type=content_type,
            words=summary_words,
            now=now,
            fast=fast,
            limit=max_posts,
            lenient=lenient,
        ) or ParsedFeed(problem=LENIENT_ONLY)
    result.posts = summarise_newest(result.posts, summary_words, summaries, friend)
    return result


#: The problem :func:`parse_feed` gives, with ``lenient=False``, for a body
#: only the lenient reader can read.
LENIENT_ONLY = "only the lenient reader can read it"


def parse_feed_quickly(body: bytes, **options: Any) -> ParsedFeed | None:
    """:func:`parse_feed` (with the same options), or None when only the
    lenient reader can read the body: it takes milliseconds per entry (0.06
    to 0.4 s for a malformed feed of 256 KB), so the fetch runs it off the
    download loop."""
    parsed = parse_feed(body, lenient=False, **options)
    return None if parsed.problem is LENIENT_ONLY else parsed


#: What a post that is summarised later keeps of its raw HTML: enough for the
#: summary in all but markup-heavy posts, and no bigger than a summary itself.
LATER_PREFIX = (256, 12)


def summarise_newest(
    posts: list[Post], words: int, count: int | None, friend: str = ""
) -> list[Post]:
    """Summarise the newest ``count`` posts (in the order the pages show
    them: :func:`model.newest_first`); the others keep a bounded prefix of
    their raw HTML. Order is kept, and each post is stamped with its
    friend's key in the same pass."""
    order = sorted(range(len(posts)), key=lambda i: order_of(posts[i]))
    now_ones = set(order if count is None else order[:count])
    fixed, per_word = LATER_PREFIX
    out = []
    for index, post in enumerate(posts):
        if not post.source_html:
            out.append(post.but(friend=friend) if friend else post)
        elif index in now_ones:
            html, text = summarise(post.source_html, words, base=post.source_base)
            out.append(
                post.but(summary_html=html, summary_text=text, source_html="", friend=friend)
            )
        else:
            prefix = post.source_html[: fixed + words * per_word]
            out.append(post.but(source_html=prefix, friend=friend))
    return out


def _newest(
    items: list[Any], date_of: Any, limit: int | None, now: datetime
) -> list[tuple[Any, datetime | None]]:
    """Each item with its date, keeping only the newest ``limit`` (undated
    ones count as newest), in document order: a feed of 100,000 entries
    costs the dating of each, never the reading of each."""
    dated = [(item, sane_date(date_of(item), now)) for item in items]
    if limit is None or len(dated) <= limit:
        return dated
    order = sorted(
        range(len(dated)),
        key=lambda i: -dated[i][1].timestamp() if dated[i][1] else float("-inf"),  # type: ignore[union-attr]
    )
    return [dated[i] for i in sorted(order[:limit])]


#: Where entries start, to hand feedparser (slow: milliseconds per entry)
#: only the first few hundred of a malformed feed.
_ENTRY_START = re.compile(rb"<(?:item|entry)[\s>]")
LENIENT_ENTRIES_PER_POST = 4


def _head_entries(body: bytes, limit: int | None) -> bytes:
    if limit is None or len(body) < 256 * 1024:
        return body
    for count, match in enumerate(_ENTRY_START.finditer(body), 1):
        if count > limit * LENIENT_ENTRIES_PER_POST:
            return body[: match.start()]
    return body


# -- XML feeds (feedparser) -------------------------------------------------

_FEED_START = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]")
_CLOSED = re.compile(rb"\s*>")
_HTML_PAGE = re.compile(rb"<!DOCTYPE\s+html|<html[\s>]", re.I)


def _wrapped(body: bytes) -> tuple[int, bytes] | None:
    """Where a feed inside another document (an HTML page) starts, and the
    feed: from the first opening tag of an RSS, Atom or RDF root that is
    closed later to the last closing tag of that name. Two linear scans: a
    pattern with "anything" between the two tags took time growing with the
    square of the body's length on a body of many openings and no close
    (5 s for 120 KB)."""
    last: dict[bytes, tuple[int, int] | None] = {}  # each name's last closing tag
    for start in _FEED_START.finditer(body):
        name = start.group(1)
        if name not in last:
            last[name] = _last_close(body, name)
        close = last[name]
        if close is not None and close[0] >= start.end():
            return start.start(), body[start.start() : close[1]]
    return None


def _last_close(body: bytes, name: bytes) -> tuple[int, int] | None:
    """Where the last ``</name>`` (spaces allowed before its ``>``) starts and ends."""
    tag = b"</" + name
    at = body.rfind(tag)
    while at >= 0:
        closed = _CLOSED.match(body, at + len(tag))
        if closed:
            return at, closed.end()
        at = body.rfind(tag, 0, at)
    return None


def _parse_xml_feed(
    body: bytes,
    *,
    base: str | None,
    content_type: str,
    words: int,
    now: datetime,
    fast: bool = True,
    limit: int | None = None,
    lenient: bool = True,
) -> ParsedFeed | None:
    """None: the body needs the lenient reader, and ``lenient`` is False."""
    quick = _parse_etree(body, base=base, words=words, now=now, limit=limit) if fast else None
    # Found once: feedparser is given the same wrapped feed if it reads nothing.
    wrapped = _wrapped(body) if quick is None else None
    if fast and wrapped is not None and _HTML_PAGE.search(body, 0, wrapped[0]):
        # A feed an exporter wrapped in an HTML page: the feed itself may be
        # well-formed (about 2 ms, where feedparser took about 100).
        quick = _parse_etree(wrapped[1], base=base, words=words, now=now, limit=limit)
    if quick is not None or not lenient:
        return quick
    import feedparser  # imported lazily: a warm build parses nothing

    headers = {"content-type": content_type or "application/xml"}
    if base:
        headers["content-location"] = base
    # Always bytes: given a str, feedparser would treat it as a URL or path.
    # Without its own sanitising and link resolving, both in pure Python and
    # two thirds of its time: every field is cleaned by ours as it is shown
    # (or made plain text), and links resolve against the feed's site, as on
    # the fast path above.
    plain = {"response_headers": headers, "sanitize_html": False, "resolve_relative_uris": False}
    parsed = feedparser.parse(_head_entries(bytes(body), limit), **plain)
    if not parsed.get("version") and not parsed.entries and wrapped is not None:
        # Some exporters wrap a feed in an HTML page; dig the feed out.
        parsed = feedparser.parse(wrapped[1], **plain)
    if not parsed.get("version") and not parsed.entries:
        return ParsedFeed(problem=_not_a_feed(body))

    feed_meta = parsed.get("feed", {})
    link = absolute(feed_meta.get("link"), base)
    site_base = link or base
    result = ParsedFeed(
        title=to_text(feed_meta.get("title")),
        link=link,
        format=str(parsed.get("version") or "xml"),
        parser="feedparser",
        author=to_text(_str(feed_meta.get("author"))),
    )
    if parsed.get("bozo"):
        result.warnings.append(f"malformed XML, read leniently ({_bozo(parsed)})")

    for entry, date in _newest(parsed.entries, _entry_date, limit, now):
        content = entry.get("content") or []
        html_body = content[0].get("value") if content else None
        html_body = entry.get("summary") or html_body
        enclosures = entry.get("enclosures") or []
        url = (
            absolute(entry.get("link"), site_base)
            or absolute(entry.get("id") if _looks_like_url(entry.get("id")) else None,
                        site_base)
            or next(
                (absolute(e.get("href"), site_base) for e in enclosures
                 if absolute(e.get("href"), site_base)),
                None,
            )
        )  # fmt: skip
        result.posts.append(
            _make_post(
                title=entry.get("title"),
                url=url,
                date=date,
                body=html_body,
                base=site_base,
                image=_xml_image(entry, site_base),
                tags=[t.get("term") or t.get("label") for t in entry.get("tags") or ()],
                words=words,
                now=now,
            )
        )
    result.posts = _dedupe(result.posts)
    return result


def _bozo(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    text = str(exc) if exc else "unknown problem"
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _not_a_feed(body: bytes) -> str:
    head = body[:2048].lower()
    if not body.strip():
        return "empty response"
    if b"<html" in head or b"<!doctype html" in head:
        return "not a feed: got an HTML page (is this the site, not its feed?)"
    return "not a feed: no RSS, Atom or JSON Feed found"


def _looks_like_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://", "/"))


#: No blog post is older than this; an earlier date is a placeholder or a bug.
EARLIEST_YEAR = 1990


def sane_date(date: datetime | None, now: datetime) -> datetime | None:
    """The date, or None when it cannot be right: before 1990, or further in
    the future than a clock can be wrong (so a "2099" post cannot pin itself
    to the top of every page)."""
    if date is None or date.year < EARLIEST_YEAR or date.year > now.year + 1:
        return None
    try:
        return None if date > now + FUTURE_SLACK else date
    except OverflowError:  # an offset that pushes it past what datetime holds
        return None


def _entry_date(entry: Any) -> datetime | None:
    """A feedparser entry's date, with the offset its author gave. Read as a
    plain dict: feedparser's own ``get`` answers for a missing ``updated``
    with ``published``, a fallback it warns it will remove."""
    for name in ("published", "updated", "created"):
        date = any_date(dict.get(entry, name)) or _struct_date(dict.get(entry, f"{name}_parsed"))
        if date is not None:
            return date
    return None


def _struct_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _xml_image(entry: Any, base: str | None) -> str | None:
    for thumb in entry.get("media_thumbnail") or ():
        url = absolute(thumb.get("url"), base)
        if url:
            return url
    for media in entry.get("media_content") or ():
        kind = (media.get("medium") or media.get("type") or "").lower()
        if kind.startswith("image"):
            url = absolute(media.get("url"), base)
            if url:
                return url
    for enclosure in entry.get("enclosures") or ():
        if (enclosure.get("type") or "").lower().startswith("image/"):
            url = absolute(enclosure.get("href"), base)
            if url:
                return url
    return None


# -- the fast path: ElementTree for well-formed feeds ------------------------------
#
# feedparser is thorough but slow (about 50 ms for a 200 KB feed); expat reads
# the same feed in well under a millisecond. Well-formed RSS 2.0, RSS 1.0 and
# Atom in an encoding expat knows take this path; anything else (malformed
# XML, legacy encodings, odd roots) returns None and goes to feedparser. The
# corpus tests check that both paths agree.

_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
_MEDIA = ("{http://search.yahoo.com/mrss/}", "{http://www.rssboard.org/media-rss}")


def _parse_etree(
    body: bytes, *, base: str | None, words: int, now: datetime, limit: int | None = None
) -> ParsedFeed | None:
    if b"<!DOCTYPE" in body[:1024] or b"<!ENTITY" in body[:4096]:
        return None  # declared entities, and the tricks they allow: left to feedparser
    root = _xml_root(body)
    if root is None:
        return None
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            return None
        return _etree_rss(channel, channel.findall("item"), base, words, now, "rss", limit)
    if root.tag == f"{_RDF}RDF":
        channel = root.find(f"{_RSS1}channel")
        if channel is None:
            return None
        items = root.findall(f"{_RSS1}item")
        return _etree_rss(channel, items, base, words, now, "rss10", limit)
    if root.tag == f"{_ATOM}feed":
        return _etree_atom(root, base, words, now, limit)
    return None


def _xml_root(body: bytes) -> Any:
    """The document's root element, or None when it is not well-formed.

    A feed whose only fault is HTML's named entities (&nbsp;, &uuml;), which
    XML does not know, is read with them as character references, as
    feedparser reads them, instead of by feedparser (ten times slower)."""
    cut = _long_cdata_cut(body)
    if cut is not None:
        with contextlib.suppress(ET.ParseError, ValueError, LookupError):
            root = _put_back(ET.fromstring(cut[0]), cut[1])
            if root is not None:
                return root
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        numbered = _numbered_entities(body) if "undefined entity" in str(exc) else None
    except (ValueError, LookupError):
        return None
    if numbered is None:
        return None
    try:
        return ET.fromstring(numbered)
    except (ET.ParseError, ValueError, LookupError):
        return None


#: CDATA sections at least this long (a WordPress post's whole HTML, in
#: every <content:encoded>) are taken out of the XML before it is parsed and
#: put back after. The XML parser reads such a section at about 3 ns a byte
#: (0.63 to 0.70 ms for the benchmark's 200 KB feed); found and checked by
#: memchr, and the rest parsed, the feed takes about 0.3 ms (5.2 M
#: instructions to 2.6 M).
LONG_CDATA = 512
_CDATA, _CDATA_END = b"<![CDATA[", b"]]>"
#: Where a section stood: private-use characters (a body with them in its
#: markup is parsed as it is).
_MARK, _MARK_END = "\ue000", "\ue001"
_MARKED = re.compile(f"{_MARK}([0-9]+){_MARK_END}")
#: The control characters XML forbids in character data, one byte each in
#: UTF-8, looked for one by one: 29 searches at memory speed, where one
#: regex for all of them took twice as long as the XML parser.
_FORBIDDEN = tuple(bytes([b]) for b in (*range(9), 11, 12, *range(14, 32)))
_DECLARED = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]*)[\"']")


def _long_cdata_cut(body: bytes) -> tuple[bytes, list[bytes]] | None:
    """The body with each long CDATA section replaced by a mark, and the
    sections; None when there is none, or when the body is not UTF-8 or
    holds what the XML parser would reject in a section (then it is parsed
    as it is, and fails as it did). The body is checked only once it has
    a long section: a feed of escaped HTML (Hugo, Pelican) pays for one
    search, not for 29 more."""
    parts: list[bytes] = []
    held: list[bytes] = []
    find, pos, last = body.find, 0, 0
    while (start := find(_CDATA, pos)) >= 0:
        # "<![CDATA[" inside a comment or a processing instruction is not one
        found = ((find(b"<!--", pos, start), b"-->"), (find(b"<?", pos, start), b"?>"))
        openers = [(at, close) for at, close in found if at >= 0]
        if openers:
            at, close = min(openers)
            end = find(close, at + 2)
            if end < 0:
                return None
            pos = end + len(close)
            continue
        end = _section_end(body, start + len(_CDATA))
        if end < 0:
            return None
        if end - start - len(_CDATA) >= LONG_CDATA:
            parts += (body[last:start], f"{_MARK}{len(held)}{_MARK_END}".encode())
            held.append(body[start + len(_CDATA) : end])
            last = end + len(_CDATA_END)
        pos = end + len(_CDATA_END)
    if not held:
        return None
    if any(bad in body for bad in _FORBIDDEN):  # UTF-16 and UTF-32 hold NUL too
        return None
    if b"\xef" in body and (b"\xef\xbf\xbe" in body or b"\xef\xbf\xbf" in body):
        return None  # U+FFFE, U+FFFF
    declared = _DECLARED.match(body.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    parts.append(body[last:])
    markup = parts[::2]  # what is left between the sections, without the marks
    return None if any(_MARK.encode() in part for part in markup) else (b"".join(parts), held)


def _section_end(body: bytes, pos: int) -> int:
    """Where "]]>" is, found by its first byte (memchr; three bytes at
    once are searched for several times slower)."""
    find = body.find
    at = find(b"]", pos)
    while at >= 0 and body[at : at + 3] != _CDATA_END:
        at = find(b"]", at + 1)
    return at


def _put_back(root: Any, held: list[bytes]) -> Any:
    """The tree with each mark replaced by its section's text, as the XML
    parser reads a section (line ends made "\\n"); None when a section is
    not UTF-8."""
    texts = []
    for raw in held:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        texts.append(text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text)

    def text_of(match: re.Match[str]) -> str:
        return texts[int(match.group(1))]

    for element in root.iter():
        if element.text and _MARK in element.text:
            element.text = _MARKED.sub(text_of, element.text)
        if element.tail and _MARK in element.tail:
            element.tail = _MARKED.sub(text_of, element.tail)
    return root


_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{0,31});")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def _numbered_entities(body: bytes) -> bytes | None:
    """The body with HTML's named entities written as character references
    (XML's own five kept, unknown names left to fail), or None for a body
    not in an encoding whose ASCII bytes are ASCII (UTF-16, UTF-32)."""
    if b"\x00" in body[:4]:
        return None
    from html.entities import html5

    def numbered(match: re.Match[bytes]) -> bytes:
        name = match.group(1)
        text = None if name in _XML_ENTITIES else html5.get(name.decode("ascii") + ";")
        if text is None:
            return match.group(0)
        return "".join(f"&#{ord(character)};" for character in text).encode("ascii")

    return _NAMED_ENTITY.sub(numbered, body)


#: C1 control characters are Windows-1252 punctuation in disguise (as
#: feedparser maps them); 0x81, 0x8D, 0x8F, 0x90 and 0x9D have no meaning.
_CP1252 = {
    b: bytes([b]).decode("cp1252")
    for b in range(0x80, 0xA0)
    if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


def _repair(text: str) -> str:
    """Undo double-encoded UTF-8 and map C1 characters, as feedparser does."""
    if not text or text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    # Looked for first: translating costs about 120 ns a character, and
    # every post of a feed not in English went through it (0.6 s of a
    # 0.7 s parse of a 460 KB feed), where it rarely changes anything.
    return text.translate(_CP1252) if re.search("[\x80-\x9f]", text) else text


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return _repair(found.text.strip()) if found is not None and found.text else ""


def _rss_any(element: Any, name: str) -> str:
    """An RSS 2.0 child, or its RSS 1.0 namespaced twin."""
    return _text(element, name) or _text(element, f"{_RSS1}{name}")


def _rss_date(item: Any) -> datetime | None:
    for name in ("pubDate", f"{_DC}date", f"{_ATOM}published", f"{_ATOM}updated"):
        date = any_date(_text(item, name))
        if date:
            return date
    return None


def _etree_rss(
    channel: Any,
    items: list[Any],
    base: str | None,
    words: int,
    now: datetime,
    fmt: str,
    limit: int | None = None,
) -> ParsedFeed:
    link = absolute(_rss_any(channel, "link"), base)
    site_base = link or base
    result = ParsedFeed(
        title=to_text(_rss_any(channel, "title")),
        link=link,
        format=fmt,
        parser="etree",
        author=_person(_text(channel, f"{_DC}creator") or _rss_any(channel, "managingEditor")),
    )
    for item, date in _newest(items, _rss_date, limit, now):
        guid = item.find("guid")
        guid_text = (guid.text or "").strip() if guid is not None and guid.text else ""
        permalink = guid is not None and (guid.get("isPermaLink") or "true").lower() != "false"
        enclosures = [e.get("url") for e in item.findall("enclosure") if e.get("url")]
        url = (
            absolute(_rss_any(item, "link"), site_base)
            or (
                absolute(guid_text, site_base) if permalink and _looks_like_url(guid_text) else None
            )
            or absolute(item.get(f"{_RDF}about"), site_base)
            or next((u for u in (absolute(e, site_base) for e in enclosures) if u), None)
        )
        body = (
            _markup(item.find("description"))
            or _markup(item.find(f"{_RSS1}description"))
            or _markup(item.find(_CONTENT))
        )
        tags = [_repair(c.text) for c in item.findall("category") if c.text]
        tags += [_repair(c.text) for c in item.findall(f"{_DC}subject") if c.text]
        keywords = _text(item, f"{_ITUNES}keywords")
        tags += [k for k in keywords.split(",") if k.strip()]
        result.posts.append(
            _make_post(
                title=_rss_any(item, "title") or _text(item, f"{_DC}title"),
                url=url,
                date=date,
                body=body,
                base=site_base,
                image=_etree_image(item, site_base),
                tags=tags,
                words=words,
                now=now,
            )
        )
    result.posts = _dedupe(result.posts)
    return result


def _atom_date(entry: Any) -> datetime | None:
    return any_date(_text(entry, f"{_ATOM}published")) or any_date(_text(entry, f"{_ATOM}updated"))


def _etree_atom(
    root: Any, base: str | None, words: int, now: datetime, limit: int | None = None
) -> ParsedFeed:
    feed_base = _join(base, root.get(_XML_BASE))
    link = _atom_link(root, feed_base)
    result = ParsedFeed(
        title=to_text(_atom_text(root.find(f"{_ATOM}title"))),
        link=link,
        format="atom10",
        parser="etree",
        author=to_text(_text(root, f"{_ATOM}author/{_ATOM}name")),
    )
    site_base = link or feed_base
    for entry, date in _newest(root.findall(f"{_ATOM}entry"), _atom_date, limit, now):
        entry_base = _join(feed_base, entry.get(_XML_BASE))
        entry_id = _text(entry, f"{_ATOM}id")
        url = _atom_link(entry, entry_base) or (
            absolute(entry_id, entry_base or site_base) if _looks_like_url(entry_id) else None
        )
        if url is None:
            enclosure = next(
                (e.get("href") for e in entry.findall(f"{_ATOM}link")
                 if e.get("rel") == "enclosure" and e.get("href")),
                None,
            )  # fmt: skip
            url = absolute(enclosure, entry_base or site_base)
        summary = entry.find(f"{_ATOM}summary")
        content = entry.find(f"{_ATOM}content")
        chosen = summary if summary is not None and _atom_text(summary) else content
        body_base = entry_base or site_base
        if chosen is not None and chosen.get(_XML_BASE):
            body_base = urljoin(body_base or "", chosen.get(_XML_BASE))
        result.posts.append(
            _make_post(
                title=_atom_text(entry.find(f"{_ATOM}title")),
                url=url,
                date=date,
                body=_atom_html(chosen),
                base=body_base if body_base and "://" in body_base else site_base,
                image=_etree_image(entry, entry_base or site_base),
                tags=[c.get("term") or c.get("label") for c in entry.findall(f"{_ATOM}category")],
                words=words,
                now=now,
            )
        )
    result.posts = _dedupe(result.posts)
    return result


def _join(base: str | None, relative: str | None) -> str | None:

    if not relative:
        return base
    return urljoin(base or "", relative.strip()) or base


def _atom_link(element: Any, base: str | None) -> str | None:
    for link in element.findall(f"{_ATOM}link"):
        if (link.get("rel") or "alternate") == "alternate" and link.get("href"):
            href = _join(base, link.get(_XML_BASE))
            url = absolute(link.get("href"), href)
            if url:
                return url
    return None


def _markup(element: Any) -> str:
    """An element's content as HTML: escaped HTML arrives as text, but some
    feeds put raw XHTML elements inside <description>."""
    if element is None:
        return ""
    if not len(element):
        return _repair((element.text or "").strip())

    inner = (element.text or "") + "".join(
        ET.tostring(child, encoding="unicode", method="html") for child in element
    )
    return _repair(re.sub(r"\s?xmlns(:\w+)?=\"[^\"]*\"", "", inner).strip())


def _atom_text(element: Any) -> str:
    """The text of an Atom text construct, as HTML for type=html/xhtml."""
    if element is None:
        return ""
    kind = (element.get("type") or "text").lower()
    if kind == "xhtml":
        div = element[0] if len(element) else element
        inner = (div.text or "") + "".join(
            ET.tostring(child, encoding="unicode", method="html") for child in div
        )
        return _repair(re.sub(r"\s?xmlns(:\w+)?=\"[^\"]*\"|html:", "", inner).strip())
    return _repair((element.text or "").strip())


def _atom_html(element: Any) -> str:
    if element is None:
        return ""
    text = _atom_text(element)
    if (element.get("type") or "text").lower() == "text":
        return escape(text)
    return text


def _etree_image(item: Any, base: str | None) -> str | None:
    for ns in _MEDIA:
        for thumb in item.iter(f"{ns}thumbnail"):
            # its text, where a feed leaves out the attribute (as feedparser reads it)
            url = absolute(thumb.get("url") or thumb.text, base)
            if url:
                return url
        for media in item.iter(f"{ns}content"):
            kind = (media.get("medium") or media.get("type") or "").lower()
            if kind.startswith("image"):
                url = absolute(media.get("url"), base)
                if url:
                    return url
    for enclosure in item.findall("enclosure"):
        if (enclosure.get("type") or "").lower().startswith("image/"):
            url = absolute(enclosure.get("url"), base)
            if url:
                return url
    return None


def any_date(value: str) -> datetime | None:
    """A date as its author wrote it: ISO 8601, RFC 822, or the odd formats
    feedparser knows. The offset is kept, so a post shows on its author's
    day; ordering uses the instant, which the offset does not change."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    date = _rfc822(text)
    if date is not None:
        return date
    with contextlib.suppress(ValueError):
        date = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if date is None:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            date = email.utils.parsedate_to_datetime(text)
    if date is None:
        from feedparser.datetimes import _parse_date

        date = _struct_date(_parse_date(text))
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return date


#: Not calendar.month_abbr: that follows the locale, which Pelican may set.
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
#: RFC 822 as nearly every RSS feed writes it: "Mon, 05 Oct 2026 10:00:00
#: GMT". Read here as email.utils reads it (a test holds the two to it),
#: without its general parser, which takes about 10 µs a date. A year below
#: 1000 (email.utils reads "0099" as 1999) and "-0000" (a naive date) are
#: left to it.
_RFC822 = re.compile(
    r"(?:[A-Za-z]+, )?([0-9]{1,2}) ([A-Z][a-z]{2}) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))? (GMT|UTC?|Z|[+-][0-9]{4})"
)


def _rfc822(text: str) -> datetime | None:
    match = _RFC822.fullmatch(text)
    if match is None or match.group(7) == "-0000" or match.group(2) not in _MONTHS:
        return None
    day, month, year, hour, minute, second, zone = match.groups()
    offset = 0
    if zone[0] in "+-":
        offset = int(zone[1:3]) * 3600 + int(zone[3:]) * 60
        offset = -offset if zone[0] == "-" else offset
    try:
        return datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second or 0),
            tzinfo=timezone(timedelta(seconds=offset)),
        )  # fmt: skip
    except ValueError:  # a 31 April, an hour 25, an offset of a day or more
        return None


# -- JSON Feed ----------------------------------------------------------------


def _json_date(item: dict[str, Any]) -> datetime | None:
    return _iso_date(item.get("date_published")) or _iso_date(item.get("date_modified"))


def _parse_json_feed(
    body: bytes, *, base: str | None, words: int, now: datetime, limit: int | None = None
) -> ParsedFeed:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return ParsedFeed(problem=f"not a feed: invalid JSON ({exc})")
    except RecursionError:
        return ParsedFeed(problem="not a feed: JSON nested too deeply to read")
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
        ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
    ):
        return ParsedFeed(problem="not a feed: JSON without a JSON Feed version")
    items = data.get("items")
    if not isinstance(items, list):
        return ParsedFeed(problem="not a feed: JSON Feed without an items list")
    link = absolute(_str(data.get("home_page_url")), base)
    site_base = link or base
    result = ParsedFeed(
        title=to_text(_str(data.get("title"))),
        link=link,
        format="json" + str(data["version"]).rsplit("/", 1)[-1],
        parser="json",
        author=to_text(_json_author(data)),
    )
    entries = [item for item in items if isinstance(item, dict)]
    for item, date in _newest(entries, _json_date, limit, now):
        url = (
            absolute(_str(item.get("url")), site_base)
            or absolute(_str(item.get("external_url")), site_base)
            or (_str(item.get("id")) if is_web_url(_str(item.get("id"))) else None)
        )
        body_html = _str(item.get("summary")) or _str(item.get("content_html"))
        if not body_html and _str(item.get("content_text")):
            body_html = escape(_str(item.get("content_text")))
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        result.posts.append(
            _make_post(
                title=_str(item.get("title")),
                url=url,
                date=date,
                body=body_html,
                base=site_base,
                image=absolute(_str(item.get("image")), site_base)
                or absolute(_str(item.get("banner_image")), site_base),
                tags=[_str(t) for t in tags],
                words=words,
                now=now,
            )
        )
    result.posts = _dedupe(result.posts)
    return result


def _person(value: str) -> str:
    """A name from RSS's "ben@x.example (Ben Adams)"; an address alone is no name."""
    text = to_text(value)
    if "(" in text and text.endswith(")"):
        return text[text.index("(") + 1 : -1].strip()
    return "" if "@" in text else text


def _json_author(data: dict[str, Any]) -> str:
    authors = data.get("authors") if isinstance(data.get("authors"), list) else []
    author = authors[0] if authors else data.get("author")
    return _str(author.get("name")) if isinstance(author, dict) else ""


def _str(value: Any) -> str:
    return valid_text(value) if isinstance(value, str) else ""


def _iso_date(value: Any) -> datetime | None:
    return any_date(value) if isinstance(value, str) else None


# -- shared -------------------------------------------------------------------


def _make_post(
    *,
    title: Any,
    url: str | None,
    date: datetime | None,
    body: Any,
    image: str | None,
    tags: list[Any],
    words: int,
    now: datetime,
    base: str | None = None,
) -> Post | None:
    if not url:
        return None
    source = _str(body)
    summary_html = summary_text = ""
    plain_title = to_text(_str(title))
    if not plain_title:  # the summary gives the title: summarise now
        summary_html, summary_text = summarise(source, words, base=base)
        plain_title = truncate_text(summary_text, TITLE_WORDS) or _title_from_url(url)
        source = ""
    date = sane_date(date, now)
    clean_tags: list[str] = []
    for tag in tags:
        text = to_text(_str(tag))
        if text and text.lower() not in {t.lower() for t in clean_tags}:
            clean_tags.append(text)
    return Post(
        title=plain_title,
        url=url,
        date=date,
        summary_html=summary_html,
        summary_text=summary_text,
        image=image,
        tags=tuple(clean_tags[:MAX_TAGS]),
        dated=date is not None,
        source_html=source,
        source_base=base if source else None,
    )


def _title_from_url(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    words = re.sub(r"[-_]+", " ", re.sub(r"\.\w+$", "", tail)).strip()
    return words.capitalize() if words and "." not in words else url


def _dedupe(posts: list[Post | None]) -> list[Post]:
    """Drop missing posts and repeats of the same link (duplicate GUIDs too)."""
    seen: set[str] = set()
    unique: list[Post] = []
    for post in posts:
        if post is None or post.key in seen:
            continue
        seen.add(post.key)
        unique.append(post)
    return unique


def assign_first_seen(
    posts: list[Post], first_seen: dict[str, str], now: datetime
) -> tuple[list[Post], dict[str, str]]:
    """Give undated posts the time we first saw them, remembered across builds.

    Pure: returns the dated posts and the updated first-seen table, pruned to
    the posts still in the feed.
    """
    table: dict[str, str] = {}
    dated: list[Post] = []
    for post in posts:
        if post.date is None:
            seen = first_seen.get(post.key) or now.isoformat()
            table[post.key] = seen
            post = post.but(date=datetime.fromisoformat(seen), dated=False)
        dated.append(post)
    return dated, table
