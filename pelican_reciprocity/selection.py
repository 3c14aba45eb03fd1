"""Which posts to highlight: pure functions over Posts and Friends.

No I/O and no clock: the caller passes ``as_of``, so the same inputs always
choose the same posts in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from .model import Post, newest_first, record
from .urls import is_web_url, normalise

_SPLIT = re.compile(r"[\s,]+")


@record(frozen=True)
class Highlight:
    """A post chosen for an article, and how it was chosen."""

    post: Post
    curated: bool
    found: bool = True  # False: a curated URL no friend's feed carries


def parse_highlights(value: object) -> tuple[list[str], list[str]]:
    """Split ``Highlights:`` metadata (commas or newlines) into URLs.

    Returns the http(s) URLs and the pieces that were not URLs.
    """
    if value is None:
        return [], []
    if isinstance(value, list | tuple):
        value = "\n".join(str(v) for v in value)
    urls: list[str] = []
    bad: list[str] = []
    for piece in _SPLIT.split(str(value)):
        piece = piece.strip().strip("<>")
        if not piece:
            continue
        (urls if is_web_url(piece) else bad).append(piece)
    return urls, bad


def is_off(value: object) -> bool:
    """``Reciprocity: off`` (or no/false/0) in metadata turns the sections off."""
    return str(value).strip().lower() in {"off", "no", "false", "0", "none"}


class PostIndex:
    """Look up posts by URL, with or without the fragment."""

    def __init__(self, posts: Iterable[Post]) -> None:
        self.exact: dict[str, Post] = {}
        self.loose: dict[str, Post] = {}
        for post in posts:
            self.exact.setdefault(post.key, post)
            self.loose.setdefault(post.loose_key, post)

    def find(self, url: str) -> Post | None:
        return self.exact.get(normalise(url, keep_fragment=True)) or self.loose.get(normalise(url))


def curated(urls: Iterable[str], index: PostIndex) -> list[Highlight]:
    """Resolve curated URLs against the feeds; unknown ones stay plain links."""
    picked: list[Highlight] = []
    seen: set[str] = set()
    for url in urls:
        post = index.find(url)
        if post is None:
            post = Post(title=url, url=url, date=None)
            found = False
        else:
            found = True
        if post.key in seen:
            continue
        seen.add(post.key)
        picked.append(Highlight(post, curated=True, found=found))
    return picked


class Ranking:
    """Every candidate post, ordered once per build.

    Articles differ only in what they exclude and (optionally) their tags, so
    each article's pick is a short scan of this order instead of a sort of
    every friend's posts: that keeps a 10,000-article site cheap.
    """

    def __init__(self, posts: Iterable[Post], *, as_of: datetime, max_age_days: float) -> None:
        posts = list(posts)
        cutoff = as_of - timedelta(days=max_age_days) if max_age_days > 0 else None
        candidates = [p for p in posts if cutoff is None or (p.date and p.date >= cutoff)]
        dates = [p.date for p in posts if p.date]
        #: The newest post of all, shown or not: says why nothing is shown.
        self.freshest: datetime | None = max(dates) if dates else None
        self.too_old = bool(posts) and not candidates
        self.as_of = as_of
        self.ordered: list[Post] = sorted(candidates, key=newest_first)
        self._picks: dict[tuple[Any, ...], tuple[Highlight, ...]] = {}

    @cached_property
    def by_tag(self) -> dict[str, list[int]]:
        """Each tag's posts, by place in the order: made only for a site
        that prefers shared tags (about half of a warm build's ranking)."""
        by_tag: dict[str, list[int]] = {}
        for position, post in enumerate(self.ordered):
            for tag in {t.lower() for t in post.tags}:
                by_tag.setdefault(tag, []).append(position)
        return by_tag

    def pick(self, **query: Any) -> list[Post]:
        """The posts :meth:`highlights` would show for ``query``."""
        return [h.post for h in self.highlights(**query)]

    def highlights(
        self,
        *,
        count: int,
        per_friend: int,
        exclude: Iterable[str] = (),
        tags: Iterable[str] = (),
        prefer_shared_tags: bool = False,
    ) -> list[Highlight]:
        """The automatic highlights of an article: the newest posts, at most
        ``per_friend`` of each friend, those with shared tags first if asked.
        Kept per question, and shared by every article that asks it."""
        if count <= 0:
            return []
        excluded = frozenset(exclude)
        wanted = tuple(sorted({t.lower() for t in tags})) if prefer_shared_tags else ()
        # Most articles exclude nothing and share their tags with many others:
        # a 10,000-article site asks the same few questions thousands of times.
        key = (count, per_friend, excluded, wanted)
        if key not in self._picks:
            posts = self._pick(count, per_friend, excluded, wanted)
            self._picks[key] = tuple(Highlight(p, curated=False) for p in posts)
        return list(self._picks[key])

    def _pick(
        self, count: int, per_friend: int, excluded: frozenset[str], tags: tuple[str, ...]
    ) -> list[Post]:
        order: Iterable[int] = range(len(self.ordered))
        if tags:
            shared: dict[int, int] = {}
            for tag in tags:
                for position in self.by_tag.get(tag, ()):
                    shared[position] = shared.get(position, 0) + 1
            if shared:
                first = sorted(shared, key=lambda pos: (-shared[pos], pos))
                rest = (pos for pos in range(len(self.ordered)) if pos not in shared)
                order = [*first, *rest]
        picked: list[Post] = []
        per: dict[str, int] = {}
        for position in order:
            post = self.ordered[position]
            if post.key in excluded or per.get(post.friend, 0) >= per_friend:
                continue
            per[post.friend] = per.get(post.friend, 0) + 1
            picked.append(post)
            if len(picked) == count:
                break
        return picked


#: The last build's index and ranking, with what they were made from: a
#: rebuild in the same process (``pelican --autoreload``) from an unchanged
#: cache is handed the same posts, and so the same order and the picks its
#: articles already asked for.
_LAST: list[Any] = []


def index_and_ranking(
    posts: Iterable[Post],
    candidates: Iterable[Post],
    *,
    as_of: datetime,
    max_age_days: float,
    keep: bool = True,
) -> tuple[PostIndex, Ranking]:
    """Every post indexed by URL, and ``candidates`` ranked; made again only
    when a post, the time or the age window differs from the last time.
    Posts are immutable values, so equal inputs rank alike.

    ``keep=False``: posts nothing else in the process holds (those a fetch
    job handed over), which kept here would outlive the build, to be walked
    by every collection until the process ends."""
    key = (tuple(posts), tuple(candidates), as_of, max_age_days)
    last = _LAST[:]  # another thread's build may replace it meanwhile
    if last and last[0] == key:
        return last[1], last[2]
    made = (PostIndex(key[0]), Ranking(key[1], as_of=as_of, max_age_days=max_age_days))
    _LAST[:] = [key, *made] if keep else []
    return made


def latest(posts: Iterable[Post], count: int) -> list[Post]:
    """A friend's newest posts, whatever their age (for the friends page)."""
    return sorted(posts, key=newest_first)[:count]


def highlights_for(
    metadata: Mapping[str, object],
    *,
    index: PostIndex,
    ranking: Ranking,
    count: int,
    per_friend: int,
    prefer_shared_tags: bool,
    article_tags: Iterable[str] = (),
) -> tuple[list[Highlight], list[Highlight], list[str]]:
    """Curated and automatic highlights for one article, plus rejected pieces."""
    urls, bad = parse_highlights(metadata.get("highlights"))
    chosen = curated(urls, index)
    automatic = ranking.highlights(
        count=count,
        per_friend=per_friend,
        exclude={h.post.key for h in chosen},
        tags=article_tags,
        prefer_shared_tags=prefer_shared_tags,
    )
    return chosen, automatic, bad


def why_empty(ranking: Ranking, config: Any) -> str | None:
    """Never silently empty: why no article gets automatic highlights, when
    every friend post is older than the age window (or None)."""
    if not ranking.too_old:
        return None
    age = f"{(ranking.as_of - ranking.freshest).days} days" if ranking.freshest else "too"
    return (
        f"no article shows automatic highlights: the freshest friend post is {age} old, "
        f"older than RECIPROCITY_AUTO_MAX_AGE_DAYS ({config.auto_max_age_days:g}); raise it, "
        "or set it to 0 for no limit"
    )
