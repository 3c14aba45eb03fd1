"""Responses from Mastodon and Bluesky, read at build time from public APIs.

An article names the post that announced it (``Mastodon:`` or ``Bluesky:``
metadata, as a reader copies the URL from the browser). Its replies, likes,
boosts and quotes are asked of the status's own server (Mastodon) or of the
public AppView (Bluesky), through the same fetcher, cache and TTL as every
response source, and read here into the one ``Response`` model. Readers never
raise: a bad answer is a problem, a bad item costs only itself.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .files import write_atomic
from .model import ReadResult, Response, record
from .refresh import FetchSettings, Work, fetch_now
from .settings import Config
from .sources import _Reading, _response, _s
from .urls import normalise, on_site

logger = logging.getLogger(__name__)

PUBLIC = frozenset({"public", "unlisted"})
_MASTODON_PATH = re.compile(r"^/(?:@[\w.@-]+|users/[\w.-]+/statuses)/(\d+)/?$")
_BSKY_PATH = re.compile(r"^/profile/([\w.:-]+)/post/([\w]+)/?$")
_AT_URI = re.compile(r"^at://([\w.:-]+)/app\.bsky\.feed\.post/([\w]+)$")


@record(frozen=True)
class Announcement:
    """One post that announced an article."""

    network: str  # "mastodon" | "bluesky"
    url: str  # as the owner wrote it
    host: str = ""  # Mastodon: the status's own server, as scheme://host[:port]
    status: str = ""  # Mastodon: the status id
    at_uri: str = ""  # Bluesky: at://handle-or-did/app.bsky.feed.post/rkey


def announcements(network: str, value: Any) -> tuple[list[Announcement], list[str]]:
    """The announcements an article's metadata names, and what could not be read."""
    text = ", ".join(value) if isinstance(value, list | tuple) else str(value or "")
    found, problems = [], []
    for url in (u.strip() for u in re.split(r"[,\s]+", text) if u.strip()):
        item = _announcement(network, url)
        if item is None:
            problems.append(f"{network.capitalize()}: {url!r} is not a post's address; ignored")
        else:
            found.append(item)
    return found, problems


def _announcement(network: str, url: str) -> Announcement | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if network == "mastodon":
        match = _MASTODON_PATH.match(parts.path)
        if parts.scheme in ("http", "https") and parts.hostname and match:
            origin = f"{parts.scheme}://{parts.netloc}"
            return Announcement("mastodon", url, host=origin, status=match.group(1))
        return None
    at = _AT_URI.match(url)
    if at:
        return Announcement("bluesky", url, at_uri=url)
    match = _BSKY_PATH.match(parts.path)
    if parts.scheme == "https" and parts.hostname == "bsky.app" and match:
        handle, rkey = match.groups()
        return Announcement("bluesky", url, at_uri=f"at://{handle}/app.bsky.feed.post/{rkey}")
    return None


def api_urls(item: Announcement, bluesky_api: str) -> dict[str, str]:
    """What to ask, by kind of answer. Mastodon: the status's own server;
    Bluesky: the public AppView (RECIPROCITY_BLUESKY_API)."""
    if item.network == "mastodon":
        base = f"{item.host}/api/v1/statuses/{item.status}"
        return {
            "context": f"{base}/context",
            "favourited_by": f"{base}/favourited_by?limit=80",
            "reblogged_by": f"{base}/reblogged_by?limit=80",
        }
    base = bluesky_api.rstrip("/") + "/xrpc/app.bsky.feed."
    uri = quote(item.at_uri, safe="")
    return {
        "getPostThread": f"{base}getPostThread?uri={uri}&depth=100",
        "getLikes": f"{base}getLikes?uri={uri}&limit={BLUESKY_PAGE}",
        "getRepostedBy": f"{base}getRepostedBy?uri={uri}&limit={BLUESKY_PAGE}",
        "getQuotes": f"{base}getQuotes?uri={uri}&limit={BLUESKY_PAGE}",
    }


def gather(
    config: Config, articles: Iterable[Any], key_of: Callable[[Any], str]
) -> list[ReadResult]:
    """Every announced article's replies, likes, boosts and quotes. The APIs
    are asked through the response-source cache (TTL, last good copy,
    offline builds); one WARNING names an API that failed."""
    articles = list(articles)
    results: list[ReadResult] = []
    settings = FetchSettings.from_config(config)
    stop_at = time.monotonic() + settings.fetch_deadline
    found = _announced_by_account(config, settings, stop_at)
    # network, kind, url, target, and the file that keeps the answer (first pages)
    wanted: list[tuple[str, str, str, str, Path | None]] = []
    for article in articles:
        metadata = getattr(article, "metadata", {}) or {}
        target = f"article:{key_of(article)}"
        for network in ("mastodon", "bluesky"):
            if metadata.get(network):
                items, bad = announcements(network, metadata[network])
                results.append(ReadResult(problems=tuple(f"{key_of(article)}: {p}" for p in bad)))
            else:  # found among the owner's own posts, if an account is set
                items = found.get((network, normalise(_absolute(config, article))), [])
            for item in items:
                for kind, url in api_urls(item, config.bluesky_api).items():
                    kept = archived(config.social_archive, item, kind)
                    wanted.append((network, kind, url, target, kept))
    asked: set[str] = set()
    for _page in range(MAX_PAGES):  # each round asks for the next page of what had one
        wanted = [w for w in wanted if w[2] not in asked]
        if not wanted:
            break
        asked |= {w[2] for w in wanted}
        answers = _ask(settings, stop_at, [(n, u, kept) for n, _, u, _, kept in wanted])
        following = []
        for network, kind, url, target, _kept in wanted:
            data, link = answers[url]
            if data is None:
                continue
            reader = read_mastodon if network == "mastodon" else read_bluesky
            results.append(reader(kind, data, target, url))
            after = _next_page(kind, url, data, link)
            if after:
                following.append((network, kind, after, target, None))
        wanted = following
    return results


def _absolute(config: Config, article: Any) -> str:
    return on_site(config.siteurl, str(getattr(article, "url", "")).lstrip("/"))


def _ask(
    settings: FetchSettings, stop_at: float, urls: list[tuple[str, str, Path | None]]
) -> dict[str, tuple[Any, str | None]]:
    """One round of API requests through the source cache: each URL's JSON
    (None when there is none to use) and the next page its Link header named.
    An answer with a file in the archive is kept there, and read from there
    when there is no other copy."""
    work = Work(sources=tuple(dict.fromkeys(url for _, url, _ in urls)))
    gathered = fetch_now(settings, work, stop_at)
    answers: dict[str, tuple[Any, str | None]] = {}
    for network, url, kept in urls:
        body, error = gathered.sources[url]
        copy = "using the last good copy" if body is not None else "no copy to use"
        if kept is not None:
            body, copy = _archive(kept, body, error, copy)
        if error:
            level = logging.INFO if settings.offline and body is not None else logging.WARNING
            logger.log(level, "reciprocity: %s API %s failed: %s; %s", network, url, error, copy)
        data = None
        if body is not None:
            try:
                data = json.loads(body)
            except (ValueError, RecursionError) as exc:
                logger.warning("reciprocity: %s: not JSON (%s)", url, type(exc).__name__)
        answers[url] = (data, gathered.next_pages.get(url))
    return answers


# -- the archive: threads kept as files the owner commits ---------------------------------------


def archived(folder: Path | None, item: Announcement, kind: str) -> Path | None:
    """Where RECIPROCITY_SOCIAL_ARCHIVE keeps one answer about one post:
    ``mastodon/<server>/<status>/context.json``,
    ``bluesky/<handle>/<rkey>/getPostThread.json``."""
    if folder is None:
        return None
    if item.network == "mastodon":
        parts = ["mastodon", urlsplit(item.host).netloc, item.status]
    else:
        parts = ["bluesky", *item.at_uri[len("at://") :].split("/")[::2]]
    safe = [re.sub(r"[^\w.-]", "_", part).lstrip(".") or "_" for part in parts]
    return folder.joinpath(*safe, f"{kind}.json")


def _archive(path: Path, body: bytes | None, error: str | None, copy: str) -> tuple[Any, str]:
    """Keep a good answer in the archive (pretty, so a commit shows what
    changed); read the archive when there is no other copy."""
    if body is not None and error is None:
        try:
            text = json.dumps(json.loads(body), indent=1, ensure_ascii=False, sort_keys=True)
            data = (text + "\n").encode("utf-8")
            if not path.is_file() or path.read_bytes() != data:
                write_atomic(path, data)
        except (ValueError, RecursionError):
            pass  # not JSON: nothing worth keeping
        except OSError as exc:
            logger.warning("reciprocity: %s; the social archive was not updated", exc)
        return body, copy
    if body is None and path.is_file():
        try:
            return path.read_bytes(), f"using the copy kept in {path}"
        except OSError as exc:
            return None, f"{copy} (cannot read {path}: {exc.strerror or exc})"
    return body, copy


# -- finding the announcement among the owner's own posts -------------------------------------


def _announced_by_account(
    config: Config, settings: FetchSettings, stop_at: float
) -> dict[tuple[str, str], list[Announcement]]:
    """(network, normalised article URL) -> the owner's posts that link to it,
    from RECIPROCITY_MASTODON_ACCOUNT and RECIPROCITY_BLUESKY_ACCOUNT."""
    found: dict[tuple[str, str], list[Announcement]] = {}
    if config.bluesky_account:
        actor = quote(config.bluesky_account.lstrip("@"), safe="")
        url = (
            f"{config.bluesky_api.rstrip('/')}/xrpc/app.bsky.feed.getAuthorFeed"
            f"?actor={actor}&limit={BLUESKY_PAGE}&filter=posts_no_replies"
        )
        for data in _pages(settings, stop_at, "bluesky", "getAuthorFeed", url):
            for item in _list(data.get("feed") if isinstance(data, dict) else None):
                post = item.get("post") if isinstance(item, dict) else None
                if isinstance(post, dict) and _s(post.get("uri")).startswith("at://"):
                    uri = _s(post["uri"])
                    for link in _post_links(post):
                        item_ = Announcement("bluesky", uri, at_uri=uri)
                        found.setdefault(("bluesky", normalise(link)), []).append(item_)
    origin, acct = _mastodon_account(config.mastodon_account)
    if origin:
        lookup = f"{origin}/api/v1/accounts/lookup?acct={quote(acct, safe='')}"
        account = _ask(settings, stop_at, [("mastodon", lookup, None)])[lookup][0]
        if isinstance(account, dict) and _s(str(account.get("id") or "")):
            statuses = (
                f"{origin}/api/v1/accounts/{quote(str(account['id']), safe='')}/statuses"
                "?exclude_replies=true&exclude_reblogs=true&limit=40"
            )
            for data in _pages(settings, stop_at, "mastodon", "statuses", statuses):
                for status in _list(data):
                    if isinstance(status, dict) and _s(status.get("visibility")) in PUBLIC:
                        item_ = Announcement(
                            "mastodon",
                            _s(status.get("url")),
                            host=origin,
                            status=_s(status.get("id")),
                        )
                        for link in _status_links(status):
                            found.setdefault(("mastodon", normalise(link)), []).append(item_)
    return found


def _pages(
    settings: FetchSettings, stop_at: float, network: str, kind: str, url: str
) -> Iterable[Any]:
    """The owner's own posts, newest first, page after page (cached each)."""
    for _page in range(MAX_PAGES):
        data, link = _ask(settings, stop_at, [(network, url, None)])[url]
        if data is None:
            return
        yield data
        after = link if network == "mastodon" else _cursor_page(url, data, "feed")
        if not after:
            return
        url = after


def _mastodon_account(value: str) -> tuple[str, str]:
    """``@me@instance`` or ``https://instance/@me``: the server and the account."""
    account = ACCOUNT.match(value.strip()) if value else None
    if account:
        return f"https://{account.group(2)}", account.group(1)
    try:
        parts = urlsplit(value.strip()) if value else None
    except ValueError:
        return "", ""
    if parts and parts.scheme in ("http", "https") and _PROFILE_MASTODON.match(parts.path):
        return f"{parts.scheme}://{parts.netloc}", parts.path.strip("/").lstrip("@")
    return "", ""


_HREF = re.compile(r"""href=["']([^"']+)["']""")


def _status_links(status: dict[str, Any]) -> list[str]:
    card = status.get("card") if isinstance(status.get("card"), dict) else {}
    links = [_s(card.get("url")), *_HREF.findall(_s(status.get("content")))]
    return [link for link in links if link.startswith(("http://", "https://"))]


def _post_links(post: dict[str, Any]) -> list[str]:
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    links = []
    for embed in (post.get("embed"), record.get("embed")):
        external = embed.get("external") if isinstance(embed, dict) else None
        if isinstance(external, dict):
            links.append(_s(external.get("uri")))
    for facet in _list(record.get("facets")):
        for feature in _list(facet.get("features") if isinstance(facet, dict) else None):
            if isinstance(feature, dict):
                links.append(_s(feature.get("uri")))
    return [link for link in links if link.startswith(("http://", "https://"))]


#: Pages read of one list (likes, boosts): 10 pages of 80 or 100 people.
MAX_PAGES = 10


_PAGED = {"getLikes": "likes", "getRepostedBy": "repostedBy", "getQuotes": "posts"}


def _next_page(kind: str, url: str, data: Any, link: str | None) -> str | None:
    """Mastodon pages with a Link header; Bluesky with a cursor in the answer,
    followed only when the page was full."""
    if kind in ("favourited_by", "reblogged_by"):
        return link
    if kind not in _PAGED or not isinstance(data, dict):
        return None
    return _cursor_page(url, data, _PAGED[kind])


def _cursor_page(url: str, data: Any, field: str) -> str | None:
    """The next page of a Bluesky list, when this one was full."""
    if not isinstance(data, dict):
        return None
    cursor, items = data.get("cursor"), data.get(field)
    if not isinstance(cursor, str) or not cursor or not isinstance(items, list):
        return None
    if len(items) < BLUESKY_PAGE:
        return None
    return re.sub(r"&cursor=[^&]*", "", url) + "&cursor=" + quote(cursor, safe="")


BLUESKY_PAGE = 100


_PROFILE_MASTODON = re.compile(r"^/@[\w.-]+/?$")
_PROFILE_BLUESKY = re.compile(r"^/profile/[\w.:-]+/?$")
#: ``@me@instance``: a user and a host (a port is allowed, for a server of one's own).
ACCOUNT = re.compile(r"^@?([\w.-]+)@([\w-]+(?:\.[\w-]+)+(?::\d{1,5})?)$")


def profile_feed(text: str) -> str | None:
    """The RSS a Mastodon or Bluesky profile publishes, without asking:
    ``@me@instance``, ``https://instance/@me`` or ``https://bsky.app/profile/me``."""
    account = ACCOUNT.match(text.strip())
    if account:
        return f"https://{account.group(2)}/@{account.group(1)}.rss"
    try:
        parts = urlsplit(text.strip())
        _ = parts.port  # a port out of range is no profile's
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    if parts.hostname == "bsky.app" and _PROFILE_BLUESKY.match(parts.path):
        return f"https://bsky.app{parts.path.rstrip('/')}/rss"
    if _PROFILE_MASTODON.match(parts.path):
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}.rss"
    return None


# -- Mastodon -------------------------------------------------------------------------------


def read_mastodon(kind: str, data: Any, target: str, origin: str) -> ReadResult:
    """A Mastodon answer (``context``, ``favourited_by`` or ``reblogged_by``)."""
    result = _Reading(f"Mastodon {kind}")
    if kind == "context":
        statuses = data.get("descendants") if isinstance(data, dict) else None
        if not isinstance(statuses, list):
            return ReadResult(problems=(f"{origin}: not a Mastodon context",))
        for status in statuses:
            if not isinstance(status, dict) or _s(status.get("visibility")) not in PUBLIC:
                continue  # private and direct replies are not ours to publish
            label = f"{origin}: status {_s(str(status.get('id') or ''))}"
            with result.item(label):
                result.responses.append(_mastodon_reply(result, status, target, label))
        return result.done()
    accounts = data if isinstance(data, list) else None
    if accounts is None:
        return ReadResult(problems=(f"{origin}: not a list of Mastodon accounts",))
    reaction = "like" if kind == "favourited_by" else "repost"
    _reactors(result, accounts, reaction, target, origin, "Mastodon", _mastodon_person, "url")
    return result.done()


def _reactors(
    result: _Reading,
    people: list[Any],
    reaction: str,
    target: str,
    origin: str,
    source: str,
    person: Callable[[dict[str, Any]], dict[str, Any]],
    key: str,
) -> None:
    """Likes or reposts: counted per person (``key`` names them stably)."""
    for who in people:
        if isinstance(who, dict):
            with result.item(f"{origin}: {_s(who.get(key))}"):
                result.responses.append(
                    _response(
                        id=f"{source.lower()}-{reaction}:{target}:{_s(who.get(key))}",
                        kind=reaction,
                        target=target,
                        source=source,
                        **person(who),
                    )
                )


def _mastodon_person(account: dict[str, Any]) -> dict[str, Any]:
    name = _s(account.get("display_name"))
    for emoji in _list(account.get("emojis")):  # ":linux:" is an image there, noise here
        if isinstance(emoji, dict) and _s(emoji.get("shortcode")):
            name = name.replace(f":{_s(emoji['shortcode'])}:", "")
    return {
        "author_name": " ".join(name.split()) or _s(account.get("acct")),
        "author_url": _s(account.get("url")),
        "avatar_url": _s(account.get("avatar_static")) or _s(account.get("avatar")),
        "author_site": _verified_site(account),
    }


def _verified_site(account: dict[str, Any]) -> str:
    """The first profile link Mastodon verified (the site links back with
    rel="me"): that site is theirs."""
    for field_ in _list(account.get("fields")):
        if isinstance(field_, dict) and field_.get("verified_at"):
            for link in _HREF.findall(_s(field_.get("value"))):
                if link.startswith(("http://", "https://")):
                    return link
    return ""


def _mastodon_reply(result: _Reading, status: dict[str, Any], target: str, label: str) -> Response:
    account = status.get("account") if isinstance(status.get("account"), dict) else {}
    warning = _s(status.get("spoiler_text"))
    # A content warning is shown instead of what it hides.
    html = f"<p>{escape(warning)}</p>" if warning else _s(status.get("content"))
    return _response(
        id=f"mastodon:{_s(status.get('uri')) or _s(status.get('url'))}",
        kind="reply",
        target=target,
        source="Mastodon",
        published=result.date(label, status.get("created_at")),
        source_url=_s(status.get("url")),
        html=html,
        base=_s(status.get("url")) or None,
        **_mastodon_person(account),
    )


# -- Bluesky --------------------------------------------------------------------------------


def read_bluesky(kind: str, data: Any, target: str, origin: str) -> ReadResult:
    """A Bluesky AppView answer (getPostThread, getLikes, getRepostedBy, getQuotes)."""
    result = _Reading(f"Bluesky {kind}")
    if not isinstance(data, dict):
        return ReadResult(problems=(f"{origin}: not a Bluesky answer",))
    if kind == "getPostThread":
        thread = data.get("thread")
        if not isinstance(thread, dict):
            return ReadResult(problems=(f"{origin}: no thread in the answer",))
        _walk(result, thread, target, origin, depth=0)
    elif kind in ("getLikes", "getRepostedBy"):
        people = (
            [like.get("actor") for like in _list(data.get("likes")) if isinstance(like, dict)]
            if kind == "getLikes"
            else _list(data.get("repostedBy"))
        )
        reaction = "like" if kind == "getLikes" else "repost"
        _reactors(result, people, reaction, target, origin, "Bluesky", _bluesky_person, "did")
    elif kind == "getQuotes":
        for post in _list(data.get("posts")):
            if isinstance(post, dict):
                label = f"{origin}: {_s(post.get('uri'))}"
                with result.item(label):
                    result.responses.append(_bluesky_post(result, post, target, label, "mention"))
    return result.done()


MAX_DEPTH = 100


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _walk(result: _Reading, node: dict[str, Any], target: str, origin: str, depth: int) -> None:
    """Replies at every depth; blocked and deleted posts are skipped."""
    if depth > MAX_DEPTH:
        return
    for reply in _list(node.get("replies")):
        if not isinstance(reply, dict) or not isinstance(reply.get("post"), dict):
            continue  # app.bsky.feed.defs#blockedPost, #notFoundPost
        label = f"{origin}: {_s(reply['post'].get('uri'))}"
        with result.item(label):
            result.responses.append(_bluesky_post(result, reply["post"], target, label, "reply"))
        _walk(result, reply, target, origin, depth + 1)


#: Handles that are a host's sub-account, not a domain of the person's own.
_HOSTED_HANDLES = (".bsky.social", ".bsky.team", ".brid.gy", ".test", ".invalid")


def _bluesky_person(actor: dict[str, Any]) -> dict[str, Any]:
    handle = _s(actor.get("handle"))
    own = "." in handle and not handle.lower().endswith(_HOSTED_HANDLES)
    return {
        "author_name": _s(actor.get("displayName")) or handle,
        "author_url": f"https://bsky.app/profile/{handle}" if handle else "",
        "avatar_url": _s(actor.get("avatar")),
        # A handle that is a domain is proven by that domain (DNS or .well-known).
        "author_site": f"https://{handle}/" if own and _DOMAIN.match(handle) else "",
    }


_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$", re.IGNORECASE)


def _bluesky_post(
    result: _Reading, post: dict[str, Any], target: str, label: str, kind: str
) -> Response:
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    author = post.get("author") if isinstance(post.get("author"), dict) else {}
    uri = _s(post.get("uri"))
    handle, rkey = _s(author.get("handle")), uri.rsplit("/", 1)[-1]
    return _response(
        id=f"bluesky:{uri}",
        kind=kind,
        target=target,
        source="Bluesky",
        published=result.date(label, record.get("createdAt"), post.get("indexedAt")),
        source_url=f"https://bsky.app/profile/{handle}/post/{rkey}" if handle and rkey else "",
        html=facets_html(_s(record.get("text")), record.get("facets")),
        **_bluesky_person(author),
    )


def facets_html(text: str, facets: Any) -> str:
    """Bluesky text as HTML: escaped, with link facets as links. Facets count
    UTF-8 bytes, not characters."""
    data = text.encode("utf-8")
    links = []
    for facet in facets if isinstance(facets, list) else []:
        index = facet.get("index") if isinstance(facet, dict) else None
        features = facet.get("features") if isinstance(facet, dict) else None
        if not isinstance(index, dict) or not isinstance(features, list):
            continue
        start, end = index.get("byteStart"), index.get("byteEnd")
        uri = next((_s(f.get("uri")) for f in features if isinstance(f, dict) and f.get("uri")), "")
        valid = isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(data)
        if valid and uri:
            links.append((start, end, uri))
    out, at = [], 0
    for start, end, uri in sorted(links):
        if start < at:
            continue  # overlapping facets: keep the first
        out.append(escape(data[at:start].decode("utf-8", "replace")))
        label = escape(data[start:end].decode("utf-8", "replace"))
        out.append(f'<a href="{escape(uri)}">{label}</a>')
        at = end
    out.append(escape(data[at:].decode("utf-8", "replace")))
    return "<p>" + "".join(out) + "</p>" if text else ""
