"""Bring every friend's feed up to date: cache first, network only when due.

This is the glue between friends, cache, fetch and feeds. The decision of
what to request is a pure function (:func:`plan`) so it can be tested
without a clock or a server; the I/O happens in :func:`refresh`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .cache import CacheEntry, FeedCache, age_text
from .feeds import Post, assign_first_seen, parse_feed
from .fetch import FetchRequest, FetchResult, Limits, fetch_all_sync
from .friends import Friend
from .settings import Config
from .urls import normalise

logger = logging.getLogger(__name__)

#: A feed that failed is retried sooner than the TTL, but not on every build.
FAILED_RETRY = 300.0


@dataclass
class FeedState:
    """What the build knows about one friend's feed after the refresh."""

    friend: Friend
    entry: CacheEntry | None
    outcome: str = "cached"  # cached | updated | revalidated | failed
    error: str | None = None

    @property
    def posts(self) -> list[Post]:
        return self.entry.posts if self.entry else []

    @property
    def link(self) -> str | None:
        return self.entry.link if self.entry else None


@dataclass
class RefreshReport:
    feeds: list[FeedState] = field(default_factory=list)
    requests: int = 0
    elapsed: float = 0.0

    @property
    def failed(self) -> list[FeedState]:
        return [f for f in self.feeds if f.outcome == "failed"]

    @property
    def as_of(self) -> datetime:
        """The time of the newest good copy: "recent" is measured from here, so
        two builds from the same cache agree byte for byte."""
        stamps = [f.entry.fetched_at for f in self.feeds if f.entry and f.entry.has_copy]
        return datetime.fromtimestamp(max(stamps), UTC) if stamps else datetime.now(UTC)

    def summary(self) -> str:
        counts = {k: 0 for k in ("cached", "updated", "revalidated", "failed")}
        for state in self.feeds:
            counts[state.outcome] += 1
        parts = [f"{n} {k}" for k, n in counts.items() if n and k != "failed"]
        if counts["failed"]:
            with_copy = [f for f in self.failed if f.entry and f.entry.has_copy]
            if with_copy:
                oldest = min(f.entry.fetched_at for f in with_copy)  # type: ignore[union-attr]
                note = f"using copy from {age_text(time.time() - oldest)}"
                if len(with_copy) < counts["failed"]:
                    note += f"; {counts['failed'] - len(with_copy)} with no copy"
            else:
                note = "no earlier copy"
            parts.append(f"{counts['failed']} failed ({note})")
        n = len(self.feeds)
        return (
            f"reciprocity: {n} feed{'s' if n != 1 else ''}: "
            f"{', '.join(parts) or 'nothing to do'} in {self.elapsed:.1f} s"
        )


def slow_first(
    requests: list[FetchRequest], entries: dict[str, CacheEntry | None]
) -> list[FetchRequest]:
    """Start the feeds that timed out last time first (pure, stable).

    Only so many fetches run at once, so a feed that hangs until the deadline
    costs the least when it starts in the first round, not the last.
    """

    def slow(request: FetchRequest) -> bool:
        entry = entries.get(request.url)
        return bool(entry and entry.error and "timed out" in entry.error)

    return sorted(requests, key=lambda request: not slow(request))


def limits_for(config: Config) -> Limits:
    """The fetcher's limits, from the site's settings."""
    return Limits(
        timeout=config.timeout,
        max_bytes=config.max_bytes,
        max_redirects=config.max_redirects,
        user_agent=config.user_agent,
    )


def file_validator(url: str) -> str | None:
    """mtime and size of a file: feed, so an unchanged file is not re-parsed."""
    try:
        stat = os.stat(Path(unquote(urlsplit(url).path)))
    except OSError:
        return None
    return f"file:{stat.st_mtime_ns}:{stat.st_size}"


def plan(
    friend: Friend,
    entry: CacheEntry | None,
    *,
    now: float,
    ttl: float,
    offline: bool,
    file_stamp: str | None = None,
) -> FetchRequest | None:
    """Decide whether to ask for a feed at all (pure). None means use the cache."""
    if friend.is_local:
        if entry and entry.has_copy and file_stamp and entry.etag == file_stamp:
            return None
        return FetchRequest(friend.feed)
    if offline:
        return None
    if entry is None:
        return FetchRequest(friend.feed)
    if now < entry.retry_after:
        return None
    fresh_for = ttl if entry.error is None else min(ttl, FAILED_RETRY)
    if entry.checked_at and now - entry.checked_at < fresh_for:
        return None
    if not entry.has_copy:
        return FetchRequest(friend.feed)
    return FetchRequest(friend.feed, etag=entry.etag, last_modified=entry.last_modified)


def apply_result(
    friend: Friend,
    entry: CacheEntry | None,
    result: FetchResult,
    *,
    now: float,
    summary_words: int,
    file_stamp: str | None = None,
) -> FeedState:
    """Fold one fetch result into the cache entry (parses only on a 200)."""
    entry = entry or CacheEntry(url=friend.feed)
    entry.checked_at = now
    if result.retry_after is not None:
        entry.retry_after = now + min(result.retry_after, 7 * 86400)
    if result.moved_to:
        entry.moved_to = result.moved_to
    if result.error:
        entry.error = result.error
        return FeedState(friend, entry, "failed", result.error)
    if result.not_modified:
        entry.fetched_at = now
        entry.error = None
        return FeedState(friend, entry, "revalidated")
    nowdt = datetime.fromtimestamp(now, UTC)
    base = result.final_url if not friend.is_local else (friend.url or None)
    if base and base.startswith("file:"):
        base = friend.url or None
    parsed = parse_feed(
        result.body or b"",
        base=base,
        content_type=result.content_type,
        summary_words=summary_words,
        now=nowdt,
    )
    if parsed.problem:
        entry.error = parsed.problem
        return FeedState(friend, entry, "failed", parsed.problem)
    for warning in parsed.warnings:
        logger.debug("reciprocity: feed of %s: %s", friend.name, warning)
    posts, first_seen = assign_first_seen(parsed.posts, entry.first_seen, nowdt)
    entry.posts = [replace(p, friend=friend.key) for p in posts]
    entry.first_seen = first_seen
    entry.title = parsed.title
    entry.link = parsed.link
    entry.etag = file_stamp if friend.is_local else result.etag
    entry.last_modified = None if friend.is_local else result.last_modified
    entry.fetched_at = now
    entry.error = None
    entry.retry_after = 0.0
    return FeedState(friend, entry, "updated")


def _due(
    friends: list[Friend], cache: FeedCache, config: Config, *, now: float, force: bool = False
) -> tuple[dict[str, CacheEntry | None], dict[str, str | None], list[FetchRequest]]:
    """Load each cache entry and decide what to ask for (feeds and sources alike).

    ``force`` ignores the TTL and any Retry-After, except when offline.
    """
    entries = {f.feed: cache.load(f.feed) for f in friends}
    stamps = {f.feed: file_validator(f.feed) for f in friends if f.is_local}
    requests: list[FetchRequest] = []
    for friend in friends:
        entry = entries[friend.feed]
        if force and not config.offline and entry is not None:
            entry = replace(entry, checked_at=0.0, retry_after=0.0)
        elif force and not config.offline:
            entry = None
        request = plan(
            friend,
            entry,
            now=now,
            ttl=config.cache_ttl,
            offline=config.offline,
            file_stamp=stamps.get(friend.feed),
        )
        if request:
            requests.append(request)
    return entries, stamps, requests


def refresh(
    friends: list[Friend],
    config: Config,
    *,
    cache: FeedCache | None = None,
    force: bool = False,
    progress: Callable[[FeedState], None] | None = None,
) -> RefreshReport:
    """Load, fetch what is due, parse what changed, save. Never raises for a feed.

    ``force`` ignores the TTL; ``progress`` is told about each feed fetched.
    """
    started = time.monotonic()
    now = time.time()
    cache = cache or FeedCache(config.cache_path)
    entries, stamps, requests = _due(friends, cache, config, now=now, force=force)
    requests = slow_first(requests, entries)

    limits = limits_for(config)
    states: dict[str, FeedState] = {}
    by_feed = {f.feed: f for f in friends}

    def handle(result: FetchResult) -> None:
        """Parse and save each feed as it arrives, then let its body go."""
        friend = by_feed[result.url]
        try:
            state = apply_result(
                friend,
                entries[friend.feed],
                result,
                now=now,
                summary_words=config.summary_words,
                file_stamp=stamps.get(friend.feed),
            )
        except Exception as exc:  # a parser bug must not cost the other feeds
            logger.debug("reciprocity: error reading %s", friend.feed, exc_info=True)
            error = f"could not be read ({type(exc).__name__}: {exc})"
            state = FeedState(friend, entries[friend.feed], "failed", error)
        else:
            if state.entry is not None:
                cache.save(state.entry)
        result.body = None
        states[friend.feed] = state
        if progress is not None:
            progress(state)

    results = fetch_all_sync(
        requests,
        limits,
        concurrency=config.concurrency,
        deadline=config.fetch_deadline,
        on_result=handle,
    )
    report = RefreshReport(requests=sum(r.requests for r in results.values()))
    for friend in friends:
        state = states.get(friend.feed) or _unfetched(friend, entries[friend.feed], config)
        report.feeds.append(state)
    report.elapsed = time.monotonic() - started
    return report


def _unfetched(friend: Friend, entry: CacheEntry | None, config: Config) -> FeedState:
    """The state of a feed we did not ask for: its cached copy, if any."""
    if entry is None or not entry.has_copy:
        if config.offline:
            reason = "offline, and no cached copy"
        else:
            reason = entry.error if entry and entry.error else "no cached copy"
        return FeedState(friend, entry, "failed", reason)
    if entry.error and not friend.is_local:
        return FeedState(friend, entry, "failed", entry.error)
    return FeedState(friend, entry, "cached")


def log_failures(report: RefreshReport) -> None:
    """One warning per failing feed: who, what went wrong, and what is shown."""
    for state in report.failed:
        entry = state.entry
        if entry and entry.has_copy:
            fallback = f"using copy from {age_text(time.time() - entry.fetched_at)}"
        else:
            fallback = "no earlier copy, so none of its posts are shown"
        logger.warning(
            "reciprocity: feed of %s (%s) failed: %s; %s",
            state.friend.name,
            state.friend.feed,
            state.error,
            fallback,
        )


def refresh_sources(
    urls: list[str], config: Config, *, cache: FeedCache | None = None
) -> dict[str, tuple[bytes | None, str | None]]:
    """Response sources given as URLs or files, fetched like feeds (TTL,
    conditional requests, stale copy on failure) but kept as raw bytes.

    Returns each source's body (or None) and its error (or None).
    """
    cache = cache or FeedCache(config.cache_path / "sources")
    now = time.time()
    sources = [Friend(name=url, feed=url) for url in urls]
    entries, stamps, requests = _due(sources, cache, config, now=now)
    limits = limits_for(config)
    results = fetch_all_sync(
        requests, limits, concurrency=config.concurrency, deadline=config.fetch_deadline
    )
    out: dict[str, tuple[bytes | None, str | None]] = {}
    for source in sources:
        entry = entries[source.feed] or CacheEntry(url=source.feed)
        result = results.get(source.feed)
        if result is not None:
            entry.checked_at = now
            if result.error:
                entry.error = result.error
            elif not result.not_modified:
                entry.raw = result.body
                entry.etag = stamps.get(source.feed) if source.is_local else result.etag
                entry.last_modified = None if source.is_local else result.last_modified
                entry.fetched_at, entry.error = now, None
            else:
                entry.fetched_at, entry.error = now, None
            cache.save(entry)
        out[source.feed] = (entry.raw, entry.error)
    return out


WEBMENTION_PAGE = 100
WEBMENTION_MAX_PAGES = 20


def refresh_webmention_io(
    domain: str, token: str, config: Config, *, api: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Mentions of ``domain`` from webmention.io, fetched incrementally.

    Everything received so far is kept in the cache; each refresh asks only
    for mentions newer than the newest one held (``since_id``). The token is
    sent in the request and never written to the cache or a log line.
    Returns the mentions and an error (or None).
    """
    import json
    from urllib.parse import urlencode

    store = config.cache_path / "webmention-io" / f"{normalise(domain).replace('/', '_')}.json"
    state: dict[str, Any] = {"format": "pelican-reciprocity/webmention-io/1", "children": []}
    try:
        loaded = json.loads(store.read_bytes())
        if isinstance(loaded, dict) and loaded.get("format") == state["format"]:
            state = loaded
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        logger.warning("reciprocity: dropping corrupt webmention.io cache %s (%s)", store, exc)
    children: list[dict[str, Any]] = [c for c in state.get("children", []) if isinstance(c, dict)]
    now = time.time()
    if config.offline or now - float(state.get("checked_at") or 0) < config.cache_ttl:
        return children, None
    since = max((int(c.get("wm-id") or 0) for c in children), default=0)
    limits = limits_for(config)
    error = None
    seen = {c.get("wm-id") for c in children}
    for page in range(WEBMENTION_MAX_PAGES):
        query = {"domain": domain, "token": token, "per-page": WEBMENTION_PAGE, "page": page}
        if since:
            query["since_id"] = since
        url = f"{api}?{urlencode(query)}"
        result = fetch_all_sync([FetchRequest(url)], limits, deadline=config.fetch_deadline)[url]
        if result.error:
            error = result.error.replace(token, "***") if token else result.error
            break
        try:
            data = json.loads(result.body or b"")
            batch = data.get("children") if isinstance(data, dict) else None
            if not isinstance(batch, list):
                raise ValueError("no 'children' list")
        except ValueError as exc:
            error = f"unexpected answer from webmention.io ({exc})"
            break
        fresh = [c for c in batch if isinstance(c, dict) and c.get("wm-id") not in seen]
        seen |= {c.get("wm-id") for c in fresh}
        children.extend(fresh)
        if len(batch) < WEBMENTION_PAGE:
            break
    if error is None:
        state["checked_at"] = now
    children.sort(key=lambda c: int(c.get("wm-id") or 0))
    state["children"] = children
    state["domain"] = domain
    data = json.dumps(state, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    try:
        from .cache import write_atomic

        write_atomic(store, data, durable=False)
    except OSError as exc:
        logger.warning("reciprocity: cannot write %s (%s)", store, exc)
    return children, error
