"""Edit the owner's friends.toml in place, keeping their comments and layout.

Every change is made through tomlkit and written atomically; the file's mode
is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .files import write_atomic
from .friends import resolve_feed
from .identity import site_host
from .model import Friend
from .settings import ConfigError
from .urls import normalise


def read_document(path: Path) -> Any:
    """The friends file as an editable document (a new one if there is none)."""
    import tomlkit

    if not path.exists():
        doc = tomlkit.document()
        doc.add(tomlkit.comment("The blogs I read. Managed by hand or with pelican-reciprocity."))
        doc["friends"] = tomlkit.aot()
        return doc
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tomlkit's errors carry the line and column
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    if "friends" not in doc:
        doc["friends"] = tomlkit.aot()
    return doc


def write_document(path: Path, doc: Any) -> None:
    import tomlkit

    text = re.sub(r"(?<=[^\n])\n(\[\[friends\]\])", r"\n\n\1", tomlkit.dumps(doc))
    write_atomic(path, text.encode("utf-8"))


#: Where feeds usually live below their site: stripped to find the site.
_FEED_TAILS = re.compile(
    r"/(?:feed/?|atom\.xml|feed\.xml|index\.xml|rss\.xml|rss/?|feeds/posts/default)$", re.I
)


def blog_root(site: str) -> str:
    """One blog's place: its host and first folder (two feeds of it share this)."""
    parts = urlsplit(site)
    path = _FEED_TAILS.sub("/", parts.path or "/")
    folder = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
    return site_host(site) + "/" + folder.strip("/").split("/", 1)[0]


def duplicate_of(listed: Iterable[tuple[Friend, str]], feed: str, site: str) -> str | None:
    """Why a new feed is already on the list, or None. ``listed`` pairs each
    friend with their site as the build knows it (or empty)."""
    for friend, _known in listed:
        if normalise(friend.feed) == normalise(feed):
            return f"{friend.name} already has the feed {friend.feed}"
    here = blog_root(site or feed)
    for friend, known in listed:
        if blog_root(known or friend.url or friend.feed) == here:
            return (
                f"{friend.name} is already listed for that site ({known or friend.feed}), "
                f"with the feed {friend.feed}"
            )
    return None


def append(doc: Any, name: str, feed: str, url: str = "", tags: Iterable[str] = ()) -> None:
    import tomlkit

    entry = tomlkit.table()
    entry["name"] = name
    if url:
        entry["url"] = url
    entry["feed"] = feed
    tags = list(tags)
    if tags:
        entry["tags"] = tags
    doc["friends"].append(entry)


def remove(doc: Any, target: str) -> str | None:
    """Remove the friend named or addressed by ``target``; their name, or None."""
    table = doc["friends"]
    for index, entry in enumerate(table):
        keys = {str(entry.get("name", "")).casefold()}
        for field in ("feed", "url"):
            if entry.get(field):
                keys.add(normalise(str(entry[field])))
        if target.casefold() in keys or normalise(target) in keys:
            del table[index]
            return str(entry.get("name") or entry.get("feed"))
    return None


def move_feeds(doc: Any, moved: dict[str, str], base: Path) -> list[tuple[str, str]]:
    """Point every entry whose feed moved permanently at its new address."""
    fixed = []
    for entry in doc["friends"]:
        feed, _ = resolve_feed(str(entry.get("feed", "")), base)
        if feed in moved:
            entry["feed"] = moved[feed]
            fixed.append((feed, moved[feed]))
    return fixed
