"""Thank the people who responded: gather, match, moderate, record, show.

The glue between the pure pieces (responses, moderation) and the build:
reads comment files and sources, writes the moderation file, and attaches
``article.reciprocity.thanks`` and the global ``reciprocity.responders``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from markupsafe import escape

from . import render
from .i18n import Strings
from .moderation import Rules, load_moderation, moderate, person_keys, record_held
from .responses import (
    ArticleRef,
    Person,
    ReadResult,
    Response,
    identify,
    match_articles,
    read_comment_files,
    read_source,
    read_thanks,
    read_webmentions,
)
from .sanitize import to_text
from .urls import is_web_url, normalise

if TYPE_CHECKING:
    from .plugin import Run

logger = logging.getLogger(__name__)
TEXTUAL = ("comment", "reply", "mention", "bookmark")


def friend_identities(run: Run) -> dict[str, str]:
    """Keys ("url:…", "name:…") that identify each friend, for merging people."""
    keys: dict[str, str] = {}
    for friend in run.friends.friends:
        site = run.sites.get(friend.key) or friend.url
        if site:
            keys["url:" + normalise(site)] = friend.name
        keys["name:" + friend.name.casefold()] = friend.name
        for alias in friend.aliases:
            key = "url:" + normalise(alias) if is_web_url(alias) else "name:" + alias.casefold()
            keys[key] = friend.name
    return keys


def gather(run: Run, articles: list[Any]) -> list[Response]:
    config = run.config
    found: list[ReadResult] = []
    if config.comments_path is not None:
        found.append(read_comment_files(config.comments_path))
    for url, (body, error) in (run.sources or {}).items():
        label = url if not url.startswith("file:") else url[len("file://") :]
        if error:
            copy = "using the last good copy" if body is not None else "no copy to use"
            logger.warning("reciprocity: response source %s failed: %s; %s", label, error, copy)
        if body is not None:
            found.append(read_source(body, url))
    if run.webmention_error:
        held = len(run.webmentions or [])
        logger.warning(
            "reciprocity: webmention.io for %s failed: %s; using the %d mention(s) already held",
            config.webmention_io_domain,
            run.webmention_error,
            held,
        )
    if run.webmentions:
        found.append(read_webmentions({"children": run.webmentions}, "webmention.io"))
    for article in articles:
        value = (getattr(article, "metadata", {}) or {}).get("thanks")
        if value:
            found.append(read_thanks(value, _key(article)))
    responses: list[Response] = []
    for result in found:
        for problem in result.problems:
            logger.warning("reciprocity: %s", problem)
        responses.extend(result.responses)
    own = {config.author.casefold()} if config.author else set()
    site_host = normalise(config.siteurl).split("/", 1)[0] if config.siteurl else ""
    kept = []
    for response in responses:
        if response.private:
            continue  # wm-private: not ours to publish
        if response.author_name.casefold() in own or (
            site_host
            and response.author_url
            and normalise(response.author_url).startswith(site_host)
        ):
            continue  # the blog owner answering is not a response to thank
        kept.append(response)
    return kept


def _key(article: Any) -> str:
    return str(getattr(article, "save_as", "") or getattr(article, "slug", ""))


def acknowledge(run: Run, articles: list[Any], context: dict[str, Any]) -> None:
    config = run.config
    responses = gather(run, articles)
    refs = [ArticleRef(key=_key(a), slug=str(a.slug), url=str(a.url)) for a in articles]
    matched, unmatched = match_articles(responses, refs, config.siteurl)
    if unmatched:
        logger.info(
            "reciprocity: %d response(s) match no article (e.g. %s)",
            len(unmatched),
            unmatched[0].target or unmatched[0].id,
        )
    by_key = {_key(a): a for a in articles}
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
    trusted = set(friend_identities(run))
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

    friends = friend_identities(run)
    published: list[Response] = []
    for key, group in matched.items():
        shown = [r for r in group if verdicts[r.id].status == "publish"]
        published.extend(shown)
        data = getattr(by_key[key], "reciprocity", None)
        if isinstance(data, render.ArticleReciprocity) and data.enabled:
            lang = str(getattr(by_key[key], "lang", "") or config.default_lang)
            data.thanks = thanks_view(shown, friends, run.strings(lang), config.date_format)
    people, _anonymous = identify(published, friends)
    site_strings = run.strings(context["reciprocity"].get("lang"))
    context["reciprocity"]["responders"] = responder_views(
        people, article_of, site_strings, config.date_format
    )
    if config.thanks_save_as and people:
        context["reciprocity"]["thanks_url"] = config.thanks_url
    run.people, run.article_of = people, article_of


def thanks_view(
    responses: Iterable[Response],
    friends: dict[str, str],
    strings: Strings,
    date_format: str | None,
) -> render.ThanksView:
    """Who to name (anyone who wrote something), and the counted reactions."""
    responses = list(responses)
    people, anonymous = identify([r for r in responses if r.kind in TEXTUAL], friends)
    views = [_person(p, strings, date_format) for p in people]
    if anonymous:
        views.append(render.anonymous_view(anonymous, strings))
    likes = _reactors(responses, "like", friends)
    reposts = _reactors(responses, "repost", friends)
    reactions = []
    if likes:
        reactions.append(strings.plural("{n} person liked this", "{n} people liked this", likes))
    if reposts:
        reactions.append(strings.plural("reposted {n} time", "reposted {n} times", reposts))
    text = ", ".join(reactions)
    return render.ThanksView(
        people=tuple(views),
        likes=likes,
        reposts=reposts,
        line=strings.thanks_line(v.html for v in views),
        reactions=escape(text[:1].upper() + text[1:] + "." if text else ""),
    )


def _reactors(responses: list[Response], kind: str, friends: dict[str, str]) -> int:
    """How many people reacted this way (each person once; anonymous ones each)."""
    people, anonymous = identify([r for r in responses if r.kind == kind], friends)
    return len(people) + anonymous


def _person(
    person: Person, strings: Strings, date_format: str | None, articles: int = 0
) -> render.PersonView:
    return render.person_view(
        person.name,
        person.url,
        friend=person.friend,
        kinds=tuple(person.kinds),
        count=len(person.responses),
        last=person.last,
        strings=strings,
        date_format=date_format,
        articles=articles,
    )


def responder_views(
    people: list[Person], article_of: dict[str, str], strings: Strings, date_format: str | None
) -> list[render.PersonView]:
    """Everyone who responded, most responses first, then most recent, then name."""

    def order(person: Person) -> tuple[int, float, str]:
        last = person.last
        return (
            -len(person.responses),
            -(last.timestamp() if last else 0.0),
            person.name.casefold(),
        )

    return [
        _person(p, strings, date_format, len({article_of.get(r.id) for r in p.responses}))
        for p in sorted(people, key=order)
    ]
