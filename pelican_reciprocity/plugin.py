"""Pelican signal receivers: the only module that knows about Pelican's build.

Signals are process-global, so every receiver first finds *this* build's
state (or returns): tests, i18n_subsites and autoreload all run several
Pelican instances in one process.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from pelican import signals
from pelican.generators import ArticlesGenerator, Generator

from . import render, selection
from .cache import FeedCache
from .feeds import Post
from .friends import FriendsList, friend_site, load_friends
from .i18n import Strings
from .refresh import (
    RefreshReport,
    log_failures,
    refresh,
    refresh_sources,
    refresh_webmention_io,
)
from .settings import Config, ConfigError, configure
from .urls import normalise

logger = logging.getLogger(__name__)

PLUGIN_NAME = "pelican_reciprocity"
RUN_KEY = "RECIPROCITY_RUN_ID"  # private: which run a settings/context copy belongs to

#: Runs in progress in this process, by id. Removed when the run finishes.
_RUNS: dict[str, Run] = {}


class ReciprocityError(ConfigError):
    """Raised for RECIPROCITY_STRICT feed failures: the build must stop."""


@dataclass(eq=False)
class Run:
    """One Pelican build's worth of plugin state."""

    config: Config
    friends: FriendsList
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    report: RefreshReport | None = None
    thread: threading.Thread | None = None
    failure: BaseException | None = None
    friend_views: dict[str, render.FriendView] = field(default_factory=dict)
    sites: dict[str, str] = field(default_factory=dict)
    section_cache: dict[Any, str] = field(default_factory=dict)
    views: dict[Any, render.PostView] = field(default_factory=dict)
    _strings: dict[str, Strings] = field(default_factory=dict)
    _words: dict[Any, dict[str, str]] = field(default_factory=dict)
    css: Any = ""
    index: selection.PostIndex | None = None
    ranking: selection.Ranking | None = None
    sources: dict[str, tuple[bytes | None, str | None]] | None = None
    webmentions: list[dict[str, Any]] | None = None
    webmention_error: str | None = None
    people: list[Any] = field(default_factory=list)
    article_of: dict[str, str] = field(default_factory=dict)
    nested: bool = False  # an i18n sub-site built inside another build
    env: Any = None

    def _webmentions(self, config: Config) -> None:
        """webmention.io, asked directly when a domain and a token are set."""
        domain = config.webmention_io_domain
        if not domain:
            return
        token = os.environ.get("WEBMENTION_IO_TOKEN", "").strip()
        if not token:
            self.webmention_error = (
                "RECIPROCITY_WEBMENTION_IO_DOMAIN is set but WEBMENTION_IO_TOKEN is not "
                "in the environment"
            )
            return
        self.webmentions, self.webmention_error = refresh_webmention_io(
            domain, token, config, api=config.webmention_io_api
        )

    def _source_urls(self) -> list[str]:
        from .friends import resolve_feed

        urls = []
        for source in self.config.response_sources:
            url, problem = resolve_feed(source, self.config.site_root)
            if problem:
                logger.warning("reciprocity: RECIPROCITY_RESPONSE_SOURCES: %s; skipped", problem)
            else:
                urls.append(url)
        return urls

    def view(self, item: selection.Highlight, lang: str) -> render.PostView:
        """One view object per post (and language), shared by every article showing it."""
        key = (item.post.key, item.curated, item.found, lang)
        view = self.views.get(key)
        if view is None:
            view = render.post_view(
                item.post,
                self.friend_views.get(item.post.friend),
                self.strings(lang),
                self.config.date_format,
                curated=item.curated,
                found=item.found,
            )
            self.views[key] = view
        return view

    def strings(self, lang: str | None) -> Strings:
        lang = lang or self.config.default_lang
        if lang not in self._strings:
            self._strings[lang] = Strings(lang, self.config.strings)
        return self._strings[lang]

    def headings(self, lang: str | None) -> dict[str, str]:
        """Section headings in a language; a heading set in the settings wins."""
        if ("headings", lang) in self._words:
            return self._words[("headings", lang)]
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
        if ("words", lang) in self._words:
            return self._words[("words", lang)]
        t = self.strings(lang)
        self._words[("words", lang)] = {
            "by": t("by"),
            "friend": t("friend"),
            "unavailable": t("Their feed could not be read just now."),
            "subscribe": t("Subscribe to all of them (OPML)"),
        }
        return self._words[("words", lang)]

    def start(self) -> None:
        """Fetch in the background so it overlaps with Pelican reading content."""
        self.thread = threading.Thread(target=self._work, name="reciprocity-fetch", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            self.report = refresh(self.friends.friends, self.config)
            self._index(self.report)
            if self.config.response_sources:
                self.sources = refresh_sources(self._source_urls(), self.config)
            self._webmentions(self.config)
        except BaseException as exc:  # never let a bug here kill the build
            self.failure = exc

    def _index(self, report: RefreshReport) -> None:
        """Index and rank every post, still in the background thread, so the
        main thread only looks things up."""
        posts = [post for state in report.feeds for post in state.posts]
        self.index = selection.PostIndex(posts)
        self.ranking = selection.Ranking(
            posts, as_of=report.as_of, max_age_days=self.config.auto_max_age_days
        )

    def wait(self) -> RefreshReport:
        if self.thread is not None:
            self.thread.join(self.config.fetch_deadline + 30)
            if self.thread.is_alive():
                logger.warning(
                    "reciprocity: feed refresh did not finish in time; using cached copies"
                )
        if self.report is None:
            if self.failure is not None:
                logger.warning(
                    "reciprocity: feed refresh failed unexpectedly (%s: %s); using cached copies",
                    type(self.failure).__name__,
                    self.failure,
                    exc_info=self.failure,
                )
            offline = _offline(self.config)
            self.report = refresh(
                self.friends.friends, offline, cache=FeedCache(offline.cache_path)
            )
        if self.index is None or self.ranking is None:
            self._index(self.report)
        if self.sources is None and self.config.response_sources:
            self.sources = refresh_sources(self._source_urls(), _offline(self.config))
        if self.webmentions is None and self.webmention_error is None:
            self._webmentions(_offline(self.config))
        return self.report


def _offline(config: Config) -> Config:
    from dataclasses import replace

    return replace(config, offline=True)


# -- guards -----------------------------------------------------------------------


def _enabled(settings: dict[str, Any]) -> bool:
    plugins = settings.get("PLUGINS") or []
    return any(
        (p if isinstance(p, str) else getattr(p, "__name__", "")) == PLUGIN_NAME for p in plugins
    )


def _run_for(mapping: dict[str, Any] | None) -> Run | None:
    if not mapping:
        return None
    run_id = mapping.get(RUN_KEY)
    return _RUNS.get(run_id) if isinstance(run_id, str) else None


# -- receivers (module level, connected once) --------------------------------------


def start_run(pelican: Any) -> None:
    """get_generators: the earliest per-build signal (it fires on every
    autoreload run too). Validate settings, read friends, start fetching."""
    settings = pelican.settings
    settings.pop(RUN_KEY, None)
    if not _enabled(settings):
        return None
    config = configure(settings)
    responses_wanted = (
        _exclude_comments(settings, config)
        or bool(config.response_sources)
        or bool(config.webmention_io_domain)
    )
    spec = config.friends
    if isinstance(spec, str) and "RECIPROCITY_FRIENDS" not in settings:
        candidate = Path(spec)
        if not (config.site_root / candidate).is_file():
            spec = ()
            if not responses_wanted:
                logger.info(
                    "reciprocity: no friends configured (no %s in %s, and "
                    "RECIPROCITY_FRIENDS is not set); nothing to do",
                    candidate,
                    config.site_root,
                )
                return None
    friends = load_friends(spec, config.site_root)
    for problem in friends.problems:
        logger.warning("reciprocity: %s", problem)
    if not friends.friends and not responses_wanted:
        logger.info("reciprocity: the friends list %s is empty; nothing to do", friends.source)
        return None
    run = Run(config=config, friends=friends)
    enclosing = _enclosing_runs(pelican)
    # Runs that are not building around us are over (or died without their
    # `finalized` signal): drop them, so nothing stale is ever reused.
    for stale in set(_RUNS) - {r.id for r in enclosing}:
        del _RUNS[stale]
    _RUNS[run.id] = run
    settings[RUN_KEY] = run.id
    parent = _twin(run, enclosing)
    if parent is not None:
        # i18n_subsites builds each language inside the main build: share the
        # feeds the main build already read instead of fetching them again.
        logger.debug("reciprocity: reusing the feeds of the enclosing build")
        run.nested = True
        run.report, run.index, run.ranking = parent.report, parent.index, parent.ranking
        run.sources = parent.sources
        run.webmentions, run.webmention_error = parent.webmentions, parent.webmention_error
    else:
        run.start()
    return None


def _exclude_comments(settings: dict[str, Any], config: Config) -> bool:
    """Keep the comments folder out of Pelican's articles and pages; True if
    the site has one."""
    folder = config.comments_path
    if folder is None or not folder.is_dir():
        return False
    relative = os.path.relpath(folder, settings.get("PATH") or ".")
    for key in ("ARTICLE_EXCLUDES", "PAGE_EXCLUDES"):
        excludes = list(settings.get(key) or [])
        if relative not in excludes:
            settings[key] = [*excludes, relative]
    return True


def _enclosing_runs(pelican: Any) -> list[Run]:
    """The runs of Pelican builds that are executing around this one: what
    i18n_subsites does, building each language inside the main build."""
    from pelican import Pelican

    runs = []
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Pelican) and owner is not pelican:
            run = _run_for(getattr(owner, "settings", None))
            if run is not None and run not in runs:
                runs.append(run)
        frame = frame.f_back
    return runs


def _twin(run: Run, enclosing: list[Run]) -> Run | None:
    """An enclosing build with the same friends that has already read them."""
    feeds = [f.feed for f in run.friends.friends]
    for other in enclosing:
        if (
            other.report is not None
            and other.config.offline == run.config.offline
            and [f.feed for f in other.friends.friends] == feeds
        ):
            return other
    return None


def _stop_on_user_error(receiver: Callable[..., Any]) -> Callable[..., Any]:
    """A user mistake ends the build with one clear line, not a traceback
    (Pelican prints one for any exception a plugin raises)."""

    @functools.wraps(receiver)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return receiver(*args, **kwargs)
        except ConfigError as exc:
            logger.critical("reciprocity: %s", exc)
            raise SystemExit(1) from None

    return wrapper


@_stop_on_user_error
def get_generators(pelican: Any) -> type | None:
    start_run(pelican)
    return FriendsPageGenerator if _run_for(pelican.settings) else None


def add_template_loader(generator: Generator) -> None:
    """Our templates come after the theme's, so a theme or
    THEME_TEMPLATES_OVERRIDES can replace any of them."""
    if not _enabled(generator.settings):
        return
    loader = generator.env.loader
    ours = FileSystemLoader(str(render.TEMPLATES))
    if isinstance(loader, ChoiceLoader):
        if not any(
            isinstance(item, FileSystemLoader) and str(render.TEMPLATES) in item.searchpath
            for item in loader.loaders
        ):
            loader.loaders.append(ours)
    else:
        generator.env.loader = ChoiceLoader([loader, ours])


@_stop_on_user_error
def prepare(generators: list[Generator]) -> None:
    """all_generators_finalized: wait for the feeds, then decide every
    article's highlights. Runs after Pelican's content cache is saved, so
    nothing here is frozen into it."""
    if not generators:
        return
    run = _run_for(generators[0].settings)
    if run is None:
        return
    config = run.config
    report = run.wait()
    static = str(generators[0].settings.get("THEME_STATIC_DIR") or "theme").strip("/")
    run.css = f"{static}/reciprocity.css" if config.css else ""
    log_failures(report)
    logger.info("%s", report.summary())
    if config.strict and report.failed:
        names = ", ".join(f"{s.friend.name} ({s.error})" for s in report.failed)
        raise ReciprocityError(
            f"RECIPROCITY_STRICT is on and {len(report.failed)} feed(s) failed: {names}"
        )

    context = generators[0].context
    context[RUN_KEY] = run.id
    friend_posts: dict[str, list[Post]] = {}
    for state in report.feeds:
        friend = state.friend
        site = friend_site(friend, state.link)
        run.sites[friend.key] = site
        run.friend_views[friend.key] = render.friend_view(
            friend,
            site,
            ok=state.outcome != "failed" or bool(state.posts),
            error=state.error,
        )
        friend_posts[friend.key] = state.posts
    as_of = report.as_of
    index, ranking = run.index, run.ranking
    assert index is not None and ranking is not None
    site_lang = str(generators[0].settings.get("DEFAULT_LANG") or config.default_lang)
    headings = run.headings(site_lang)

    friends_out = []
    for friend in run.friends.friends:
        view = run.friend_views[friend.key]
        posts = selection.latest(friend_posts.get(friend.key, []), config.friends_posts)
        views = tuple(
            render.post_view(p, view, run.strings(site_lang), config.date_format) for p in posts
        )
        friends_out.append(_with_posts(view, views))
    has_friends = bool(run.friends.friends)
    context["reciprocity"] = {
        "friends": friends_out,
        "headings": headings,
        "words": run.words(site_lang),
        "css": run.css,
        "lang": site_lang,
        "friends_url": config.friends_url if config.friends_save_as and has_friends else "",
        "opml_url": config.opml_save_as if has_friends else "",
        "thanks_url": "",
        "responders": [],
        "as_of": as_of,
    }

    for generator in generators:
        if not isinstance(generator, ArticlesGenerator):
            continue
        run.env = generator.env
        if config.inject:
            _wrap_templates(generator, run)
        for article in _all_articles(generator):
            article.reciprocity = _article_data(article, run, index, ranking)
        if (
            run.sources is not None
            or run.webmentions is not None
            or run.webmention_error is not None
            or (config.comments_path is not None and config.comments_path.is_dir())
        ):
            from .acknowledge import acknowledge

            acknowledge(run, _all_articles(generator), context)
        if not run.nested:
            _update_ledger(run, [*generator.articles, *generator.translations])


def _update_ledger(run: Run, articles: list[Any]) -> None:
    """Write reciprocity/ledger.json: both directions of every relationship."""
    from . import ledger

    config = run.config
    identity = ledger.Identity()
    friend_keys: dict[str, str] = {}
    for friend in run.friends.friends:
        site = run.sites.get(friend.key) or friend.url
        key = "url:" + normalise(site) if site else "name:" + friend.name.casefold()
        friend_keys[friend.key] = key
        identity.add(key, friend.name, site, friend=True, also=friend.aliases)
    for person in run.people:
        identity.add(person.key, person.name, person.url)
    facts = []
    for article in articles:
        data = getattr(article, "reciprocity", None)
        curated = automatic = ()
        if isinstance(data, render.ArticleReciprocity):
            curated = tuple(
                (friend_keys.get(v.friend.key, ""), str(v.url)) for v in data.curated if v.friend
            )
            automatic = tuple(
                (friend_keys.get(v.friend.key, ""), str(v.url)) for v in data.automatic if v.friend
            )
        url = str(article.url)
        if config.siteurl:
            url = config.siteurl.rstrip("/") + "/" + url
        facts.append(
            ledger.ArticleFacts(
                key=str(article.slug)
                + (
                    f"@{article.lang}" if getattr(article, "in_default_lang", True) is False else ""
                ),
                url=url,
                date=getattr(article, "date", None),
                curated=curated,
                automatic=automatic,
                links=tuple(ledger.outbound_links(getattr(article, "content", ""), config.siteurl)),
            )
        )
    path = config.ledger_file
    try:
        data = ledger.load(path)
    except ConfigError as exc:
        logger.warning("reciprocity: %s; not updating it", exc)
        return
    data["people"] = ledger.build_ledger(identity, run.people, run.article_of, facts)
    data["articles"] = ledger.article_records(facts, identity)
    if ledger.save(path, data):
        logger.info("reciprocity: updated %s", os.path.relpath(path, config.site_root))


def _with_posts(view: render.FriendView, posts: tuple[render.PostView, ...]) -> render.FriendView:
    from dataclasses import replace

    return replace(view, posts=posts)


def _all_articles(generator: ArticlesGenerator) -> list[Any]:
    return [
        *generator.articles,
        *generator.translations,
        *getattr(generator, "hidden_articles", []),
        *getattr(generator, "hidden_translations", []),
    ]


def _article_data(
    article: Any,
    run: Run,
    index: selection.PostIndex,
    ranking: selection.Ranking,
) -> render.ArticleReciprocity:
    config = run.config
    lang = str(getattr(article, "lang", "") or config.default_lang)
    headings = run.headings(lang)
    metadata = getattr(article, "metadata", {}) or {}
    if selection.is_off(metadata.get("reciprocity", "on")):
        return render.ArticleReciprocity(enabled=False, headings=headings, words=run.words(lang))
    tags = [str(t) for t in getattr(article, "tags", []) or []]
    curated, automatic, bad = selection.highlights_for(
        metadata,
        index=index,
        ranking=ranking,
        count=config.auto_count,
        per_friend=config.auto_per_friend,
        prefer_shared_tags=config.prefer_shared_tags,
        article_tags=tags,
    )
    source = getattr(article, "source_path", article)
    for piece in bad:
        logger.warning(
            "reciprocity: %s: Highlights: %r is not an http(s) address; ignored",
            source,
            piece,
        )
    for item in curated:
        if not item.found:
            logger.warning(
                "reciprocity: %s: highlighted %s is not in any friend's feed; "
                "shown as a plain link",
                source,
                item.post.url,
            )
    return render.ArticleReciprocity(
        curated=[run.view(h, lang) for h in curated],
        automatic=[run.view(h, lang) for h in automatic],
        headings=headings,
        words=run.words(lang),
        css=run.css,
    )


def with_section(run: Run, page: str, context: dict[str, Any]) -> str:
    """Add the plugin's sections to a rendered article page, except those the
    theme already placed (and those with nothing to show)."""
    article = context.get("article")
    if article is None or context.get("output_file") != getattr(article, "save_as", None):
        return page
    data = getattr(article, "reciprocity", None)
    if not isinstance(data, render.ArticleReciprocity) or not data:
        return page
    sections = []
    for name in render.SECTIONS:
        present = data.thanks if name == "thanks" else data.highlights
        if present and not render.already_placed(page, name):
            sections.append(_render_section(run, name, context, data))
    if not sections:
        return page
    return render.inject(page, "\n".join(sections), getattr(article, "content", None))


class _InjectingTemplate:
    """The article template, with the section added to its output in memory,
    so a 10,000-article site never re-reads the pages it has just written."""

    def __init__(self, template: Any, run: Run) -> None:
        self._template = template
        self._run = run

    def render(self, *args: Any, **kwargs: Any) -> str:
        page = self._template.render(*args, **kwargs)
        context = args[0] if args and isinstance(args[0], dict) else kwargs
        return with_section(self._run, page, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._template, name)


def _wrap_templates(generator: ArticlesGenerator, run: Run) -> None:
    original = generator.get_template

    def get_template(name: str) -> Any:
        return _InjectingTemplate(original(name), run)

    generator.get_template = get_template  # type: ignore[method-assign]


def _render_section(
    run: Run, name: str, context: dict[str, Any], data: render.ArticleReciprocity
) -> str:
    template = run.env.get_template(f"reciprocity/{name}.html")
    ours = template.filename and str(render.TEMPLATES) in template.filename
    key = (
        (name, data.cache_key(), context.get("SITEURL")) if ours and name == "highlights" else None
    )
    if key is not None and key in run.section_cache:
        return run.section_cache[key]
    html = template.render(context).strip()
    if key is not None:
        run.section_cache[key] = html
    return html


class FriendsPageGenerator(Generator):
    """Writes friends/index.html and friends.opml with the theme's layout."""

    def generate_context(self) -> None:
        pass

    def generate_output(self, writer: Any) -> None:
        run = _run_for(self.settings)
        if run is None or "reciprocity" not in self.context:
            return
        config = run.config
        if config.friends_save_as and run.friends.friends:
            writer.write_file(
                config.friends_save_as,
                self.get_template("reciprocity/friends"),
                self.context,
                relative_urls=self.settings.get("RELATIVE_URLS", False),
                url=config.friends_url,
                page_name="friends",
            )
        if run.css:
            # Linked once from every page, so the browser caches it.
            target = Path(self.output_path) / run.css
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(render.STYLESHEET, target)
        if config.thanks_save_as and self.context["reciprocity"].get("responders"):
            writer.write_file(
                config.thanks_save_as,
                self.get_template("reciprocity/responders"),
                self.context,
                relative_urls=self.settings.get("RELATIVE_URLS", False),
                url=config.thanks_url,
                page_name="thanks",
            )
        if config.opml_save_as and run.friends.friends:
            heading = self.context["reciprocity"]["headings"]["friends"]
            title = f"{self.settings.get('SITENAME', 'My site')}: {heading}"
            body = render.opml(
                ((f, run.sites.get(f.key, "")) for f in run.friends.friends),
                title=title,
            )
            out = Path(self.output_path) / config.opml_save_as
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(body, encoding="utf-8")
            logger.info('Writing "%s"', out)


def finish_run(pelican: Any) -> None:
    run = _RUNS.pop(pelican.settings.pop(RUN_KEY, None) or "", None)
    if run is not None:
        run.section_cache.clear()
        run.views.clear()


_CONNECTED = False


def connect() -> None:
    """Connect the receivers once per process (register() may run many times)."""
    global _CONNECTED
    if _CONNECTED:
        return
    signals.get_generators.connect(get_generators)
    signals.generator_init.connect(add_template_loader)
    signals.all_generators_finalized.connect(prepare)
    signals.finalized.connect(finish_run)
    _CONNECTED = True
