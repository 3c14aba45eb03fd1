"""Tell people they were highlighted: Webmention discovery and sending.

Endpoints are discovered from the target page (HTTP ``Link`` header, then
``<link>`` or ``<a rel="webmention">`` in document order, relative URLs
resolved). A discovered endpoint is untrusted: every request, and every
redirect, goes through the shared policy (:mod:`netpolicy`): its address is
checked after DNS resolution and the connection goes to that very address,
unless the site allows private addresses (tests do).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from .model import record
from .netpolicy import Decoder, PolicyError, Redirects, TooBig, check_address, pin

MAX_PAGE = 1024 * 1024  # endpoints are in the head; never read more than this
_LINK_HEADER = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def is_local_site(siteurl: str) -> bool:
    """An empty or local SITEURL cannot be a webmention source."""
    host = (urlsplit(siteurl).hostname or "").lower() if siteurl else ""
    if not host or host == "localhost" or host.endswith((".local", ".localhost", ".test")):
        return True
    if "." not in host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


class _EndpointFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag not in ("link", "a"):
            return
        attr = {k.lower(): v for k, v in attrs}
        if "webmention" in (attr.get("rel") or "").lower().split() and attr.get("href") is not None:
            self.found = attr["href"] or ""


def endpoint_from(headers: Any, html: str, base: str) -> str | None:
    """The Webmention endpoint: Link header first, then the first <link>/<a>."""
    for value in headers.get_list("link") if hasattr(headers, "get_list") else []:
        for match in _LINK_HEADER.finditer(value):
            params = match.group(2).lower()
            rel = re.search(r'rel\s*=\s*"?([^";]+)"?', params)
            if rel and "webmention" in rel.group(1).split():
                return urljoin(base, match.group(1))
    finder = _EndpointFinder()
    with contextlib.suppress(Exception):  # a broken page is common; what was seen counts
        finder.feed(html)
    if finder.found is not None:
        return urljoin(base, finder.found)
    return None


@record
class Outcome:
    """What sending one webmention came to, for the notify report."""

    status: str  # sent | failed | unsupported | refused
    detail: str = ""
    endpoint: str = ""


class Sender:
    """Discovers and sends, politely: one host at a time, ``interval`` apart.

    Each send (discovery, redirects, body reads and the POST) runs under one
    ``asyncio.timeout``: a server that trickles its headers or body a byte at
    a time is cut off when the notify deadline is reached.
    """

    def __init__(
        self,
        *,
        timeout: float,
        deadline: float,
        interval: float,
        allow_private: bool,
        user_agent: str,
        max_redirects: int = 5,
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self.interval = interval
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self.deadline = deadline
        self.stop_at = time.monotonic() + deadline
        self.last_request: dict[str, float] = {}

    def close(self) -> None:
        """Nothing is held between sends (each has its own client)."""

    async def _polite(self, url: str) -> None:
        import asyncio

        host = urlsplit(url).hostname or ""
        wait = self.last_request.get(host, 0.0) + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.last_request[host] = time.monotonic()

    async def _request(
        self, client: Any, method: str, url: str, **kwargs: Any
    ) -> tuple[Any, bytes, str]:
        """GET or POST with guarded, pinned redirects and a size cap."""
        import asyncio

        redirects = Redirects(url, self.max_redirects)
        while True:
            address = await asyncio.to_thread(
                check_address, redirects.url, allow_private=self.allow_private
            )
            target, host, extensions = pin(redirects.url, address)
            await self._polite(redirects.url)
            headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", **host}
            async with client.stream(
                method, target, headers=headers, extensions=extensions, **kwargs
            ) as response:
                status = response.status_code
                if redirects.follow(status, response.headers.get("location")):
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, kwargs = "GET", {}
                    continue
                decoder = Decoder(response.headers.get("content-encoding", ""), MAX_PAGE)
                try:
                    async for chunk in response.aiter_raw():
                        decoder.feed(chunk)
                except TooBig:
                    pass  # the head of a huge page is all we need
                return response, b"".join(decoder.parts), redirects.url

    async def _discover(self, client: Any, target: str) -> str | None:
        response, body, final = await self._request(client, "GET", target)
        if response.status_code >= 400:
            raise OSError(f"HTTP {response.status_code} from {target}")
        kind = response.headers.get("content-type", "")
        html = body.decode("utf-8", errors="replace") if "html" in kind or not kind else ""
        return endpoint_from(response.headers, html, final)

    async def _send(self, source: str, target: str) -> Outcome:
        import asyncio

        import httpx

        remaining = self.stop_at - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the notify deadline was reached")
        async with (
            httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client,
            asyncio.timeout(remaining),
        ):
            endpoint = await self._discover(client, target)
            if endpoint is None:
                return Outcome("unsupported", "no Webmention endpoint")
            response, _body, _ = await self._request(
                client, "POST", endpoint, data={"source": source, "target": target}
            )
        if 200 <= response.status_code < 300:
            return Outcome("sent", f"HTTP {response.status_code}", endpoint)
        return Outcome("failed", f"HTTP {response.status_code} from the endpoint", endpoint)

    def send(self, source: str, target: str) -> Outcome:
        """One webmention, start to end within what is left of the deadline."""
        import asyncio

        import httpx

        try:
            return asyncio.run(self._send(source, target))
        except PolicyError as exc:
            return Outcome("refused", str(exc))
        except httpx.InvalidURL as exc:  # a malformed Location: the server's fault
            return Outcome("refused", f"malformed redirect ({exc})")
        except TimeoutError:
            return Outcome("failed", f"the notify deadline of {self.deadline:g} s was reached")
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Outcome("failed", f"{type(exc).__name__}: {exc}")
