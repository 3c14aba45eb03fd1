"""Moderation: decide, explain, and keep every held response in a file.

:func:`moderate` is pure: responses in, a verdict with reasons out. The
moderation file (``reciprocity/moderation.toml`` in the site) is the I/O edge:
the owner edits it to approve or block by id, author or domain, and the
plugin only ever adds to it, so nothing held is ever lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .responses import Response
from .settings import ConfigError
from .urls import normalise

logger = logging.getLogger(__name__)

#: Phrases that only spam uses. Generic praise ("great post") is NOT here:
#: short warm comments are real people and must be thanked.
SPAM_PHRASES = [
    r"\bbuy (?:cheap |real |active )?(?:instagram |twitter |tiktok |youtube |facebook )?"
    r"(?:followers|likes|views|subscribers)\b",
    r"\bbest (?:site|website|place) to buy\b",
    r"\b(?:online )?casino\b",
    r"\b(?:viagra|cialis|levitra)\b",
    r"\bpayday loans?\b",
    r"\bessay writing service\b",
    r"\b(?:cheap|best) seo services?\b",
    r"\bbacklinks? (?:service|package)s?\b",
    r"\bcrypto(?:currency)? (?:recovery|investment) (?:expert|platform|service)\b",
    r"\b(?:earn|make) \$?\d[\d,]* (?:per|a) (?:day|week|month) (?:from|working from) home\b",
    r"\bwhats ?app\s*:?\s*\+?\d[\d\s-]{7,}",
    r"\bhire a hacker\b",
]
_SPAM = [re.compile(p, re.I) for p in SPAM_PHRASES]
_WORD = re.compile(r"\w+", re.U)
_QUOTE_MARK = re.compile(r"\[(?:…|\.\.\.)\]")

STATUSES = ("held", "approved", "blocked")


@dataclass(frozen=True)
class Rules:
    """The owner's standing rules, from settings and the moderation file."""

    block_words: tuple[str, ...] = ()
    block_domains: tuple[str, ...] = ()
    block_authors: tuple[str, ...] = ()
    approve_domains: tuple[str, ...] = ()
    approve_authors: tuple[str, ...] = ()

    def merged(self, other: Rules) -> Rules:
        return Rules(
            *(
                tuple(dict.fromkeys((*getattr(self, f), *getattr(other, f))))
                for f in (
                    "block_words",
                    "block_domains",
                    "block_authors",
                    "approve_domains",
                    "approve_authors",
                )
            )
        )


@dataclass(frozen=True)
class Verdict:
    status: str  # publish | held | blocked
    reasons: tuple[str, ...] = ()


def _domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def _matches_domain(url: str, domains: Iterable[str]) -> bool:
    host = _domain(url)
    return bool(host) and any(
        host == d.lower().lstrip(".") or host.endswith("." + d.lower().lstrip(".")) for d in domains
    )


def _matches_author(response: Response, authors: Iterable[str]) -> bool:
    name = response.author_name.casefold()
    url = normalise(response.author_url) if response.author_url else ""
    for author in authors:
        if author.casefold() == name or (url and "/" in author and normalise(author) == url):
            return True
    return False


def shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + size]) for i in range(max(0, len(words) - size + 1))}


def copies_article(text: str, article_text: str) -> float:
    """How much of the comment is lifted word for word from the article (0..1)."""
    mine = shingles(text)
    if len(mine) < 4:
        return 0.0
    return len(mine & shingles(article_text)) / len(mine)


def _fingerprint(text: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(text))


def moderate(
    responses: list[Response],
    *,
    article_texts: Mapping[str, str],
    article_of: Mapping[str, str],
    rules: Rules = Rules(),
    trusted: set[str] | None = None,
    decisions: Mapping[str, str] | None = None,
) -> dict[str, Verdict]:
    """Decide every response. Pure and explainable: each hold has reasons.

    ``article_of`` maps response id to article key, ``article_texts`` maps
    article key to its plain text; ``trusted`` holds person keys ("url:…",
    "name:…") of friends and people approved before; ``decisions`` are the
    owner's per-id statuses from the moderation file.
    """
    trusted = trusted or set()
    decisions = decisions or {}
    seen_on: dict[str, set[str]] = {}
    for response in responses:
        if response.textual and _repeatable(response):
            seen_on.setdefault(_fingerprint(response.text), set()).add(
                article_of.get(response.id, response.target)
            )

    verdicts: dict[str, Verdict] = {}
    for response in responses:
        decision = decisions.get(response.id)
        if decision == "approved":
            verdicts[response.id] = Verdict("publish", ("approved in the moderation file",))
            continue
        if decision == "blocked":
            verdicts[response.id] = Verdict("blocked", ("blocked in the moderation file",))
            continue
        blocked = _blocked(response, rules)
        if blocked:
            verdicts[response.id] = Verdict("blocked", blocked)
            continue
        if (
            _matches_author(response, rules.approve_authors)
            or _matches_domain(response.author_url, rules.approve_domains)
            or person_keys(response) & trusted
        ):
            verdicts[response.id] = Verdict("publish", ("trusted",))
            continue
        reasons = _suspicions(response, article_texts.get(article_of.get(response.id, ""), ""))
        if response.textual and _repeatable(response):
            places = seen_on.get(_fingerprint(response.text), set())
            if len(places) > 1:
                reasons.append(f"the same text was posted on {len(places)} articles")
        verdicts[response.id] = Verdict("held" if reasons else "publish", tuple(reasons))
    return verdicts


def _repeatable(response: Response) -> bool:
    """Long enough (or linky enough) that posting it twice means something."""
    return len(response.text) >= 60 or response.links > 0


def person_keys(response: Response) -> set[str]:
    keys = set()
    if response.author_url:
        keys.add("url:" + normalise(response.author_url))
    if response.author_name and not response.anonymous:
        keys.add("name:" + response.author_name.casefold())
    return keys


def _blocked(response: Response, rules: Rules) -> tuple[str, ...]:
    reasons = []
    if _matches_author(response, rules.block_authors):
        reasons.append("author is on the block list")
    if _matches_domain(response.author_url, rules.block_domains) or _matches_domain(
        response.source_url, rules.block_domains
    ):
        reasons.append("domain is on the block list")
    lowered = response.text.lower()
    words = [w for w in rules.block_words if w.lower() in lowered]
    if words:
        reasons.append(f"contains blocked words: {', '.join(words)}")
    return tuple(reasons)


def _suspicions(response: Response, article_text: str) -> list[str]:
    reasons: list[str] = []
    if response.flagged_spam:
        reasons.append(f"marked as spam in the {response.source}")
    if not response.textual:
        return reasons  # likes and reposts carry no text to judge
    text = response.text
    for pattern in _SPAM:
        match = pattern.search(text) or pattern.search(response.author_name)
        if match:
            reasons.append(f"spam phrase {match.group(0).strip()!r}")
            break
    words = len(_WORD.findall(text))
    if response.links >= 3 and response.links > 1 + words / 25:
        reasons.append(f"{response.links} links in {words} words")
    if article_text and not _QUOTE_MARK.search(text):
        copied = copies_article(text, article_text)
        if copied >= 0.5:
            reasons.append(f"{copied:.0%} of it is copied from the article")
    return reasons


# -- the moderation file (I/O edge) ---------------------------------------------------

HEADER = """\
Responses that pelican-reciprocity held for moderation. Nothing here is ever
deleted by the plugin. To publish one, set its status to "approved"; to keep
it off the site for good, set it to "blocked". The [rules] apply to every
future response too (names or URLs in *_authors, host names in *_domains).
"""


@dataclass
class ModerationFile:
    path: Path
    decisions: dict[str, str] = field(default_factory=dict)
    rules: Rules = Rules()
    document: Any = None
    entries: dict[str, Any] = field(default_factory=dict)


def load_moderation(path: Path) -> ModerationFile:
    """Read the owner's file; a syntax error is a user mistake, named clearly."""
    import tomlkit

    result = ModerationFile(path=path)
    if not path.exists():
        doc = tomlkit.document()
        for line in HEADER.splitlines():
            doc.add(tomlkit.comment(line))
        rules = tomlkit.table()
        for key in ("approve_authors", "approve_domains", "block_authors", "block_domains"):
            rules[key] = tomlkit.array()
        rules["block_words"] = tomlkit.array()
        doc["rules"] = rules
        doc["response"] = tomlkit.aot()
        result.document = doc
        return result
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tomlkit raises several kinds; all mean "fix the file"
        raise ConfigError(f"{path}: cannot read the moderation file: {exc}") from None
    result.document = doc
    rules = doc.get("rules") or {}
    result.rules = Rules(
        **{
            key: tuple(str(v) for v in rules.get(key, []) or [])
            for key in (
                "block_words",
                "block_domains",
                "block_authors",
                "approve_domains",
                "approve_authors",
            )
        }
    )
    for index, entry in enumerate(doc.get("response") or [], 1):
        rid = str(entry.get("id") or "")
        status = str(entry.get("status") or "held").strip().lower()
        if not rid:
            logger.warning("reciprocity: %s: response #%d has no id; ignored", path, index)
            continue
        if status not in STATUSES:
            logger.warning(
                "reciprocity: %s: response %s has status %r (use held, approved or "
                "blocked); treated as held",
                path,
                rid,
                status,
            )
            status = "held"
        result.decisions[rid] = status
        result.entries[rid] = entry
    return result


def record_held(
    moderation: ModerationFile,
    held: Iterable[tuple[Response, Verdict, str]],
) -> int:
    """Add newly held responses to the file (never removing any); returns how
    many were added. Writes only when something changed."""
    import tomlkit

    from .cache import write_atomic

    doc = moderation.document
    if "response" not in doc:
        doc["response"] = tomlkit.aot()
    added = 0
    for response, verdict, article in held:
        if response.id in moderation.entries:
            continue
        entry = tomlkit.table()
        entry["id"] = response.id
        entry["status"] = "held"
        entry["article"] = article
        entry["author"] = response.author_name or "(anonymous)"
        if response.author_url:
            entry["author_url"] = response.author_url
        if response.published:
            entry["date"] = response.published.isoformat()
        entry["source"] = response.source
        entry["reasons"] = list(verdict.reasons)
        entry["excerpt"] = response.excerpt_text[:300]
        doc["response"].append(entry)
        moderation.entries[response.id] = entry
        moderation.decisions[response.id] = "held"
        added += 1
    if added:
        write_atomic(moderation.path, tomlkit.dumps(doc).encode("utf-8"))
    return added
