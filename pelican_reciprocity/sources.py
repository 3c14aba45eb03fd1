"""Read responses from every source into the one ``Response`` model.

Sources: comment files (pelican-comment-system layout), WordPress and Blogger
comment feeds, a Blogger export, webmention.io (JF2 and legacy JSON), a
Disqus export and ``Thanks:`` metadata. Readers never raise on bad input:
they skip what they cannot read and say why in ``problems``.

Matching them to articles is :mod:`matching`, merging people is
:mod:`identity`, and moderation is :mod:`moderation`.
"""

from __future__ import annotations

import contextlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import field
from datetime import UTC, datetime, tzinfo
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .feeds import any_date, sane_date
from .model import KINDS, ReadResult, Response, record
from .sanitize import (
    clean_html,
    safe_text,
    to_text,
    truncate_safe_html,
    truncate_text,
    valid_text,
)
from .urls import absolute, host_of, is_web_url

EXCERPT_WORDS = 60
COMMENT_EXTENSIONS = {".md", ".markdown", ".mdown", ".rst", ".html", ".htm"}


@record
class _Reading:
    """What a reader collects before it hands back a frozen ReadResult."""

    format: str
    responses: list[Response] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def done(self) -> ReadResult:
        return ReadResult(tuple(self.responses), tuple(self.problems), self.format)

    @contextlib.contextmanager
    def item(self, label: str) -> Iterator[None]:
        """Read one item; whatever goes wrong skips that item alone, named."""
        try:
            yield
        except Exception as exc:  # a reader's bug or a hostile item: never the whole source
            self.problems.append(f"{label}: cannot be read ({type(exc).__name__}: {exc}); skipped")

    def date(self, label: str, *values: Any, zone: tzinfo = UTC) -> datetime | None:
        """The first usable date of ``values``; one that cannot be right is
        named, and the response is shown without a date."""
        for value in values:
            date = _date(value, zone)
            if date is not None:
                return date
        written = next((v for v in values if v not in (None, "")), None)
        if written is not None:
            self.problems.append(
                f"{label}: date {str(written)[:40]!r} cannot be right; shown without a date"
            )
        return None


def _response(
    *,
    id: str,
    kind: str,
    target: str,
    source: str,
    author_name: Any = "",
    author_url: Any = "",
    avatar_url: Any = "",
    published: datetime | None = None,
    source_url: Any = "",
    html: str = "",
    base: str | None = None,
    private: bool = False,
    flagged_spam: bool = False,
    author_site: Any = "",
) -> Response:
    safe = clean_html(html, rel="nofollow ugc noopener", base=base)
    text = safe_text(safe)
    excerpt_html = safe
    if len(text.split()) > EXCERPT_WORDS:
        excerpt_html = truncate_safe_html(safe, EXCERPT_WORDS)
    return Response(
        id=id,
        kind=kind if kind in KINDS else "mention",
        target=target,
        author_name=to_text(_s(author_name))[:200],
        author_url=_s(author_url) if is_web_url(_s(author_url)) else "",
        author_site=_s(author_site) if is_web_url(_s(author_site)) else "",
        avatar_url=_s(avatar_url) if is_web_url(_s(avatar_url)) else "",
        published=published,
        source_url=_s(source_url) if is_web_url(_s(source_url)) else "",
        excerpt_html=excerpt_html,
        excerpt_text=truncate_text(text, EXCERPT_WORDS),
        text=text,
        links=_outside_links(html, target, _s(author_url)),
        source=source,
        private=private,
        flagged_spam=flagged_spam,
    )


_HREF = re.compile(r"""(?:href=["']?|(?<![="'/\w]))(https?://[^\s"'<>]+)""", re.I)


def _outside_links(html: str, target: str, author_url: str) -> int:
    """Links to other sites: a reply linking to the post it answers, or to the
    author's own blog, is not what makes a comment look like spam."""
    own = {_host(target), _host(author_url)} - {""}
    return sum(1 for url in _HREF.findall(html or "") if _host(url) not in own)


def _host(url: str) -> str:
    host = host_of(url)
    return host[4:] if host.startswith("www.") else host


def _s(value: Any) -> str:
    return valid_text(value).strip() if isinstance(value, str) else ""


def _date(value: Any, zone: tzinfo = UTC) -> datetime | None:
    """A response's date, or None when it cannot be right. Numbers are Unix
    times (in milliseconds when they are that large); a date written without
    an offset is in ``zone``, the site's TIMEZONE."""
    date: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = value / 1000 if value > 10**11 else value  # milliseconds
        with contextlib.suppress(ValueError, OverflowError, OSError):
            date = datetime.fromtimestamp(seconds, UTC)
    elif _s(value):
        text = _s(value)
        with contextlib.suppress(ValueError):
            date = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if date.tzinfo is None:
                date = date.replace(tzinfo=zone)
        if date is None:
            date = any_date(text)
    return sane_date(date, datetime.now(UTC))


# -- comment files (pelican-comment-system) ----------------------------------------


def read_comment_folder(folder: Path, slug: str, zone: tzinfo = UTC) -> ReadResult:
    """All comment files for one article: ``<comments>/<slug>/*.md`` and friends."""
    result = _Reading("comment files")
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in COMMENT_EXTENSIONS:
            continue
        try:
            raw = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(f"{path}: cannot read ({exc}); skipped")
            continue
        with result.item(str(path)):
            result.responses.append(_comment_file(result, path, raw, slug, zone))
    return result.done()


def _comment_file(result: _Reading, path: Path, raw: str, slug: str, zone: tzinfo) -> Response:
    meta, body = split_metadata(raw)
    author = meta.get("author", "")
    site = meta.get("website") or meta.get("url") or meta.get("link") or ""
    kind = "reply" if meta.get("replyto") else "comment"
    html = render_body(body, path.suffix.lower())
    if author.strip().lower() in ("pingback", "trackback"):
        # Name the site that linked here, not "Pingback".
        first = re.search(r"""href=["']?(https?://[^"' >]+)""", html)
        site = site or (first.group(1) if first else "")
        kind, author = "mention", urlsplit(site).hostname or author
    return _response(
        id=f"comments:{slug}/{path.name}",
        kind=kind,
        target=f"slug:{slug}",
        source="comment file",
        author_name=author,
        author_url=site,
        published=result.date(str(path), meta.get("date"), zone=zone),
        html=html,
    )


def read_comment_files(root: Path, zone: tzinfo = UTC) -> ReadResult:
    """Every ``<root>/<article-slug>/`` folder of comment files."""
    result = _Reading("comment files")
    if not root.is_dir():
        return result.done()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        found = read_comment_folder(folder, folder.name, zone)
        result.responses.extend(found.responses)
        result.problems.extend(found.problems)
    return result.done()


_META_LINE = re.compile(r"^([A-Za-z][\w-]*)\s*:\s*(.*)$")


def split_metadata(raw: str) -> tuple[dict[str, str], str]:
    """Front matter as pelican-comment-system writes it: YAML between
    ``---`` and ``---``/``...``, or Pelican's ``Key: value`` lines."""
    lines = raw.splitlines()
    meta: dict[str, str] = {}
    start = 0
    if lines and lines[0].strip() == "---":
        for index, line in enumerate(lines[1:], 1):
            if line.strip() in ("---", "..."):
                start = index + 1
                break
            match = _META_LINE.match(line)
            if match:
                meta[match.group(1).lower()] = match.group(2).strip().strip("'\"")
        else:
            start = len(lines)
    else:
        for index, line in enumerate(lines):
            match = _META_LINE.match(line)
            if not line.strip():
                start = index + 1
                break
            if not match:
                start = index
                break
            meta[match.group(1).lower()] = match.group(2).strip()
        else:
            start = len(lines)
    return meta, "\n".join(lines[start:]).strip()


def render_body(body: str, suffix: str) -> str:
    if suffix in (".html", ".htm"):
        return body
    if suffix == ".rst":
        try:
            from docutils.core import publish_parts

            parts = publish_parts(
                body,
                writer="html",
                settings_overrides={"report_level": 5, "halt_level": 5, "raw_enabled": False},
            )
            return parts["body"]
        except Exception:  # docutils is lenient, but a comment must never stop a build
            return f"<p>{escape(body)}</p>"
    import markdown

    return markdown.markdown(body)


# -- feeds, exports and JSON: detected from the content ----------------------------------


def read_source(body: bytes, origin: str) -> ReadResult:
    """Read a response source of any supported format, detected from the bytes.
    Never raises: a source that cannot be read at all is one problem."""
    try:
        return _read_source(body, origin)
    except Exception as exc:  # RecursionError from deep JSON, a parser's own bug...
        return ReadResult(problems=(f"{origin}: cannot be read ({type(exc).__name__}); skipped",))


def _read_source(body: bytes, origin: str) -> ReadResult:
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        try:
            data = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            return ReadResult(problems=(f"{origin}: invalid JSON ({exc})",))
        except RecursionError:
            return ReadResult(problems=(f"{origin}: JSON nested too deeply to read; skipped",))
        return read_webmentions(data, origin)
    if b"<disqus" in head or b"<disqus" in body[:20000]:
        return read_disqus(body, origin)
    if b"schemas.google.com/blogger/2008/kind#" in body[:200000]:
        return read_blogger_export(body, origin)
    return read_comment_feed(body, origin)


def read_webmentions(data: Any, origin: str) -> ReadResult:
    """webmention.io JF2 (``{"children": [...]}``) or legacy (``{"links": [...]}``)."""
    if isinstance(data, dict) and isinstance(data.get("links"), list):
        return _legacy_webmentions(data["links"], origin)
    children = data.get("children") if isinstance(data, dict) else data
    if not isinstance(children, list):
        return ReadResult(problems=(f"{origin}: JSON is neither JF2 nor webmention.io links",))
    result = _Reading("webmention.io JF2")
    kinds = {
        "in-reply-to": "reply",
        "like-of": "like",
        "repost-of": "repost",
        "mention-of": "mention",
        "bookmark-of": "bookmark",
        "rsvp": "mention",
    }
    for index, entry in enumerate(children, 1):
        if not isinstance(entry, dict):
            continue
        label = f"{origin}: mention {_s(str(entry.get('wm-id') or index))}"
        with result.item(label):
            _jf2(result, entry, label, kinds)
    return result.done()


def _jf2(result: _Reading, entry: dict[str, Any], label: str, kinds: dict[str, str]) -> None:
    author = entry.get("author") if isinstance(entry.get("author"), dict) else {}
    content = entry.get("content") if isinstance(entry.get("content"), dict) else {}
    html = _s(content.get("html"))
    if not html and _s(content.get("text")):
        html = escape(_s(content.get("text")))
    target = _s(entry.get("wm-target"))
    if not target:
        return
    result.responses.append(
        _response(
            id=f"webmention:{entry.get('wm-id') or entry.get('url') or entry.get('wm-source')}",
            kind=kinds.get(_s(entry.get("wm-property")), "mention"),
            target=target,
            source="webmention",
            author_name=author.get("name"),
            author_url=author.get("url"),
            avatar_url=author.get("photo"),
            published=result.date(label, entry.get("published"), entry.get("wm-received")),
            source_url=entry.get("url") or entry.get("wm-source"),
            html=html,
            private=bool(entry.get("wm-private")),
        )
    )


def _legacy_webmentions(links: list[Any], origin: str) -> ReadResult:
    result = _Reading("webmention.io links")
    kinds = {"reply": "reply", "like": "like", "repost": "repost", "bookmark": "bookmark"}
    for index, link in enumerate(links, 1):
        if not isinstance(link, dict) or not _s(link.get("target")):
            continue
        label = f"{origin}: mention {_s(str(link.get('id') or index))}"
        with result.item(label):
            result.responses.append(_legacy(result, link, label, kinds))
    return result.done()


def _legacy(result: _Reading, link: dict[str, Any], label: str, kinds: dict[str, str]) -> Response:
    data = link.get("data") if isinstance(link.get("data"), dict) else {}
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    activity = link.get("activity") if isinstance(link.get("activity"), dict) else {}
    return _response(
        id=f"webmention:{link.get('id') or link.get('source')}",
        kind=kinds.get(_s(activity.get("type")), "mention"),
        target=_s(link["target"]),
        source="webmention",
        author_name=author.get("name"),
        author_url=author.get("url"),
        avatar_url=author.get("photo"),
        published=result.date(label, data.get("published"), link.get("verified_date")),
        source_url=data.get("url") or link.get("source"),
        html=_s(data.get("content")),
        private=bool(link.get("private")),
    )


def _comment_target(link: str | None) -> str:
    """A comment's permalink is its post's URL plus ``#comment-N`` or
    ``?showComment=N#cN``: the post is the link without query and fragment."""
    if not link:
        return ""
    parts = urlsplit(link)
    path = re.sub(r"/comment-page-\d+/?$", "/", parts.path)  # WordPress paged comments
    return parts._replace(path=path, query="", fragment="").geturl()


def _entry_html(entry: Any) -> str:
    """A feedparser entry's full content, else its summary."""
    content = entry.get("content") or []
    return content[0].get("value") if content else entry.get("summary", "")


def read_comment_feed(body: bytes, origin: str) -> ReadResult:
    """WordPress (RSS2 and Atom) and Blogger comment feeds."""
    import feedparser

    base = origin if is_web_url(origin) else None
    headers = {"content-location": base} if base else {}
    parsed = feedparser.parse(bytes(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        return ReadResult(problems=(f"{origin}: not a comment feed or known export",))
    site = parsed.get("feed", {}).get("link") or base
    result = _Reading(f"comment feed ({parsed.get('version') or 'xml'})")
    for index, entry in enumerate(parsed.entries, 1):
        label = f"{origin}: comment {_s(entry.get('id')) or index}"
        with result.item(label):
            _feed_comment(result, entry, label, site)
    return result.done()


def _feed_comment(result: _Reading, entry: Any, label: str, site: str | None) -> None:
    raw_link = _s(entry.get("link"))
    # A mirrored feed may keep only site-relative links; matching accepts them.
    link = absolute(raw_link, site) or (raw_link if raw_link.startswith("/") else "")
    name = entry.get("author") or ""
    title = to_text(entry.get("title") or "")
    if not name and title.lower().startswith("by: "):
        name = title[4:]
    if not name and " by " in title:
        name = title.rsplit(" by ", 1)[1]
    detail = entry.get("author_detail") or {}
    html = _entry_html(entry)
    kind = "reply" if re.search(r"\bIn reply to\b", html or "") else "comment"
    result.responses.append(
        _response(
            id=f"feed:{entry.get('id') or link}",
            kind=kind,
            target=_comment_target(link),
            source="comment feed",
            author_name=name,
            author_url=detail.get("href"),
            # as a plain dict: see feeds._entry_date
            published=result.date(label, dict.get(entry, "published"), dict.get(entry, "updated")),
            source_url=link,
            html=html,
            base=site,
        )
    )


def read_blogger_export(body: bytes, origin: str) -> ReadResult:
    """A Blogger export (Atom): only the ``kind#comment`` entries. Real exports
    are not always well-formed, so feedparser reads them leniently."""
    import feedparser

    parsed = feedparser.parse(bytes(body))
    result = _Reading("Blogger export")
    for index, entry in enumerate(parsed.entries, 1):
        terms = {t.get("term", "") for t in entry.get("tags") or ()}
        if not any(t.endswith("kind#comment") for t in terms):
            continue
        label = f"{origin}: comment {_s(entry.get('id')) or index}"
        with result.item(label):
            _blogger_comment(result, entry, label)
    return result.done()


def _blogger_comment(result: _Reading, entry: Any, label: str) -> None:
    link = next(
        (li.get("href") for li in entry.get("links") or () if li.get("rel") == "alternate"),
        entry.get("link"),
    )
    detail = entry.get("author_detail") or {}
    html = _entry_html(entry)
    result.responses.append(
        _response(
            id=f"blogger:{entry.get('id')}",
            kind="comment",
            target=_comment_target(link),
            source="Blogger export",
            author_name=entry.get("author"),
            author_url=detail.get("href"),
            published=result.date(label, entry.get("published")),
            source_url=link,
            html=html,
        )
    )


_DSQ = "{http://disqus.com/disqus-internals}id"


def read_disqus(body: bytes, origin: str) -> ReadResult:
    """A Disqus export: threads give the page URL, posts give the comments."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return ReadResult(problems=(f"{origin}: Disqus export is not well-formed XML ({exc})",))
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    threads = {
        thread.get(_DSQ): (thread.findtext(f"{ns}link") or "").strip()
        for thread in root.findall(f"{ns}thread")
    }
    result = _Reading("Disqus export")
    for index, post in enumerate(root.findall(f"{ns}post"), 1):
        if (post.findtext(f"{ns}isDeleted") or "").strip() == "true":
            continue  # the owner removed it
        label = f"{origin}: comment {post.get(_DSQ) or index}"
        with result.item(label):
            _disqus_post(result, post, label, ns, threads)
    return result.done()


def _disqus_post(
    result: _Reading, post: Any, label: str, ns: str, threads: dict[str | None, str]
) -> None:
    thread = post.find(f"{ns}thread")
    target = threads.get(thread.get(_DSQ) if thread is not None else None, "")
    author = post.find(f"{ns}author")
    name = author.findtext(f"{ns}name") if author is not None else ""
    anonymous = author is not None and author.findtext(f"{ns}isAnonymous") == "true"
    result.responses.append(
        _response(
            id=f"disqus:{post.get(_DSQ)}",
            kind="comment",
            target=target,
            source="Disqus export",
            author_name="" if anonymous and not name else name,
            author_url=author.findtext(f"{ns}link") if author is not None else "",
            published=result.date(label, post.findtext(f"{ns}createdAt")),
            html=post.findtext(f"{ns}message") or "",
            flagged_spam=(post.findtext(f"{ns}isSpam") or "").strip() == "true",
        )
    )


# -- Thanks: metadata --------------------------------------------------------------------

_THANKS_ITEM = re.compile(r"\s*([^,<]*?)\s*(?:<\s*([^>]*?)\s*>)?\s*(?:,|$)")


def read_thanks(value: Any, key: str) -> ReadResult:
    """``Thanks: Lena Okafor <https://lena.example/>, Nas`` from an article.

    The responses target that very article (``article:<key>``), so a
    translation's thanks never land on its siblings.
    """
    result = _Reading("Thanks: metadata")
    if value is None:
        return result.done()
    text = ", ".join(value) if isinstance(value, list | tuple) else str(value)
    for match in _THANKS_ITEM.finditer(text):
        name, url = (match.group(1) or "").strip(), (match.group(2) or "").strip()
        if not name and not url:
            continue
        if url and not is_web_url(url):
            result.problems.append(f"Thanks: {url!r} is not an http(s) address; ignored")
            url = ""
        result.responses.append(
            _response(
                id=f"thanks:{key}:{name or url}",
                kind="mention",
                target=f"article:{key}",
                source="Thanks: metadata",
                author_name=name or (urlsplit(url).hostname or ""),
                author_url=url,
            )
        )
    return result.done()
