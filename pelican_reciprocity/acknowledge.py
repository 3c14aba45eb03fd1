"""Thank the people who responded: gather, match, moderate, record, show.

The glue between the readers and the pure decisions: reads comment files and
the fetched sources, keeps the moderation file, and attaches each article's
``reciprocity.thanks`` and the site's list of responders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import render, social
from .avatars import Avatars, collect
from .i18n import Strings
from .identity import identify, is_owner, person_keys
from .matching import match_articles
from .model import REACTION_KINDS, Acknowledged, ArticleRef, Person, ReadResult, Response
from .moderation import Rules, moderate
from .moderation_file import load_moderation, record_held
from .refresh import Gathered
from .sanitize import to_text
from .settings import Config
from .sources import read_comment_files, read_source, read_thanks, read_webmentions
from .thanks import responder_views, thanks_view

logger = logging.getLogger(__name__)


def article_key(article: Any) -> str:
    """An article's own id: unique per language, stable across builds."""
    return str(getattr(article, "save_as", "") or getattr(article, "slug", ""))


def _zone(name: str) -> tzinfo:
    """The site's TIMEZONE, for comment dates written without an offset."""
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return UTC


def gather(config: Config, gathered: Gathered, articles: list[Any]) -> list[Response]:
    """Every response from every source, less private ones and the owner's own."""
    found: list[ReadResult] = []
    if config.comments_path is not None:
        found.append(read_comment_files(config.comments_path, _zone(config.timezone)))
    for url, (body, error) in gathered.sources.items():
        label = url if not url.startswith("file:") else url[len("file://") :]
        if error:
            copy = "using the last good copy" if body is not None else "no copy to use"
            logger.warning("reciprocity: response source %s failed: %s; %s", label, error, copy)
        if body is not None:
            found.append(read_source(body, url))
    if gathered.webmention_error:
        logger.warning(
            "reciprocity: webmention.io for %s failed: %s; using the %d mention(s) already held",
            config.webmention_io_domain,
            gathered.webmention_error,
            len(gathered.webmentions or ()),
        )
    if gathered.webmentions:
        found.append(read_webmentions({"children": list(gathered.webmentions)}, "webmention.io"))
    for article in articles:
        value = (getattr(article, "metadata", {}) or {}).get("thanks")
        if value:
            found.append(read_thanks(value, article_key(article)))
    found.extend(social.gather(config, articles, article_key))
    responses: list[Response] = []
    for result in found:
        for problem in result.problems:
            logger.warning("reciprocity: %s", problem)
        responses.extend(result.responses)
    return [
        r
        for r in responses
        if not r.private  # wm-private: not ours to publish
        and not is_owner(r, author=config.author, siteurl=config.siteurl)
    ]


def acknowledge(
    config: Config,
    gathered: Gathered,
    articles: list[Any],
    friends: Mapping[str, str],
    strings: Callable[[str | None], Strings],
    site_lang: str,
    static: str = "theme",
) -> Acknowledged:
    """Match, moderate and attach thanks; ``friends`` maps friend keys to names.
    Avatars (RECIPROCITY_AVATARS) are copied under ``static`` in the output."""
    responses = gather(config, gathered, articles)
    refs = [ArticleRef(key=article_key(a), slug=str(a.slug), url=str(a.url)) for a in articles]
    matched, unmatched = match_articles(responses, refs, config.siteurl)
    if unmatched:
        logger.info(
            "reciprocity: %d response(s) match no article (e.g. %s)",
            len(unmatched),
            unmatched[0].target or unmatched[0].id,
        )
    by_key = {article_key(a): a for a in articles}
    article_of = {r.id: key for key, rs in matched.items() for r in rs}
    texts = {key: to_text(getattr(by_key[key], "content", "") or "") for key in matched}

    moderation = load_moderation(config.moderation_file)
    rules = Rules(
        block_words=config.block_words,
        block_domains=config.block_domains,
        block_authors=config.block_authors,
        approve_domains=config.approve_domains,
        approve_authors=config.approve_authors,
    ).merged(moderation.rules)
    trusted = set(friends)
    everything = [r for rs in matched.values() for r in rs]
    for response in everything:
        if moderation.decisions.get(response.id) == "approved":
            trusted |= person_keys(response)
    verdicts = moderate(
        everything,
        article_texts=texts,
        article_of=article_of,
        rules=rules,
        trusted=trusted,
        decisions=moderation.decisions,
    )
    held = [
        (r, verdicts[r.id], by_key[article_of[r.id]].slug)
        for r in everything
        if verdicts[r.id].status == "held"
    ]
    record_held(moderation, held)
    if held:
        where = os.path.relpath(config.moderation_file, config.site_root)
        logger.warning(
            "reciprocity: %d response%s held for moderation (see %s)",
            len(held),
            "" if len(held) == 1 else "s",
            where,
        )

    shown = {
        key: [r for r in group if verdicts[r.id].status == "publish"]
        for key, group in matched.items()
    }
    people, _anonymous = identify([r for group in shown.values() for r in group], friends)
    feeds, latest = _return_the_visit(config, people, set(friends))
    everywhere = latest if config.responder_latest == "everywhere" else None
    pictures = _avatars(config, shown, static)
    for key, group in shown.items():
        data = getattr(by_key[key], "reciprocity", None)
        if isinstance(data, render.ArticleReciprocity) and data.enabled:
            lang = str(getattr(by_key[key], "lang", "") or config.default_lang)
            thanks = thanks_view(
                group, friends, strings(lang), config.date_format, latest=everywhere,
                avatars=pictures.paths if config.avatars else None,
            )  # fmt: skip
            # a copy: articles that share their picks share the rest (pages.article_data)
            by_key[key].reciprocity = replace(data, thanks=thanks)
    on_page = latest if config.responder_latest != "off" else None
    responders = responder_views(
        people, article_of, strings(site_lang), config.date_format, latest=on_page
    )
    return Acknowledged(people, article_of, responders, feeds, pictures.files)


def _avatars(config: Config, shown: dict[str, list[Response]], static: str) -> Avatars:
    """The pictures of the people who liked or reposted, among those published
    only (RECIPROCITY_AVATARS): a held spammer's picture is never asked for."""
    if not config.avatars:
        return Avatars()
    names = {
        r.avatar_url: r.author_name
        for group in shown.values()
        for r in group
        if r.kind in REACTION_KINDS and r.avatar_url
    }
    return collect(config, names, static)


def _return_the_visit(
    config: Config, people: list[Person], friends: set[str]
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Responders' feeds and latest posts (RECIPROCITY_RESPONDER_FEEDS): only
    people whose responses were published are ever visited."""
    if not config.responder_feeds:
        return {}, {}
    from .responders import to_visit, visit  # imported only when the option is on

    visits = visit(config, to_visit(people, friends, config.responder_max))
    return visits.feeds, visits.latest
