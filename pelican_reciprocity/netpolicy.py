"""The one HTTP policy every request follows: redirects, addresses, sizes.

The build's fetcher (async, many feeds) and ``notify``'s sender (sync, one
host at a time) both follow redirects through :class:`Redirects`, check
addresses with :func:`check_address`, connect to the very address that was
checked (:func:`pin`), and read bodies through :class:`Decoder`.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib
from urllib.parse import urljoin, urlsplit

from .model import record

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
WEB = ("http", "https")


class TooBig(Exception):
    """A body grew past its cap (after decompression)."""


class Decoder:
    """Bounded Content-Encoding decoder: never inflates past ``limit`` bytes,
    bytes after the end of a gzip stream included."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        self._raw_fallback = False
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
        self._trailing = 0

    def feed(self, chunk: bytes) -> None:
        if self.z is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            if self.z.eof:
                # Bytes after the stream's end are dropped, but still counted.
                self._trailing += len(data)
                if self._trailing > self.limit:
                    raise TooBig
                return
            try:
                out = self.z.decompress(data, self.limit - self.size + 1)
            except zlib.error:
                if self._raw_fallback and self.size == 0:
                    # Some servers send raw deflate without the zlib header.
                    self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._raw_fallback = False
                    continue
                raise
            self._keep(out)
            data = self.z.unconsumed_tail or (self.z.unused_data if self.z.eof else b"")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooBig
        if data:
            self.parts.append(data)

    def body(self) -> bytes:
        if self.z is not None:
            self._keep(self.z.flush())
        return b"".join(self.parts)


@record
class Redirects:
    """Follows a redirect chain by hand, so every hop can be checked.

    :meth:`follow` is given each answer's status and ``Location``; it returns
    the next URL, or None when the answer is final, and raises
    :class:`PolicyError` for a hop that must not be taken.
    """

    url: str
    limit: int
    hops: int = 0
    permanent: bool = True  # every hop so far was 301/308

    def follow(self, status: int, location: str | None) -> str | None:
        if status not in REDIRECTS or not location:
            return None
        if self.hops >= self.limit:
            raise PolicyError(f"too many redirects (more than {self.limit})")
        try:
            target = urljoin(self.url, location.strip())
            parts = urlsplit(target)
            _ = parts.port  # a port out of range raises here
        except ValueError as exc:
            raise PolicyError(f"malformed redirect {location[:200]!r} ({exc})") from None
        if parts.scheme.lower() not in WEB or not parts.hostname:
            raise PolicyError(f"redirect to a non-web address {target[:200]!r} refused")
        self.hops += 1
        self.permanent = self.permanent and status in PERMANENT
        self.url = target
        return target


class PolicyError(Exception):
    """A request the policy refuses; the message says why."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def wire_host(url: str) -> str:
    """The host exactly as the HTTP client will encode it (IDNA as it does it)."""
    import httpx

    return httpx.URL(url).raw_host.decode("ascii")


def check_address(url: str, *, allow_private: bool) -> str:
    """Resolve the URL's host once and return the address to connect to.

    Raises :class:`PolicyError` when the host cannot be resolved or, unless
    ``allow_private``, when any of its addresses is not public (loopback,
    private, link-local, metadata, multicast, reserved).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in WEB:
        raise PolicyError(f"{parts.scheme or 'a relative'} address, only http(s) is allowed")
    try:
        host = wire_host(url)
    except Exception as exc:  # httpx rejects hosts it cannot encode
        raise PolicyError(f"invalid host in {url[:200]!r} ({exc})") from None
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        raise PolicyError(f"cannot resolve {host} ({exc})") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise PolicyError(f"cannot resolve {host}")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise PolicyError(f"{host} resolves to the non-public address {address}")
    return addresses[0]


def resolves_public(url: str) -> bool:
    """Does the URL's host resolve, and to public addresses only?"""
    try:
        check_address(url, allow_private=False)
    except PolicyError:
        return False
    return True


def pin(url: str, address: str) -> tuple[str, dict[str, str], dict[str, bytes]]:
    """The request to send so the connection goes to ``address`` (the one that
    was checked), while the server still sees the host it was asked for:
    the URL with the address, a ``Host`` header and the TLS server name."""
    parts = urlsplit(url)
    host = wire_host(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    pinned = parts._replace(netloc=netloc).geturl()
    header = host + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host.encode("ascii")} if parts.scheme == "https" else {}
    return pinned, {"Host": header}, extensions
