"""Per-feed cache entries: one small JSON file per feed, written atomically.

One file per feed keeps a warm build from loading every feed it does not
need, and lets two builds share the folder: each write goes to a private
temporary file and is moved into place with ``os.replace``.

A feed that answered 304 changed only its times: those go to one small file
of stamps beside the entries (:data:`STAMPS`), which :meth:`FeedCache.load`
lays over the entry, instead of the whole entry being written again.

A warm build reads every entry. Parsing 100 JSON files into posts is most of
its own start-up, so the entries are also kept together in one pickled index
(:data:`INDEX`), as Pelican keeps its content cache: each with the (mtime,
size) of its file, so an entry is taken from the index only while its file
is unchanged. The JSON files stay the truth; a missing, damaged or outdated
index only costs the parse it saves. A fetch job split in two processes
writes two indexes (:data:`PART_INDEX`), which readers take together.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import pickle
import time
from dataclasses import field, fields, replace
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from . import __version__
from .files import collector_paused, read_pickle, write_atomic
from .files import stamp as file_stamp
from .model import Post, record

logger = logging.getLogger(__name__)

FORMAT = "pelican-reciprocity/feed-cache/2"
STAMPS = "stamps.json"
STAMPS_FORMAT = "pelican-reciprocity/stamps/1"
INDEX = "entries.pickle"
#: The index of the second process of a split fetch job (see ``job._halves``):
#: each process writes its own, so neither reads and rewrites the other's at
#: the end of a cold build. Readers take both; a whole index takes it in.
PART_INDEX = "entries-part.pickle"
PARTS = (INDEX, PART_INDEX)
INDEX_FORMAT = "pelican-reciprocity/entries/3"
#: Entries written before posts were stored as rows: still read as they are.
FORMAT_1 = "pelican-reciprocity/feed-cache/1"
#: A cached post's fields, in the order of each post's row. A warm build reads
#: every post of every friend, and a list per post parses in about half the
#: time of an object per post (whose keys are read again for each).
POST_FIELDS = (
    "title", "url", "date", "summary_html", "summary_text", "image", "tags", "friend",
    "dated", "source_html", "source_base", "key",
)  # fmt: skip


@record
class CacheEntry:
    """One feed's (or response source's) cached copy and the times that say when to ask again."""

    url: str
    checked_at: float = 0.0  # last time we asked (or tried to ask) the server
    fetched_at: float = 0.0  # last time we got a good copy (200 or 304)
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float = 0.0  # do not ask before this time (429/503)
    title: str = ""
    link: str | None = None
    posts: list[Post] = field(default_factory=list)
    first_seen: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # last failure, kept to repeat it on warm builds
    moved_to: str | None = None  # permanent redirect target, for `check`
    raw: bytes | None = None  # the body itself, for response sources (not feeds)
    next_page: str | None = None  # a paged API's next page (its Link: rel="next")

    @property
    def has_copy(self) -> bool:
        return self.fetched_at > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "url": self.url,
            "checked_at": self.checked_at,
            "fetched_at": self.fetched_at,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "retry_after": self.retry_after,
            "title": self.title,
            "link": self.link,
            "error": self.error,
            "moved_to": self.moved_to,
            "first_seen": dict(sorted(self.first_seen.items())),
            "post_fields": list(POST_FIELDS),
            "posts": [post_row(p) for p in self.posts],
            "raw": base64.b64encode(self.raw).decode("ascii") if self.raw is not None else None,
            "next_page": self.next_page,
        }

    @classmethod
    def from_json(cls, data: Any) -> CacheEntry:
        if not isinstance(data, dict) or data.get("format") not in (FORMAT, FORMAT_1):
            raise ValueError("not a pelican-reciprocity feed cache entry")
        posts = data.get("posts") or ()
        if data["format"] == FORMAT:
            fields = tuple(data["post_fields"])
            rows = (
                posts
                if fields == POST_FIELDS
                else [dict(zip(fields, r, strict=True)) for r in posts]
            )
            posts = [_post(*row) if isinstance(row, list) else post_from_json(row) for row in rows]
        else:
            posts = [post_from_json(p) for p in posts]
        return cls(
            url=str(data["url"]),
            checked_at=float(data.get("checked_at") or 0),
            fetched_at=float(data.get("fetched_at") or 0),
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            retry_after=float(data.get("retry_after") or 0),
            title=str(data.get("title") or ""),
            link=data.get("link"),
            error=data.get("error"),
            moved_to=data.get("moved_to"),
            first_seen={str(k): str(v) for k, v in (data.get("first_seen") or {}).items()},
            posts=posts,
            raw=base64.b64decode(data["raw"]) if data.get("raw") else None,
            next_page=data.get("next_page") if isinstance(data.get("next_page"), str) else None,
        )


def post_row(post: Post) -> list[Any]:
    """A post's cached fields, in the order of :data:`POST_FIELDS`, as JSON
    values. The normalised key is stored too: recomputing it for every post
    of every friend on each warm build costs more than reading it."""
    return [
        post.title,
        post.url,
        post.date.isoformat() if post.date else None,
        post.summary_html,
        post.summary_text,
        post.image,
        list(post.tags),
        post.friend,
        post.dated,
        post.source_html,
        post.source_base,
        post.key,
    ]


def post_to_json(post: Post) -> dict[str, Any]:
    return dict(zip(POST_FIELDS, post_row(post), strict=True))


def post_from_json(data: dict[str, Any]) -> Post:
    get = data.get
    return _post(data["title"], data["url"], *(get(name) for name in POST_FIELDS[2:]))


def _post(
    title: Any,
    url: Any,
    date: Any,
    summary_html: Any,
    summary_text: Any,
    image: Any,
    tags: Any,
    friend: Any,
    dated: Any,
    source_html: Any,
    source_base: Any,
    key: Any,
) -> Post:
    """A post from its cached fields, in the order of :data:`POST_FIELDS`."""
    fields = {
        "title": str(title),
        "url": str(url),
        "date": datetime.fromisoformat(date) if date else None,
        "summary_html": str(summary_html or ""),
        "summary_text": str(summary_text or ""),
        "image": image or None,
        "tags": tuple(str(t) for t in tags) if tags else (),
        "friend": str(friend or ""),
        "dated": True if dated is None else bool(dated),
        "source_html": str(source_html or ""),
        "source_base": source_base or None,
    }
    # A frozen dataclass sets each field through object.__setattr__; a warm
    # build of 1,000 friends reads 20,000 posts, so fill the instance at once.
    post = object.__new__(Post)
    post.__dict__.update(fields)
    if isinstance(key, str):  # seed the cached property
        post.__dict__["key"] = key
    return post


#: Entries already read in this process, by path, with the file's (mtime,
#: size) when read: a `pelican --autoreload` rebuild takes an unchanged
#: entry from here instead of parsing its JSON again.
_READ: dict[Path, tuple[tuple[int, int], CacheEntry]] = {}
#: The entries of each folder's index as last read, by path, and the index
#: files' own (mtime, size) then.
_INDEXED: dict[Path, tuple[Any, dict[Path, tuple[tuple[int, int], CacheEntry]]]] = {}
#: Folders whose index is behind their files: an entry was parsed or written.
_BEHIND: set[Path] = set()
#: An entry that no build has asked its server about for this long, and that
#: this process has not read, is left out of the index: a friend removed, a
#: feed that moved. Every warm build reads the whole index, so feeds no one
#: follows any more would cost every build after. Its file stays, and is
#: read if it is wanted again.
UNUSED_AFTER = 30 * 86400


def _index_header() -> tuple[Any, ...]:
    """What an index must have been written by: pickled records are only
    as good as the classes they are loaded into."""
    return (
        INDEX_FORMAT,
        __version__,
        tuple(f.name for f in fields(CacheEntry)),
        tuple(f.name for f in fields(Post)),
        POST_FIELDS,
    )


_values = attrgetter(*POST_FIELDS)


def _row(post: Post) -> dict[str, Any]:
    """A post's row in the index: its fields and key, by name. Unpickled, the
    row becomes the post's own ``__dict__`` (:func:`_from_rows`); written,
    it is that ``__dict__`` when it holds just those, as a post with its key
    computed does (no copy of 20,000 posts while the fetch job writes)."""
    state = post.__dict__
    if len(state) == len(POST_FIELDS) and "key" in state:  # every field is always set
        return state
    return dict(zip(POST_FIELDS, _values(post), strict=True))


def _from_rows(rows: list[dict[str, Any]]) -> list[Post]:
    """Posts from the index's rows, each row taken as the post's own
    ``__dict__``: pickle remakes an object about half as fast as its row,
    and filling each post from a tuple took five times as long as this
    (3.2 against 0.6 ms for the 2,000 posts of 100 friends, which a warm
    build reads every time). A row that is not one post's fields is an
    index written wrongly: ValueError, and the entries' files are read."""
    new, attach, count, posts = object.__new__, object.__setattr__, len(POST_FIELDS), []
    for row in rows:
        if type(row) is not dict or len(row) != count:
            raise ValueError("a post's row in the index is not its fields")
        post = new(Post)
        attach(post, "__dict__", row)  # a frozen post's own __setattr__ refuses
        posts.append(post)
    return posts


#: What :func:`files.stamp` says of a file that is not there.
_MISSING = (-1, -1)


def _index_stamps(folder: Path) -> tuple[tuple[int, int], ...]:
    return tuple(file_stamp(folder / name) for name in PARTS)


def _copy(entry: CacheEntry) -> CacheEntry:
    """``copy.copy``, without its trip through ``__reduce_ex__``."""
    copied = object.__new__(CacheEntry)
    copied.__dict__.update(entry.__dict__)
    return copied


@functools.lru_cache(maxsize=8192)
def _entry_path(folder: Path, url: str) -> Path:
    """Kept: a build asks for each friend's entry when it reads the cache
    and again for the friends page's key (5 µs each, a digest and a path)."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
    return folder / f"{digest}.json"


def _stamp_of(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_mtime_ns, stat.st_size)


class FeedCache:
    """The folder of cache entries. Never raises on a bad entry."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / "feeds"
        self._index: dict[Path, tuple[tuple[int, int], CacheEntry]] | None = None  # as first read
        self._stamps: dict[str, tuple[float, float]] | None = None  # read once, lazily
        self._new_stamps: dict[str, tuple[float, float]] = {}  # not yet written
        self._saved: set[str] = set()  # written whole since: their stamps are stale
        self._damaged = False  # the stamps file could not be read: rewrite it
        self._written: set[Path] = set()  # entries this instance saved

    def path_for(self, url: str) -> Path:
        return _entry_path(self.folder, url)

    def load(self, url: str) -> CacheEntry | None:
        entry = self._load(url)
        if entry is not None:
            checked, fetched = self._read_stamps().get(url, (0.0, 0.0))
            if checked > entry.checked_at:  # revalidated since the entry was written
                entry.checked_at, entry.fetched_at = checked, max(fetched, entry.fetched_at)
        return entry

    def _load(self, url: str) -> CacheEntry | None:
        path = self.path_for(url)
        try:
            stamp = _stamp_of(path.stat())
            held = _READ.get(path)
            if held is None or held[0] != stamp:
                held = self._indexed().get(path)
            if held is not None and held[0] == stamp and held[1].url == url:
                _READ[path] = held
                return _copy(held[1])  # a shallow copy: the caller may update it
            raw = path.read_bytes()
        except FileNotFoundError:
            _READ.pop(path, None)
            return None
        except OSError as exc:
            logger.warning("reciprocity: cannot read cache entry %s (%s); refetching", path, exc)
            return None
        try:
            entry = CacheEntry.from_json(json.loads(raw))
            if entry.url != url:
                raise ValueError(f"entry is for {entry.url}")
        except Exception as exc:  # any damage to a rebuildable entry: drop it
            logger.warning(
                "reciprocity: dropping corrupt cache entry %s for %s (%s); it will be rebuilt",
                path, url, exc,
            )  # fmt: skip
            self._discard(path)
            return None
        _READ[path] = (stamp, entry)
        _BEHIND.add(self.root)
        return _copy(entry)

    def _indexed(self) -> dict[Path, tuple[tuple[int, int], CacheEntry]]:
        """The index's entries (read again only when the file has changed),
        looked at once per instance: each entry is still checked against its
        own file, so an index rewritten meanwhile only costs parses."""
        if self._index is None:
            self._index = self._read_index()
        return self._index

    def _read_index(self) -> dict[Path, tuple[tuple[int, int], CacheEntry]]:
        stamps = _index_stamps(self.folder)
        if all(stamp == _MISSING for stamp in stamps):
            return {}
        known = _INDEXED.get(self.root)
        if known is not None and known[0] == stamps:
            return known[1]
        entries: dict[Path, tuple[tuple[int, int], CacheEntry]] = {}
        with collector_paused():
            for name, (entry_stamp, entry, rows) in self._stored().items():
                try:
                    entry.posts = _from_rows(rows)
                except (TypeError, ValueError) as exc:  # its file is read instead
                    logger.debug("reciprocity: ignoring the index's copy of %s (%s)", name, exc)
                    _BEHIND.add(self.root)
                    continue
                entries[self.folder / name] = (entry_stamp, entry)
        _INDEXED[self.root] = (stamps, entries)
        return entries

    def _stored(
        self, names: tuple[str, ...] = PARTS
    ) -> dict[str, tuple[tuple[int, int], CacheEntry, list[tuple[Any, ...]]]]:
        """The index files as stored, taken together: each entry (without
        posts) with its file's stamp and its posts' rows; of an entry in
        both, the one written last."""
        stored = self._stored_in(names[0])
        for name in names[1:]:
            for key, held in self._stored_in(name).items():
                if key not in stored or held[0] > stored[key][0]:
                    stored[key] = held
        return stored

    def _stored_in(
        self, name: str
    ) -> dict[str, tuple[tuple[int, int], CacheEntry, list[tuple[Any, ...]]]]:
        """One index file as stored. Empty when there is none, or when it is
        damaged or another version's (the entries' files are read instead)."""
        path = self.folder / name
        try:
            header, stored = read_pickle(path)
            if header != _index_header():
                raise ValueError("written by another version")
            for name, (entry_stamp, entry, rows) in stored.items():
                if not isinstance(entry, CacheEntry):
                    raise ValueError(f"not a cache entry: {name}")
                stored[name] = (tuple(entry_stamp), entry, rows)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # rebuildable: the entries are read from their files
            logger.debug("reciprocity: ignoring the cache index %s (%s)", path, exc)
            _BEHIND.add(self.root)
            return {}
        return stored

    def _write_index(self, own: str | None = None) -> None:
        """Index every entry this process holds, and every one the index
        already held, whose file is as it was when read or written (another
        build may have written it since), then drop the part index it takes
        in. An index this instance never looked at (a fetch job's) is
        carried over as stored, without making its posts.

        ``own``: one process of a split fetch job, writing only its own
        index (:data:`INDEX` or :data:`PART_INDEX`), with the entries it
        saved and those its own file already held."""
        folder = self.folder
        known = _INDEXED.get(self.root)
        if own is None and self._index is None and known and known[0] == _index_stamps(folder):
            self._index = known[1]  # this process has read it already
        read = own is None and self._index is not None
        entries = {}
        if not read:
            for name, (stamp, entry, rows) in self._stored((own,) if own else PARTS).items():
                if file_stamp(folder / name) == stamp:
                    entries[name] = (stamp, entry, rows)
        if own is None:
            held = [*(self._index or {}).items(), *_READ.items()]
        else:  # not what a forked process found in the build's memory
            held = [(path, _READ[path]) for path in self._written if path in _READ]
        for path, (stamp, entry) in held:
            if path.parent == folder and file_stamp(path) == stamp:  # unchanged since
                entries[path.name] = (stamp, entry, None)
        entries = self._in_use(entries)
        stored = {
            name: (stamp, replace(entry, posts=[]), [_row(p) for p in entry.posts])
            if rows is None
            else (stamp, entry, rows)
            for name, (stamp, entry, rows) in entries.items()
        }

        def dump(out: Any) -> None:  # streamed: 20,000 posts are tens of megabytes
            pickle.dump((_index_header(), stored), out, protocol=pickle.HIGHEST_PROTOCOL)

        target = folder / (own or INDEX)
        try:
            written = write_atomic(target, dump, durable=False)
            if own is None:  # taken in (one left behind is only read again)
                with contextlib.suppress(OSError):
                    os.unlink(folder / PART_INDEX)
        except OSError as exc:
            logger.warning("reciprocity: cannot write %s (%s)", target, exc)
            return
        _BEHIND.discard(self.root)
        if read:  # else this process holds only some of the posts: the next look reads the file
            self._index = {folder / name: (stamp, e) for name, (stamp, e, _) in entries.items()}
            stamps = (_stamp_of(written),) + (_MISSING,) * (len(PARTS) - 1)  # the rest taken in
            _INDEXED[self.root] = (stamps, self._index)

    def _in_use(
        self, entries: dict[str, tuple[tuple[int, int], CacheEntry, Any]]
    ) -> dict[str, tuple[tuple[int, int], CacheEntry, Any]]:
        """The entries still worth indexing (see :data:`UNUSED_AFTER`)."""
        since = time.time() - UNUSED_AFTER
        stamps = self._read_stamps()
        return {
            name: held
            for name, held in entries.items()
            if held[1].checked_at >= since
            or stamps.get(held[1].url, (0.0, 0.0))[0] >= since
            or _READ.get(self.folder / name, (None,))[0] == held[0]
        }

    def save(self, entry: CacheEntry) -> None:
        path = self.path_for(entry.url)
        # Compact: an entry is rebuilt, never edited, and a warm build reads them all.
        data = json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))
        try:
            # No fsync: a cache entry lost to a power cut is simply refetched,
            # and 1,000 fsyncs would cost seconds on a cold build.
            written = write_atomic(path, data.encode("utf-8"), durable=False)
            _READ[path] = (_stamp_of(written), _copy(entry))
            _BEHIND.add(self.root)
            self._written.add(path)
        except OSError as exc:
            _READ.pop(path, None)
            logger.warning("reciprocity: cannot write cache entry %s (%s)", path, exc)
        self._new_stamps.pop(entry.url, None)
        self._saved.add(entry.url)

    def stamp(self, entry: CacheEntry) -> None:
        """Keep only the entry's new times (a 304 changed nothing else); they
        are written by :meth:`flush`, all in one file."""
        self._new_stamps[entry.url] = (entry.checked_at, entry.fetched_at)
        self._saved.discard(entry.url)

    def flush(self, *, own: str | None = None) -> None:
        """Write the stamps kept since the last flush, merged with the file
        as it is now (another build may share the folder), and the index if
        it is behind (``own``: see :meth:`_write_index`). Losing either to a
        crash costs only a revalidation or a parse."""
        if self._new_stamps or self._saved:
            self._flush_stamps()
        if self.root in _BEHIND:
            self._write_index(own)

    def _flush_stamps(self) -> None:
        on_disk = self._read_stamps(again=True)
        stale = self._saved & on_disk.keys()
        stamps = {url: pair for url, pair in on_disk.items() if url not in stale}
        for url, pair in self._new_stamps.items():
            if pair[0] > stamps.get(url, (0.0, 0.0))[0]:
                stamps[url] = pair
        if stamps != on_disk or stale or self._damaged:  # else the file says it all
            data = {
                "format": STAMPS_FORMAT,
                "stamps": {u: list(p) for u, p in sorted(stamps.items())},
            }
            try:
                write_atomic(
                    self.folder / STAMPS,
                    json.dumps(data, separators=(",", ":")).encode("utf-8"),
                    durable=False,
                )
            except OSError as exc:
                logger.warning("reciprocity: cannot write %s (%s)", self.folder / STAMPS, exc)
        self._stamps, self._new_stamps, self._saved, self._damaged = stamps, {}, set(), False

    def _read_stamps(self, *, again: bool = False) -> dict[str, tuple[float, float]]:
        """The stamps file; a damaged one counts as empty (its feeds are
        simply revalidated again)."""
        if self._stamps is not None and not again:
            return self._stamps
        path = self.folder / STAMPS
        stamps: dict[str, tuple[float, float]] = {}
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != STAMPS_FORMAT:
                raise ValueError("not a pelican-reciprocity stamps file")
            for url, (checked, fetched) in data["stamps"].items():
                stamps[str(url)] = (float(checked), float(fetched))
        except FileNotFoundError:
            pass
        except Exception as exc:  # rebuildable, like an entry
            logger.warning("reciprocity: ignoring damaged %s (%s); it will be rewritten", path, exc)
            stamps, self._damaged = {}, True
        self._stamps = stamps
        return stamps

    def _discard(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
