"""How each friend's feed is doing, from its cache entry: pure, for `list` and `check`."""

from __future__ import annotations

from typing import Any

from .model import Friend
from .selection import latest

STALE_AFTER_DAYS = 182


def age_text(seconds: float) -> str:
    """'3 minutes ago', '2 days ago': for lines about stale copies."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def status(
    friend: Friend, entry: Any, *, ttl: float, now: float, max_age_days: float = 0
) -> tuple[str, str]:
    """(status, detail) for one friend, from its cache entry (or None)."""
    if entry is None:
        return "not fetched", "run `pelican-reciprocity fetch`"
    if entry.error and entry.error.startswith("not a feed"):
        return "not a feed", entry.error
    if entry.error:
        copy = f"; copy from {age_text(now - entry.fetched_at)}" if entry.has_copy else ""
        return "failed", entry.error + copy
    if entry.moved_to and entry.moved_to != friend.feed:
        return "moved permanently", entry.moved_to
    dates = [p.date for p in entry.posts if p.date]
    age = (now - max(dates).timestamp()) / 86400 if dates else None
    shown = age is not None and (not max_age_days or age <= max_age_days)
    if age is None or age > STALE_AFTER_DAYS:
        detail = f"latest {max(dates).date().isoformat()}" if dates else "no posts"
        if not shown:
            detail += (
                f"; older than RECIPROCITY_AUTO_MAX_AGE_DAYS ({max_age_days:g}), so none of "
                "their posts appears on articles (only on the friends page)"
            )
        return "no posts for 6 months", detail
    if now - entry.fetched_at > ttl:
        return "stale cache", f"fetched {age_text(now - entry.fetched_at)}"
    return "ok", ""


def row(
    friend: Friend, entry: Any, *, ttl: float, now: float, max_age_days: float = 0
) -> dict[str, Any]:
    """One friend's line in `list` and `check` (and their --json)."""
    state, detail = status(friend, entry, ttl=ttl, now=now, max_age_days=max_age_days)
    newest = latest(entry.posts, 1) if entry else []
    return {
        "name": friend.name,
        "feed": friend.feed,
        "status": state,
        "detail": detail,
        "latest": (
            {
                "title": newest[0].title,
                "url": newest[0].url,
                "date": newest[0].date.isoformat() if newest[0].date else None,
            }
            if newest
            else None
        ),
    }
