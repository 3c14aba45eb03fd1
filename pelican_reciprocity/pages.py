"""What the plugin adds to a Pelican site: article sections and its own pages.

- :class:`Views` turns posts and friends into template views once per build
  (and language), so 10,000 articles share them.
- :func:`article_data` decides one article's highlights.
- :func:`wrap_templates` adds the sections to each rendered article page in
  memory, unless the theme placed them itself.
- :class:`FriendsPageGenerator` writes the friends page, the thanks page,
  the OPML blogroll and the stylesheet, with the theme's layout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field, fields, replace
from operator import attrgetter
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import ChoiceLoader, FileSystemLoader
from pelican.contents import Page as PelicanPage
from pelican.generators import ArticlesGenerator, Generator

from . import __version__, i18n, render, selection
from .cache import FeedCache
from .files import LastMade, digest_of, file_identity, overwrite, stamp, write_atomic
from .friends import friend_site
from .i18n import Strings
from .identity import friend_keys, person_key
from .model import FeedState, Friend, Post, record
from .settings import Config
from .templates import CompilingOnceLoader, load_once

logger = logging.getLogger(__name__)

#: The context key under which the friends page generator finds its work.
PAGES_KEY = "reciprocity_pages"
#: ... and the decisions still waiting for the feeds, when they came in late.
DEFERRED_KEY = "reciprocity_deferred"
#: The articles generator, whose compiled templates (base.html, ours) the
#: friends page generator borrows instead of compiling them all again.
TEMPLATES_KEY = "reciprocity_templates"


@record
class Views:
    """Template views, built once per build and language and shared by every page."""

    config: Config
    output_path: str = ""
    friend_views: dict[str, render.FriendView] = field(default_factory=dict)
    sites: dict[str, str] = field(default_factory=dict)  # friend key -> their site
    static: str = "theme"  # THEME_STATIC_DIR: the stylesheet and avatars go there
    section_cache: dict[Any, str] = field(default_factory=dict)
    picks: dict[Any, tuple[Any, ...]] = field(default_factory=dict)  # see article_data
    _posts: dict[Any, render.PostView] = field(default_factory=dict)
    _strings: dict[str, Strings] = field(default_factory=dict)
    _words: dict[Any, dict[str, str]] = field(default_factory=dict)
    _templates: dict[tuple[int, str], tuple[Any, Any, bool]] = field(default_factory=dict)
    _latest: dict[str, list[Post]] = field(default_factory=dict)

    def latest(self, state: FeedState) -> list[Post]:
        """A friend's newest posts for the friends page, sorted once a build:
        its digest and the page itself both ask (20,000 posts for 1,000 friends)."""
        posts = self._latest.get(state.friend.key)
        if posts is None:
            posts = self._latest[state.friend.key] = selection.latest(
                state.posts, self.config.friends_posts
            )
        return posts

    def forget(self) -> None:
        """Drop what was kept for this build (see :meth:`plugin.Run.release`):
        the article generator's templates still hold these views."""
        for kept in (self.friend_views, self.section_cache, self.picks, self._posts, self._latest):
            kept.clear()

    def template(self, env: Any, name: str) -> tuple[Any, bool]:
        """A section template, looked up once a build (Jinja checks the file
        on disk at every lookup, once for each of 10,000 article pages), and
        whether it is ours (not a theme's)."""
        held = self._templates.get((id(env), name))
        if held is None or held[0] is not env:
            template = env.get_template(name)
            held = (env, template, _ours(template))
            self._templates[(id(env), name)] = held
        return held[1], held[2]

    @property
    def css(self) -> str:
        """The default stylesheet's path under the output, or "" when it is off."""
        return f"{self.static}/reciprocity.css" if self.config.css else ""

    def add_feeds(self, feeds: tuple[FeedState, ...]) -> None:
        """Each friend's site and view; under autoreload, the last build's
        when every friend and what is shown of their feed are equal."""
        shown = tuple(
            (state.friend, state.link, state.outcome != "failed" or bool(state.posts), state.error)
            for state in feeds
        )
        sites, views = _LAST_FRIENDS.get(shown, lambda: _friend_views(shown))
        self.sites.update(sites)
        self.friend_views.update(views)

    def friend_identities(self, friends: tuple[Friend, ...]) -> dict[str, str]:
        """Keys ("url:…", "name:…") that identify each friend, for merging people."""
        keys: dict[str, str] = {}
        for friend in friends:
            keys.update(friend_keys(friend, self.sites.get(friend.key) or friend.url))
        return keys

    def person_key(self, friend: Friend) -> str:
        return person_key(self.sites.get(friend.key) or friend.url, friend.name)

    def post(self, item: selection.Highlight, lang: str) -> render.PostView:
        """One view per post (and language), shared by every article showing it."""
        key = (item.post.key, item.curated, item.found, lang)
        view = self._posts.get(key)
        if view is None:
            view = render.post_view(
                item.post,
                self.friend_views.get(item.post.friend),
                self.strings(lang),
                self.config.date_format,
                curated=item.curated,
                found=item.found,
                words=self.config.summary_words,
            )
            self._posts[key] = view
        return view

    def strings(self, lang: str | None) -> Strings:
        lang = lang or self.config.default_lang
        if lang not in self._strings:
            self._strings[lang] = Strings(lang, self.config.strings)
        return self._strings[lang]

    def headings(self, lang: str | None) -> dict[str, str]:
        """Section headings in a language; a heading set in the settings wins."""
        if ("headings", lang) not in self._words:
            t, c = self.strings(lang), self.config
            self._words[("headings", lang)] = {
                "highlights": c.highlights_heading or t("Posts I'm highlighting"),
                "automatic": c.auto_heading or t("From blogs I follow"),
                "friends": c.friends_heading or t("Friends"),
                "thanks": c.thanks_heading or t("Thank you"),
                "responders": c.responders_heading or t("Everyone who responded"),
            }
        return self._words[("headings", lang)]

    def words(self, lang: str | None) -> dict[str, str]:
        if ("words", lang) not in self._words:
            t = self.strings(lang)
            self._words[("words", lang)] = {
                "by": t("by"),
                "friend": t("friend"),
                "unavailable": t("Their feed could not be read just now."),
                "subscribe": t("Subscribe to all of them (OPML)"),
            }
        return self._words[("words", lang)]

    def friends_page(self, feeds: tuple[FeedState, ...], lang: str) -> list[render.FriendView]:
        """Every friend with their newest posts, whatever their age."""
        out = []
        for state in feeds:
            if state.friend.private:
                continue
            view = self.friend_views[state.friend.key]
            posts = self.latest(state)
            views = tuple(
                render.post_view(
                    p,
                    view,
                    self.strings(lang),
                    self.config.date_format,
                    words=self.config.summary_words,
                )
                for p in posts
            )
            out.append(replace(view, posts=views))
        return out

    def friends_list(self, feeds: tuple[FeedState, ...], lang: str) -> OnFirstUse:
        """``reciprocity.friends``: the friends page's views, made when a
        template first reads them, with a digest of what they are made of."""
        return OnFirstUse(
            lambda: self.friends_page(feeds, lang), key=lambda: self.friends_key(feeds, lang)
        )

    def friends_key(self, feeds: tuple[FeedState, ...], lang: str) -> str:
        """A digest of every input of :meth:`friends_page`: each shown
        friend, the state of their feed and the copy of it in the cache, the
        settings and the language they are shown with, and the code that
        makes them.

        A feed's posts are those of its cache entry, whose file is written
        anew (a new file, with its own identity and time) whenever they
        change: that file's identity stands for them, where every field of
        every shown post cost 6 ms a build for 100 friends and 0.1 s for
        1,000. Posts with no such file are read field by field."""
        config = self.config
        parts: list[Any] = [
            _CODE,
            [stamp(Path(module.__file__ or "")) for module in _VIEW_CODE],
            lang,
            config.default_lang,
            config.friends_posts,
            config.date_format,
            config.summary_words,
            config.strings,
        ]
        entries = FeedCache(config.cache_path)
        for state in feeds:
            if not state.friend.private:
                parts.append(_friend_fields(state.friend))
                site = self.sites.get(state.friend.key)
                parts.append((site, state.outcome == "failed", len(state.posts), state.error))
                copy = file_identity(entries.path_for(state.friend.feed))
                if copy is None and state.posts:
                    # What each view is made of, as plain values: their repr is
                    # C's, where a view's fields are Markup, whose repr is Python's.
                    parts.append([_post_fields(p) for p in self.latest(state)])
                else:
                    parts.append(copy)
        return _LAST_KEY.get(parts, lambda: digest_of(parts))


#: The friends list's key last made in this process, and what it was made of.
_LAST_KEY = LastMade()
#: Each friend's site and view last made in this process (views are frozen).
_LAST_FRIENDS = LastMade()


def _friend_views(
    shown: tuple[tuple[Friend, str | None, bool, str | None], ...],
) -> tuple[dict[str, str], dict[str, render.FriendView]]:
    sites, views = {}, {}
    for friend, link, ok, error in shown:
        site = sites[friend.key] = friend_site(friend, link)
        views[friend.key] = render.friend_view(friend, site, ok=ok, error=error)
    return sites, views


def add_template_loader(generator: Generator, cache: Path | None = None) -> None:
    """Our templates come after the theme's, so a theme or
    THEME_TEMPLATES_OVERRIDES can replace any of them."""
    loader = generator.env.loader
    ours = CompilingOnceLoader(render.TEMPLATES, cache)
    if isinstance(loader, ChoiceLoader):
        if not any(
            isinstance(item, FileSystemLoader) and str(render.TEMPLATES) in item.searchpath
            for item in loader.loaders
        ):
            loader.loaders.append(ours)
    else:
        generator.env.loader = ChoiceLoader([loader, ours])
    if isinstance(generator, ArticlesGenerator):
        generator.context.setdefault(TEMPLATES_KEY, generator)


def all_articles(generator: ArticlesGenerator) -> list[Any]:
    return [
        *generator.articles,
        *generator.translations,
        *getattr(generator, "hidden_articles", []),
        *getattr(generator, "hidden_translations", []),
    ]


def article_data(
    article: Any, views: Views, index: selection.PostIndex, ranking: selection.Ranking
) -> render.ArticleReciprocity:
    """One article's highlights, curated and automatic."""
    config = views.config
    lang = str(getattr(article, "lang", "") or config.default_lang)
    metadata = getattr(article, "metadata", {}) or {}
    if selection.is_off(metadata.get("reciprocity", "on")):
        return render.ArticleReciprocity(
            enabled=False, headings=views.headings(lang), words=views.words(lang)
        )
    # Only asked for when preferred: Pelican's Tag.__str__ goes through a property.
    tags = [str(t) for t in getattr(article, "tags", []) or []] if config.prefer_shared_tags else []
    named = metadata.get("highlights")
    # Most articles name no highlights and share their picks (and views) with others.
    key = (lang, named, *tags) if named is None or isinstance(named, str) else None
    held = views.picks.get(key) if key is not None else None
    if held is None:
        curated, automatic, bad = selection.highlights_for(
            metadata,
            index=index,
            ranking=ranking,
            count=config.auto_count,
            per_friend=config.auto_per_friend,
            prefer_shared_tags=config.prefer_shared_tags,
            article_tags=tags,
        )
        data = render.ArticleReciprocity(
            curated=[views.post(h, lang) for h in curated],
            automatic=[views.post(h, lang) for h in automatic],
            headings=views.headings(lang),
            words=views.words(lang),
            css=views.css,
        )
        held = (curated, bad, data)
        if key is not None:
            views.picks[key] = held
    curated, bad, data = held
    source = getattr(article, "source_path", article)
    for piece in bad:
        logger.warning(
            "reciprocity: %s: Highlights: %r is not an http(s) address; ignored", source, piece
        )
    for item in curated:
        if not item.found:
            logger.warning(
                "reciprocity: %s: highlighted %s is not in any friend's feed; "
                "shown as a plain link",
                source,
                item.post.url,
            )
    return data  # shared by the articles that share their picks: acknowledge replaces it


class Deferred:
    """The decisions that wait for the feeds, taken once, at the first thing
    that needs them, and the article pages written before that.

    Those pages get their sections from :meth:`patch`: the same function
    adds them to the same rendered page, so the bytes are those an
    in-memory injection would have written.
    """

    def __init__(self, settle: Callable[[], None], ready: Callable[[], bool]) -> None:
        self._settle = settle
        self._ready = ready
        self.settled = False
        self.pages: list[tuple[Path, dict[str, Any], Views, Any, str]] = []

    def settle(self) -> None:
        if not self.settled:
            self.settled = True
            self._settle()

    def settled_now(self) -> bool:
        """Settle as soon as the feeds are in (without waiting); True once settled."""
        if not self.settled and self._ready():
            self.settle()
        return self.settled

    def keep(
        self, path: Path, context: dict[str, Any], views: Views, env: Any, template: str
    ) -> None:
        self.pages.append((path, context, views, env, template))

    def patch(self) -> None:
        """Give the pages written before the feeds came in their sections."""
        self.settle()
        for path, context, views, env, template in self.pages:
            try:
                page = path.read_text(encoding="utf-8")
            except OSError:
                continue  # not written (WRITE_SELECTED), or removed since
            done = with_section(views, env, page, context, template)
            if done != page:
                with contextlib.suppress(FileNotFoundError):  # removed since it was read
                    overwrite(path, done)
        self.pages.clear()


class Pending:
    """``article.reciprocity`` before the feeds are in: the first look waits."""

    def __init__(self, article: Any, deferred: Deferred) -> None:
        self._article = article
        self._deferred = deferred

    def _real(self) -> Any:
        self._deferred.settle()
        return self._article.reciprocity  # replaced by the real value when settled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __bool__(self) -> bool:
        return bool(self._real())


class OnFirstUse(Sequence[Any]):
    """A list made when a template first reads it, not before.

    The friends page's views (for 100 friends, some 4,000 small objects) used
    to be made when the feeds came in and held through the writing of the
    whole site: enough for one more full garbage collection (about 50 ms) in
    a warm build. Most sites read them once, on the friends page, last.
    """

    def __init__(self, make: Callable[[], list[Any]], key: Callable[[], str] | None = None) -> None:
        self._make: Callable[[], list[Any]] | None = make
        self._items: list[Any] = []
        #: A digest of everything the list is made from, if it can be had
        #: without making it (see :func:`_render_kept`).
        self.key = key

    def clear(self) -> None:
        self._make, self._items, self.key = None, [], None

    def _list(self) -> list[Any]:
        if self._make is not None:
            self._items, self._make = self._make(), None
        return self._items

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._list())


class LazyGlobals(Mapping[str, Any]):
    """The global ``reciprocity`` before the feeds are in: what needs them
    waits on first use; the rest (URLs, headings) is there at once."""

    KEYS = (
        "friends", "headings", "words", "css", "lang", "friends_url", "opml_url",
        "thanks_url", "responders", "as_of",
    )  # fmt: skip

    def __init__(self, now: dict[str, Any], deferred: Deferred) -> None:
        self._now = now
        self._later: dict[str, Any] | None = None
        self._deferred = deferred

    def fill(self, values: dict[str, Any]) -> None:
        self._later = values

    def values_now(self) -> dict[str, Any]:
        """What it holds, without waiting for the feeds."""
        return self._later if self._later is not None else self._now

    def __getitem__(self, key: str) -> Any:
        if self._later is None and key not in self._now:
            self._deferred.settle()
        return (self._later if self._later is not None else self._now)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)


def let_go(values: Any) -> None:
    """Empty the global ``reciprocity`` once the site is written: a theme's
    compiled macros can keep a rendering context, and through it every
    friend's posts, until the process ends."""
    if isinstance(values, LazyGlobals):
        let_go(values.values_now())
        values.fill({})
    elif isinstance(values, dict):
        if isinstance(values.get("friends"), OnFirstUse):
            values["friends"].clear()
        values.clear()


def _article_page(context: dict[str, Any], template: str) -> Any:
    """The article whose own page this is, or None (index pages list articles
    too). Pelican renders an article's own page, and only that, with the
    article's template; comparing names costs nothing, where the article's
    ``save_as`` is formatted anew on every access."""
    article = context.get("article")
    if article is None or template != getattr(article, "template", None):
        return None
    return article


def with_section(views: Views, env: Any, page: str, context: dict[str, Any], template: str) -> str:
    """Add the plugin's sections to a rendered article page (rendered with
    ``template``), except those the theme already placed (and those with
    nothing to show)."""
    article = _article_page(context, template)
    if article is None:
        return page
    data = getattr(article, "reciprocity", None)
    if not isinstance(data, render.ArticleReciprocity) or not data.enabled:
        return page
    sections = []
    # in page order: the thanks, then the highlights
    if data.thanks and not render.already_placed(page, "thanks"):
        sections.append(_render_section(views, env, "thanks", context, data))
    if (data.curated or data.automatic) and not render.already_placed(page, "highlights"):
        sections.append(_render_section(views, env, "highlights", context, data))
    if not sections:
        return page
    return render.inject(page, "\n".join(sections), getattr(article, "content", None))


class _InjectingTemplate:
    """The article template, with the section added to its output in memory,
    so a 10,000-article site never re-reads the pages it has just written."""

    def __init__(
        self, template: Any, name: str, views: Views, env: Any, later: Deferred | None
    ) -> None:
        self._template = template
        self._name = name
        self._views = views
        self._env = env
        self._later = later

    def render(self, *args: Any, **kwargs: Any) -> str:
        page = self._template.render(*args, **kwargs)
        context = args[0] if args and isinstance(args[0], dict) else kwargs
        if self._later is not None and not self._later.settled_now():
            if _article_page(context, self._name) is not None:  # once the feeds are in
                path = Path(self._views.output_path) / str(context["output_file"])
                self._later.keep(path, context, self._views, self._env, self._name)
            return page
        return with_section(self._views, self._env, page, context, self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._template, name)


def wrap_templates(
    generator: ArticlesGenerator, views: Views, later: Deferred | None = None
) -> None:
    original = generator.get_template
    views.output_path = str(generator.output_path)
    # Only an article's own template renders a page that gets a section (see
    # _article_page): the index, tag and archive pages are not wrapped at all.
    names = {getattr(article, "template", None) for article in all_articles(generator)}

    made: dict[str, _InjectingTemplate] = {}  # one wrapper a template, not one a page

    def get_template(name: str) -> Any:
        template = original(name)
        if name not in names:
            return template
        wrapper = made.get(name)
        if wrapper is None or wrapper._template is not template:
            wrapper = made[name] = _InjectingTemplate(template, name, views, generator.env, later)
        return wrapper

    generator.get_template = get_template  # type: ignore[method-assign]


_SECTION_TEMPLATES = {name: f"reciprocity/{name}.html" for name in ("thanks", "highlights")}


def _render_section(
    views: Views, env: Any, name: str, context: dict[str, Any], data: render.ArticleReciprocity
) -> str:
    # Articles that share their picks share ``data`` (see article_data): its
    # section, once rendered with our template, is kept in it for the others.
    kept = data.__dict__.get(_KEPT) if name == "highlights" else None
    where = (id(env), context.get("SITEURL"))
    if kept is not None and where in kept:
        return kept[where]
    template, ours = views.template(env, _SECTION_TEMPLATES[name])
    key = (
        (name, data.cache_key(), context.get("SITEURL")) if ours and name == "highlights" else None
    )
    if key is None:
        return template.render(context).strip()
    html = views.section_cache.get(key)
    if html is None:
        html = views.section_cache[key] = template.render(context).strip()
    data.__dict__.setdefault(_KEPT, {})[where] = html
    return html


#: Where an article's highlights value keeps its rendered section, by the
#: environment and SITEURL it was rendered in (a copy made by ``replace``,
#: as a thanked article's is, starts without it).
_KEPT = "_rendered"


@record(frozen=True)
class PagesToWrite:
    """What the friends page generator writes, decided when the feeds are in."""

    config: Config
    friends: tuple[Friend, ...]
    sites: dict[str, str]
    css: str
    responders: tuple[Any, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)  # avatars, by path under the output

    @classmethod
    def of(cls, views: Views, friends: tuple[Friend, ...], acknowledged: Any) -> PagesToWrite:
        """From the build's views and what ``acknowledge`` found."""
        return cls(
            views.config,
            friends,
            dict(views.sites),
            views.css,
            tuple(acknowledged.responders),
            acknowledged.files,
        )

    def pages(self) -> list[tuple[str, str, str]]:
        """(template name, save_as, url) of each page there is something to show on."""
        config = self.config
        wanted = [
            ("friends", config.friends_save_as, config.friends_url, bool(self.friends)),
            ("responders", config.thanks_save_as, config.thanks_url, bool(self.responders)),
        ]
        return [
            (name, save_as, url) for name, save_as, url, present in wanted if save_as and present
        ]


def _ours(template: Any) -> bool:
    return bool(template.filename) and str(render.TEMPLATES) in template.filename


class Page(PelicanPage):
    """The friends or thanks page, as a Pelican page. Its content is the
    plugin's own rendering, whose links are all absolute web addresses, so
    Pelican's search of it for ``{filename}`` links (a regular expression
    over 200 KB of HTML for 100 friends, about 3 ms a build) is skipped."""

    def _update_content(self, content: str, siteurl: str) -> str:
        return content


def site_pages(
    generator: Generator, todo: PagesToWrite, context: dict[str, Any], skip: set[str] = frozenset()
) -> list[Any]:
    """The friends and thanks pages as real pages of the site: Pelican
    ``Page`` objects shown through the theme's ``page.html``, with the
    theme's wrapper, title and menu handling. A theme's own full-page
    template (one that extends ``base.html``) is left to render as before,
    and pages already listed (``skip``, by save_as) are not made again."""
    from pelican.utils import get_relative_path, path_to_url

    made = []
    for name, save_as, url in todo.pages():
        template = generator.get_template(f"reciprocity/{name}")
        if save_as in skip or not _ours(template):
            continue
        relative = generator.settings.get("RELATIVE_URLS", False)
        siteurl = path_to_url(get_relative_path(save_as)) if relative else context.get("SITEURL")
        page_context = {**context, "SITEURL": siteurl or "", "output_file": save_as}
        if name == "friends":
            content = _render_kept(template, page_context, todo.config.cache_path)
        else:
            content = template.render(page_context)
        heading = context["reciprocity"]["headings"][name]
        metadata = {"title": heading, "slug": name, "save_as": save_as, "url": url}
        made.append(Page(content, metadata=metadata, settings=generator.settings, context=context))
    return made


#: What the friends page's views are made by: a change to any of them makes
#: the page be rendered again, whatever the digest of its inputs says.
_VIEW_CODE = (render, i18n, selection)
_CODE = (__version__, jinja2.__version__)
_post_fields = attrgetter(*(f.name for f in fields(Post)))
_friend_fields = attrgetter(*(f.name for f in fields(Friend)))
MACROS = "reciprocity/macros.html"  # imported by the friends page's template


def _render_kept(template: Any, context: dict[str, Any], cache: Path) -> str:
    """Our friends page's content, rendered, or kept from the last build
    that rendered it from the same inputs (``<cache>/pages/``): the views of
    100 friends and their rendering are most of a warm build's friends page.

    The key covers the list's own digest (:meth:`Views.friends_key`), the
    sources of the template and of the macros it imports (as this
    environment finds them: a theme may replace the macros), this module's
    code, and every other value the template reads. Without that digest, or
    in an environment with a ``finalize`` hook, it is simply rendered."""
    values = context.get("reciprocity")
    friends = values.get("friends") if isinstance(values, Mapping) else None
    key_of = getattr(friends, "key", None)
    env = template.environment
    if key_of is None or env.finalize is not None or env.loader is None:
        return str(template.render(context))
    try:
        sources = [env.loader.get_source(env, name)[0] for name in (template.name, MACROS)]
    except jinja2.TemplateNotFound:
        return str(template.render(context))
    parts = [
        key_of(),
        stamp(Path(__file__)),
        sources,
        context.get("SITEURL"),
        context.get("output_file"),
        [values.get(name) for name in ("headings", "words", "css", "opml_url", "lang")],
    ]
    key = digest_of(parts)
    # one file per page and language: i18n_subsites builds each in turn
    where = repr([context.get("output_file"), context.get("SITEURL"), values.get("lang")])
    name = f"{Path(template.name).stem}-{hashlib.sha256(where.encode()).hexdigest()[:16]}.json"
    path = Path(cache) / "pages" / name
    held = _LAST_PAGE.get("friends")
    if held is not None and held[:2] == (path, key) and held[2] == file_identity(path):
        return held[3]  # while the kept file is the one it was read from or written to
    html = _kept(path, key, template, context)
    if (identity := file_identity(path)) is not None:
        _LAST_PAGE["friends"] = (path, key, identity, html)
    return html


def _kept(path: Path, key: str, template: Any, context: dict[str, Any]) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kept = json.loads(path.read_bytes())
        if kept["key"] == key and isinstance(kept["html"], str):
            return kept["html"]
    html = str(template.render(context))
    with contextlib.suppress(OSError, ValueError):  # only the next build's shortcut is lost
        data = json.dumps({"key": key, "html": html}, ensure_ascii=False)
        write_atomic(path, data.encode("utf-8"), durable=False)
    return html


#: The friends page and the OPML blogroll last made in this process: under
#: autoreload, a rebuild from the same inputs does not read or make them again.
_LAST_PAGE: dict[str, tuple[Path, str, Any, str]] = {}
_LAST_OPML = LastMade()


class FriendsPageGenerator(Generator):
    """Writes the friends and thanks pages (through the theme's page.html),
    friends.opml, and the default stylesheet."""

    def generate_context(self) -> None:
        pass

    def get_template(self, name: str) -> Any:
        """From the articles generator's environment, where the theme's
        base.html and our section templates are already compiled (Pelican
        gives each generator its own: compiling them again cost more than
        rendering the friends page). The theme's page template, which no
        article needs, is compiled once and kept with our own (about 7 ms a
        build)."""
        shared = self.context.get(TEMPLATES_KEY)
        if not isinstance(shared, Generator) or shared is self:
            return super().get_template(name)
        if name not in self._templates:
            todo = self.context.get(PAGES_KEY)
            cache = todo.config.cache_path if isinstance(todo, PagesToWrite) else None
            extensions = self.settings.get("TEMPLATE_EXTENSIONS") or [".html"]
            names = [name + extension for extension in extensions]
            # one not to be found fails as Pelican fails it (without the
            # articles generator's section-adding wrapper)
            found = load_once(shared.env, names, cache)
            self._templates[name] = found or Generator.get_template(shared, name)
        return self._templates[name]

    def generate_output(self, writer: Any) -> None:
        later = self.context.get(DEFERRED_KEY)
        if isinstance(later, Deferred):
            later.patch()  # waits for the feeds, if nothing has yet
        todo = self.context.get(PAGES_KEY)
        if not isinstance(todo, PagesToWrite) or "reciprocity" not in self.context:
            return
        config = todo.config
        relative = self.settings.get("RELATIVE_URLS", False)
        # A page listed with the site's own (RECIPROCITY_MENU) is written with them.
        listed = {page.save_as for page in self.context.get("pages") or ()}
        for page in site_pages(self, todo, self.context, skip=listed):
            writer.write_file(
                page.save_as,
                self.get_template(page.template),
                self.context,
                page=page,
                relative_urls=relative,
                url=page.url,
            )
        for name, save_as, url in todo.pages():
            template = self.get_template(f"reciprocity/{name}")
            if not _ours(template):  # the theme's own whole page
                writer.write_file(
                    save_as, template, self.context, relative_urls=relative, url=url,
                    page_name=name,
                )  # fmt: skip
        output = Path(self.output_path)
        if todo.css:  # linked once from every page, so the browser caches it
            _put(output / todo.css, render.STYLESHEET.read_bytes())
        for path, data in sorted(todo.files.items()):
            _put(output / path, data)
        if config.opml_save_as and todo.friends:
            heading = self.context["reciprocity"]["headings"]["friends"]
            title = f"{self.settings.get('SITENAME') or 'My site'}: {heading}"
            listed = tuple((f, todo.sites.get(f.key, "")) for f in todo.friends)
            body = _LAST_OPML.get((listed, title), lambda: render.opml(listed, title=title))
            if _put(output / config.opml_save_as, body.encode("utf-8")):
                logger.info('Writing "%s"', output / config.opml_save_as)


def _put(target: Path, data: bytes) -> bool:
    """Write a file the plugin adds to the output, unless it holds ``data``
    already: its mtime stays put, so a deploy that goes by mtimes skips it."""
    with contextlib.suppress(OSError):
        if target.read_bytes() == data:
            return False
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data, durable=False)
    return True


def names_responses(article: Any) -> bool:
    """Does the article itself name responses: thanks, or a social announcement?"""
    metadata = getattr(article, "metadata", None) or {}
    # three lookups, not a generator's: asked of every article of every build
    return bool(metadata.get("thanks") or metadata.get("mastodon") or metadata.get("bluesky"))
