"""Return the visit: find and read the feeds of the people who responded.

Only people whose responses passed moderation get here. Each responder's
site is searched for a feed the way ``add`` does (a Mastodon or Bluesky
profile has its own RSS), once every few days; a site with no feed is
remembered as such. The feeds themselves go through the same fetch, cache,
TTL and address policy as friends' feeds, except that every address is a
third party's choice: a private one is refused from the first request on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .cache import CacheEntry, FeedCache
from .discovery import NoFeed, discover
from .feeds import assign_first_seen
from .files import write_atomic
from .model import Friend, Post, record
from .refresh import FetchSettings, Work, fetch_now
from .settings import Config
from .social import profile_feed

logger = logging.getLogger(__name__)

#: How long a responder's feed (or the absence of one) is remembered.
DISCOVERY_TTL = 7 * 24 * 3600
#: A failed discovery (the site was down) is tried again sooner.
RETRY_TTL = 6 * 3600
STORE = "responders.json"


@record(frozen=True)
class Responder:
    """A person who responded, whose site is searched for a feed to read back."""

    key: str  # the person's key, as in the ledger
    name: str
    site: str


@record
class Visits:
    """What was found: each responder's feed (or None) and newest post."""

    feeds: dict[str, str | None]
    latest: dict[str, Post]


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        logger.warning("reciprocity: dropping corrupt responder cache %s (%s)", path, exc)
        return {}


def _due(record: Any, now: float) -> bool:
    if not isinstance(record, dict):
        return True
    age = now - float(record.get("checked_at") or 0)
    return age >= (RETRY_TTL if record.get("error") else DISCOVERY_TTL)


def visit(config: Config, responders: Iterable[Responder]) -> Visits:
    """Discover what is due (concurrently, under the fetch deadline), then
    read every known feed through the feed cache. Never raises."""
    settings = FetchSettings.from_config(config)
    responders = list(responders)
    if not responders:
        return Visits(feeds={}, latest={})
    store = Path(settings.cache_path) / STORE
    known = _load(store)
    now = time.time()
    due = [r for r in responders if not settings.offline and _due(known.get(r.site), now)]
    stop_at = time.monotonic() + settings.fetch_deadline  # one deadline for all of it
    if due:
        cache = FeedCache(Path(settings.cache_path))
        with ThreadPoolExecutor(max_workers=min(8, len(due))) as pool:
            found = list(pool.map(lambda r: _discover(r, settings, cache, now, stop_at), due))
        for responder, record in zip(due, found, strict=True):
            known[responder.site] = record
            if record.get("error"):
                logger.warning(
                    "reciprocity: the site of responder %s (%s): %s",
                    responder.name,
                    responder.site,
                    record["error"],
                )
        try:
            text = json.dumps(known, ensure_ascii=False, sort_keys=True, indent=1)
            write_atomic(store, text.encode("utf-8"), durable=False)
        except OSError as exc:
            logger.warning("reciprocity: %s", exc)
    feeds = {r.key: (known.get(r.site) or {}).get("feed") for r in responders}
    friends = tuple(
        Friend(name=r.name, feed=feeds[r.key], url=r.site) for r in responders if feeds[r.key]
    )
    gathered = fetch_now(settings, Work(responders=friends), stop_at)
    latest: dict[str, Post] = {}
    by_feed = {feed: key for key, feed in feeds.items() if feed}
    # measured from the newest copy, not the clock: same cache, same pages
    oldest = gathered.as_of - timedelta(days=config.responder_max_age_days)
    for state in gathered.feeds:
        posts = sorted(
            (
                p
                for p in state.posts
                if p.date is not None
                and p.dated
                and (not config.responder_max_age_days or p.date >= oldest)
            ),
            key=lambda p: p.date.timestamp() if p.date else 0.0,
            reverse=True,
        )
        if posts:
            latest[by_feed[state.friend.feed]] = posts[0]
    return Visits(feeds=feeds, latest=latest)


def _discover(
    responder: Responder, settings: FetchSettings, cache: FeedCache, now: float, stop_at: float
) -> dict[str, Any]:
    """One responder's feed, found as ``add`` finds one. The posts found on
    the way are cached, so the feed is not asked for again this TTL."""
    record: dict[str, Any] = {"checked_at": now, "feed": None}
    url = profile_feed(responder.site) or responder.site
    left = stop_at - time.monotonic()
    if left <= 0:
        record["error"] = "not visited: the fetch deadline was reached (next time)"
        return record
    try:
        found = discover(url, settings.limits(), left, untrusted=True)
    except NoFeed as exc:
        if "cannot fetch" in str(exc) or "could be read" in str(exc):
            record["error"] = str(exc)
        return record  # no feed: remembered for days
    except Exception as exc:  # one responder's site costs only itself
        record["error"] = f"could not be read ({type(exc).__name__}: {exc})"
        return record
    record["feed"] = found.feed
    posts, first_seen = assign_first_seen(list(found.posts), {}, datetime.fromtimestamp(now, UTC))
    entry = CacheEntry(url=found.feed, checked_at=now, fetched_at=now, title=found.title)
    entry.link, entry.posts, entry.first_seen = found.link, posts, first_seen
    cache.save(entry)
    return record


def to_visit(people: Iterable[Any], friend_keys: set[str], limit: int) -> list[Responder]:
    """Published responders with a website who are not friends, most recent
    response first, at most ``limit`` of them."""
    chosen = []
    for person in people:
        if not person.url or person.key in friend_keys or person.friend:
            continue
        chosen.append(person)
    chosen.sort(key=lambda p: (-(p.last.timestamp() if p.last else 0.0), p.name.casefold()))
    return [Responder(p.key, p.name, p.url) for p in chosen[:limit]]
