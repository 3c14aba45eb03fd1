"""URL helpers shared by friends, feeds and selection."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

WEB_SCHEMES = ("http", "https")
_UNSAFE = re.compile(r"[\s\"'<>\\`]")
#: An absolute http(s) URL in its plainest form: a host of ASCII letters,
#: digits, dots and hyphens, perhaps a port, then a path, query or fragment
#: with nothing :data:`_UNSAFE`. Most links in feeds are such; for them the
#: answers below need no ``urlsplit`` (a tenth of the time: about 11 µs a
#: link, 20,000 links for 1,000 friends), and a test holds them to it.
_PLAIN = re.compile(r"[hH][tT][tT][pP][sS]?://([A-Za-z0-9.-]+)(:[0-9]+)?([/?#][^\s\"'<>\\`]*)?")


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host: the only links we publish."""
    if not url or not isinstance(url, str):
        return False
    return _is_web_url(url)


@lru_cache(maxsize=16384)
def _is_web_url(url: str) -> bool:
    """Cached: the friends page alone asks about each post's URL several times."""
    return _PLAIN.fullmatch(url) is not None or _split_is_web_url(url)


def _split_is_web_url(url: str) -> bool:
    url = url.strip()
    if _UNSAFE.search(url):
        return False  # a real link never holds spaces, quotes or angle brackets
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def absolute(url: str | None, base: str | None) -> str | None:
    """Resolve ``url`` against ``base``; None unless the result is http(s)."""
    if not url or not isinstance(url, str):
        return None
    return _absolute(url, base)


@lru_cache(maxsize=8192)
def _absolute(url: str, base: str | None) -> str | None:
    """Cached: a feed repeats the same few links (its own pages) many times."""
    return url if _PLAIN.fullmatch(url) else _joined(url, base)


def _joined(url: str, base: str | None) -> str | None:
    url = url.strip().replace(" ", "%20")  # feeds do carry unencoded spaces
    if url.startswith("//"):
        url = "https:" + url
    if base and not is_web_url(url):
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    return url if is_web_url(url) else None


def on_site(siteurl: str, path: str) -> str:
    """A page's address under SITEURL, from Pelican's relative ``url``."""
    return siteurl.rstrip("/") + "/" + path


@lru_cache(maxsize=16384)
def normalise(url: str, *, keep_fragment: bool = False) -> str:
    """A comparison key: ignore scheme, ``www.``, default ports, trailing slash,
    ``index.html``, the fragment, tracking parameters and the host's case.

    Other query parameters are kept: WordPress's ``?p=123`` names a post, and
    so does the fragment on some sites (Scripting News), hence ``keep_fragment``.

    Two spellings of the same post or blog must compare equal, or a curated
    highlight would miss its feed entry and a friend could be listed twice.
    """
    plain = _PLAIN.fullmatch(url) if url else None
    if plain is not None and plain.group(2) is None and "?" not in url and "#" not in url:
        return _key(plain.group(1).lower(), plain.group(3) or "")  # no port, query or fragment
    return _split_normalise(url, keep_fragment)


def _key(host: str, path: str, query: str = "", fragment: str = "") -> str:
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    path = path or "/"
    for suffix in ("/index.html", "/index.htm", "/index.php"):
        if path.endswith(suffix):
            path = path[: -len(suffix)] + "/"
    path = path.rstrip("/") or ""
    if host and not query and not fragment:  # as urlunsplit joins them, less the "//"
        return host + path
    return urlunsplit(("", host, path, query, fragment)).lstrip("/")


def _split_normalise(url: str, keep_fragment: bool) -> str:
    url = (url or "").strip()
    if "://" not in url and not url.startswith("//"):
        url = "//" + url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.lower()
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = "&".join(
        pair
        for pair in sorted(parts.query.split("&"))
        if pair and not _is_tracking(pair.split("=", 1)[0])
    )
    fragment = parts.fragment if keep_fragment else ""
    return _key(host, parts.path, query, fragment)


_TRACKING = {"source", "ref", "fbclid", "gclid", "mc_cid", "mc_eid", "amp"}


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in _TRACKING


def host_of(url: str) -> str:
    """The URL's host, lowercased; "" when it has none or cannot be parsed."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site_of(url: str) -> str:
    """The origin of a URL, used when a friend gives a feed but no site."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


#: Query parameters that carry a secret: a private feed's token must not be
#: published on the friends page or in the OPML blogroll.
_SECRET_PARAM = re.compile(r"token|key|secret|pass|auth|sig|session|credential", re.I)


def public_url(url: str) -> str:
    """The URL as it may be published: without ``user:pass@`` and without
    token-like query parameters."""
    if url.isascii() and not any(c in url for c in "@?[]"):
        return url  # nothing to remove, and nothing urlsplit would reject
    return _without_secrets(url)


def _without_secrets(url: str) -> str:
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if not _SECRET_PARAM.search(k)]  # fmt: skip
    except ValueError:
        return ""
    if netloc == parts.netloc and len(query) == len(parse_qsl(parts.query, keep_blank_values=True)):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
