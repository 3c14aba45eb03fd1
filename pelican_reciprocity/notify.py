"""Which webmentions `notify` owes, and what to remember after each: pure.

The ledger's ``webmentions`` table holds one state per (source, target).
A sent, unsupported or refused one is never sent again; a failed one waits,
doubling from an hour up to a week. Before each send the intent is recorded
("sending"): a run killed before it could record the outcome leaves that
state, and the pair is never sent again on its own (at most once).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

FINAL = frozenset({"sent", "unsupported", "refused"})
SENDING = "sending"  # recorded before a send; left behind only by an interrupted run
MAX_BACKOFF_HOURS = 7 * 24


def key(source: str, target: str) -> str:
    return f"{source} {target}"


def due(data: Mapping[str, Any], siteurl: str, now: datetime) -> list[tuple[str, str]]:
    """Every (source, target) still to notify, grouped by the target's host."""
    base = siteurl.rstrip("/") + "/"
    states = data.get("webmentions") or {}
    pairs = []
    for record in (data.get("articles") or {}).values():
        source = urljoin(base, record["url"])
        for target in record.get("webmention_targets", []):
            state = states.get(key(source, target), {})
            if state.get("status") in FINAL or state.get("status") == SENDING:
                continue
            if state.get("status") == "failed" and state.get("next_attempt", "") > now.isoformat():
                continue
            pairs.append((source, target))
    pairs.sort(key=lambda pair: (urlsplit(pair[1]).hostname or "", pair))
    return pairs


def interrupted(data: Mapping[str, Any], ledger: str) -> list[str]:
    """What to say of the pairs a killed run may or may not have sent: they
    are never resent on their own."""
    states = data.get("webmentions") or {}
    return [
        f"interrupted: {key.split(' ', 1)[-1]} (a run stopped mid-send; not sent again, so "
        f"delete its entry under 'webmentions' in {ledger} to retry)"
        for key, state in sorted(states.items())
        if isinstance(state, dict) and state.get("status") == SENDING
    ]


def intent(previous: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The state written, atomically, just before a send."""
    return {**previous, "status": SENDING, "last_attempt": now.isoformat()}


def recorded(
    previous: Mapping[str, Any], status: str, detail: str, endpoint: str, now: datetime
) -> dict[str, Any]:
    """The state to keep after one attempt."""
    attempts = int(previous.get("attempts", 0)) + 1
    state: dict[str, Any] = {
        "status": status,
        "detail": detail,
        "endpoint": endpoint,
        "attempts": attempts,
        "last_attempt": now.isoformat(),
    }
    if status == "failed":
        backoff = timedelta(hours=min(2 ** min(attempts - 1, 16), MAX_BACKOFF_HOURS))
        state["next_attempt"] = (now + backoff).isoformat()
    return state
