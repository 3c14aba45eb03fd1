"""The friends list: TOML, OPML or an inline list in pelicanconf.py.

Loading is lenient per entry: a bad entry is reported with the file and the
entry and skipped, while the rest of the list still builds.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import markdown

from .files import LastMade
from .model import Friend, FriendsList
from .settings import ConfigError
from .urls import is_web_url, normalise, site_of

ALLOWED_KEYS = {"name", "url", "feed", "tags", "note", "aliases", "private"}


def load_friends(spec: str | Iterable[Mapping[str, Any]], base_dir: Path) -> FriendsList:
    """Read the friends list from a path or inline entries.

    Raises ConfigError only for a list that cannot be read at all (missing
    file, TOML syntax error); single bad entries become ``problems``.

    A rebuild in the same process (``pelican --autoreload``) from the same
    entries, or the same unchanged file, is given the list it read last.
    """
    if not isinstance(spec, str):
        entries = list(spec)
        return _LAST.get(
            ("inline", base_dir, repr(entries)),  # as written out now: the entries may change
            lambda: from_entries(entries, source="RECIPROCITY_FRIENDS", base_dir=base_dir),
        )
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(
            f"RECIPROCITY_FRIENDS: friends file {path} does not exist "
            "(create it, or point the setting at your TOML or OPML file)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"RECIPROCITY_FRIENDS: cannot read {path} ({exc})") from None
    return _LAST.get(("file", path, data), lambda: _read_file(path, data))


#: The list last read in this process, with what it was read from.
_LAST = LastMade()


def _read_file(path: Path, data: bytes) -> FriendsList:
    if path.suffix.lower() in {".opml", ".xml"}:
        outlines, skipped = read_opml(data)
        result = from_entries(outlines, source=str(path), base_dir=path.parent)
        skipped_problems = tuple(f"{path}: {reason}" for reason in skipped)
        return replace(result, problems=skipped_problems + result.problems)
    import tomllib  # only a TOML list needs it (about 4 ms of every build that imports it)

    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text
        table = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    entries = table.get("friends", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'friends' must be an array of [[friends]] tables")
    return from_entries(entries, source=str(path), base_dir=path.parent)


def from_entries(entries: list[Any], *, source: str, base_dir: Path) -> FriendsList:
    friends: list[Friend] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries, 1):
        label = f"{source}: friend #{index}"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']!r})"
        friend, problem = make_friend(entry, base_dir)
        if problem:
            problems.append(f"{label}: {problem}; skipped")
            continue
        assert friend is not None
        duplicate_of = seen.get(friend.key) or (
            seen.get("site:" + normalise(friend.url)) if friend.url else None
        )
        if duplicate_of:
            problems.append(f"{label}: same feed or site as {duplicate_of!r}; skipped")
            continue
        seen[friend.key] = friend.name
        if friend.url:
            seen["site:" + normalise(friend.url)] = friend.name
        friends.append(friend)
    return FriendsList(tuple(friends), tuple(problems), source)


def make_friend(entry: Any, base_dir: Path) -> tuple[Friend | None, str | None]:
    """Validate one entry; return the Friend or the reason it was rejected."""
    if not isinstance(entry, Mapping):
        return None, "must be a table with at least 'feed'"
    unknown = sorted(set(entry) - ALLOWED_KEYS)
    if unknown:
        return (
            None,
            f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(ALLOWED_KEYS))})",
        )
    raw_feed = entry.get("feed")
    if not isinstance(raw_feed, str) or not raw_feed.strip():
        return None, "has no 'feed'"
    feed, problem = resolve_feed(raw_feed.strip(), base_dir)
    if problem:
        return None, problem
    url = entry.get("url") or ""
    if url and (not isinstance(url, str) or not is_web_url(url)):
        return None, f"'url' must be an http(s) address, got {url!r}"
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        return None, "'name' must be non-empty text"
    if not name:
        name = urlsplit(url or feed).hostname or Path(urlsplit(feed).path).stem
    tags = _strings(entry.get("tags", []))
    aliases = _strings(entry.get("aliases", []))
    if tags is None:
        return None, "'tags' must be a list of strings"
    if aliases is None:
        return None, "'aliases' must be a list of strings"
    note = entry.get("note") or ""
    if not isinstance(note, str):
        return None, "'note' must be text"
    private = entry.get("private", False)
    if not isinstance(private, bool):
        return None, f"'private' must be true or false, got {private!r}"
    note_html = ""
    if note:
        from .sanitize import clean_html  # the sanitiser loads only for what it cleans

        note_html = clean_html(markdown.markdown(note), rel="noopener", keep_relative=True)
    return (
        Friend(
            name=name.strip(),
            feed=feed,
            url=url,
            tags=tuple(tags),
            note=note,
            note_html=note_html,
            aliases=tuple(aliases),
            private=private,
        ),
        None,
    )


def response_sources(sources: Iterable[str], base_dir: Path) -> tuple[tuple[str, ...], list[str]]:
    """RECIPROCITY_RESPONSE_SOURCES as addresses to read, and why any cannot be."""
    urls, problems = [], []
    for source in sources:
        url, problem = resolve_feed(source, base_dir)
        if problem:
            problems.append(problem)
        else:
            urls.append(url)
    return tuple(urls), problems


def resolve_feed(feed: str, base_dir: Path) -> tuple[str, str | None]:
    try:
        scheme = urlsplit(feed).scheme.lower()
    except ValueError as exc:  # "http://[::1": an unclosed bracket
        return feed, f"feed {feed!r} is not a valid address ({exc})"
    if scheme in {"http", "https"}:
        if not is_web_url(feed):
            return feed, f"feed {feed!r} is not a valid address"
        return feed, None
    if scheme == "file":
        return feed, None
    if scheme and len(scheme) > 1:  # not a Windows drive letter
        return (
            feed,
            f"feed {feed!r} uses {scheme}:, only http, https and file are allowed",
        )
    path = Path(feed).expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    return path.as_uri(), None


def friend_site(friend: Friend, feed_link: str | None) -> str:
    """The friend's home page: as given, else the feed's own link, else its origin."""
    if friend.url:
        return friend.url
    if feed_link and is_web_url(feed_link):
        return feed_link
    return site_of(friend.feed) if is_web_url(friend.feed) else ""


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value if v.strip()]


# -- OPML -----------------------------------------------------------------------

# Patterns as text, compiled (and then kept by ``re``) when an OPML file
# needs them: compiling them cost every build's import about 0.7 ms.
_OUTLINE_START = r"(?i)<outline\b"
#: One tag's attributes, up to its ``>``; possessive, so it never backtracks.
_TAG_BODY = r"(?s)((?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+)/?>"
_ATTR = r"(?s)([\w:.-]+)\s*=\s*(\"([^\"]*)\"|'([^']*)')"


def _lenient_outlines(text: str) -> list[dict[str, str]]:
    """Every ``<outline>``'s attributes from text that is not well-formed XML.

    Linear in the size of the text: each tag is read only up to the next
    ``<outline`` (a quote left open cannot make one tag swallow the rest),
    and the patterns cannot backtrack.
    """
    starts = [m.end() for m in re.finditer(_OUTLINE_START, text)]
    found = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        chunk = text[start:end]
        tag = re.match(_TAG_BODY, chunk)
        body = tag.group(1) if tag else chunk.split(">", 1)[0]
        found.append(
            {m.group(1): html.unescape(m.group(3) if m.group(3) is not None else m.group(4))
             for m in re.finditer(_ATTR, body)}
        )  # fmt: skip
    return found


def read_opml(data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """Friends entries from an OPML subscription list, and what was skipped.

    Real exports are often not well-formed XML (raw ``&``, HTML inside
    attributes), so fall back to scanning ``<outline>`` tags one by one.
    """
    try:
        root = ET.fromstring(data)
        attrs = [dict(el.attrib) for el in root.iter("outline")]
    except ET.ParseError:
        attrs = _lenient_outlines(data.decode("utf-8", errors="replace"))
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for index, attr in enumerate(attrs, 1):
        lowered = {k.lower(): (v or "").strip() for k, v in attr.items()}
        feed = lowered.get("xmlurl", "")
        name = lowered.get("title") or lowered.get("text") or ""
        if not feed:
            if lowered.get("type", "rss") == "rss" and (name and "htmlurl" in lowered):
                skipped.append(f"outline #{index} ({name!r}) has no xmlUrl; skipped")
            continue  # a folder outline
        entry: dict[str, Any] = {"feed": feed}
        if name:
            entry["name"] = name
        site = lowered.get("htmlurl", "")
        if is_web_url(site):
            entry["url"] = site
        entries.append(entry)
    return entries, skipped
