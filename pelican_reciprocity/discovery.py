"""Find the feed behind an address, as a careful reader would.

Given a feed, check that it parses; given a home page, follow its
``<link rel="alternate">`` feeds, then the usual feed paths, first beside the
page (a blog in a subfolder), then at the host's root. Every address a page
names is a third party's choice, so it goes through the same fetcher and
policy as the build's own requests.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from .feeds import parse_feed
from .fetch import FetchRequest, FetchResult, Limits, fetch_all_sync
from .model import record
from .netpolicy import resolves_public
from .social import ACCOUNT, profile_feed

#: The usual places of a feed, tried relative to the page, then at the root.
COMMON_FEED_PATHS = (
    "feed/",
    "atom.xml",
    "feed.xml",
    "index.xml",
    "rss.xml",
    "feeds/posts/default",
)
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)


#: Posts read from a feed being checked: enough to name it and show the newest.
MAX_POSTS = 100


class NoFeed(Exception):
    """No usable feed was found; the message says what was tried."""


@record(frozen=True)
class Found:
    """What a site's address led to: its feed, and enough of it to add the friend."""

    feed: str
    title: str
    link: str | None
    posts: tuple[Any, ...]
    author: str = ""  # the feed's author, when it names a person
    site_name: str = ""  # the home page's own name (og:site_name; a <title> names a page)

    @property
    def name(self) -> str:
        """Who this is: the person, else their site, else the feed's title."""
        return self.author or self.site_name or self.title


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.site_name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta" and attr.get("property", "").lower() == "og:site_name":
            self.site_name = self.site_name or attr.get("content", "").strip()
        elif tag in ("link", "a"):
            rels = attr.get("rel", "").lower().split()
            kind = attr.get("type", "").lower().split(";")[0].strip()
            if "alternate" in rels and kind in FEED_TYPES and attr.get("href"):
                self.links.append(attr["href"])


def read_page(text: str, base: str) -> tuple[list[str], str]:
    """The feeds a page advertises (absolute http(s) addresses only), and its name."""
    parser = _Page()
    with contextlib.suppress(Exception):  # a broken page may still have given its links
        parser.feed(text)
    links = []
    for href in parser.links:
        with contextlib.suppress(ValueError):
            url = urljoin(base, href.strip())
            if urlsplit(url).scheme.lower() in ("http", "https"):
                links.append(url)
    return links, html.unescape(parser.site_name)[:200]


def _get(
    url: str, limits: Limits, deadline: float, origin: str | None = None, untrusted: bool = False
) -> FetchResult:
    request = FetchRequest(url, origin=origin, untrusted=untrusted)
    return fetch_all_sync([request], limits, deadline=deadline)[url]


PROFILE_PAGE = "http://webfinger.net/rel/profile-page"


def account_feed(text: str, limits: Limits) -> str | None:
    """The RSS feed of ``@me@example.com``, found by WebFinger as Mastodon
    finds an account (its domain need not be its server's); a Mastodon or
    Bluesky profile's address needs no request. None: not an account."""
    account = ACCOUNT.match(text.strip())
    if not account:
        return profile_feed(text)
    user, domain = account.groups()
    finger = f"https://{domain}/.well-known/webfinger?resource=acct:{quote(user)}@{domain}"
    answer = _get(finger, limits, limits.timeout)
    links = []
    with contextlib.suppress(ValueError, RecursionError, AttributeError):
        links = json.loads(answer.body or b"null").get("links") or []
    for link in links if isinstance(links, list) else []:
        href = link.get("href") if isinstance(link, dict) else None
        if isinstance(href, str) and link.get("rel") == PROFILE_PAGE:
            feed = profile_feed(href)
            # the server names where the account lives: not inside our network
            if feed and (resolves_public(feed) or not resolves_public(finger)):
                return feed
    return profile_feed(text)  # where Mastodon keeps it when the domain is the server's


def fallbacks(page: str) -> list[str]:
    """The usual feed paths beside the page first (a blog in a subfolder),
    then at the host's root."""
    parts = urlsplit(page)
    folder = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
    origin = f"{parts.scheme}://{parts.netloc}"
    nearby = [origin + folder + path for path in COMMON_FEED_PATHS]
    root = [origin + "/" + path for path in COMMON_FEED_PATHS]
    return list(dict.fromkeys(nearby + root))


def discover(url: str, limits: Limits, deadline: float, *, untrusted: bool = False) -> Found:
    """The feed behind ``url`` (a feed or a home page), checked to parse.
    ``untrusted``: someone else gave the address (a responder's site), so
    it may not be private, nor lead to a private one."""
    if untrusted and not url.startswith(("http://", "https://")):
        raise NoFeed(f"{url} is not a web address")
    first = _get(url, limits, deadline, untrusted=untrusted)
    if first.error:
        raise NoFeed(f"cannot fetch {url}: {first.error}")
    body, where = first.body or b"", first.final_url or url
    parsed = parse_feed(body, base=where, content_type=first.content_type, max_posts=MAX_POSTS)
    if not parsed.problem:
        return Found(where, parsed.title, parsed.link, tuple(parsed.posts), parsed.author)
    if url.startswith("file:"):
        raise NoFeed(f"{url} is {parsed.problem}")
    text = body.decode("utf-8", errors="replace")
    advertised, site_name = read_page(text, where)
    failures: list[str] = []
    for candidate in dict.fromkeys([*advertised, *fallbacks(where)]):
        result = _get(candidate, limits, deadline, origin=url, untrusted=untrusted)
        feed = None
        if not result.error and result.body:
            feed = parse_feed(
                result.body,
                base=result.final_url or candidate,
                content_type=result.content_type,
                max_posts=MAX_POSTS,
            )
        if feed is not None and not feed.problem:
            return Found(
                result.final_url or candidate,
                feed.title,
                feed.link or where,
                tuple(feed.posts),
                feed.author,
                site_name,
            )
        if candidate in advertised:
            reason = result.error or (feed.problem if feed else "an empty answer")
            failures.append(f"{candidate} ({reason})")
    if failures:
        raise NoFeed(
            f"{url} advertises {len(failures)} feed(s), but none could be read: "
            + "; ".join(failures)
        )
    what = "an HTML page" if re.search(r"<html", text[:2000], re.I) else "not a feed"
    raise NoFeed(
        f'{url} is {what} that advertises no feed (no <link rel="alternate">), and none of '
        f"{', '.join(COMMON_FEED_PATHS)} (beside it or at the root) answered with one"
    )
