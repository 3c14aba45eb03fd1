"""The reciprocity ledger: who responded to me, and what I gave back.

Pure: friends, responses and articles in, plain data out, with no build
timestamps and dates that come from the content itself, so an unchanged site
gives the same ledger. Reading and writing the file is :mod:`ledger_file`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .identity import Directory, same_site
from .model import ArticleFacts, Person, Post
from .selection import latest
from .settings import ConfigError
from .urls import is_web_url, normalise

#: Compiled by ``re`` when first needed: a warm build scans no article.
_HREF = r"""(?i)<a\s[^>]*?href=["']([^"'#][^"']*)["']"""


def outbound_links(html: str, own_site: str) -> list[str]:
    """http(s) links in an article's HTML that leave the site."""
    links = []
    for href in re.findall(_HREF, html or ""):
        href = href.strip()
        if is_web_url(href) and not same_site(href, own_site):
            links.append(href)
    return list(dict.fromkeys(links))


def _iso(date: datetime | None) -> str | None:
    """ISO 8601 with the offset the date was written with, so the ledger and
    `report` show the author's own day; order is by :func:`instant`."""
    if not date:
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return date.isoformat()


def instant(value: str | datetime | None) -> float:
    """A ledger date's moment, for ordering (undated: the earliest)."""
    if value is None:
        return float("-inf")
    try:
        date = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return float("-inf")
    return (date if date.tzinfo else date.replace(tzinfo=UTC)).timestamp()


def build_ledger(
    identity: Directory,
    people: Iterable[Person],
    article_of: Mapping[str, str],
    articles: Iterable[ArticleFacts],
) -> dict[str, Any]:
    """Both directions of every relationship, and what is owed (pure)."""
    articles = list(articles)
    ledger: dict[str, dict[str, Any]] = {}

    def entry(key: str) -> dict[str, Any]:
        if key not in ledger:
            ledger[key] = {
                "name": identity.names.get(key, key.split(":", 1)[-1]),
                "url": identity.urls.get(key, ""),
                "friend": key in identity.friends,
                "received": {"count": 0, "kinds": {}, "last": None, "articles": []},
                "given": {
                    kind: {"count": 0, "last": None, "posts": []}
                    for kind in ("curated", "automatic", "links")
                },
                "_received_dates": [],
            }
            if key in identity.feeds:  # a responder's feed, found for the return visit
                ledger[key]["feed"] = identity.feeds[key]
        return ledger[key]

    for person in people:
        key = person.key
        for response in person.responses:
            record = entry(identity.author_of(response) or key)
            if not record["url"] and person.url:
                record["url"] = person.url
            received = record["received"]
            received["count"] += 1
            received["kinds"][response.kind] = received["kinds"].get(response.kind, 0) + 1
            article = article_of.get(response.id)
            if article and article not in received["articles"]:
                received["articles"].append(article)
            if response.published:
                record["_received_dates"].append(response.published)

    for article in articles:
        for kind, pairs in (("curated", article.curated), ("automatic", article.automatic)):
            for person_key, post in pairs:
                _give(entry(person_key)["given"][kind], article, post)
        for link in article.links:
            owner = identity.owner_of(link)
            if owner:
                _give(entry(owner)["given"]["links"], article, link)

    out: dict[str, Any] = {}
    for key, record in sorted(ledger.items()):
        dates = sorted(record.pop("_received_dates"), key=instant)
        record["received"]["last"] = _iso(dates[-1]) if dates else None
        record["received"]["articles"].sort()
        record["received"]["kinds"] = dict(sorted(record["received"]["kinds"].items()))
        gave = [
            record["given"][k]["last"]
            for k in ("curated", "links")
            if record["given"][k]["last"] is not None
        ]
        last_given = max(gave, key=instant) if gave else None
        record["last_given"] = last_given
        record["owed"] = (
            sum(1 for d in dates if instant(d) > instant(last_given))
            if last_given
            else record["received"]["count"]
        )
        for kind in record["given"].values():
            kind["posts"] = sorted(set(kind["posts"]))
        out[key] = record
    return out


def _give(slot: dict[str, Any], article: ArticleFacts, post: str) -> None:
    slot["count"] += 1
    slot["posts"].append(post)
    date = _iso(article.date)
    if date and (slot["last"] is None or instant(date) > instant(slot["last"])):
        slot["last"] = date


def article_records(articles: Iterable[ArticleFacts], identity: Directory) -> dict[str, Any]:
    """Per article: what it highlighted and linked, and the webmention targets."""
    records = {}
    for article in sorted(articles, key=lambda a: a.key):
        known = [link for link in article.links if identity.owner_of(link)]
        friend_links = [link for link in known if identity.owner_of(link) in identity.friends]
        targets = sorted({post for _, post in article.curated} | set(friend_links))
        records[article.key] = {
            "url": article.url,
            "date": _iso(article.date),
            "curated": sorted({post for _, post in article.curated}),
            "links_out": len(article.links),
            "links_to_people": len(known),  # friends and people who responded
            "webmention_targets": targets,
        }
    return records


# -- reading it back (report) ------------------------------------------------------------


def parse_since(value: str) -> timedelta:
    """``90d``, ``12w``, ``6m`` (30-day months) or ``1y``."""
    match = re.fullmatch(r"\s*(\d+)\s*([dwmy])\s*", value or "")
    if not match:
        raise ValueError(f"--since must look like 90d, 12w, 6m or 1y, not {value!r}")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(days=number * {"d": 1, "w": 7, "m": 30, "y": 365}[unit])


def owed_rows(data: Mapping[str, Any], since: datetime | None) -> list[dict[str, Any]]:
    """People sorted by what is owed (then most recent response, then name)."""
    rows = []
    for key, person in (data.get("people") or {}).items():
        last = person["received"]["last"]
        if since and (last is None or instant(last) < instant(since)):
            continue
        if not person["received"]["count"] and not since:
            continue
        rows.append({"key": key, **person})
    rows.sort(key=lambda r: (-r["owed"], -instant(r["received"]["last"]), r["name"].casefold()))
    return rows


def share_of_responses(data: Mapping[str, Any], since: datetime | None) -> tuple[int, int]:
    """(articles that respond to someone, articles) in the window.

    A response highlights a post, or links to a friend or to someone who
    responded to you; a link to Wikipedia or a project's home page is not one.
    """
    total = given = 0
    for record in (data.get("articles") or {}).values():
        if since and instant(record.get("date")) < instant(since):
            continue
        total += 1
        if record.get("curated") or record.get("links_to_people"):
            given += 1
    return given, total


def percentages(part: int, whole: int) -> tuple[int, int]:
    """Two whole percentages that add up to 100 (6 of 9: 67 and 33)."""
    first = round(part * 100 / whole) if whole else 0
    return first, 100 - first


def suggestions(
    rows: Iterable[Mapping[str, Any]],
    posts_by_person: Mapping[str, tuple[str, list[Post]]],
    highlighted: set[str],
    per_person: int = 2,
) -> list[dict[str, Any]]:
    """Recent posts, not yet highlighted, by friends the owner owes a response.

    ``posts_by_person`` maps a person key to the friend's name and posts;
    ``highlighted`` holds normalised URLs already highlighted.
    """
    out = []
    for row in rows:
        if row["owed"] <= 0 or row["key"] not in posts_by_person:
            continue
        name, posts = posts_by_person[row["key"]]
        fresh = [p for p in latest(posts, 10) if p.key not in highlighted]
        fresh = [p for p in fresh if normalise(p.url) not in highlighted]
        for post in fresh[:per_person]:
            out.append(
                {
                    "friend": name,
                    "title": post.title,
                    "url": post.url,
                    "date": post.date.isoformat() if post.date else None,
                }
            )
    return out


def latest_post(posts: Iterable[Post]) -> dict[str, str] | None:
    """A person's newest dated post, for the return visit: where to respond."""
    dated = [p for p in posts if p.date is not None]
    if not dated:
        return None
    newest = max(dated, key=lambda p: (instant(p.date), p.url))
    return {"title": newest.title, "url": newest.url, "date": newest.date.isoformat()}


def owed_view(
    rows: Iterable[Mapping[str, Any]], posts_by_person: Mapping[str, tuple[str, list[Post]]]
) -> list[dict[str, Any]]:
    """What `report` shows of each person, with their latest post when known."""
    return [
        {
            "name": r["name"],
            "url": r["url"],
            "friend": r["friend"],
            "owed": r["owed"],
            "received": r["received"]["count"],
            "last_received": r["received"]["last"],
            "last_given": r["last_given"],
            "latest_post": latest_post(posts_by_person.get(r["key"], ("", []))[1]),
        }
        for r in rows
    ]


def find_person(data: Mapping[str, Any], who: str) -> dict[str, Any]:
    """Someone in the ledger, by name (any case) or by their site's URL.
    A ConfigError names who was asked for when nobody matches."""
    wanted = who.strip().casefold()
    for person in (data.get("people") or {}).values():
        url = person.get("url") or ""
        if person["name"].casefold() == wanted or (url and normalise(url) == normalise(who)):
            return dict(person)
    raise ConfigError(f"nobody named or with the site {who!r} in the ledger")
