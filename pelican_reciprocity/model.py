"""The plain records every stage shares: friends, posts, responses, people.

Frozen dataclasses with no behaviour beyond what follows from their own
fields, so the decisions (selection, matching, moderation, the ledger) can be
tested with plain values, and no module has to import a reader or a fetcher
to name a type.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from operator import attrgetter
from typing import Any, Literal, TypeVar, dataclass_transform, get_args

from .urls import normalise

_Class = TypeVar("_Class", bound=type)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _frozen(self: Any, name: str, *value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


#: Python 3.13 builds a dataclass's methods in one compilation; before it,
#: each method is compiled on its own, and the records a build imports cost
#: about 30 ms of every build.
_COMPILES_EACH_METHOD = sys.version_info < (3, 13)


def _init(made: type, every: tuple[Any, ...], frozen: bool, compact: bool = False) -> Any:
    """A record's compiled ``__init__``, made for a record made often (see
    :func:`_bind_until_used`) or one documented by its signature: compiling
    one is most of what a record costs. A frozen record's fields go
    straight into its ``__dict__``, where ``object.__setattr__`` costs a
    call each; a compact one's are set through it (see :func:`record`)."""
    into_dict = frozen and not compact
    params, lines = ["self"], ["__d = self.__dict__"] if into_dict else []
    scope: dict[str, Any] = {"__factory": MISSING, "__set": object.__setattr__}
    for f in every:
        value = f.name
        if f.default_factory is not MISSING:
            scope[f"__make_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__factory")
            value = f"__make_{f.name}() if {f.name} is __factory else {f.name}"
        elif f.default is not MISSING:
            scope[f"__default_{f.name}"] = f.default
            params.append(f"{f.name}=__default_{f.name}")
        else:
            params.append(f.name)
        if into_dict:
            lines.append(f"__d[{f.name!r}] = {value}")
        elif frozen:
            lines.append(f"__set(self, {f.name!r}, {value})")
        else:
            lines.append(f"self.{f.name} = {value}")
    source = f"def __init__({', '.join(params)}):\n    " + "\n    ".join(lines or ["pass"])
    exec(source, scope)  # made of the class's own field names, as dataclass's is
    init = scope["__init__"]
    init.__qualname__ = f"{made.__qualname__}.__init__"
    return init


#: Records a class makes by binding its arguments one by one before its
#: ``__init__`` is compiled: binding costs about 2 µs a record more than
#: the compiled method, and compiling it about 0.3 ms, so a record made
#: fewer times than this is cheaper never compiled.
COMPILE_AFTER = 150


def _bind_until_used(
    made: type, every: tuple[Any, ...], frozen: bool, compact: bool = False
) -> Any:
    """A record's first ``__init__``: binds the arguments as the compiled
    one (:func:`_init`) does, in a loop, and puts the compiled one in its
    place once the record is made often. A warm build makes 23 kinds of
    record, most of them a few times: compiling their methods was 16
    million instructions of the build's 6,300 (5 to 8 ms)."""
    # every field in its place, so that updating this leaves them in the
    # order the compiled method sets them; a default or a placeholder
    ordered = {f.name: None if f.default is MISSING else f.default for f in every}
    names = tuple(ordered)
    required = [f.name for f in every if f.default is MISSING and f.default_factory is MISSING]
    factories = [(f.name, f.default_factory) for f in every if f.default_factory is not MISSING]
    qualname = f"{made.__qualname__}.__init__"
    calls = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > COMPILE_AFTER:
            made.__init__ = _init(made, every, frozen, compact)  # type: ignore[misc]
            made.__init__(self, *args, **kwargs)
            return
        if args:
            if len(args) > len(names):
                raise TypeError(
                    f"{qualname}() takes {len(names) + 1} positional arguments "
                    f"but {len(args) + 1} were given"
                )
            given = dict(zip(names, args, strict=False))  # fewer: the rest by name
            if twice := given.keys() & kwargs.keys():
                raise TypeError(f"{qualname}() got multiple values for {sorted(twice)}")
            given.update(kwargs)
        else:
            given = kwargs
        if unknown := given.keys() - ordered.keys():
            raise TypeError(f"{qualname}() got unexpected keyword arguments {sorted(unknown)}")
        if missing := [name for name in required if name not in given]:
            raise TypeError(f"{qualname}() missing required arguments {missing}")
        state = {**ordered, **given}
        for name, factory in factories:
            if name not in given:
                state[name] = factory()
        if frozen and not compact:  # as the compiled method does
            self.__dict__.update(state)
            return
        put = object.__setattr__ if frozen else setattr
        for name, value in state.items():
            put(self, name, value)

    __init__.__qualname__ = qualname
    return __init__


#: One ``__dataclass_params__`` for each kind of record, taken from a dataclass.
_PARAMS: dict[tuple[bool, bool], Any] = {}


def _declare(cls: _Class, frozen: bool, eq: bool) -> _Class:
    """What ``dataclass`` records on a class (its fields, parameters and
    ``__match_args__``, and the defaults left as class attributes), without
    its handling of what no record has: ClassVar, InitVar, keyword-only
    fields, base records. Its processing was about 0.1 ms a record, 3.6 ms
    of every build's import; a test holds the result to dataclass's own."""
    every: dict[str, Field[Any]] = {}
    defaulted = None
    for name, kind in inspect.get_annotations(cls).items():
        declared = cls.__dict__.get(name, MISSING)
        made = declared if isinstance(declared, Field) else field(default=declared)
        if made.default is not MISSING and made.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default for field {name}: use default_factory")
        if made.default is MISSING and made.default_factory is MISSING:
            if defaulted:
                raise TypeError(f"non-default argument {name!r} follows default argument")
        else:
            defaulted = name
        made.name, made.type, made._field_type = name, kind, dataclasses._FIELD  # type: ignore[attr-defined]
        if made.kw_only is MISSING:
            made.kw_only = False
        if declared is made:  # field(...): the class keeps its default, as dataclass leaves it
            if made.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, made.default)
        every[name] = made
    params = _PARAMS.get((frozen, eq))
    if params is None:  # from a dataclass that compiles no method, then told what a record is
        template = dataclass(type("Record", (), {"__doc__": "-"}), init=False, repr=False, eq=False)
        params = _PARAMS[frozen, eq] = template.__dataclass_params__
        params.init, params.eq, params.frozen = True, eq, frozen
    cls.__dataclass_fields__ = every  # type: ignore[attr-defined]
    cls.__dataclass_params__ = params  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(name for name, made in every.items() if made.init)  # type: ignore[attr-defined]
    return cls


def _methods(cls: _Class, frozen: bool, eq: bool, compact: bool = False) -> _Class:
    """``dataclass(cls, frozen=frozen, eq=eq)``, made without dataclass: the
    fields declared by :func:`_declare`, the ``__init__`` compiled alone
    once the record is made often (:func:`_bind_until_used`), and the rest
    shared: the same fields, defaults, comparison, hash and frozenness
    (about 0.5 ms a record against 1.1 ms when only the ``__init__`` was
    made apart, and less since)."""
    undocumented = not cls.__doc__
    made = _declare(cls, frozen, eq)
    every = fields(made)

    if undocumented:  # as dataclass documents it: the name and the signature
        made.__init__ = _init(made, every, frozen, compact)  # type: ignore[misc]
        made.__doc__ = cls.__name__ + str(inspect.signature(made))
    else:
        made.__init__ = _bind_until_used(made, every, frozen, compact)  # type: ignore[misc]
    if eq:
        compared = [f.name for f in every if f.compare]
        key = attrgetter(*compared) if compared else lambda _: ()
        made.__eq__ = lambda self, other: (
            key(self) == key(other) if other.__class__ is self.__class__ else NotImplemented
        )
        made.__hash__ = (lambda self: hash(key(self))) if frozen else None  # type: ignore[assignment]
    if frozen:
        made.__setattr__ = made.__delattr__ = _frozen
    return made


@dataclass_transform()
def record(cls: _Class | None = None, /, **options: Any) -> Any:
    """``@dataclass``, as every record of the package is declared, with one
    ``__repr__`` shared by all (the same text, fields with ``repr=False``
    left out). Python 3.11 compiles each generated method from source, and a
    repr for each of the 34 records a build imports was about 15 ms of every
    build, for text that only a debugger or a failing test ever shows.

    ``compact=True``, for a frozen record made by the thousands and kept
    (a post): its fields are set through ``object.__setattr__``, as
    dataclass sets them, so its instances share their class's keys.
    Written straight into its ``__dict__``, each post of the fetch job kept
    a full dictionary of its own (529 bytes against 177, 20,000 posts for
    1,000 friends). The other records keep the faster way: set so, the
    views and states of an autoreload rebuild made the plugin's own work
    about half a point of the rebuild more (2.20 against 1.62 % in ten
    alternating pairs of processes, sampled)."""
    compact = bool(options.pop("compact", False))

    def make(cls: _Class) -> _Class:
        if _COMPILES_EACH_METHOD and options.keys() <= {"frozen", "eq"}:
            frozen, eq = bool(options.get("frozen")), options.get("eq", True)
            made = _methods(cls, frozen, eq, compact)
        else:
            made = dataclass(cls, repr=False, **options)  # type: ignore[call-overload]
        if "__repr__" not in cls.__dict__:
            made.__repr__ = _repr
        return made

    return make if cls is None else make(cls)


#: What a response is. One vocabulary for every source.
Kind = Literal["comment", "reply", "like", "repost", "mention", "bookmark"]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: Kinds whose author is named in the thanks line; the rest are counted.
NAMED_KINDS: frozenset[Kind] = frozenset({"comment", "reply", "mention", "bookmark"})
#: Kinds that carry no text of their own (a like, a repost).
REACTION_KINDS: frozenset[Kind] = frozenset({"like", "repost"})

#: What the refresh did with one feed.
Outcome = Literal["cached", "updated", "revalidated", "failed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

#: What moderation decided for one response.
Status = Literal["publish", "held", "blocked"]
#: What the owner wrote in the moderation file for one response.
Decision = Literal["held", "approved", "blocked"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)

ANONYMOUS = frozenset({"", "anonymous", "anon", "guest", "unknown", "anonyme", "anónimo"})


@record(frozen=True)
class Friend:
    """One blog the owner follows, as the friends list declares it."""

    name: str
    feed: str  # an http(s) URL or a file:// URL
    url: str = ""  # their site; may be learned from the feed later
    tags: tuple[str, ...] = ()
    note: str = ""  # Markdown, as written by the blog owner
    note_html: str = ""  # the note, rendered and sanitised when the list was read
    aliases: tuple[str, ...] = ()
    private: bool = False  # read, but never listed on the friends page or in the OPML

    @cached_property
    def key(self) -> str:
        """Identity of the friend's feed: the normalised feed URL (computed once)."""
        return normalise(self.feed)

    @property
    def is_local(self) -> bool:
        return self.feed.startswith("file:")


@record(frozen=True, compact=True)
class Post:
    """One friend's post, already normalised and safe to render."""

    title: str
    url: str
    date: datetime | None
    summary_html: str = ""
    summary_text: str = ""
    image: str | None = None
    tags: tuple[str, ...] = ()
    friend: str = ""  # key of the Friend whose feed carried it
    dated: bool = True  # False when the date is the time we first saw it
    #: A post no page is likely to show keeps a short prefix of its raw,
    #: unsanitised HTML instead of a summary; it is summarised (sanitised
    #: first) only if a page does show it. Never rendered as it is.
    source_html: str = ""
    source_base: str | None = None  # resolves the prefix's relative links

    @cached_property
    def key(self) -> str:
        """Identity of the post: its URL, normalised (computed once)."""
        return normalise(self.url, keep_fragment=True)

    @property
    def loose_key(self) -> str:
        """The URL without its fragment, for looking up pasted links. Most
        posts have no fragment, and theirs is then the key itself. Not kept
        in the post: a post's dictionary stays compact with its fields and
        its key (160 bytes), and one more key, cached after the post was
        made, turned it into a full one of 832 (in the fetch job, which
        keys every post it parses: 13 MB for the 20,000 posts of 1,000
        friends)."""
        return normalise(self.url) if "#" in self.url else self.key

    def but(self, **changes: Any) -> Post:
        """``dataclasses.replace`` without running ``__init__`` again, field
        by field: every post of every feed fetched is changed once (its
        summary, its friend), 20,000 of them for 1,000 feeds. Keys already
        computed are kept unless the URL changes."""
        if not changes.keys() <= _POST_FIELDS:
            raise TypeError(f"Post has no field {sorted(changes.keys() - _POST_FIELDS)}")
        post = object.__new__(Post)
        state = post.__dict__
        state.update(self.__dict__)
        if "url" in changes:
            state.pop("key", None)
        if not changes.keys().isdisjoint(_ORDERED_BY):
            state.pop(_ORDER, None)
        state.update(changes)
        return post


_POST_FIELDS = frozenset(f.name for f in fields(Post))


#: Where a post keeps its place in :func:`newest_first`, and what it is made of.
_ORDER = "order"
_ORDERED_BY = frozenset({"date", "friend", "url"})


def newest_first(post: Post) -> tuple[float, str, str]:
    """The one order of "newest" (undated posts last, ties by friend and URL):
    a feed's parser summarises its newest posts by it, and the friends page
    and the highlights show theirs by it, so a warm build never summarises
    a post the parse left unsummarised for being older.

    Kept in the post (:meth:`Post.but` drops it with what it is made of):
    the ranking and then each friend's newest posts sort the 20,000 posts
    of 1,000 friends by it while Pelican waits."""
    state = post.__dict__
    order = state.get(_ORDER)
    if order is None:
        order = state[_ORDER] = order_of(post)
    return order


def order_of(post: Post) -> tuple[float, str, str]:
    """:func:`newest_first`, not kept: for a post about to be replaced (a
    parse's), whose copies would each carry a dictionary grown for it."""
    return (-(post.date.timestamp() if post.date else 0.0), post.friend, post.url)


@record(frozen=True)
class Response:
    """One response to one article, from any source."""

    id: str
    kind: Kind
    target: str  # a URL, "slug:<slug>" (comment files) or "article:<key>" (Thanks:)
    author_name: str = ""
    author_url: str = ""
    avatar_url: str = ""
    published: datetime | None = None
    source_url: str = ""
    excerpt_html: str = ""
    #: The author's own site as their social profile proves it (a Mastodon
    #: link verified by rel="me", a Bluesky handle that is a domain): the
    #: same person as the one who comments from that site.
    author_site: str = ""
    excerpt_text: str = ""
    text: str = ""  # the whole text, for moderation
    links: int = 0  # links to other sites in the original content, for moderation
    source: str = ""
    private: bool = False
    flagged_spam: bool = False  # the source itself said spam (Disqus isSpam)

    @property
    def anonymous(self) -> bool:
        return self.author_name.strip().lower() in ANONYMOUS

    @property
    def named(self) -> bool:
        """Named in the thanks line (anything but a like or a repost)."""
        return self.kind in NAMED_KINDS


@record(frozen=True)
class Person:
    """Everyone's responses merged under one identity key ("url:…" or "name:…")."""

    key: str
    name: str
    url: str = ""
    friend: bool = False
    responses: tuple[Response, ...] = ()

    @property
    def first(self) -> datetime:
        dates = [r.published for r in self.responses if r.published]
        return min(dates) if dates else datetime.max.replace(tzinfo=UTC)

    @property
    def last(self) -> datetime | None:
        dates = [r.published for r in self.responses if r.published]
        return max(dates) if dates else None

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.responses}, key=KINDS.index)


@record(frozen=True)
class ArticleRef:
    """An article as matching sees it, without Pelican."""

    key: str  # the article's own id (its save_as, unique per language)
    slug: str
    url: str  # relative URL, as Pelican gives it


@record(frozen=True)
class ArticleFacts:
    """What one published article gave: highlights and links out (for the ledger)."""

    key: str
    url: str  # absolute under SITEURL when SITEURL is set
    date: datetime | None
    curated: tuple[tuple[str, str], ...] = ()  # (person key, post URL)
    automatic: tuple[tuple[str, str], ...] = ()
    links: tuple[str, ...] = ()  # every outbound http(s) link in the content


@record(frozen=True)
class Verdict:
    """Moderation's decision on one response, with the reasons for it."""

    status: Status
    reasons: tuple[str, ...] = ()


@record
class Acknowledged:
    """What the ledger and the thanks page need from this build's responses
    (here, so a build without responses never loads the readers behind
    them, nor the thanks section's code)."""

    people: list[Person] = field(default_factory=list)
    article_of: dict[str, str] = field(default_factory=dict)
    responders: list[Any] = field(default_factory=list)  # render.PersonView, for the page
    feeds: dict[str, str | None] = field(default_factory=dict)  # responder key -> their feed
    files: dict[str, bytes] = field(default_factory=dict)  # avatars, by path under the output


@record(frozen=True)
class FeedState:
    """What a build knows about one friend's feed after the refresh."""

    friend: Friend
    outcome: Outcome = "cached"
    error: str | None = None
    posts: tuple[Post, ...] = ()
    link: str | None = None  # the feed's own link to the site
    fetched_at: float = 0.0  # when the copy shown was fetched (0: no copy)


@record(frozen=True)
class FriendsList:
    """The friends as read, with the problems of the entries left out."""

    friends: tuple[Friend, ...] = ()
    problems: tuple[str, ...] = ()
    source: str = ""


@record(frozen=True)
class ReadResult:
    """What one reader made of one input: responses, and what it skipped and why."""

    responses: tuple[Response, ...] = ()
    problems: tuple[str, ...] = ()
    format: str = ""
