"""Fetch feeds concurrently with a hard deadline per feed and for the phase.

Everything here is about other people's servers misbehaving: each request has
a total deadline (``asyncio.timeout`` cancels even a server that trickles one
byte a second), bodies are capped *after* decompression (a gzip bomb is cut
off early), redirects are followed by hand so every hop is checked, and only
http, https and file are spoken. Failures come back as results with an
``error``, never as exceptions.
"""

from __future__ import annotations

import email.utils
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:  # imported lazily: a warm build never needs an HTTP client
    import httpx

REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT = {301, 308}
ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FetchResult:
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
    error: str | None = None
    requests: int = 0  # HTTP requests actually sent (0 for file: and cache)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "pelican-reciprocity"
    #: Checks a URL before any request to it (and each redirect hop); returns
    #: a reason to refuse, or None. The acknowledgements work plugs its
    #: no-private-addresses rule in here.
    guard: Callable[[str], str | None] | None = None


class _TooBig(Exception):
    pass


class _Decoder:
    """Bounded Content-Encoding decoder: never inflates past ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.z = None
        elif encoding in ("gzip", "x-gzip"):
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.z = zlib.decompressobj()
            self._raw_fallback = True
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, chunk: bytes) -> None:
        if self.z is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                out = self.z.decompress(data, self.limit - self.size + 1)
            except zlib.error:
                if getattr(self, "_raw_fallback", False) and self.size == 0:
                    # Some servers send raw deflate without the zlib header.
                    self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._raw_fallback = False
                    continue
                raise
            self._keep(out)
            data = self.z.unconsumed_tail
            if self.z.eof:
                break

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooBig
        if data:
            self.parts.append(data)

    def body(self) -> bytes:
        if self.z is not None:
            self._keep(self.z.flush())
        return b"".join(self.parts)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


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
    """A ``file://`` feed: the example site and tests keep feeds on disk."""
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        return FetchResult(url, error=f"cannot read {path}: {exc.strerror or exc}")
    if len(body) > max_bytes:
        return FetchResult(url, error=f"file is larger than {_mib(max_bytes)}")
    return FetchResult(url, body=body, status=200, final_url=url)


async def fetch_one(
    client: httpx.AsyncClient, request: FetchRequest, limits: Limits
) -> FetchResult:
    """Fetch one feed within ``limits.timeout`` seconds in total."""
    import asyncio

    import httpx

    scheme = urlsplit(request.url).scheme.lower()
    if scheme == "file":
        return await asyncio.to_thread(read_file_url, request.url, limits.max_bytes)
    if scheme not in ("http", "https"):
        return FetchResult(request.url, error=f"{scheme}: URLs are not allowed")
    result = FetchResult(request.url)
    try:
        async with asyncio.timeout(limits.timeout):
            await _fetch_http(client, request, limits, result)
    except TimeoutError:
        result.error = f"timed out after {limits.timeout:g} s"
        result.body = None
    except httpx.HTTPError as exc:
        result.error = _describe(exc)
        result.body = None
    return result


async def _fetch_http(
    client: httpx.AsyncClient,
    request: FetchRequest,
    limits: Limits,
    result: FetchResult,
) -> None:
    headers = {
        "User-Agent": limits.user_agent,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
    }
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    url = request.url
    permanent = True
    for hop in range(limits.max_redirects + 1):
        if limits.guard and (reason := limits.guard(url)):
            result.error = f"refused {url}: {reason}"
            return
        result.requests += 1
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in REDIRECTS and response.headers.get("location"):
                target = urljoin(url, response.headers["location"].strip())
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    result.error = f"redirect to a non-web address {target!r} refused"
                    return
                permanent = permanent and status in PERMANENT
                url = target
                continue
            result.status = status
            result.final_url = url
            if permanent and hop > 0:
                result.moved_to = url
            if status == 304:
                result.not_modified = True
                return
            if status in (429, 503):
                result.retry_after = _retry_after(response.headers.get("retry-after"))
                wait = (
                    f", retry after {result.retry_after:.0f} s"
                    if result.retry_after is not None
                    else ""
                )
                result.error = f"HTTP {status} {response.reason_phrase}{wait}".strip()
                return
            if status >= 400 or status < 200 or status in REDIRECTS:
                result.error = f"HTTP {status} {response.reason_phrase}".strip()
                return
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limits.max_bytes:
                result.error = (
                    f"body of {int(length):,} bytes is over the {_mib(limits.max_bytes)} cap"
                )
                return
            try:
                decoder = _Decoder(response.headers.get("content-encoding", ""), limits.max_bytes)
                async for chunk in response.aiter_raw():
                    decoder.feed(chunk)
                body = decoder.body()
            except _TooBig:
                how = " (after decompression)" if decoder.z is not None else ""
                result.error = f"body is over the {_mib(limits.max_bytes)} cap{how}"
                return
            except (ValueError, zlib.error) as exc:
                result.error = f"cannot decode body: {exc}"
                return
            result.body = body
            result.content_type = response.headers.get("content-type", "")
            result.etag = response.headers.get("etag")
            result.last_modified = response.headers.get("last-modified")
            return
    result.error = f"too many redirects (more than {limits.max_redirects})"


def _describe(exc: httpx.HTTPError) -> str:
    import httpx

    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "server stopped answering",
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "broken HTTP response",
        httpx.UnsupportedProtocol: "unsupported address",
    }.get(type(exc), type(exc).__name__)
    detail = str(exc).strip()
    return f"{kind} ({detail})" if detail and detail != kind else kind


async def fetch_all(
    requests: Iterable[FetchRequest],
    limits: Limits,
    *,
    concurrency: int = 32,
    deadline: float = 60.0,
    on_result: Callable[[FetchResult], None] | None = None,
) -> dict[str, FetchResult]:
    """Fetch everything at once (``concurrency`` at a time) within ``deadline``.

    ``on_result`` sees each result as soon as it arrives, so the caller can
    parse it and drop the body while other feeds are still downloading.
    """
    requests = list(requests)
    results: dict[str, FetchResult] = {}
    if not requests:
        return results
    import asyncio
    import logging

    import httpx

    # httpx logs every request URL at INFO; a URL can carry a secret (the
    # webmention.io token), and the build log is no place for 1,000 lines.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    gate = asyncio.Semaphore(concurrency)
    timeout = httpx.Timeout(limits.timeout, connect=min(limits.timeout, 10.0))
    # Friends' feeds are on different hosts: idle keep-alive connections
    # would only make httpcore's pool scan longer lists on every request.
    pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)

    async with httpx.AsyncClient(
        timeout=timeout, limits=pool, follow_redirects=False, trust_env=True
    ) as client:

        async def one(request: FetchRequest) -> None:
            async with gate:
                result = await fetch_one(client, request, limits)
            results[request.url] = result
            if on_result is not None:
                on_result(result)

        tasks = [asyncio.create_task(one(r)) for r in requests]
        _done, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                raise exc  # a bug in this module, not a server problem
    for request in requests:
        if request.url not in results:
            late = FetchResult(request.url, error=f"fetch phase deadline of {deadline:g} s reached")
            results[request.url] = late
            if on_result is not None:
                on_result(late)
    return results


def fetch_all_sync(
    requests: Iterable[FetchRequest],
    limits: Limits,
    *,
    concurrency: int = 32,
    deadline: float = 60.0,
    on_result: Callable[[FetchResult], None] | None = None,
) -> dict[str, FetchResult]:
    """Run :func:`fetch_all` on a private event loop (callable from any thread)."""
    requests = list(requests)
    if not requests:
        return {}
    import asyncio  # imported lazily, like httpx: a warm build sends nothing

    return asyncio.run(
        fetch_all(requests, limits, concurrency=concurrency, deadline=deadline, on_result=on_result)
    )
