"""A small HTTP/1.1 client for the fetch: asyncio streams, framed by h11.

A build asks each friend's server for one feed, once: one GET per
connection, no keep-alive, no cookies, no HTTP/2. For that, httpx spends
about 4 ms of CPU per request in its connection pools and async layers, and
this client under 1 ms (1,000 feeds of 200 KB on loopback: 4.3 s of CPU
against 0.8 s). h11 does the framing (status line, headers, chunked and
sized bodies), as it does inside httpx.

This module only speaks the protocol. The caller keeps every policy: the
deadline, redirects, address checks and body caps (:mod:`fetch`,
:mod:`netpolicy`). Every failure of the connection or the answer is an
:class:`HTTPFailure` whose text says what went wrong.

A proxy configured in the environment is not spoken to here: the fetch uses
httpx then (see :func:`proxied`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit
from urllib.request import getproxies

import h11

#: The largest status line and headers accepted, as httpx allows.
MAX_HEAD = 100 * 1024
#: What is read from a connection at once, and what its reader may hold
#: before it stops reading the socket (asyncio's default is 64 KB): a 200 KB
#: body then goes through in one or two reads instead of four to six, each
#: a copy in the reader and one in h11 (5 % fewer instructions a request).
READ = 256 * 1024
#: Characters a request target keeps as they are; anything else (spaces,
#: non-ASCII) is percent-encoded as UTF-8, as browsers and httpx do.
_SAFE = "!$&'()*+,;=:@/?%-._~"


class HTTPFailure(Exception):
    """The connection or the answer failed; ``str()`` says how, for the log."""

    def __init__(self, kind: str, detail: object = "") -> None:
        text = str(detail).strip()
        super().__init__(f"{kind} ({text})" if text and text != kind else kind)


def proxied() -> bool:
    """Does the environment name a proxy for web requests? (httpx honours it.)"""
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))


def tls_context() -> ssl.SSLContext:
    """Verified TLS with the CA bundle httpx would use: SSL_CERT_FILE or
    SSL_CERT_DIR when set (a company's own CA), else certifi's."""
    if os.environ.get("SSL_CERT_FILE"):
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class Headers:
    """An answer's headers, looked up case-insensitively (the last one wins)."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._values = {name.decode("ascii").lower(): _text(value) for name, value in pairs}

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name.lower(), default)


def _text(value: bytes) -> str:
    """A header value as httpx decodes it: ASCII, else UTF-8, else Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class Response:
    """The status and headers of an answer; its body is read with :meth:`aiter_raw`."""

    def __init__(self, event: h11.Response, exchange: _Exchange) -> None:
        self.status_code = event.status_code
        self.reason_phrase = event.reason.decode("latin-1")
        self.headers = Headers(list(event.headers))
        self._exchange = exchange

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as sent (still content-encoded), without its chunked framing."""
        while True:
            event = await self._exchange.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # h11 ends a body before anything else: never loop on a stray event
                raise HTTPFailure("broken HTTP response", f"{type(event).__name__} in the body")


class _Exchange:
    """One request and its answer on one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)

    async def send(self, target: str, headers: list[tuple[str, str]]) -> None:
        try:
            data = self.h11.send(h11.Request(method="GET", target=target, headers=headers))
            data += self.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:  # a header that cannot be sent as it is
            raise HTTPFailure("bad request", exc) from None
        try:
            self.writer.write(data or b"")
            await self.writer.drain()
        except OSError as exc:
            raise HTTPFailure("connection lost", exc) from None

    async def next_event(self) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise HTTPFailure("broken HTTP response", exc) from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.reader.read(READ)
            except OSError as exc:  # reset, or a TLS error mid-body
                raise HTTPFailure("connection lost", exc) from None
            try:
                self.h11.receive_data(data)  # b"": the server closed
            except h11.RemoteProtocolError as exc:
                raise HTTPFailure("broken HTTP response", exc) from None

    async def response(self) -> Response:
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Response):
                return Response(event, self)
            if isinstance(event, h11.ConnectionClosed):
                raise HTTPFailure("broken HTTP response", "server closed without answering")
            # an informational answer (100 Continue, 103 Early Hints): read on

    def close(self) -> None:
        # Abort, not close: the answer is complete or unwanted, and a TLS
        # close would wait for the server's own close_notify.
        self.writer.transport.abort()


class Client:
    """Sends GETs, each on its own connection. ``extensions`` and a ``Host``
    header pin a request to a checked address, as with httpx:
    ``{"sni_hostname": b"name"}`` names the TLS server."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout
        self._tls: ssl.SSLContext | None = None  # made at the first https request

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        extensions: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Response]:
        if method != "GET":
            raise ValueError(f"only GET is sent here, not {method}")
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), _wire_host(url, parts.hostname or "")
        if scheme not in ("http", "https") or not host:
            raise HTTPFailure("unsupported address", url[:200])
        port = parts.port or (443 if scheme == "https" else 80)
        sent = {name.lower(): value for name, value in headers.items()}
        sent.setdefault("host", _host_header(host, parts.port, scheme))
        sent.setdefault("connection", "close")  # one request: the server may hang up at once
        target = quote(parts.path or "/", safe=_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_SAFE)
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = tls_context()
            tls = self._tls
        name = (extensions or {}).get("sni_hostname")
        server_name = name.decode("ascii") if isinstance(name, bytes) else host
        exchange = await self._connect(host, port, tls, server_name)
        try:
            await exchange.send(target, [("Host", sent.pop("host")), *sent.items()])
            yield await exchange.response()
        finally:
            exchange.close()

    async def _connect(
        self, host: str, port: int, tls: ssl.SSLContext | None, server_name: str
    ) -> _Exchange:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=server_name if tls else None, limit=READ
                )
        except TimeoutError:
            raise HTTPFailure("connection timed out") from None
        except (OSError, UnicodeError) as exc:  # refused, unreachable, DNS, TLS
            raise HTTPFailure("cannot connect", exc) from None
        return _Exchange(reader, writer)

    async def aclose(self) -> None:
        pass  # no connection outlives its request


def _wire_host(url: str, host: str) -> str:
    """The host as it goes on the wire: IDNA for a non-ASCII name."""
    if host.isascii():
        return host
    from .netpolicy import wire_host

    try:
        return wire_host(url)
    except Exception as exc:  # a name IDNA cannot encode
        raise HTTPFailure("unsupported address", exc) from None


def _host_header(host: str, port: int | None, scheme: str) -> str:
    """The Host header, with the port when it is not the scheme's own."""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"
