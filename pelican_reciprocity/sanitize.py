"""Allowlist sanitising for everything that comes from someone else's site.

Every string that reaches a page passes through here or through Jinja's
escaping: titles become plain text, summaries keep a small set of inline
tags, and only http(s) links survive.
"""

from __future__ import annotations

import html
import re

import nh3
from pelican.utils import truncate_html_words

SUMMARY_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "cite", "code", "del", "em", "i",
        "ins", "li", "mark", "ol", "p", "pre", "q", "s", "small", "strong",
        "sub", "sup", "ul",
    }
)  # fmt: skip
SUMMARY_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template",
     "svg", "math", "form", "button", "select", "textarea", "title", "head"}
)  # fmt: skip
_SPACE = re.compile(r"\s+")


def clean_html(fragment: str | None, *, rel: str = "noopener nofollow") -> str:
    """Sanitise untrusted HTML to the summary allowlist."""
    if not fragment:
        return ""
    return nh3.clean(
        fragment,
        tags=set(SUMMARY_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in SUMMARY_ATTRIBUTES.items()},
        url_schemes={"http", "https"},
        link_rel=rel,
        strip_comments=True,
    ).strip()


def to_text(fragment: str | None) -> str:
    """Plain text of an HTML (or text) fragment: tags gone, entities decoded."""
    if not fragment:
        return ""
    stripped = nh3.clean(fragment, tags=set(), clean_content_tags=set(_DROP_WITH_CONTENT))
    # nh3 escapes what it keeps; entities may have been double-encoded by
    # the feed itself ("&amp;amp;"), so unescape until stable (bounded).
    for _ in range(3):
        unescaped = html.unescape(stripped)
        if unescaped == stripped:
            break
        stripped = unescaped
    return _SPACE.sub(" ", stripped).strip()


def summarise(fragment: str | None, words: int) -> tuple[str, str]:
    """Sanitise first, then truncate, so scripts never count towards the length.

    Returns the summary as safe HTML and as plain text.
    """
    safe = clean_html(fragment)
    text = to_text(safe)
    if len(text.split()) > words:
        safe = clean_html(truncate_html_words(safe, words, "…"))
        text = truncate_text(text, words)
    return safe, text


def truncate_text(text: str, words: int) -> str:
    parts = text.split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]) + "…"
