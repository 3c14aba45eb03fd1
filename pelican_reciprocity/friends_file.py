"""Edit the owner's friends.toml in place, keeping their comments and layout.

Every change is made through tomlkit and written atomically; the file's mode
is kept.
"""

from __future__ import annotations

import json
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


class Listed:
    """The friends already listed, indexed by feed and by blog, so checking
    50,000 imported outlines against them is linear, not quadratic."""

    def __init__(self, listed: Iterable[tuple[Friend, str]] = ()) -> None:
        self.feeds: dict[str, Friend] = {}
        self.roots: dict[str, tuple[Friend, str]] = {}
        for friend, known in listed:
            self.add(friend, known)

    def add(self, friend: Friend, known: str = "") -> None:
        """``known`` is the friend's site as the build knows it (or empty)."""
        self.feeds.setdefault(normalise(friend.feed), friend)
        self.roots.setdefault(blog_root(known or friend.url or friend.feed), (friend, known))

    def duplicate_of(self, feed: str, site: str) -> str | None:
        """Why a new feed is already on the list, or None."""
        friend = self.feeds.get(normalise(feed))
        if friend is not None:
            return f"{friend.name} already has the feed {friend.feed}"
        found = self.roots.get(blog_root(site or feed))
        if found is not None:
            friend, known = found
            return (
                f"{friend.name} is already listed for that site ({known or friend.feed}), "
                f"with the feed {friend.feed}"
            )
        return None


def entry(
    name: str, feed: str, url: str = "", tags: Iterable[str] = (), aliases: Iterable[str] = ()
) -> dict[str, Any]:
    """One friend, as the keys of its ``[[friends]]`` table, in file order."""
    table: dict[str, Any] = {"name": name}
    if url:
        table["url"] = url
    table["feed"] = feed
    if tags := list(tags):
        table["tags"] = tags
    if aliases := list(aliases):
        table["aliases"] = aliases
    return table


def append(
    doc: Any,
    name: str,
    feed: str,
    url: str = "",
    tags: Iterable[str] = (),
    aliases: Iterable[str] = (),
) -> None:
    import tomlkit

    table = tomlkit.table()
    table.update(entry(name, feed, url, tags, aliases))
    doc["friends"].append(table)


def _toml(value: Any) -> str:
    """A TOML basic string (or array of them): JSON's escapes are TOML's, and
    DEL, which JSON leaves bare, is escaped too."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


_AOT = re.compile(r"^[ \t]*\[\[[ \t]*friends[ \t]*\]\]", re.M)


def append_many(path: Path, entries: list[dict[str, Any]]) -> None:
    """Add many ``[[friends]]`` at the end of the file as text: reading and
    writing 50,000 tables through tomlkit would take a minute. The owner's
    part of the file is kept byte for byte."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if not _AOT.search(text):  # a new file, or friends written another way
        doc = read_document(path)
        for table in entries:
            append(doc, **table)
        write_document(path, doc)
        return
    blocks = [
        "[[friends]]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in table.items())
        for table in entries
    ]
    text = text.rstrip("\n") + "\n\n" + "\n".join(blocks)
    write_atomic(path, text.encode("utf-8"))


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
