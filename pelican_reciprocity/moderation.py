"""Moderation: decide and explain, for every kind of response alike.

:func:`moderate` is pure: responses in, a verdict with reasons out. The
owner's file of decisions and rules is :mod:`moderation_file`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .identity import in_domains, person_keys
from .model import Response, Verdict, record
from .urls import normalise

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


@record(frozen=True)
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
        if _repeatable(response):
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
            or in_domains(response.author_url, rules.approve_domains)
            or person_keys(response) & trusted
        ):
            verdicts[response.id] = Verdict("publish", ("trusted",))
            continue
        reasons = _suspicions(response, article_texts.get(article_of.get(response.id, ""), ""))
        if _repeatable(response):
            places = seen_on.get(_fingerprint(response.text), set())
            if len(places) > 1:
                reasons.append(f"the same text was posted on {len(places)} articles")
        verdicts[response.id] = Verdict("held" if reasons else "publish", tuple(reasons))
    return verdicts


def _repeatable(response: Response) -> bool:
    """Long enough (or linky enough) that posting it twice means something."""
    return len(response.text) >= 60 or response.links > 0


def _blocked(response: Response, rules: Rules) -> tuple[str, ...]:
    reasons = []
    if _matches_author(response, rules.block_authors):
        reasons.append("author is on the block list")
    if in_domains(response.author_url, rules.block_domains) or in_domains(
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
    # Every kind goes through the same checks: a bookmark or a like from
    # "Buy instagram followers" is spam too (a like simply has no text).
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
