"""The blogger's own articles as the ledger sees them: what each one gave.

Most rebuilds change nothing the ledger records. So the ledger is checked
against what each article's facts are made of, which is cheap to read, and
the facts themselves are made only when that changed: Pelican's URL of each
article (its ``url_format`` made anew on every access, about half of the
facts' cost) and its links out.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import string
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pelican.contents import Content

from . import render
from .files import write_atomic
from .model import ArticleFacts
from .urls import on_site

#: How Pelican makes a content's URL: from its ``*_URL`` setting, formatted
#: with the values of ``url_format``. A class that makes it another way
#: (a plugin's) has its URL read itself.
_PELICANS = (Content.url, Content.url_format, Content.get_url_setting)


def ledger_articles(
    articles: list[Any], person_keys: Mapping[str, str], cache_path: Path, siteurl: str
) -> tuple[list[Any], Callable[[], list[ArticleFacts]]]:
    """What the articles' facts are made of, as plain values, and a function
    that makes the facts (Pelican's URLs and each text's links out).

    The values cover every input of the facts: each article's key, date and
    highlights, its text's length and CRC-32, and what Pelican forms its URL
    from (its class and status, its own ``url``, and the value of each field
    the ``*_URL`` settings name)."""
    links = LinkScan(cache_path, siteurl)
    patterns = _Patterns()
    given: dict[int, tuple[tuple[str, str], ...]] = {}  # most articles share picks
    made_from: list[Any] = [siteurl]
    pending = []
    for article in articles:
        data = getattr(article, "reciprocity", None)
        curated = automatic = ()
        if isinstance(data, render.ArticleReciprocity):
            curated = _given(data.curated, person_keys, given)
            automatic = _given(data.automatic, person_keys, given)
        translated = getattr(article, "in_default_lang", True) is False
        key = str(article.slug) + (f"@{article.lang}" if translated else "")
        date = getattr(article, "date", None)
        text = _text(article).encode("utf-8", "surrogatepass")
        mark = (len(text), zlib.crc32(text))  # what it says changes with the text
        made_from.append((key, _when(date), curated, automatic, mark, patterns.url_inputs(article)))
        pending.append((article, key, date, curated, automatic))
    made_from.append(patterns.seen)

    def facts() -> list[ArticleFacts]:
        made = []
        for article, key, date, curated, automatic in pending:
            url = str(article.url)
            made.append(
                ArticleFacts(
                    key=key,
                    url=on_site(siteurl, url) if siteurl else url,
                    date=date,
                    curated=curated,
                    automatic=automatic,
                    links=links.of(article),
                )
            )
        links.save()
        return made

    return made_from, facts


def _when(date: Any) -> Any:
    """A date as plain values that stand for it exactly, quicker to write
    out than its ``repr`` (which writes out its time zone, about 2 µs)."""
    if not isinstance(date, datetime):
        return date
    time = (date.hour, date.minute, date.second, date.microsecond, date.fold)
    try:
        zone = _zone(date.tzinfo)
    except TypeError:  # a time zone that cannot be hashed
        zone = repr(date.tzinfo)
    return (date.toordinal(), *time, zone)


@functools.lru_cache(maxsize=64)
def _zone(tzinfo: Any) -> str:
    return repr(tzinfo)


def _given(
    views: Any, person_keys: Mapping[str, str], known: dict[int, Any]
) -> tuple[tuple[str, str], ...]:
    """(person, post) of each highlight; ``known`` by the list's identity:
    articles that share their picks share the list (:func:`pages.article_data`),
    and every article holds its own until the build ends."""
    found = known.get(id(views))
    if found is None:
        found = known[id(views)] = tuple(
            (person_keys.get(v.friend.key, ""), str(v.url)) for v in views if v.friend
        )
    return found


def _text(article: Any) -> str:
    raw = getattr(article, "_content", None)
    return raw if isinstance(raw, str) else str(getattr(article, "content", "") or "")


class _Patterns:
    """The ``*_URL`` settings of each settings mapping the articles carry
    (i18n_subsites gives each language its own), read once, and the fields
    they name."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[Any, int, frozenset[str] | None]] = {}
        #: Each settings mapping's patterns, in the order first met.
        self.seen: list[tuple[tuple[str, str], ...]] = []

    def url_inputs(self, article: Any) -> Any:
        """What Pelican makes this article's URL from; its URL itself when
        that cannot be told (another class's way, a pattern ``format``
        cannot read)."""
        kind = type(article)
        if not _pelicans(kind):
            return str(article.url)
        settings = getattr(article, "settings", None) or {}
        held = self._held.get(id(settings))
        if held is None or held[0] is not settings:
            found = tuple(
                sorted((k, v) for k, v in settings.items() if k.endswith("_URL") and type(v) is str)
            )
            held = (settings, len(self.seen), _fields(found))
            self._held[id(settings)] = held
            self.seen.append(found)
        _, which, names = held
        if names is None:
            return str(article.url)
        metadata = getattr(article, "metadata", None) or {}
        values = [
            which,
            kind.__name__,
            getattr(article, "status", None),
            getattr(article, "override_url", None),
            getattr(article, "lang", None),
        ]
        for name in names:
            if name == "path":  # Pelican's default: the source's path under PATH
                values += [metadata.get("path"), getattr(article, "source_path", None)]
            elif name in ("author", "category"):
                values.append(getattr(getattr(article, name, None), "slug", None))
            elif name not in ("slug", "lang", "date"):  # those are in the article's key and date
                values.append(metadata.get(name))
        return tuple(values)


@functools.lru_cache(maxsize=16)
def _pelicans(kind: type) -> bool:
    """Does this class make its URL Pelican's way (see :data:`_PELICANS`)?"""
    ours = (kind.url, kind.url_format, kind.get_url_setting) == _PELICANS
    return ours and getattr(kind._expand_settings, "__module__", "") == Content.__module__


def _fields(patterns: tuple[tuple[str, str], ...]) -> frozenset[str] | None:
    """The fields the patterns name (``date`` of ``{date:%Y}``), or None when
    one cannot be read as a format string."""
    names: set[str] = set()
    todo = [pattern for _, pattern in patterns]
    try:
        while todo:
            for _, name, spec, _ in string.Formatter().parse(todo.pop()):
                if name is not None:
                    names.add(name.split(".", 1)[0].split("[", 1)[0])
                if spec:
                    todo.append(spec)  # a field inside a format spec: {date:{fmt}}
    except ValueError:
        return None
    return frozenset(sorted(names))


class LinkScan:
    """Each article's links out, scanned again only when its text changed:
    the scans are kept by a digest of the text in one file of the cache, so
    a rebuild of 10,000 unchanged articles reads one file instead."""

    def __init__(self, cache_path: Path, siteurl: str) -> None:
        self.path = Path(cache_path) / "links.json"
        self.siteurl = siteurl
        self.seen: dict[str, list[str]] = {}
        self._known: dict[str, list[str]] | None = None

    @property
    def known(self) -> dict[str, list[str]]:
        """The scans kept by the last build that made facts (read when first needed)."""
        if self._known is None:
            self._known = {}
            try:
                data = json.loads(self.path.read_bytes())
                if isinstance(data, dict) and data.get("siteurl") == self.siteurl:
                    links = data.get("links", {})
                    self._known = {k: v for k, v in links.items() if isinstance(v, list)}
            except (OSError, ValueError, RecursionError, AttributeError):
                pass  # no scans yet, or a damaged file: scan everything again
        return self._known

    def of(self, article: Any) -> tuple[str, ...]:
        digest = hashlib.sha1(_text(article).encode("utf-8", "surrogatepass")).hexdigest()
        found = self.known.get(digest)
        if found is None:
            from .ledger import outbound_links  # only for an article whose text is new

            found = outbound_links(getattr(article, "content", ""), self.siteurl)
        self.seen[digest] = found
        return tuple(found)

    def save(self) -> None:
        if self.seen == self.known:
            return
        data = {"siteurl": self.siteurl, "links": dict(sorted(self.seen.items()))}
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode(), durable=False)
