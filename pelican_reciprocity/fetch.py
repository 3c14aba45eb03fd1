"""Fetch feeds concurrently with a hard deadline per feed and for the phase.

Everything here is about other people's servers misbehaving: each request has
a total deadline (``asyncio.timeout`` cancels even a server that trickles one
byte a second), bodies are capped *after* decompression (a gzip bomb is cut
off early), redirects are followed by hand so every hop is checked, and only
http, https and file are spoken. Failures come back as results with an
``error``, never as exceptions.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import re
import stat
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from .httpclient import Client, HTTPFailure, proxied, tls_context
from .model import record
from .netpolicy import (
    Decoder,
    PolicyError,
    Redirects,
    TooBig,
    check_address,
    pin,
    resolves_public,
)
from .urls import host_of

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # imported only behind a proxy (see httpclient.proxied)
    import httpx

ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)


@record(frozen=True)
class FetchRequest:
    """One GET, with the validators that let the server answer 304."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    #: The address the owner wrote, when ``url`` is a third party's choice (a
    #: feed a page advertises): if that one is public, ``url`` must be too.
    origin: str | None = None
    #: The address itself is a third party's choice (a responder's site): it
    #: must be public from the first request on.
    untrusted: bool = False
    #: A token for this one server (a GoToSocial API): sent only while the
    #: request stays on the origin it was given for, never logged or cached.
    bearer: str | None = field(default=None, repr=False)
    #: A smaller cap than Limits.max_bytes for this one request (an avatar).
    max_bytes: int | None = None


@record
class FetchResult:
    """What one request brought back: a body, a 304, or the error that stands in for one."""

    url: str
    body: bytes | None = None
    content_type: str = ""
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    final_url: str = ""
    moved_to: str | None = None  # where a permanent redirect chain ended
    retry_after: float | None = None  # seconds, from 429/503
    next_page: str | None = None  # Link: <…>; rel="next", on the same host (paged APIs)
    error: str | None = None
    requests: int = 0  # HTTP requests actually sent (0 for file: and cache)

    @property
    def ok(self) -> bool:
        return self.error is None


@record(frozen=True)
class Limits:
    """What any server is allowed to cost: time, bytes and redirects."""

    timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "pelican-reciprocity"
    #: Let a redirect from a public address go to a private one (tests do).
    allow_private: bool = False
    #: Requests to one host at once, as browsers allow: friends who share a
    #: platform (one Medium, one Mastodon server) are not all asked together.
    per_host: int = 6


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _reset_at(value: str | None) -> float | None:
    """Seconds until an ISO 8601 ``X-RateLimit-Reset`` (Mastodon's), if any."""
    try:
        when = datetime.fromisoformat((value or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def read_file_url(url: str, max_bytes: int) -> FetchResult:
    """A ``file://`` feed the owner wrote (the example site keeps its feeds on
    disk). Only a regular file is read, and at most ``max_bytes`` of it: a
    device, a pipe or ``/dev/stdin`` could block or never end."""
    path = Path(unquote(urlsplit(url).path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return FetchResult(url, error=f"cannot read {path}: {exc.strerror or exc}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return FetchResult(url, error=f"{path} is not a regular file")
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        return FetchResult(url, error=f"cannot read {path}: {exc.strerror or exc}")
    finally:
        if fd >= 0:
            os.close(fd)
    if len(body) > max_bytes:
        return FetchResult(url, error=f"file is larger than {_mib(max_bytes)}")
    return FetchResult(url, body=body, status=200, final_url=url)


async def fetch_one(client: Any, request: FetchRequest, limits: Limits) -> FetchResult:
    """Fetch one URL within ``limits.timeout`` seconds in total. Never raises
    for anything the server does: every failure is the result's ``error``.
    ``client`` is a :class:`httpclient.Client` (or httpx, behind a proxy)."""
    import asyncio

    try:
        parts = urlsplit(request.url)
        scheme, _ = parts.scheme.lower(), parts.port  # a port out of range raises
    except ValueError as exc:
        return FetchResult(request.url, error=f"malformed address ({exc})")
    if scheme == "file" and request.untrusted:  # a third party may not name our files
        return FetchResult(request.url, error="file: URLs are not allowed here")
    if scheme == "file":
        try:  # a regular file, capped; the deadline covers a hung disk too
            async with asyncio.timeout(limits.timeout):
                return await asyncio.to_thread(read_file_url, request.url, limits.max_bytes)
        except TimeoutError:
            return FetchResult(request.url, error=f"timed out after {limits.timeout:g} s")
    if scheme not in ("http", "https"):
        return FetchResult(request.url, error=f"{scheme}: URLs are not allowed")
    result = FetchResult(request.url)
    try:
        async with asyncio.timeout(limits.timeout):
            await _fetch_http(client, request, limits, result)
    except TimeoutError:
        result.error = f"timed out after {limits.timeout:g} s"
    except (PolicyError, HTTPFailure) as exc:
        result.error = str(exc)
    except (ValueError, UnicodeError) as exc:  # a header the client cannot even encode
        result.error = f"bad request or answer ({type(exc).__name__}: {exc})"
    except Exception as exc:  # whatever else one server provokes costs only its feed
        logger.debug("reciprocity: fetching %s failed", request.url, exc_info=True)
        result.error = f"could not be fetched ({type(exc).__name__}: {exc})"
    if result.error:
        result.body = None
    return result


async def _fetch_http(
    client: Any,
    request: FetchRequest,
    limits: Limits,
    result: FetchResult,
) -> None:
    import asyncio

    if request.max_bytes:
        limits = replace(limits, max_bytes=min(limits.max_bytes, request.max_bytes))

    headers = {
        "User-Agent": limits.user_agent,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
    }
    if request.etag and request.etag.isascii():
        headers["If-None-Match"] = request.etag
    if request.last_modified and request.last_modified.isascii():
        headers["If-Modified-Since"] = request.last_modified
    redirects = Redirects(request.url, limits.max_redirects)
    public_start: bool | None = None
    while True:
        url, extra, extensions = redirects.url, {}, {}
        if redirects.hops or request.origin or request.untrusted:
            # The owner wrote the first address; where it sends us is the
            # server's choice: a public feed may not lead inside the network.
            if public_start is None:
                owners = request.origin or request.url
                public_start = request.untrusted or await asyncio.to_thread(resolves_public, owners)
            if public_start and not limits.allow_private:
                address = await asyncio.to_thread(check_address, url, allow_private=False)
                url, extra, extensions = pin(url, address)
        result.requests += 1
        auth = {}
        if request.bearer and _origin(redirects.url) == _origin(request.url):
            auth = {"Authorization": f"Bearer {request.bearer}"}
        async with client.stream(
            "GET", url, headers={**headers, **extra, **auth}, extensions=extensions
        ) as response:
            status = response.status_code
            if redirects.follow(status, response.headers.get("location")):
                continue
            _final(result, redirects, status)
            if status == 304:
                result.not_modified = True
                return
            if status in (429, 503):
                result.retry_after = _retry_after(response.headers.get("retry-after"))
                if result.retry_after is None:  # Mastodon says when its rate limit resets
                    result.retry_after = _reset_at(response.headers.get("x-ratelimit-reset"))
                wait = (
                    f", retry after {result.retry_after:.0f} s"
                    if result.retry_after is not None
                    else ""
                )
                result.error = f"HTTP {status} {response.reason_phrase}{wait}".strip()
                return
            if status >= 400 or status < 200 or status in (301, 302, 303, 307, 308):
                result.error = f"HTTP {status} {response.reason_phrase}".strip()
                return
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limits.max_bytes:
                result.error = (
                    f"body of {int(length):,} bytes is over the {_mib(limits.max_bytes)} cap"
                )
                return
            decoder = None
            try:
                decoder = Decoder(response.headers.get("content-encoding", ""), limits.max_bytes)
                async for chunk in response.aiter_raw():
                    decoder.feed(chunk)
                body = decoder.body()
            except TooBig:
                how = " (after decompression)" if decoder and decoder.z is not None else ""
                result.error = f"body is over the {_mib(limits.max_bytes)} cap{how}"
                return
            except (ValueError, zlib.error) as exc:
                result.error = f"cannot decode body: {exc}"
                return
            result.body = body
            result.content_type = response.headers.get("content-type", "")
            result.etag = _header_text(response.headers.get("etag"))
            result.last_modified = _header_text(response.headers.get("last-modified"))
            result.next_page = _next_page(response.headers.get("link"), redirects.url)
            return


def _final(result: FetchResult, redirects: Redirects, status: int) -> None:
    result.status = status
    result.final_url = redirects.url
    if redirects.permanent and redirects.hops:
        result.moved_to = redirects.url


def _header_text(value: str | None) -> str | None:
    """A validator is kept only if it can be sent back as it came."""
    return value if value and value.isascii() and value.isprintable() else None


_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.I)


def _next_page(header: str | None, url: str) -> str | None:
    """The next page a Link header names, when it stays on the same host."""
    match = _NEXT.search(header or "")
    if not match:
        return None
    try:
        target = urljoin(url, match.group(1).strip())
        same = urlsplit(target).netloc == urlsplit(url).netloc
    except ValueError:
        return None
    return target if same and target.startswith(("http://", "https://")) else None


def _describe(exc: httpx.HTTPError) -> HTTPFailure:
    import httpx

    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "server stopped answering",
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "broken HTTP response",
        httpx.UnsupportedProtocol: "unsupported address",
    }.get(type(exc), type(exc).__name__)
    return HTTPFailure(kind, exc)


#: Connections per httpx pool: httpcore scans its whole pool on every change,
#: so many small pools (sharing one TLS context) cost less than one big one.
POOL = 10


class _Proxied:
    """httpx, which speaks to the proxy the environment names, behind the
    same ``stream()`` as :class:`httpclient.Client`, its errors told the same way."""

    def __init__(self, limits: Limits, concurrency: int) -> None:
        import httpx

        # httpx logs every request URL at INFO; a URL can carry a secret (the
        # webmention.io token), and the build log is no place for 1,000 lines.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        timeout = httpx.Timeout(limits.timeout, connect=min(limits.timeout, 10.0))
        # Friends' feeds are on different hosts: idle keep-alive connections
        # would only make the pools scan longer lists on every request.
        size = min(POOL, concurrency)
        pool = httpx.Limits(max_connections=size, max_keepalive_connections=0)
        tls = tls_context()
        self.clients = [
            httpx.AsyncClient(
                timeout=timeout, limits=pool, follow_redirects=False, trust_env=True, verify=tls
            )
            for _ in range(-(-concurrency // size))
        ]
        self._active = [0] * len(self.clients)

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: dict[str, str], extensions: dict[str, Any]
    ) -> AsyncIterator[Any]:
        import httpx

        # The least busy pool always has a free connection: the session's
        # gate lets no more requests in than all the pools hold together.
        pool = min(range(len(self.clients)), key=self._active.__getitem__)
        self._active[pool] += 1
        try:
            async with self.clients[pool].stream(
                method, url, headers=headers, extensions=extensions
            ) as response:
                yield response
        except httpx.HTTPError as exc:
            raise _describe(exc) from None
        except httpx.InvalidURL as exc:  # httpx reads every Location, even one not followed
            raise HTTPFailure("malformed redirect", exc) from None
        finally:
            self._active[pool] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


@record
class Session:
    """One concurrency limit, one limit per host and one client for
    everything a job fetches."""

    limits: Limits
    concurrency: int = 32
    client: Any = None
    gate: Any = None
    requests: int = 0
    hosts: dict[str, Any] = field(default_factory=dict)  # host -> its semaphore

    async def __aenter__(self) -> Session:
        import asyncio

        self.gate = asyncio.Semaphore(self.concurrency)
        if proxied():
            self.client = _Proxied(self.limits, self.concurrency)
        else:
            self.client = Client(connect_timeout=min(self.limits.timeout, 10.0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def turn(self, url: str) -> Any:
        """The semaphore of the URL's host (:attr:`Limits.per_host` at once)."""
        import asyncio

        host = host_of(url)
        if host not in self.hosts:
            self.hosts[host] = asyncio.Semaphore(self.limits.per_host)
        return self.hosts[host]

    async def get(self, request: FetchRequest, *, turn_taken: bool = False) -> FetchResult:
        """Fetch in the host's turn (unless the caller already has it), then
        in the session's: a request waiting for a busy host holds no place
        that a request to another host could use."""
        host = contextlib.nullcontext() if turn_taken else self.turn(request.url)
        async with host, self.gate:
            result = await fetch_one(self.client, request, self.limits)
        self.requests += result.requests
        return result


async def gather(
    session: Session,
    requests: Iterable[FetchRequest],
    on_result: Callable[[FetchResult], Any] | None = None,
    room: Any = None,
) -> dict[str, FetchResult]:
    """Fetch every request through the session; ``on_result`` sees each result
    as soon as it arrives, so the caller can parse it and drop the body while
    other feeds are still downloading (a coroutine function is awaited: it
    can parse off the event loop). Cancelled with the caller's deadline.

    ``room`` (a semaphore) bounds the bodies held at once, downloading or
    waiting for ``on_result``: when parsing falls behind, downloads wait
    instead of piling up 1,000 bodies in memory."""
    import asyncio

    results: dict[str, FetchResult] = {}

    async def one(request: FetchRequest) -> None:
        # The host's turn before a place for a body: requests queued for one
        # busy host must not take every place from the other hosts' requests.
        turn = session.turn(request.url)
        await turn.acquire()
        try:
            async with room if room is not None else contextlib.nullcontext():
                try:
                    result = await session.get(request, turn_taken=True)
                finally:
                    turn.release()  # fetched: parsing it does not hold the host
                    turn = None
                results[request.url] = result
                if on_result is not None:
                    done = on_result(result)
                    if asyncio.iscoroutine(done):
                        await done
        finally:
            if turn is not None:
                turn.release()

    await asyncio.gather(*(one(r) for r in requests))
    return results


def late(url: str, deadline: float) -> FetchResult:
    """The result of a request the deadline cut off."""
    return FetchResult(url, error=f"fetch phase deadline of {deadline:g} s reached")


def fetch_all_sync(
    requests: Iterable[FetchRequest],
    limits: Limits,
    *,
    concurrency: int = 32,
    deadline: float = 60.0,
    on_result: Callable[[FetchResult], None] | None = None,
) -> dict[str, FetchResult]:
    """Fetch everything (``concurrency`` at a time) within ``deadline``, on a
    private event loop; what the deadline cuts off comes back as an error."""
    import asyncio

    requests = list(requests)
    if not requests:
        return {}

    async def run() -> dict[str, FetchResult]:
        results: dict[str, FetchResult] = {}

        def seen(result: FetchResult) -> None:
            results[result.url] = result
            if on_result is not None:
                on_result(result)

        async with Session(limits, concurrency) as session:
            try:
                async with asyncio.timeout(deadline):
                    await gather(session, requests, seen)
            except TimeoutError:
                pass
        for request in requests:
            if request.url not in results:
                seen(late(request.url, deadline))
        return results

    return asyncio.run(run())
