"""Everything that turns plugin data into markup: template views, section
injection and the OPML blogroll.

Views hold :class:`markupsafe.Markup` values that are already escaped (or
sanitised), so a theme that switches Jinja's autoescape off still cannot
publish a friend's ``<script>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import field, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from markupsafe import Markup, escape

from .i18n import Strings
from .model import Friend, Post, record
from .urls import is_web_url, public_url

TEMPLATES = Path(__file__).parent / "templates"
EMPTY = Markup("")  # immutable, so safe as a dataclass default

#: The class of each section, and how a theme's own is found (compiled by
#: ``re`` when first needed: most themes place no section).
_CLASS = {name: f"reciprocity-{name}" for name in ("highlights", "thanks")}
_PLACED = {
    name: r"<[a-zA-Z][^<>]*\bclass=[\"'][^\"']*\b" + css_class + r"\b"
    for name, css_class in _CLASS.items()
}


#: Where character references would not read as the characters they stand for.
_NOT_AS_REFERENCES = re.compile("(?i)<(?:script|style)|[\x80-\x9f]")

STYLESHEET = Path(__file__).parent / "static" / "reciprocity.css"


def safe_url(url: str | None) -> Markup:
    """An escaped http(s) URL, or empty: never a ``javascript:`` link."""
    return escape(url) if url and is_web_url(url) else Markup("")


@record(frozen=True)
class FriendView:
    """One friend as templates show it: every text already escaped."""

    name: Markup
    url: Markup
    feed: Markup
    note: Markup
    tags: tuple[Markup, ...]
    ok: bool
    error: str | None
    key: str
    posts: tuple[PostView, ...] = ()


@record(frozen=True)
class PostView:
    """One post as templates show it: every text already escaped."""

    title: Markup
    url: Markup
    date: Any  # datetime or None, for themes that format dates themselves
    date_iso: Markup
    date_text: Markup
    summary: Markup  # sanitised HTML
    summary_text: Markup
    image: Markup
    tags: tuple[Markup, ...]
    friend: FriendView | None
    curated: bool = False
    found: bool = True


def friend_view(friend: Friend, site: str, ok: bool, error: str | None) -> FriendView:
    feed = public_url(friend.feed) if is_web_url(friend.feed) else ""
    return FriendView(
        name=escape(friend.name),
        url=safe_url(public_url(site)),
        feed=safe_url(feed),
        note=Markup(friend.note_html),  # sanitised when the list was loaded
        tags=tuple(escape(t) for t in friend.tags),
        ok=ok,
        error=error,
        key=friend.key,
    )


def post_view(
    post: Post,
    friend: FriendView | None,
    strings: Strings,
    date_format: str | None,
    *,
    curated: bool = False,
    found: bool = True,
    words: int = 40,
) -> PostView:
    summary_html, summary_text = post.summary_html, post.summary_text
    if post.source_html and not summary_html:  # parsed, but summarised only now
        from .sanitize import summarise  # a warm build mostly never loads the sanitiser

        summary_html, summary_text = summarise(post.source_html, words, base=post.source_base)
    return PostView(
        title=escape(post.title),
        url=safe_url(post.url),
        date=post.date,
        date_iso=escape(post.date.date().isoformat()) if post.date else Markup(""),
        date_text=escape(strings.date(post.date, date_format)),
        summary=Markup(summary_html),  # sanitised by summarise()
        summary_text=escape(summary_text),
        image=safe_url(post.image),
        tags=tuple(escape(t) for t in post.tags),
        friend=friend,
        curated=curated,
        found=found,
    )


@record(frozen=True)
class PersonView:
    """Someone who responded: named and linked, or a count of anonymous readers."""

    name: Markup
    url: Markup
    rel: str  # friends are linked plainly; others get nofollow ugc
    friend: bool
    count: int
    kinds: tuple[str, ...]
    last_iso: Markup
    last_text: Markup
    anonymous: bool = False
    articles: int = 0
    count_text: Markup = EMPTY  # "3 responses", translated
    articles_text: Markup = EMPTY  # "on 2 articles", translated
    last_label: Markup = EMPTY  # "latest: <time>…</time>", translated
    html: Markup = EMPTY  # the linked name (an h-card), with a friend badge
    latest_post: Markup = EMPTY  # "their latest post: <a>title</a>" (RECIPROCITY_RESPONDER_FEEDS)


@record(frozen=True)
class FaceView:
    """One person in the facepile of likes and reposts (RECIPROCITY_AVATARS)."""

    name: Markup
    url: Markup
    image: Markup  # the avatar's path under SITEURL, or empty: show the initials
    initials: Markup


@record(frozen=True)
class ThanksView:
    """``article.reciprocity.thanks``: who to thank on one article."""

    people: tuple[PersonView, ...] = ()  # named, plus one entry for anonymous readers
    likes: int = 0
    reposts: int = 0
    line: Markup = EMPTY  # "Thanks to A, B and C for responding.", translated
    reactions: Markup = EMPTY  # "2 people liked this, reposted 1 time", translated
    faces: tuple[FaceView, ...] = ()  # who liked or reposted, when avatars are on

    def __bool__(self) -> bool:
        return bool(self.people or self.likes or self.reposts)


#: The thanks of an article nobody responded to (frozen, so shared by all).
NO_THANKS = ThanksView()


def person_view(
    name: str,
    url: str,
    *,
    friend: bool,
    kinds: tuple[str, ...],
    count: int,
    last: Any,
    strings: Strings,
    date_format: str | None,
    articles: int = 0,
    latest: Any = None,
    inline: bool = False,
) -> PersonView:
    """``latest`` is the person's newest post (a Post), shown after the name
    on the page of responders, and in the name's own line when ``inline``."""
    view = PersonView(
        name=escape(name),
        url=safe_url(url),
        rel="noopener" if friend else "nofollow ugc noopener",
        friend=friend,
        count=count,
        kinds=kinds,
        last_iso=escape(last.date().isoformat()) if last else Markup(""),
        last_text=escape(strings.date(last, date_format)),
        articles=articles,
        count_text=escape(strings.plural("{n} response", "{n} responses", count)),
        articles_text=escape(strings.plural("on {n} article", "on {n} articles", articles)),
        last_label=escape(strings("latest: {date}")).replace(
            Markup("{date}"),
            Markup('<time datetime="{}">{}</time>').format(
                last.date().isoformat(), strings.date(last, date_format)
            ),
        )
        if last
        else Markup(""),
    )
    html = person_html(view, strings)
    latest_post = EMPTY
    if latest is not None and safe_url(latest.url):
        link = Markup('<a class="reciprocity-latest" href="{}" rel="nofollow ugc">{}</a>').format(
            safe_url(latest.url), latest.title
        )
        latest_post = escape(strings("their latest post: {title}")).replace(Markup("{title}"), link)
        if inline:
            html += Markup(' <span class="reciprocity-latest-post">({})</span>').format(latest_post)
    return replace(view, html=html, latest_post=latest_post)


def person_html(view: PersonView, strings: Strings) -> Markup:
    """A responder's name as an h-card, linked to their site when we have it."""
    if view.anonymous:
        return Markup('<span class="reciprocity-anonymous">{}</span>').format(view.name)
    if view.url:
        html = Markup(
            '<a class="reciprocity-responder h-card p-author u-url" href="{}" rel="{}">'
            '<span class="p-name">{}</span></a>'
        ).format(view.url, view.rel, view.name)
    else:
        html = Markup(
            '<span class="reciprocity-responder h-card p-author">'
            '<span class="p-name">{}</span></span>'
        ).format(view.name)
    if view.friend:
        html += Markup(' <span class="reciprocity-badge">{}</span>').format(strings("friend"))
    return html


def initials(name: str) -> str:
    """Up to two letters for a face without a picture: "Jo Bloggs" is "JB",
    "@lena@social.example" is "L"."""
    name = name.strip().lstrip("@").split("@")[0]
    letters = [next((c for c in w if c.isalnum()), "") for w in re.split(r"[\s._-]+", name)]
    letters = [c for c in letters if c]
    return "".join(letters[:1] + letters[1:][-1:]).upper()


def face_view(name: str, url: str, image: str) -> FaceView:
    return FaceView(
        name=escape(name),
        url=safe_url(url),
        image=escape(image),
        initials=escape(initials(name) or "?"),
    )


def anonymous_view(count: int, strings: Strings) -> PersonView:
    label = strings.plural("an anonymous reader", "{n} anonymous readers", count)
    view = PersonView(
        name=escape(label),
        url=Markup(""),
        rel="",
        friend=False,
        count=count,
        kinds=(),
        last_iso=Markup(""),
        last_text=Markup(""),
        anonymous=True,
    )
    return replace(view, html=person_html(view, strings))


@record
class ArticleReciprocity:
    """What ``article.reciprocity`` holds: falsy when there is nothing to show."""

    curated: list[PostView] = field(default_factory=list)
    automatic: list[PostView] = field(default_factory=list)
    enabled: bool = True
    headings: dict[str, str] = field(default_factory=dict)
    thanks: ThanksView = NO_THANKS  # one for every article with no responses
    words: dict[str, str] = field(default_factory=dict)  # "by", "friend", translated
    css: str = ""  # the default stylesheet's path under SITEURL, or "" when turned off

    @property
    def highlights(self) -> list[PostView]:
        return self.curated + self.automatic

    def __bool__(self) -> bool:
        return self.enabled and bool(self.curated or self.automatic or self.thanks)

    def cache_key(self) -> tuple[Any, ...]:
        """Everything its highlights section is rendered from, within one
        build: the views of a post, and the headings and words of a language,
        are shared by every article that shows them (``pages.Views``), so
        their identities stand for them."""
        lists = (tuple(map(id, self.curated)), tuple(map(id, self.automatic)))
        return (*lists, id(self.headings), id(self.words), self.css, bool(self.thanks))


def already_placed(page: str, section: str) -> bool:
    """Did the theme render this section itself (so we must not add another)?"""
    return _CLASS[section] in page and bool(re.search(_PLACED[section], page))


def inject(page: str, section: str, content: str | None) -> str:
    """Insert ``section`` right after the article's content, or failing that at
    the end of ``<article>``, ``<main>`` or ``<body>``."""
    position = -1
    if content and not content.isspace():  # what strip() would leave, without the copy
        found = _find(page, content)
        if found >= 0:
            position = found + len(content)
    if position < 0:
        for closing in ("</article>", "</main>", "</body>"):
            position = page.rfind(closing)
            if position >= 0:
                break
    if position < 0:
        position = len(page)
    # one join: each ``+`` of a chain copies the page so far again (2.0 µs a page against 1.1)
    return "".join((page[:position], "\n", _in_kind_of(page, section), "\n", page[position:]))


def _find(page: str, content: str) -> int:
    """``page.find(content)``, looking first for the content's opening
    words: a search for the whole of a long article's text compares most of
    it again at each near match (a third of a millisecond a page, for text
    that repeats itself), where its start is rarely found twice."""
    head = content[:48]
    found = page.find(head)
    while found >= 0 and not page.startswith(content, found):
        found = page.find(head, found + 1)
    return found


def _in_kind_of(page: str, section: str) -> str:
    """The section, with what is not ASCII written as character references
    when the page is all ASCII: one "…" in a summary would otherwise make
    Python hold the whole page at two bytes a character, and copy and
    encode it on the slow path (3-4 ms a build for 300 pages of an English
    site). The browser shows the same text."""
    if section.isascii() or not page.isascii():
        return section
    return _as_ascii(section)


@functools.lru_cache(maxsize=256)
def _as_ascii(section: str) -> str:
    """Made once for each distinct section (most articles of a build share
    theirs). Not where a script or a style is, where references stay as
    written, nor with a C1 control, whose reference a browser reads as a
    Windows-1252 character."""
    if _NOT_AS_REFERENCES.search(section):
        return section
    return section.encode("ascii", "xmlcharrefreplace").decode("ascii")


_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t]')


def _attribute(value: str) -> str:
    """``quoteattr``, which runs six replacements on every name and address
    of the blogroll, most of which hold nothing to replace."""
    return f'"{value}"' if _ATTRIBUTE_SPECIAL.search(value) is None else quoteattr(value)


def opml(friends: Iterable[tuple[Friend, str]], *, title: str) -> str:
    """An OPML 2.0 blogroll so readers can subscribe to every friend at once."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{escape(title)}</title>",
        "  </head>",
        "  <body>",
    ]
    for friend, site in friends:
        if friend.private:
            continue
        site = public_url(site) if site else ""
        if not is_web_url(friend.feed):
            # A feed kept as a local file means nothing to a reader: list
            # the site as a plain link instead.
            if site and is_web_url(site):
                attrs = [("type", "link"), ("text", friend.name), ("url", site)]
                rendered = " ".join(f"{k}={_attribute(v)}" for k, v in attrs)
                lines.append(f"    <outline {rendered}/>")
            continue
        attrs = [
            ("type", "rss"),
            ("text", friend.name),
            ("title", friend.name),
            ("xmlUrl", public_url(friend.feed)),
        ]
        if site and is_web_url(site):
            attrs.append(("htmlUrl", site))
        if friend.tags:
            attrs.append(("category", ",".join(friend.tags)))
        rendered = " ".join(f"{k}={_attribute(v)}" for k, v in attrs)
        lines.append(f"    <outline {rendered}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
