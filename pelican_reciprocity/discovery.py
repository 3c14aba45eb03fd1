"""Find the feed behind an address, as a careful reader would.

Given a feed, check that it parses; given a home page, follow its
``<link rel="alternate">`` feeds, then the usual feed paths. Every address
that a page names is a third party's choice, so it goes through the same
fetcher and policy as the build's own requests.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from .feeds import parse_feed
from .fetch import FetchRequest, FetchResult, Limits, fetch_all_sync

COMMON_FEED_PATHS = (
    "/feed/",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/rss.xml",
    "/feeds/posts/default",
)
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)


class NoFeed(Exception):
    """No usable feed was found; the message says what was tried."""


@dataclass(frozen=True)
class Found:
    feed: str
    title: str
    link: str | None
    posts: tuple[Any, ...]


class _Alternates(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "a"):
            return
        attr = {k.lower(): (v or "") for k, v in attrs}
        rels = attr.get("rel", "").lower().split()
        kind = attr.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and attr.get("href"):
            self.links.append(attr["href"])


def feed_links(html: str, base: str) -> list[str]:
    """The feeds a page advertises, as absolute http(s) addresses only."""
    parser = _Alternates()
    with contextlib.suppress(Exception):  # a broken page may still have given its links
        parser.feed(html)
    links = []
    for href in parser.links:
        with contextlib.suppress(ValueError):
            url = urljoin(base, href.strip())
            if urlsplit(url).scheme.lower() in ("http", "https"):
                links.append(url)
    return links


def _get(url: str, limits: Limits, deadline: float) -> FetchResult:
    return fetch_all_sync([FetchRequest(url)], limits, deadline=deadline)[url]


def discover(url: str, limits: Limits, deadline: float) -> Found:
    """The feed behind ``url`` (a feed or a home page), checked to parse."""
    first = _get(url, limits, deadline)
    if first.error:
        raise NoFeed(f"cannot fetch {url}: {first.error}")
    body, where = first.body or b"", first.final_url or url
    parsed = parse_feed(body, base=where, content_type=first.content_type)
    if not parsed.problem:
        return Found(where, parsed.title, parsed.link, tuple(parsed.posts))
    if url.startswith("file:"):
        raise NoFeed(f"{url} is {parsed.problem}")
    tried: list[str] = []
    text = body.decode("utf-8", errors="replace")
    candidates = feed_links(text, where)
    origin = f"{urlsplit(where).scheme}://{urlsplit(where).netloc}"
    candidates += [origin + path for path in COMMON_FEED_PATHS]
    for candidate in dict.fromkeys(candidates):
        tried.append(candidate)
        result = _get(candidate, limits, deadline)
        if result.error or not result.body:
            continue
        feed = parse_feed(
            result.body, base=result.final_url or candidate, content_type=result.content_type
        )
        if not feed.problem:
            return Found(
                result.final_url or candidate, feed.title, feed.link or where, tuple(feed.posts)
            )
    what = "an HTML page" if re.search(r"<html", text[:2000], re.I) else "not a feed"
    paths = ", ".join(urlsplit(c).path for c in tried[-len(COMMON_FEED_PATHS) :])
    raise NoFeed(
        f'{url} is {what} with no feed: no <link rel="alternate"> feed, and none of '
        f"{paths} answered with one"
    )
