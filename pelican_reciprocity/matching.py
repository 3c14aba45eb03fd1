"""Which article a response belongs to: pure matching on normalised URLs.

Targets may be SITEURL-absolute or relative, with or without scheme,
``www.``, trailing slash, ``index.html``, query or fragment; comment files
name a slug and ``Thanks:`` metadata names the article itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from .identity import site_host
from .model import ArticleRef, Response
from .urls import normalise, on_site


def path_key(url: str) -> str:
    """The path of a URL or of a site-relative link, normalised, without
    host, query or fragment: what identifies an article within a site."""
    parts = urlsplit(url.strip())
    path = parts.path if (parts.scheme or parts.netloc) else url.split("#")[0].split("?")[0]
    if not path.startswith("/"):
        path = "/" + path
    return normalise("http://h" + path)[1:] or "/"


def target_key(url: str) -> str:
    """A response target, normalised with its query dropped (matching ignores it)."""
    return normalise(urlsplit(url.strip())._replace(query="", fragment="").geturl())


def match_articles(
    responses: Iterable[Response], articles: Iterable[ArticleRef], siteurl: str
) -> tuple[dict[str, list[Response]], list[Response]]:
    """Group responses by article; also return those that match none.

    Targets may be SITEURL-absolute or relative, with or without scheme,
    ``www.``, trailing slash, ``index.html``, query or fragment.
    """
    own_host = site_host(siteurl)
    by_slug: dict[str, str] = {}
    by_full: dict[str, str] = {}
    by_path: dict[str, str] = {}
    keys: set[str] = set()
    for article in articles:
        keys.add(article.key)
        by_slug.setdefault(article.slug, article.key)
        by_path.setdefault(path_key(article.url), article.key)
        if siteurl:
            by_full.setdefault(target_key(on_site(siteurl, article.url)), article.key)
    matched: dict[str, list[Response]] = {}
    unmatched: list[Response] = []
    for response in responses:
        key = None
        target = response.target
        if target.startswith("article:"):
            key = target[8:] if target[8:] in keys else None
        elif target.startswith("slug:"):
            key = by_slug.get(target[5:])
        elif target:
            key = by_full.get(target_key(target))
            if key is None:
                host = site_host(target) if "://" in target else ""
                if not host or not own_host or host == own_host:
                    key = by_path.get(path_key(target))
        if key is None:
            unmatched.append(response)
        else:
            matched.setdefault(key, []).append(response)
    return matched, unmatched
