"""The reciprocity ledger: who responded to me, and what I gave back.

:func:`build_ledger` is pure: friends, responses and articles in, plain data
out. The ledger lives in the site as ``reciprocity/ledger.json`` so the owner
can read, diff and commit it: sorted keys, no build timestamps, and dates
that come from the content itself, so an unchanged site writes the same file.
``notify`` records its webmentions in the same file, and a build keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .responses import Person
from .urls import is_web_url, normalise

FORMAT = "pelican-reciprocity/ledger/1"
_HREF = re.compile(r"""<a\s[^>]*?href=["']([^"'#][^"']*)["']""", re.I)


@dataclass(frozen=True)
class ArticleFacts:
    """What one published article gave: highlights and links out."""

    key: str
    url: str  # absolute under SITEURL when SITEURL is set
    date: datetime | None
    curated: tuple[tuple[str, str], ...] = ()  # (person key, post URL)
    automatic: tuple[tuple[str, str], ...] = ()
    links: tuple[str, ...] = ()  # every outbound http(s) link in the content


@dataclass
class Identity:
    """Who is who: people by key, and the URL prefixes that belong to them."""

    names: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # key -> site URL
    friends: set[str] = field(default_factory=set)
    prefixes: list[tuple[str, str]] = field(default_factory=list)  # (normalised prefix, key)
    by_name: dict[str, str] = field(default_factory=dict)  # casefolded name or alias -> key

    def add(
        self, key: str, name: str, url: str = "", *, friend: bool = False, also: Iterable[str] = ()
    ) -> None:
        self.names.setdefault(key, name)
        for alias in (name, *also):
            if alias and not is_web_url(alias):
                self.by_name.setdefault(alias.casefold(), key)
        if url:
            self.urls.setdefault(key, url)
        if friend:
            self.friends.add(key)
        for prefix in (url, *also):
            if prefix and is_web_url(prefix):
                self.prefixes.append((normalise(prefix), key))

    def owner_of(self, url: str) -> str | None:
        """The person whose site ``url`` is on (longest matching prefix)."""
        target = normalise(url)
        best: tuple[int, str] | None = None
        for prefix, key in self.prefixes:
            inside = target == prefix or target.startswith(prefix.rstrip("/") + "/")
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), key)
        return best[1] if best else None


def outbound_links(html: str, own_site: str) -> list[str]:
    """http(s) links in an article's HTML that leave the site."""
    own = normalise(own_site).split("/", 1)[0] if own_site else ""
    links = []
    for href in _HREF.findall(html or ""):
        href = href.strip()
        if is_web_url(href) and (not own or normalise(href).split("/", 1)[0] != own):
            links.append(href)
    return list(dict.fromkeys(links))


def _iso(date: datetime | None) -> str | None:
    """UTC ISO 8601, so that plain string order is time order."""
    if not date:
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return date.astimezone(UTC).isoformat()


def build_ledger(
    identity: Identity,
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
        return ledger[key]

    for person in people:
        key = person.key
        for response in person.responses:
            owner = identity.owner_of(response.author_url) if response.author_url else None
            owner = owner or identity.by_name.get(response.author_name.casefold())
            record = entry(owner or key)
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
        dates = sorted(record.pop("_received_dates"), key=lambda d: _iso(d) or "")
        record["received"]["last"] = _iso(dates[-1]) if dates else None
        record["received"]["articles"].sort()
        record["received"]["kinds"] = dict(sorted(record["received"]["kinds"].items()))
        gave = [
            record["given"][k]["last"]
            for k in ("curated", "links")
            if record["given"][k]["last"] is not None
        ]
        last_given = max(gave) if gave else None
        record["last_given"] = last_given
        record["owed"] = (
            sum(1 for d in dates if (_iso(d) or "") > last_given)
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
    if date and (slot["last"] is None or date > slot["last"]):
        slot["last"] = date


def article_records(articles: Iterable[ArticleFacts], identity: Identity) -> dict[str, Any]:
    """Per article: what it highlighted and linked, and the webmention targets."""
    records = {}
    for article in sorted(articles, key=lambda a: a.key):
        friend_links = [
            link for link in article.links if identity.owner_of(link) in identity.friends
        ]
        targets = sorted({post for _, post in article.curated} | set(friend_links))
        records[article.key] = {
            "url": article.url,
            "date": _iso(article.date),
            "curated": sorted({post for _, post in article.curated}),
            "links_out": len(article.links),
            "webmention_targets": targets,
        }
    return records


# -- the file --------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": FORMAT, "people": {}, "articles": {}, "webmentions": {}}
    except (OSError, ValueError) as exc:
        from .settings import ConfigError

        raise ConfigError(f"{path}: cannot read the ledger ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        from .settings import ConfigError

        raise ConfigError(f"{path}: not a pelican-reciprocity ledger")
    data.setdefault("webmentions", {})
    return data


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save(path: Path, data: dict[str, Any]) -> bool:
    """Write the ledger if it changed; True when it did."""
    from .cache import write_atomic

    text = dumps(data)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    write_atomic(path, text.encode("utf-8"))
    return True


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
        if since and (last is None or last < (_iso(since) or "")):
            continue
        if not person["received"]["count"] and not since:
            continue
        rows.append({"key": key, **person})
    rows.sort(key=lambda r: (-r["owed"], _neg(r["received"]["last"]), r["name"].casefold()))
    return rows


def _neg(value: str | None) -> str:
    # sort newest first with a plain string sort: invert the characters
    return "".join(chr(0x10FFFF - ord(c)) for c in value) if value else "\U0010ffff"


def share_of_responses(data: Mapping[str, Any], since: datetime | None) -> tuple[int, int]:
    """(articles that highlight or link to someone else, articles) in the window."""
    total = given = 0
    for record in (data.get("articles") or {}).values():
        if since and (record.get("date") or "") < (_iso(since) or ""):
            continue
        total += 1
        if record.get("curated") or record.get("links_out"):
            given += 1
    return given, total
