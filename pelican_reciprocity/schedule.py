"""When to ask a server again: pure decisions over cache entries and a clock.

No I/O and no clock of its own: the caller passes ``now``, so the same cache
always plans the same requests.
"""

from __future__ import annotations

from collections.abc import Mapping

from .model import record

#: A feed that failed is retried sooner than the TTL, but not on every build.
FAILED_RETRY = 300.0
#: The longest a server's Retry-After is honoured.
MAX_RETRY_AFTER = 7 * 86400


@record(frozen=True)
class Due:
    """One request to make: the URL and the validators to send back."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@record(frozen=True)
class Held:
    """What planning needs to know of a cache entry."""

    checked_at: float = 0.0
    fetched_at: float = 0.0
    retry_after: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None

    @property
    def has_copy(self) -> bool:
        return self.fetched_at > 0


def plan(
    url: str,
    held: Held | None,
    *,
    now: float,
    ttl: float,
    offline: bool,
    local: bool = False,
    file_stamp: str | None = None,
    force: bool = False,
) -> Due | None:
    """Decide whether to ask for a URL at all. None means use the cache.

    A local file is read again when its size or time changed. ``force``
    ignores the TTL and any Retry-After (never offline).
    """
    if local:
        if held and held.has_copy and file_stamp and held.etag == file_stamp and not force:
            return None
        return Due(url)
    if offline:
        return None
    if held is None or force:
        if held is not None and held.has_copy:
            return Due(url, held.etag, held.last_modified)
        return Due(url)
    if now < held.retry_after:
        return None
    fresh_for = ttl if held.error is None else min(ttl, FAILED_RETRY)
    if held.checked_at and now - held.checked_at < fresh_for:
        return None
    if not held.has_copy:
        return Due(url)
    return Due(url, held.etag, held.last_modified)


def slow_first(due: list[Due], held: Mapping[str, Held | None]) -> list[Due]:
    """Start the URLs that timed out last time first (stable).

    Only so many fetches run at once, so a feed that hangs until the deadline
    costs the least when it starts in the first round, not the last.
    """

    def slow(item: Due) -> bool:
        entry = held.get(item.url)
        return bool(entry and entry.error and "timed out" in entry.error)

    return sorted(due, key=lambda item: not slow(item))
