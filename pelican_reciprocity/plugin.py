"""Pelican signal receivers and the state of one build: nothing else.

Signals are process-global, so every receiver first finds *this* build's
:class:`Run` (or returns): tests, i18n_subsites and autoreload all run several
Pelican instances in one process, sometimes in several threads.

Nesting is explicit. i18n_subsites builds each language inside the main build with a
copy of the main build's settings, run id included. A build that inherits a run id reuses
that run's feeds, but only while it is live and belongs to another, living Pelican.
"""

from __future__ import annotations

import functools
import logging
import os
import weakref
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pelican import signals
from pelican.generators import ArticlesGenerator, Generator, PagesGenerator

from . import files, ledger_file, pages, refresh, selection
from .articles import ledger_articles
from .friends import load_friends, response_sources
from .identity import Directory
from .model import Acknowledged, FriendsList, record
from .refresh import (
    FetchSettings,
    Gathered,
    Snapshot,
    Touched,
    Work,
    collect,
    fetch,
    log_failures,
    snapshot,
)
from .settings import Config, ConfigError, configure, exclude_from_content

if TYPE_CHECKING:
    from .job import Job

logger = logging.getLogger(__name__)

PLUGIN_NAME = "pelican_reciprocity"
RUN_KEY = "RECIPROCITY_RUN_ID"  # private: which run a settings/context copy belongs to

#: Runs in progress in this process, by id. A run ends at `finalized`.
_RUNS: dict[str, Run] = {}


class ReciprocityError(ConfigError):
    """Raised for RECIPROCITY_STRICT feed failures: the build must stop."""


@record(eq=False)
class Run:
    """One Pelican build's worth of plugin state, touched only by its own thread."""

    config: Config
    friends: FriendsList
    owner: weakref.ref[Any]
    work: Work
    id: str = field(default_factory=lambda: os.urandom(16).hex())
    parent: Run | None = None  # the enclosing build (i18n_subsites)
    job: Job | None = None
    before: Snapshot | None = None  # the cache as this build found it
    gathered: Gathered | None = None
    index: selection.PostIndex | None = None
    ranking: selection.Ranking | None = None
    acknowledged: Acknowledged = field(default_factory=Acknowledged)
    context: dict[str, Any] | None = None  # Pelican's, from `prepare` until `release`
    views: pages.Views | None = None  # from `prepare` until `release`
    articles: list[Any] = field(default_factory=list)  # those given `.reciprocity`

    @property
    def settings(self) -> FetchSettings:
        return FetchSettings.from_config(self.config)

    def start(self) -> None:
        """Start fetching beside Pelican's reading, unless nothing is due."""
        if self.parent is not None:
            return
        self.before = snapshot(self.settings, self.work)
        if self.before.due:
            from .job import Job  # a warm build starts no job: it never loads one

            self.job = Job.start(self.settings, self.work, self.before)
            if self.job is None:  # no child process to be had: fetch here, now
                touched = Touched()
                report = fetch(self.settings, self.work, touched=touched, before=self.before)
                self.gathered = collect(self.settings, self.work, report, touched=touched)

    def wait(self) -> Gathered:
        """The feeds, once: from the parent build, the job, or the cache."""
        if self.gathered is None:
            if self.parent is not None:
                self.gathered = self.parent.wait()
            else:
                found = self.job.result() if self.job is not None else None
                report, touched = found if found is not None else (None, None)
                self.gathered = collect(self.settings, self.work, report, self.before, touched)
        if self.index is None or self.ranking is None:
            if self.parent is not None and self.parent.index is not None:
                self.index, self.ranking = self.parent.index, self.parent.ranking
            else:
                feeds = self.gathered.feeds
                self.index, self.ranking = selection.index_and_ranking(
                    [post for state in feeds for post in state.posts],
                    # a private friend's posts are highlighted only when an article names them
                    [post for state in feeds if not state.friend.private for post in state.posts],
                    as_of=self.gathered.as_of,
                    max_age_days=self.config.auto_max_age_days,
                    keep=self.job is None,  # else only the job's handover holds them
                )
        return self.gathered

    def ready(self) -> bool:
        """Can the feeds be had now without waiting?"""
        if self.gathered is not None or self.parent is not None:
            return True
        return self.job is None or self.job.done()

    def release(self) -> None:
        """Let go of what the build held once its pages are written: Pelican keeps
        every article (and so the context) until the process ends, and autoreload piles them up."""
        if self.context is not None:
            pages.let_go(self.context.pop("reciprocity", None))
            # TEMPLATES_KEY: the articles generator, its environment and templates
            for key in (pages.DEFERRED_KEY, pages.PAGES_KEY, pages.TEMPLATES_KEY):
                self.context.pop(key, None)
        if self.views is not None:
            self.views.forget()
        for article in self.articles:  # not vars(article): it would give each its own dict
            if hasattr(article, "reciprocity"):
                del article.reciprocity
        self.context = self.views = self.gathered = self.index = self.ranking = None
        self.before, self.articles, self.acknowledged = None, [], Acknowledged()
        files.thaw()  # the posts its loads froze: see files.collector_paused

    def live_for(self, pelican: Any) -> bool:
        owner = self.owner()
        return owner is not None and owner is not pelican


def _enabled(settings: dict[str, Any]) -> bool:
    plugins = settings.get("PLUGINS") or []
    return PLUGIN_NAME in (p if isinstance(p, str) else getattr(p, "__name__", "") for p in plugins)


def _run_for(mapping: dict[str, Any] | None) -> Run | None:
    run_id = mapping.get(RUN_KEY) if mapping else None
    return _RUNS.get(run_id) if isinstance(run_id, str) else None


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


# -- receivers (module level, connected once) --------------------------------------


def start_run(pelican: Any) -> Run | None:
    """Validate settings, read friends, and start the fetch job."""
    settings = pelican.settings
    inherited = _run_for(settings)
    settings.pop(RUN_KEY, None)
    # Runs whose Pelican is gone died without `finalized`: drop them.
    for stale in [k for k, r in _RUNS.items() if r.owner() is None]:
        dead = _RUNS.pop(stale)
        if dead.job is not None:
            dead.job.finish()
    if not _enabled(settings):
        return None
    config = configure(settings)
    responses_wanted = (
        exclude_from_content(settings, config.comments_path)
        or bool(config.response_sources or config.webmention_io_domain)
        or bool(config.mastodon_account or config.bluesky_account)
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
    sources, problems = response_sources(config.response_sources, config.site_root)
    for problem in problems:
        logger.warning("reciprocity: RECIPROCITY_RESPONSE_SOURCES: %s; skipped", problem)
    work = Work(friends=friends.friends, sources=sources)
    run = Run(config=config, friends=friends, owner=weakref.ref(pelican), work=work)
    if inherited is not None and inherited.live_for(pelican) and _same_reading(inherited, run):
        # i18n_subsites builds each language inside the main build: share
        # the feeds the main build read instead of fetching them again.
        logger.debug("reciprocity: reusing the feeds of the enclosing build")
        run.parent = inherited
    _RUNS[run.id] = run
    settings[RUN_KEY] = run.id
    run.start()
    return run


def _same_reading(parent: Run, run: Run) -> bool:
    return parent.work == run.work and parent.config.offline == run.config.offline


@_stop_on_user_error
def get_generators(pelican: Any) -> type | None:
    """get_generators: the earliest per-build signal (it fires on every
    autoreload run too), so the fetch overlaps all of Pelican's reading."""
    return pages.FriendsPageGenerator if start_run(pelican) else None


def add_template_loader(generator: Generator) -> None:
    if _enabled(generator.settings):
        run = _run_for(generator.settings)  # its cache keeps our compiled templates
        pages.add_template_loader(generator, run.config.cache_path if run else None)


@_stop_on_user_error
def prepare(generators: list[Generator]) -> None:
    """all_generators_finalized: where posts are first needed. Runs after
    Pelican's content cache is saved, so nothing here is frozen into it.

    When the feeds are in (or strict mode must know now), decide every
    article's sections at once. Otherwise let Pelican write on, and decide at
    the first thing that needs the feeds: a template reading the plugin's
    values, or the friends page generator, which also gives the article pages
    written meanwhile their sections (see :class:`pages.Deferred`).
    """
    run = _run_for(generators[0].settings) if generators else None
    if run is None:
        return
    config = run.config
    static = str(generators[0].settings.get("THEME_STATIC_DIR") or "theme").strip("/")
    views = run.views = pages.Views(config, static=static)
    context = run.context = generators[0].context
    run.articles = [a for g in _articles_generators(generators) for a in pages.all_articles(g)]
    site_lang = str(generators[0].settings.get("DEFAULT_LANG") or config.default_lang)
    has_friends = bool(run.friends.friends)
    now = {
        "headings": views.headings(site_lang),
        "words": views.words(site_lang),
        "css": views.css,
        "lang": site_lang,
        "friends_url": config.friends_url if config.friends_save_as and has_friends else "",
        "opml_url": config.opml_save_as if has_friends else "",
    }
    settle = functools.partial(_settle, run, generators, views, now)
    if run.ready() or config.strict or config.menu:
        deferred = None
        settle()
    else:
        deferred = pages.Deferred(_stop_on_user_error(settle), run.ready)
        context[pages.DEFERRED_KEY] = deferred
        context["reciprocity"] = pages.LazyGlobals(now, deferred)
        for article in run.articles:
            article.reciprocity = pages.Pending(article, deferred)
    if config.inject:
        for generator in _articles_generators(generators):
            pages.wrap_templates(generator, views, deferred)


def _articles_generators(generators: list[Generator]) -> list[ArticlesGenerator]:
    return [generator for generator in generators if isinstance(generator, ArticlesGenerator)]


def _settle(run: Run, generators: list[Generator], views: pages.Views, now: dict[str, Any]) -> None:
    """Wait for the feeds, then decide every article's sections, thank the
    responders and update the ledger."""
    config = run.config
    gathered = run.wait()
    assert run.index is not None and run.ranking is not None
    views.add_feeds(gathered.feeds)
    log_failures(gathered)
    logger.info("%s", gathered.summary())
    if config.strict and gathered.failed:
        names = ", ".join(f"{s.friend.name} ({s.error})" for s in gathered.failed)
        raise ReciprocityError(
            f"RECIPROCITY_STRICT is on and {len(gathered.failed)} feed(s) failed: {names}"
        )
    context = generators[0].context
    values = {
        **now,
        "friends": views.friends_list(gathered.feeds, now["lang"]),
        "thanks_url": "",
        "responders": [],
        "as_of": gathered.as_of,
    }
    responses_wanted = (
        gathered.sources
        or bool(config.mastodon_account or config.bluesky_account)
        or gathered.webmentions is not None
        or gathered.webmention_error is not None
        or (config.comments_path is not None and config.comments_path.is_dir())
    )
    for generator in _articles_generators(generators):
        articles = pages.all_articles(generator)
        for article in articles:
            article.reciprocity = pages.article_data(article, views, run.index, run.ranking)
        if config.auto_count and (why := selection.why_empty(run.ranking, config)):
            logger.warning("reciprocity: %s", why)
        friends = views.friend_identities(run.friends.friends)
        if responses_wanted or any(pages.names_responses(a) for a in articles):
            from .acknowledge import acknowledge  # only a site with responses reads them

            run.acknowledged = acknowledge(
                config, gathered, articles, friends, views.strings, now["lang"], views.static
            )
            values["responders"] = run.acknowledged.responders
            if config.thanks_save_as and run.acknowledged.people:
                values["thanks_url"] = config.thanks_url
        if run.parent is None:
            _update_ledger(run, views, [*generator.articles, *generator.translations])
    lazy = context.get("reciprocity")
    if isinstance(lazy, pages.LazyGlobals):
        lazy.fill(values)
    else:
        context["reciprocity"] = values
    todo = pages.PagesToWrite.of(views, run.friends.friends, run.acknowledged)
    context[pages.PAGES_KEY] = todo
    if config.menu:  # listed with the site's own pages: menus and sitemaps see them
        for generator in generators:
            if isinstance(generator, PagesGenerator):
                generator.pages.extend(pages.site_pages(generator, todo, context))


def _update_ledger(run: Run, views: pages.Views, articles: list[Any]) -> None:
    """Write reciprocity/ledger.json: both directions of every relationship."""
    directory, got, keys = Directory(), run.acknowledged, {}
    for friend in run.friends.friends:
        site, keys[friend.key] = views.sites.get(friend.key) or friend.url, views.person_key(friend)
        directory.add(keys[friend.key], friend.name, site, friend=True, also=friend.aliases)
    for person in got.people:
        directory.add(person.key, person.name, person.url, feed=got.feeds.get(person.key) or "")
    made_from, facts = ledger_articles(articles, keys, run.config.cache_path, run.config.siteurl)
    path, memo = run.config.ledger_file, run.config.cache_path / "ledger-inputs.json"
    try:
        given = (path, directory, got.people, got.article_of, facts)
        if ledger_file.update(*given, memo=memo, made_from=made_from):
            logger.info("reciprocity: updated %s", os.path.relpath(path, run.config.site_root))
    except OSError as exc:  # the site still builds; the ledger catches up next time
        logger.warning("reciprocity: %s; the ledger was not updated", exc)


def finish_run(pelican: Any) -> None:
    """finalized: the build and its run end; a job still writing the cache may finish."""
    run = _RUNS.pop(pelican.settings.pop(RUN_KEY, None) or "", None)
    if run is not None and run.job is not None:
        run.job.finish(timeout=run.config.fetch_deadline if run.gathered else 0.0)
    elif run is not None and run.parent is None:  # no job to keep the cache index current
        refresh.flush_caches(run.settings)
    if run is not None:
        run.release()


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
