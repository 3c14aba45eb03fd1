"""Bring friends' feeds, response sources and webmention.io up to date.

Two halves, so the network can run in a process of its own:
- :func:`fetch` asks every server that is due, under one deadline and one
  concurrency limit, parses what changed and writes the cache. It returns a
  small :class:`JobReport` (outcomes and errors, no posts).
- :func:`collect` reads the cache back into immutable :class:`Gathered`
  values for the build. It never touches the network.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlencode, urlsplit

from .cache import CacheEntry, FeedCache
from .files import write_atomic
from .health import age_text
from .model import OUTCOMES, FeedState, Friend, Outcome, record
from .schedule import MAX_RETRY_AFTER, Due, Held, plan, slow_first
from .settings import Config
from .urls import normalise

logger = logging.getLogger(__name__)

WEBMENTION_PAGE = 100
WEBMENTION_MAX_PAGES = 20
WEBMENTION_FORMAT = "pelican-reciprocity/webmention-io/1"
TOKEN_VARIABLE = "WEBMENTION_IO_TOKEN"
#: An avatar larger than this is not a profile picture.
AVATAR_MAX_BYTES = 1024 * 1024


@record(frozen=True)
class FetchSettings:
    """What fetching needs from the site's settings; plain enough to hand to
    a child process as JSON."""

    cache_path: str
    timeout: float = 10.0
    fetch_deadline: float = 60.0
    concurrency: int = 32
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "pelican-reciprocity"
    cache_ttl: float = 3600.0
    offline: bool = False
    summary_words: int = 40
    summaries: int = 3  # posts per feed summarised as they are parsed (the newest)
    max_posts: int = 100  # posts per feed read and kept at all (the newest)
    allow_private: bool = False
    webmention_io_domain: str = ""
    webmention_io_api: str = ""
    mastodon_token_server: str = ""  # the origin MASTODON_TOKEN is sent to, if any

    @classmethod
    def from_config(cls, config: Config) -> FetchSettings:
        derived = {
            "cache_path": str(config.cache_path),
            "allow_private": config.allow_private_addresses,
            # the friends page shows the newest few, automatic picks the newest
            "summaries": max(config.friends_posts, config.auto_per_friend, 1),
        }
        same = {n: getattr(config, n) for n in cls.__dataclass_fields__ if n not in derived}
        return cls(**same, **derived)

    def limits(self) -> Any:
        from .fetch import Limits

        return Limits(
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            max_redirects=self.max_redirects,
            user_agent=self.user_agent,
            allow_private=self.allow_private,
        )


@record(frozen=True)
class Work:
    """Everything one build reads from other servers."""

    friends: tuple[Friend, ...] = ()
    sources: tuple[str, ...] = ()  # response sources, as http(s) or file: URLs
    #: Responders' feeds: read like friends' feeds, but every address of
    #: theirs is a third party's choice (never a private one).
    responders: tuple[Friend, ...] = ()
    #: Pictures of people (RECIPROCITY_AVATARS): kept like response sources,
    #: at addresses a third party chose, and capped at AVATAR_MAX_BYTES.
    avatars: tuple[str, ...] = ()

    @property
    def feeds(self) -> tuple[Friend, ...]:
        return self.friends + self.responders

    @property
    def bodies(self) -> tuple[str, ...]:
        """Everything kept as a body in the source cache."""
        return self.sources + self.avatars

    def to_json(self) -> dict[str, Any]:
        return {
            "friends": [[f.name, f.feed, f.url] for f in self.friends],
            "sources": list(self.sources),
            "responders": [[f.name, f.feed, f.url] for f in self.responders],
            "avatars": list(self.avatars),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Work:
        def people(rows: list[list[str]]) -> tuple[Friend, ...]:
            return tuple(Friend(name=n, feed=f, url=u) for n, f, u in rows)

        return cls(
            friends=people(data["friends"]),
            sources=tuple(data["sources"]),
            responders=people(data.get("responders", [])),
            avatars=tuple(data.get("avatars", [])),
        )


@record(frozen=True)
class JobReport:
    """What a fetch did: per URL its outcome and error, and how many requests."""

    feeds: dict[str, tuple[Outcome, str | None]] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)
    webmention_error: str | None = None
    requests: int = 0
    elapsed: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobReport:
        feeds = {
            str(url): (outcome, error)
            for url, (outcome, error) in data["feeds"].items()
            if outcome in OUTCOMES
        }
        return cls(
            feeds=feeds,
            sources={str(k): v for k, v in data["sources"].items()},
            webmention_error=data.get("webmention_error"),
            requests=int(data.get("requests") or 0),
            elapsed=float(data.get("elapsed") or 0.0),
        )


@record
class Touched:
    """The cache entries a fetch wrote, handed back so they need not be read again."""

    feeds: dict[str, CacheEntry] = field(default_factory=dict)
    sources: dict[str, CacheEntry] = field(default_factory=dict)
    #: Feeds handed over without their posts, which the build already holds.
    kept: frozenset[str] = frozenset()
    #: Entries whose times alone changed (a 304): saved as stamps, not whole.
    stamped: set[str] = field(default_factory=set)

    def without_held(self, report: JobReport, before: Snapshot | None) -> Touched:
        """For the hand-over from a forked job: a feed that answered 304 or
        failed still has the posts the build read before the fork, so only
        its new stamps go back (100 revalidated feeds: kilobytes, not the
        megabytes of their posts)."""
        if before is None:
            return self
        kept = {
            url
            for url in self.feeds
            if report.feeds.get(url, ("updated", None))[0] != "updated"
            and before.feeds.get(url) is not None
        }
        feeds = {
            url: replace(entry, posts=[], first_seen={}) if url in kept else entry
            for url, entry in self.feeds.items()
        }
        return Touched(feeds, self.sources, frozenset(kept))

    def with_held(self, before: Snapshot | None) -> Touched:
        """The build's side of :meth:`without_held`: its posts put back."""
        for url in self.kept:
            held = before.feeds.get(url) if before is not None else None
            if held is None:  # cannot happen with the build's own snapshot
                self.feeds.pop(url, None)
                continue
            self.feeds[url] = replace(self.feeds[url], posts=held.posts, first_seen=held.first_seen)
        self.kept = frozenset()
        return self


@record(frozen=True)
class Gathered:
    """Everything the build uses from other servers, read back from the cache."""

    feeds: tuple[FeedState, ...] = ()
    sources: dict[str, tuple[bytes | None, str | None]] = field(default_factory=dict)
    next_pages: dict[str, str] = field(default_factory=dict)  # source URL -> its next page
    webmentions: tuple[dict[str, Any], ...] | None = None  # None: webmention.io not used
    webmention_error: str | None = None
    requests: int = 0
    elapsed: float = 0.0

    @property
    def failed(self) -> list[FeedState]:
        return [f for f in self.feeds if f.outcome == "failed"]

    @property
    def as_of(self) -> datetime:
        """The time of the newest good copy: "recent" is measured from here, so
        two builds from the same cache agree byte for byte."""
        stamps = [f.fetched_at for f in self.feeds if f.fetched_at]
        return datetime.fromtimestamp(max(stamps), UTC) if stamps else datetime.now(UTC)

    def summary(self) -> str:
        counts = dict.fromkeys(OUTCOMES, 0)
        for state in self.feeds:
            counts[state.outcome] += 1
        parts = [f"{n} {k}" for k, n in counts.items() if n and k != "failed"]
        if counts["failed"]:
            with_copy = [f for f in self.failed if f.fetched_at]
            if with_copy:
                oldest = min(f.fetched_at for f in with_copy)
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


def _caches(settings: FetchSettings) -> tuple[FeedCache, FeedCache]:
    root = Path(settings.cache_path)
    return FeedCache(root), FeedCache(root / "sources")


def file_validator(url: str) -> str | None:
    """mtime and size of a file: feed, so an unchanged file is not re-parsed."""
    try:
        stat = os.stat(Path(unquote(urlsplit(url).path)))
    except OSError:
        return None
    return f"file:{stat.st_mtime_ns}:{stat.st_size}"


def _held(entry: CacheEntry | None) -> Held | None:
    if entry is None:
        return None
    return Held(
        checked_at=entry.checked_at,
        fetched_at=entry.fetched_at,
        retry_after=entry.retry_after,
        etag=entry.etag,
        last_modified=entry.last_modified,
        error=entry.error,
    )


@record
class _Plan:
    """What one cache holds for the work, and which of it is due."""

    entries: dict[str, CacheEntry | None]
    stamps: dict[str, str | None]
    due: list[Due]


def _plan(
    urls: Iterable[str],
    cache: FeedCache,
    settings: FetchSettings,
    *,
    now: float,
    force: bool,
    held: Mapping[str, CacheEntry | None] | None = None,
) -> _Plan:
    """Load each entry (or take it from ``held``, already loaded) and decide."""
    urls = list(dict.fromkeys(urls))
    held = held or {}
    entries = {url: held[url] if url in held else cache.load(url) for url in urls}
    stamps = {url: file_validator(url) for url in urls if url.startswith("file:")}
    views = {url: _held(entry) for url, entry in entries.items()}
    due = []
    for url in urls:
        item = plan(
            url,
            views[url],
            now=now,
            ttl=settings.cache_ttl,
            offline=settings.offline,
            local=url.startswith("file:"),
            file_stamp=stamps.get(url),
            force=force,
        )
        if item is not None:
            due.append(item)
    return _Plan(entries, stamps, slow_first(due, views) if due else due)


def _webmention_store(settings: FetchSettings) -> Path:
    name = normalise(settings.webmention_io_domain).replace("/", "_")
    return Path(settings.cache_path) / "webmention-io" / f"{name}.json"


def _load_webmentions(store: Path) -> dict[str, Any]:
    state: dict[str, Any] = {"format": WEBMENTION_FORMAT, "children": []}
    try:
        loaded = json.loads(store.read_bytes())
        if isinstance(loaded, dict) and loaded.get("format") == WEBMENTION_FORMAT:
            state = loaded
    except FileNotFoundError:
        pass
    except (OSError, ValueError, RecursionError) as exc:
        logger.warning("reciprocity: dropping corrupt webmention.io cache %s (%s)", store, exc)
    children = state.get("children")
    state["children"] = (
        [c for c in children if isinstance(c, dict)] if isinstance(children, list) else []
    )
    return state


def _webmention_due(settings: FetchSettings, *, now: float, force: bool) -> bool:
    if not settings.webmention_io_domain or settings.offline:
        return False
    if not os.environ.get(TOKEN_VARIABLE, "").strip():
        return False
    state = _load_webmentions(_webmention_store(settings))
    try:
        checked = float(state.get("checked_at") or 0)
    except (TypeError, ValueError):
        checked = 0.0
    return force or now - checked >= settings.cache_ttl


@record
class Snapshot:
    """The cache as a build found it, and whether any server is due a request."""

    feeds: dict[str, CacheEntry | None]
    sources: dict[str, CacheEntry | None]
    due: bool


def snapshot(settings: FetchSettings, work: Work, *, force: bool = False) -> Snapshot:
    """Read the cache once and decide: a warm or offline build finds nothing
    due, and then no fetch (and no child process) is started."""
    now = time.time()
    feed_cache, source_cache = _caches(settings)
    feeds = _plan((f.feed for f in work.feeds), feed_cache, settings, now=now, force=force)
    sources = _plan(work.sources, source_cache, settings, now=now, force=force)
    due = bool(feeds.due or sources.due or _webmention_due(settings, now=now, force=force))
    return Snapshot(feeds.entries, sources.entries, due)


def apply_result(
    friend: Friend,
    entry: CacheEntry | None,
    result: Any,
    *,
    now: float,
    summary_words: int,
    file_stamp: str | None = None,
    summaries: int | None = None,
    max_posts: int | None = None,
    quick: bool = False,
) -> tuple[CacheEntry, Outcome, str | None] | None:
    """Fold one fetch result into the feed's cache entry (parses only on a 200).

    ``quick``: called on the download loop's own thread, so read only a
    body that is quick to read (see :data:`QUICK_BYTES`); None, with nothing
    changed, when it is not."""
    parsed = None
    if not (result.error or result.not_modified):
        if quick and len(result.body or b"") > QUICK_BYTES:
            return None
        nowdt = datetime.fromtimestamp(now, UTC)
        parsed = _parse(friend, result, nowdt, summary_words, summaries, max_posts, quick)
        if parsed is None:
            return None
    entry = entry or CacheEntry(url=friend.feed)
    entry.checked_at = now
    if result.retry_after is not None:
        entry.retry_after = now + min(result.retry_after, MAX_RETRY_AFTER)
    if result.moved_to:
        entry.moved_to = result.moved_to
    if result.error:
        entry.error = result.error
        return entry, "failed", result.error
    if parsed is None:  # not modified
        entry.fetched_at = now
        entry.error = None
        return entry, "revalidated", None
    if parsed.problem:
        entry.error = parsed.problem
        return entry, "failed", parsed.problem
    for warning in parsed.warnings:
        logger.debug("reciprocity: feed of %s: %s", friend.name, warning)
    from .feeds import assign_first_seen

    posts, first_seen = assign_first_seen(parsed.posts, entry.first_seen, nowdt)
    entry.posts = posts
    entry.first_seen = first_seen
    entry.title = parsed.title
    entry.link = parsed.link
    entry.etag = file_stamp if friend.is_local else result.etag
    entry.last_modified = None if friend.is_local else result.last_modified
    entry.fetched_at = now
    entry.error = None
    entry.retry_after = 0.0
    return entry, "updated", None


#: The biggest body a fetch reads on its download loop's own thread, when
#: the fast reader can read it: a few milliseconds (a 512 KB feed of 5,000
#: entries takes about 60). Bigger bodies, and those only the lenient reader
#: can read, are read on a thread beside the downloads. Handing every body
#: to that thread cost a cold build of 1,000 feeds about a second of CPU
#: (10.2 s against 9.2 s, the build and its fetch processes together): the
#: two threads passed the interpreter lock back and forth as downloads
#: waited on their sockets.
QUICK_BYTES = 512 * 1024


def _parse(
    friend: Friend,
    result: Any,
    now: datetime,
    summary_words: int,
    summaries: int | None,
    max_posts: int | None,
    quick: bool,
) -> Any:
    """The parsed body (None: ``quick``, and it needs the lenient reader)."""
    # The parsers load only when a body is to be read: a warm build, or one
    # where every feed answers 304, never needs them.
    from .feeds import parse_feed, parse_feed_quickly

    base = result.final_url if not friend.is_local else (friend.url or None)
    if base and base.startswith("file:"):
        base = friend.url or None
    return (parse_feed_quickly if quick else parse_feed)(
        result.body or b"",
        base=base,
        content_type=result.content_type,
        summary_words=summary_words,
        now=now,
        summaries=summaries,
        friend=friend.key,
        max_posts=max_posts,
    )


def fetch(
    settings: FetchSettings,
    work: Work,
    *,
    force: bool = False,
    progress: Callable[[Friend], None] | None = None,
    touched: Touched | None = None,
    save: bool = True,
    before: Snapshot | None = None,
    webmention: bool = True,
) -> JobReport:
    """Ask every server that is due, under one deadline; parse and cache what
    changed. Never raises for a server's or a feed's fault.

    ``force`` ignores the TTL; ``progress`` is told about each feed fetched.
    With ``save=False`` the changed entries are only put in ``touched``, for
    the caller to hand over first and write with :func:`save_touched` after.
    The entries in ``before`` (the build's own snapshot) are not read again.
    """
    started = time.monotonic()
    now = time.time()
    feed_cache, source_cache = _caches(settings)
    feeds = _plan(
        (f.feed for f in work.feeds), feed_cache, settings, now=now, force=force,
        held=before.feeds if before else None,
    )  # fmt: skip
    sources = _plan(
        work.bodies, source_cache, settings, now=now, force=force,
        held=before.sources if before else None,
    )  # fmt: skip
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    # a second fetch of the build (responders, social APIs) leaves webmention.io alone
    webmention = webmention and _webmention_due(settings, now=now, force=force)
    by_feed = {f.feed: f for f in work.feeds}
    feed_outcomes: dict[str, tuple[Outcome, str | None]] = {}
    source_errors: dict[str, str | None] = {}

    def on_feed(result: Any, quick: bool = False) -> bool:
        """Parse and save each feed as it arrives, then let its body go.
        False: ``quick``, and the body is not quick to read (nothing done)."""
        friend = by_feed[result.url]
        try:
            times_only = _times_only(feeds.entries[friend.feed], result)
            applied = apply_result(
                friend,
                feeds.entries[friend.feed],
                result,
                now=now,
                summary_words=settings.summary_words,
                file_stamp=feeds.stamps.get(friend.feed),
                summaries=settings.summaries,
                max_posts=settings.max_posts,
                quick=quick,
            )
            if applied is None:
                return False
            entry, outcome, error = applied
            if save:
                _keep(feed_cache, entry, times_only)
            if touched is not None:
                touched.feeds[friend.feed] = entry
                if times_only:
                    touched.stamped.add(entry.url)
        except Exception as exc:  # one feed's bug must not cost the others
            logger.debug("reciprocity: error reading %s", friend.feed, exc_info=True)
            outcome, error = "failed", f"could not be read ({type(exc).__name__}: {exc})"
        result.body = None
        feed_outcomes[friend.feed] = (outcome, error)
        if progress is not None:
            progress(friend)
        return True

    def on_source(result: Any, quick: bool = False) -> bool:
        times_only = _times_only(sources.entries[result.url], result)
        entry = sources.entries[result.url] or CacheEntry(url=result.url)
        entry.checked_at = now
        if result.error:
            entry.error = result.error
        else:
            if not result.not_modified:
                entry.raw, entry.next_page = result.body, result.next_page
                local = result.url.startswith("file:")
                entry.etag = sources.stamps.get(result.url) if local else result.etag
                entry.last_modified = None if local else result.last_modified
            entry.fetched_at, entry.error = now, None
        if save:
            _keep(source_cache, entry, times_only)
        if touched is not None:
            touched.sources[result.url] = entry
            if times_only:
                touched.stamped.add(entry.url)
        source_errors[result.url] = result.error
        return True  # nothing to parse: quick wherever it runs

    errors: dict[str, str | None] = {}
    requests = _run(
        settings,
        feeds.due,
        on_feed,
        sources.due,
        on_source,
        token if webmention else "",
        errors,
        work,
    )
    if save:
        feed_cache.flush()
        source_cache.flush()
    return JobReport(
        feeds=feed_outcomes,
        sources=source_errors,
        webmention_error=errors.get("webmention"),
        requests=requests,
        elapsed=time.monotonic() - started,
    )


def _run(
    settings: FetchSettings,
    feeds: list[Due],
    on_feed: Callable[[Any, bool], bool],
    sources: list[Due],
    on_source: Callable[[Any, bool], bool],
    token: str,
    errors: dict[str, str | None],
    work: Work,
) -> int:
    """One event loop, one client, one deadline for every request of the job."""
    if not (feeds or sources or token):  # before the imports: a warm build asks for nothing
        return 0

    import asyncio  # only the fetch job needs an event loop
    from concurrent.futures import ThreadPoolExecutor

    from .fetch import FetchRequest, Session, gather, late

    untrusted = {f.feed for f in work.responders} | set(work.avatars)
    small = set(work.avatars)

    def requests(items: list[Due]) -> list[FetchRequest]:
        return [
            FetchRequest(
                d.url,
                d.etag,
                d.last_modified,
                untrusted=d.url in untrusted,
                bearer=_token_for(settings, d.url),
                max_bytes=AVATAR_MAX_BYTES if d.url in small else None,
            )
            for d in items
        ]

    async def main() -> int:
        done: set[str] = set()
        loop = asyncio.get_running_loop()
        # A body that may take long to read is read beside the downloads,
        # never in their way: a feed that takes seconds to read must not
        # make a healthy one time out. The others are read at once, on this
        # thread (see QUICK_BYTES), unless the parser thread has work: one
        # body is read at a time, in either place.
        parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reciprocity-parse")
        handed = 0  # results given to the parser thread and not back yet
        # The bodies read on this thread take turns, and the event loop
        # takes a round after each, so the places the first ones free go to
        # new requests while the rest are read. Read all in the round they
        # came in, the feeds of friends on equally slow servers came in
        # waves, and each wave's latency was waited out: in the second
        # after Pelican had written its pages, a cold build of 1,000 feeds
        # left about two thirds of a core idle. In turns, 40 alternating
        # pairs of that build took 0.19 s less on average, and about 0.45 s
        # more CPU: the fetch processes work where they waited.
        turn = asyncio.Lock()

        def mark(handler: Callable[[Any, bool], bool]) -> Callable[[Any], Any]:
            async def seen(result: Any) -> None:
                nonlocal handed
                done.add(result.url)
                async with turn:
                    quick = not handed and handler(result, True)
                    await asyncio.sleep(0)  # the others wait their turn: the loop runs
                if quick:
                    return
                handed += 1
                try:
                    await loop.run_in_executor(parser, handler, result, False)
                finally:
                    handed -= 1

            return seen

        # Bodies alive at once, downloaded or waiting for the parser: as many
        # as download at once, so a parser that falls behind slows the
        # downloads down instead of holding every feed in memory.
        room = asyncio.Semaphore(settings.concurrency)
        async with Session(settings.limits(), settings.concurrency) as session:
            jobs = [
                gather(session, requests(feeds), mark(on_feed), room),
                gather(session, requests(sources), mark(on_source)),
            ]
            if token:
                jobs.append(_webmentions(session, settings, token, errors))
            try:
                async with asyncio.timeout(settings.fetch_deadline):
                    await asyncio.gather(*jobs)
            except TimeoutError:
                if token and "webmention" not in errors:
                    errors["webmention"] = (
                        f"fetch phase deadline of {settings.fetch_deadline:g} s reached"
                    )
            parser.shutdown(wait=True)  # the parses already begun finish
            for items, handler in ((feeds, on_feed), (sources, on_source)):
                for item in items:
                    if item.url not in done:
                        handler(late(item.url, settings.fetch_deadline))
            return session.requests

    return asyncio.run(main())


TOKEN_FOR_MASTODON = "MASTODON_TOKEN"


def _token_for(settings: FetchSettings, url: str) -> str | None:
    """The API token of the one server that needs it (GoToSocial), for
    requests to exactly that origin."""
    server = settings.mastodon_token_server.rstrip("/").lower()
    token = os.environ.get(TOKEN_FOR_MASTODON, "").strip()
    if not (server and token):
        return None
    return token if (url.lower() + "/").startswith(server + "/") else None


async def _webmentions(
    session: Any, settings: FetchSettings, token: str, errors: dict[str, str | None]
) -> None:
    """Mentions of the domain from webmention.io, fetched incrementally.

    Everything received so far is kept in the cache; each refresh asks only
    for mentions newer than the newest one held (``since_id``). The token is
    sent in the request and never written to the cache or a log line.
    """
    from .fetch import FetchRequest

    store = _webmention_store(settings)
    state = _load_webmentions(store)
    children: list[dict[str, Any]] = state["children"]
    since = max((_int(c.get("wm-id")) for c in children), default=0)
    error = None
    seen = {c.get("wm-id") for c in children}
    domain = settings.webmention_io_domain
    for page in range(WEBMENTION_MAX_PAGES):
        query: dict[str, Any] = {"domain": domain, "token": token, "per-page": WEBMENTION_PAGE}
        query["page"] = page
        if since:
            query["since_id"] = since
        url = f"{settings.webmention_io_api}?{urlencode(query)}"
        result = await session.get(FetchRequest(url))
        if result.error:
            error = scrub(result.error, token)
            break
        try:
            data = json.loads(result.body or b"")
            batch = data.get("children") if isinstance(data, dict) else None
            if not isinstance(batch, list):
                raise ValueError("no 'children' list")
        except (ValueError, RecursionError) as exc:
            error = f"unexpected answer from webmention.io ({scrub(str(exc), token)})"
            break
        fresh = [c for c in batch if isinstance(c, dict) and c.get("wm-id") not in seen]
        seen |= {c.get("wm-id") for c in fresh}
        children.extend(fresh)
        if len(batch) < WEBMENTION_PAGE:
            break
    if error is None:
        state["checked_at"] = time.time()
    children.sort(key=lambda c: _int(c.get("wm-id")))
    state["children"] = children
    state["domain"] = domain
    data = json.dumps(state, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    try:
        write_atomic(store, data, durable=False)
    except OSError as exc:
        logger.warning("reciprocity: cannot write %s (%s)", store, exc)
    errors["webmention"] = error


def save_touched(settings: FetchSettings, touched: Touched, *, own: str | None = None) -> None:
    """Write the entries a fetch changed (see ``fetch(save=False)``).
    ``own``: this process holds only part of the friends' feeds (a split
    job), and indexes them in that index file of its own (see
    :meth:`FeedCache._write_index`)."""
    feed_cache, source_cache = _caches(settings)
    for cache, entries in ((feed_cache, touched.feeds), (source_cache, touched.sources)):
        for url, entry in entries.items():
            _keep(cache, entry, url in touched.stamped)
    feed_cache.flush(own=own)
    source_cache.flush()


def flush_caches(settings: FetchSettings) -> None:
    """Bring the caches' indexes up to date with the entries this process
    read or wrote, and those the index files hold now (for a build that
    started no fetch job)."""
    for cache in _caches(settings):
        cache.flush()


def _times_only(entry: CacheEntry | None, result: Any) -> bool:
    """Will this answer change only the entry's times? A 304 for an entry
    that had no error, with no Retry-After and no move to remember."""
    return (
        entry is not None
        and entry.error is None
        and bool(result.not_modified)
        and not result.error
        and result.retry_after is None
        and not result.moved_to
    )


def _keep(cache: FeedCache, entry: CacheEntry, times_only: bool) -> None:
    if times_only:
        cache.stamp(entry)
    else:
        cache.save(entry)


def scrub(text: str, token: str) -> str:
    """Remove a secret from a message, raw and URL-encoded alike."""
    for form in {token, quote(token, safe=""), quote_plus(token)}:
        if form:
            text = text.replace(form, "***")
    return text


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def collect(
    settings: FetchSettings,
    work: Work,
    report: JobReport | None = None,
    before: Snapshot | None = None,
    touched: Touched | None = None,
) -> Gathered:
    """Read what the build shows from the cache: never the network.

    ``report`` is the fetch's (None when nothing was fetched): it says which
    feeds were updated and which failed just now. The entries the fetch wrote
    (``touched``) and those it left alone (``before``) are used as they are,
    not read again.
    """
    report = report or JobReport()
    touched = touched or Touched()
    feed_cache, source_cache = _caches(settings)

    def load(cache: FeedCache, url: str, kind: str, fresh: Any) -> Any:
        written = getattr(touched, kind)
        if url in written:
            return written[url]
        held = getattr(before, kind) if before is not None else {}
        if url in held and url not in fresh:
            return held[url]
        return cache.load(url)

    states = []
    for friend in work.feeds:
        entry = load(feed_cache, friend.feed, "feeds", report.feeds)
        outcome, error = report.feeds.get(friend.feed) or _unfetched(friend, entry, settings)
        states.append(
            FeedState(
                friend=friend,
                outcome=outcome,
                error=error,
                posts=tuple(entry.posts) if entry else (),
                link=entry.link if entry else None,
                fetched_at=entry.fetched_at if entry else 0.0,
            )
        )
    sources: dict[str, tuple[bytes | None, str | None]] = {}
    next_pages: dict[str, str] = {}
    for url in dict.fromkeys(work.bodies):
        entry = load(source_cache, url, "sources", report.sources)
        if entry is not None and entry.next_page:
            next_pages[url] = entry.next_page
        error = report.sources.get(url, entry.error if entry else None)
        if entry is None and error is None:
            error = "offline, and no cached copy" if settings.offline else "no cached copy"
        sources[url] = (entry.raw if entry else None, error)
    webmentions: tuple[dict[str, Any], ...] | None = None
    webmention_error = None
    if settings.webmention_io_domain:
        if not os.environ.get(TOKEN_VARIABLE, "").strip():
            webmention_error = (
                f"RECIPROCITY_WEBMENTION_IO_DOMAIN is set but {TOKEN_VARIABLE} is not "
                "in the environment"
            )
        else:
            webmention_error = report.webmention_error
        webmentions = tuple(_load_webmentions(_webmention_store(settings))["children"])
    return Gathered(
        feeds=tuple(states),
        sources=sources,
        next_pages=next_pages,
        webmentions=webmentions,
        webmention_error=webmention_error,
        requests=report.requests,
        elapsed=report.elapsed,
    )


def _unfetched(
    friend: Friend, entry: CacheEntry | None, settings: FetchSettings
) -> tuple[Outcome, str | None]:
    """The outcome of a feed we did not ask for: its cached copy, if any."""
    if entry is None or not entry.has_copy:
        if settings.offline:
            return "failed", "offline, and no cached copy"
        return "failed", entry.error if entry and entry.error else "no cached copy"
    if entry.error and not friend.is_local:
        return "failed", entry.error
    return "cached", None


def refresh(
    friends: Iterable[Friend],
    config: Config,
    *,
    sources: Iterable[str] = (),
    force: bool = False,
    progress: Callable[[Friend], None] | None = None,
) -> Gathered:
    """Fetch what is due in this process, then collect: for the command line."""
    settings = FetchSettings.from_config(config)
    work = Work(friends=tuple(friends), sources=tuple(sources))
    touched = Touched()
    report = fetch(settings, work, force=force, progress=progress, touched=touched)
    return collect(settings, work, report, touched=touched)


def fetch_now(settings: FetchSettings, work: Work, stop_at: float) -> Gathered:
    """A round of fetching in the build itself, after the job (responders'
    feeds, social APIs): within what is left until ``stop_at``, leaving
    webmention.io to the job; then read back like everything else."""
    left = max(0.1, stop_at - time.monotonic())
    bounded = replace(settings, fetch_deadline=min(settings.fetch_deadline, left))
    return collect(bounded, work, fetch(bounded, work, webmention=False))


def log_failures(gathered: Gathered) -> None:
    """One warning per failing feed: who, what went wrong, and what is shown."""
    for state in gathered.failed:
        if state.fetched_at:
            fallback = f"using copy from {age_text(time.time() - state.fetched_at)}"
        else:
            fallback = "no earlier copy, so none of its posts are shown"
        logger.warning(
            "reciprocity: feed of %s (%s) failed: %s; %s",
            state.friend.name,
            state.friend.feed,
            state.error,
            fallback,
        )
