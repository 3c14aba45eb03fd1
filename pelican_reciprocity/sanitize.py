"""Allowlist sanitising for everything that comes from someone else's site.

Every string that reaches a page passes through here or through Jinja's
escaping: titles become plain text, summaries keep a small set of inline
tags, and only http(s) links survive.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3

from .urls import absolute

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

#: Bidirectional embedding, override and isolate controls: in a name or a
#: title they can make the page around them read backwards ("\u202e").
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_BIDI_CHARACTERS = "[\u202a-\u202e\u2066-\u2069]"

#: Only a summary or an excerpt of a body is ever shown, so the sanitiser is
#: never given more than this much raw HTML, nested no deeper than this.
MAX_HTML = 100_000
MAX_DEPTH = 32
_ANY_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
#: Tags that close themselves or their open sibling: they never deepen a tree.
_FLAT = frozenset(
    {"area", "base", "br", "col", "dd", "dt", "embed", "hr", "img", "input", "li", "link",
     "meta", "option", "p", "param", "source", "td", "th", "tr", "track", "wbr"}
)  # fmt: skip


def one_spaced(text: str) -> str:
    """Each run of whitespace one space, none at the ends: what a regex
    substitution does, at a tenth of its cost (it rebuilds the text around
    each of a summary's hundred spaces, 40 µs of a summary's 150)."""
    return " ".join(text.split())


def valid_text(text: str) -> str:
    """Text anything else may touch: lone surrogates (valid in JSON, not in
    UTF-8) become U+FFFD, and bidirectional controls are removed."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    # Looked for first: translating costs about 120 ns a character, a search 10.
    return text.translate(_BIDI) if re.search(_BIDI_CHARACTERS, text) else text


def bounded(fragment: str) -> str:
    """At most :data:`MAX_HTML` characters of valid text, with tags nested
    deeper than :data:`MAX_DEPTH` dropped (their text is kept): an HTML
    parser's time grows with the square of the nesting, and a hostile body
    can nest 60,000 ``<div>``. One linear pass."""
    fragment = valid_text(fragment[:MAX_HTML])
    if fragment.count("<") <= MAX_DEPTH:
        return fragment
    out: list[str] = []
    depth = last = 0
    for match in _ANY_TAG.finditer(fragment):
        closing, name = match.group(1), match.group(2).lower()
        if name in _FLAT or match.group(0).endswith("/>"):
            continue
        if closing:
            drop = depth > MAX_DEPTH
            depth = max(0, depth - 1)
        else:
            depth += 1
            drop = depth > MAX_DEPTH
        if drop:
            out.append(fragment[last : match.start()])
            last = match.end()
    if not out:
        return fragment
    out.append(fragment[last:])
    return "".join(out)


@lru_cache(maxsize=8)
def _cleaner(rel: str) -> nh3.Cleaner:
    """One sanitiser per ``rel``, built once. It calls no Python for links:
    a callback takes the GIL back for every attribute, and in the fetch job,
    beside the downloads, that made each summary ten times slower."""
    return nh3.Cleaner(
        tags=set(SUMMARY_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in SUMMARY_ATTRIBUTES.items()},
        url_schemes={"http", "https"},
        link_rel=rel,
        strip_comments=True,
    )


#: A start tag of the sanitiser's own output: every value is double-quoted
#: with its quotes escaped, but ``>`` may stand inside a value.
_LINK = re.compile(r'<a((?:\s+[\w:-]+="[^"]*")*)\s*>')
_HREF = re.compile(r'(\s+)href="([^"]*)"')


def clean_html(
    fragment: str | None,
    *,
    rel: str = "noopener nofollow",
    base: str | None = None,
    keep_relative: bool = False,
) -> str:
    """Sanitise untrusted HTML to the summary allowlist.

    Relative links are made absolute against ``base``; without a base they
    are dropped (on our page they would point into our own site), unless
    ``keep_relative`` says the HTML is the site owner's own.
    """
    if not fragment:
        return ""
    safe = _cleaner(rel).clean(bounded(fragment)).strip()
    if "href=" not in safe:
        return safe

    def resolve(match: re.Match[str]) -> str:
        value = html.unescape(match.group(2))
        if keep_relative and "://" not in value and ":" not in value:
            return match.group(0)
        link = absolute(value, base)
        return f'{match.group(1)}href="{html.escape(link)}"' if link else ""

    def tag(match: re.Match[str]) -> str:
        return "<a" + _HREF.sub(resolve, match.group(1)) + ">"

    return _LINK.sub(tag, safe)


def to_text(fragment: str | None) -> str:
    """Plain text of an HTML (or text) fragment: tags gone, entities decoded."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:  # plain already: most titles and tags
        return one_spaced(valid_text(fragment[:MAX_HTML]))
    stripped = nh3.clean(bounded(fragment), tags=set(), clean_content_tags=set(_DROP_WITH_CONTENT))
    # nh3 escapes what it keeps; entities may have been double-encoded by
    # the feed itself ("&amp;amp;"), so unescape until stable (bounded).
    for _ in range(3):
        unescaped = html.unescape(stripped)
        if unescaped == stripped:
            break
        stripped = unescaped
    return one_spaced(stripped)


#: Raw HTML read per summary word before trying more of the body: a 50 KB
#: post needs only its first kilobyte for a 40-word summary. Two tries, the
#: second generous enough for markup-heavy HTML, then the whole body.
_PREFIXES = ((256, 12), (1024, 40))


_TAG = re.compile(r"<[^>]*>")
#: Tags that separate words; inline ones (links, emphasis) do not: "Druaga1's".
_BLOCK = re.compile(r"</?(?:p|br|li|ol|ul|blockquote|pre)\b[^>]*>", re.I)
#: A sentence's own stop is dropped before the ellipsis: "Tuscany…", not
#: "Tuscany.…"; so is an ellipsis of the text's own, for which the cut's
#: stands: "Docker…", not "Docker ... …", nor WordPress's "more […]…".
_STOPS = ".,;:…"
_ELLIPSES = ("[…]", "[...]")


def _bare(word: str) -> str:
    """A word without the stops and ellipses it ends with ("" if it is only those)."""
    while True:
        bare = word.rstrip(_STOPS)
        for ellipsis in _ELLIPSES:
            if bare.endswith(ellipsis):
                bare = bare[: -len(ellipsis)]
        if bare == word:
            return word
        word = bare


def safe_text(safe: str) -> str:
    """Plain text of HTML that :func:`clean_html` already made safe: its tags
    are plain allowlisted markup, so a regex is enough (and much cheaper)."""
    text = html.unescape(_TAG.sub("", _BLOCK.sub(" ", safe)))
    return one_spaced(text)


def summarise(fragment: str | None, words: int, *, base: str | None = None) -> tuple[str, str]:
    """Sanitise first, then truncate, so scripts never count towards the length.

    Returns the summary as safe HTML and as plain text. Only a prefix of a
    long body is sanitised when that prefix already holds more than enough
    words; the result is the same as sanitising the whole body.
    """
    fragment = fragment or ""
    for fixed, per_word in _PREFIXES:
        limit = fixed + words * per_word
        if len(fragment) <= limit:
            break
        safe = clean_html(fragment[:limit], base=base)
        text = safe_text(safe)
        if len(text.split()) > words + 1:
            return _truncate(safe, text, words)
    safe = clean_html(fragment, base=base)
    return _truncate(safe, safe_text(safe), words)


def _truncate(safe: str, text: str, words: int) -> tuple[str, str]:
    if len(text.split()) > words:
        safe = truncate_safe_html(safe, words)
        text = truncate_text(text, words)
    return safe, text


_TOKEN = re.compile(r"(<[^>]*>)")
_SPACES = re.compile(r"(\s+)")
_VOID = frozenset({"br", "hr", "img", "wbr"})


def _trim_tail(out: list[str], open_tags: list[str]) -> None:
    """Drop trailing spaces and just-opened, still-empty tags before the cut."""
    while out:
        last = out[-1]
        if last.isspace():
            out.pop()
        elif last.startswith("<") and not last.startswith("</") and open_tags:
            name = last[1:].split(None, 1)[0].rstrip("/>").lower()
            if name != open_tags[-1]:
                break
            out.pop()
            open_tags.pop()
        else:
            break


def _cut(out: list[str], open_tags: list[str], end: str) -> str:
    """The HTML read so far, ended with ``end`` and its open tags closed.
    The end goes right after the last word, inside the elements that close
    after it, and in place of the stop or ellipsis that word ends with."""
    _trim_tail(out, open_tags)
    closing: list[str] = []
    while out:
        last = out[-1]
        if last.startswith("</"):
            closing.insert(0, out.pop())
        elif last.startswith("<"):
            break
        elif last.isspace():
            out.pop()
        elif bare := _bare(last):
            out[-1] = bare
            break
        else:  # a stop or an ellipsis alone: the end stands for it
            out.pop()
            _trim_tail(out, open_tags)
    out.append(end)
    out.extend(closing)
    out.extend(f"</{tag}>" for tag in reversed(open_tags))
    return "".join(out)


#: What :func:`truncate_safe_html` reads in each tag, by tag: a summary's
#: few kinds of tag come back in every summary of every feed.
_TAGS: dict[str, tuple[bool, bool, str]] = {}


def _tag(token: str) -> tuple[bool, bool, str]:
    """Whether the tag ends a word, whether it closes, and the name it
    closes or leaves open ("" for one that leaves none open)."""
    name = token[1:].split(None, 1)[0].rstrip("/>").lower() if len(token) > 2 else ""
    closing = token.startswith("</")
    if closing:
        name = token[2:-1].strip().lower()
    elif name in _VOID or token.endswith("/>"):
        name = ""
    found = (_BLOCK.match(token) is not None, closing, name)
    if len(_TAGS) < 4096:  # links differ from site to site: bounded
        _TAGS[token] = found
    return found


def truncate_safe_html(safe: str, words: int, end: str = "…") -> str:
    """Keep the first ``words`` words of sanitised HTML and close open tags.

    Only for :func:`clean_html` output, whose tags are simple and balanced;
    much cheaper than an HTML parser for every summary of every feed.
    """
    out: list[str] = []
    open_tags: list[str] = []
    count = 0
    in_word = False  # text glued across inline tags is one word: "Druaga1</a>'s"
    for token in _TOKEN.split(safe):
        if not token:
            continue
        if token.startswith("<"):
            block, closing, name = _TAGS.get(token) or _tag(token)
            if block:
                in_word = False
            if closing:
                if name in open_tags:
                    while open_tags:
                        if open_tags.pop() == name:
                            break
            elif name:
                open_tags.append(name)
            out.append(token)
            continue
        # Words and the spaces between them, in turn: a space at each odd place.
        pieces = _SPACES.split(token)
        # The words it starts (the first may go on one glued across a tag):
        # a token that does not reach the cut is taken whole, and only the
        # one that does is walked word by word.
        starts = (len(pieces) + 1) // 2 - (not pieces[0]) - (len(pieces) > 1 and not pieces[-1])
        starts -= in_word and bool(pieces[0])
        if count + starts <= words:
            count += starts
            in_word = bool(pieces[-1])
            out.extend(pieces)
            continue
        for place, piece in enumerate(pieces):
            if place % 2:
                in_word = False
            elif piece and not in_word:  # a new word, not the rest of one
                if count == words:
                    return _cut(out, open_tags, end)
                count += 1
                in_word = True
            out.append(piece)
    return "".join(out)


def truncate_text(text: str, words: int) -> str:
    parts = text.split()
    if len(parts) <= words:
        return " ".join(parts)
    kept = parts[:words]
    while kept and not (bare := _bare(kept[-1])):
        kept.pop()  # a stop or an ellipsis alone: the end stands for it, as in _cut
    if kept:
        kept[-1] = bare
    return " ".join(kept) + "…"
