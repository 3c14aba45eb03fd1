"""Turn a fetched body (RSS 0.9x/1.0/2.0, Atom or JSON Feed) into plain Posts.

Parsing never raises: like feedparser itself, it returns a result with a
``problem`` string when the body is not a usable feed.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from .sanitize import summarise, to_text, truncate_text
from .urls import absolute, is_web_url, normalise

#: Dates further in the future than this are treated as missing, so a feed
#: with a bogus "2099" date cannot pin itself to the top of every page.
FUTURE_SLACK = timedelta(days=2)
TITLE_WORDS = 12
MAX_TAGS = 12


@dataclass(frozen=True)
class Post:
    """One friend's post, already normalised and safe to render."""

    title: str
    url: str
    date: datetime | None
    summary_html: str = ""
    summary_text: str = ""
    image: str | None = None
    tags: tuple[str, ...] = ()
    friend: str = ""  # key of the Friend whose feed carried it
    dated: bool = True  # False when the date is the time we first saw it

    @property
    def key(self) -> str:
        return normalise(self.url, keep_fragment=True)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat() if self.date else None
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Post:
        date = data.get("date")
        return cls(
            title=str(data["title"]),
            url=str(data["url"]),
            date=datetime.fromisoformat(date) if date else None,
            summary_html=str(data.get("summary_html") or ""),
            summary_text=str(data.get("summary_text") or ""),
            image=data.get("image") or None,
            tags=tuple(str(t) for t in data.get("tags") or ()),
            friend=str(data.get("friend") or ""),
            dated=bool(data.get("dated", True)),
        )


@dataclass
class ParsedFeed:
    posts: list[Post] = field(default_factory=list)
    title: str = ""
    link: str | None = None
    format: str = ""
    problem: str | None = None  # why the body is unusable, or None
    warnings: list[str] = field(default_factory=list)


def parse_feed(
    body: bytes,
    *,
    base: str | None,
    content_type: str = "",
    summary_words: int = 40,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse any supported feed format; ``base`` resolves relative links."""
    now = now or datetime.now(UTC)
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") or "json" in content_type.lower():
        return _parse_json_feed(body, base=base, words=summary_words, now=now)
    return _parse_xml_feed(body, base=base, content_type=content_type, words=summary_words, now=now)


# -- XML feeds (feedparser) -------------------------------------------------

_WRAPPED = re.compile(rb"<(rss|feed|rdf:RDF)[\s>].*</\1\s*>", re.S)


def _parse_xml_feed(
    body: bytes, *, base: str | None, content_type: str, words: int, now: datetime
) -> ParsedFeed:
    headers = {"content-type": content_type or "application/xml"}
    if base:
        headers["content-location"] = base
    # Always bytes: given a str, feedparser would treat it as a URL or path.
    parsed = feedparser.parse(bytes(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        # Some exporters wrap a feed in an HTML page; dig the feed out.
        match = _WRAPPED.search(body)
        if match:
            parsed = feedparser.parse(match.group(0), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        return ParsedFeed(problem=_not_a_feed(body))

    feed_meta = parsed.get("feed", {})
    link = absolute(feed_meta.get("link"), base)
    site_base = link or base
    result = ParsedFeed(
        title=to_text(feed_meta.get("title")),
        link=link,
        format=str(parsed.get("version") or "xml"),
    )
    if parsed.get("bozo"):
        result.warnings.append(f"malformed XML, read leniently ({_bozo(parsed)})")

    for entry in parsed.entries:
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
                date=_struct_date(entry.get("published_parsed"))
                or _struct_date(entry.get("updated_parsed"))
                or _struct_date(entry.get("created_parsed")),
                body=html_body,
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


# -- JSON Feed ----------------------------------------------------------------


def _parse_json_feed(body: bytes, *, base: str | None, words: int, now: datetime) -> ParsedFeed:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return ParsedFeed(problem=f"not a feed: invalid JSON ({exc})")
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
    )
    for item in items:
        if not isinstance(item, dict):
            continue
        url = (
            absolute(_str(item.get("url")), site_base)
            or absolute(_str(item.get("external_url")), site_base)
            or (_str(item.get("id")) if is_web_url(_str(item.get("id"))) else None)
        )
        body_html = _str(item.get("summary")) or _str(item.get("content_html"))
        if not body_html and _str(item.get("content_text")):
            from html import escape

            body_html = escape(_str(item.get("content_text")))
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        result.posts.append(
            _make_post(
                title=_str(item.get("title")),
                url=url,
                date=_iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")),
                body=body_html,
                image=absolute(_str(item.get("image")), site_base)
                or absolute(_str(item.get("banner_image")), site_base),
                tags=[_str(t) for t in tags],
                words=words,
                now=now,
            )
        )
    result.posts = _dedupe(result.posts)
    return result


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        date = datetime.fromisoformat(text)
    except ValueError:
        parsed = feedparser._parse_date(value)  # RFC 822 and friends
        return _struct_date(parsed)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return date.astimezone(UTC)


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
) -> Post | None:
    if not url:
        return None
    summary_html, summary_text = summarise(_str(body), words)
    plain_title = to_text(_str(title))
    if not plain_title:
        plain_title = truncate_text(summary_text, TITLE_WORDS) or _title_from_url(url)
    if date is not None and date > now + FUTURE_SLACK:
        date = None
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
            post = replace(post, date=datetime.fromisoformat(seen), dated=False)
        dated.append(post)
    return dated, table
