"""A loopback HTTP server that misbehaves on request, for fetch tests.

Routes:
  /feed/<name>          a registered body, with ETag/Last-Modified and 304s
  /slow/<secs>/<name>   the same, after a delay
  /hang                 accepts, never answers
  /trickle              headers, then one byte a second, forever
  /trickle-headers      the status line and headers one byte a second
  /status/<code>        that status with a short body
  /retry                429 with Retry-After: 120
  /garbage              random bytes labelled as XML
  /html                 a web page, not a feed
  /gzipbomb             ~100 MiB of zeros, gzipped to ~100 KiB
  /huge                 a 200 MiB body, streamed
  /loop                 a redirect to itself
  /moved/<name>         301 to /feed/<name>
  /chunked/<name>       a 103 Early Hints, then the body in chunks
  /broken               not HTTP at all
  /cut                  a body cut off before its Content-Length
Asked for an absolute URL (``GET http://host/path``), it acts as that host's
proxy: the request is listed in ``proxied`` and served by path.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def make_gzip_bomb(size: int = 100 * 1024 * 1024) -> bytes:
    chunk = b"\0" * (1024 * 1024)
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
    return buffer.getvalue()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen() backlog, so concurrent connects are not dropped


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", tls: Any = None) -> None:
        """``tls``: a server-side ``ssl.SSLContext``, to speak https."""
        self.bodies: dict[str, tuple[bytes, str]] = {}
        # any path: status, body, headers
        self.paths: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.stop = threading.Event()
        self._bomb: bytes | None = None
        self.lock = threading.Lock()
        self.webmentions: list[dict] = []
        self.received: list[tuple[str, str]] = []  # webmentions POSTed to /wm/endpoint
        self.queries: list[dict[str, list[str]]] = []
        self.hosts: list[str] = []  # the Host header of every GET
        self.proxied: list[str] = []  # absolute URLs asked for, as a proxy is
        self.authorizations: list[str] = []  # and its Authorization header
        self.hold = threading.Event()  # while set, POST /wm/hold never answers
        self.in_flight = 0
        self.peak_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.hits[self.path] += 1
                    server.hosts.append(self.headers.get("Host", ""))
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    if self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"):
                        server.conditional[self.path] += 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.route(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                with server.lock:
                    server.hits["POST " + self.path] += 1
                    server.received.append((self.path, body))
                if self.path == "/wm/hold" and server.hold.is_set():
                    server.stop.wait(60)  # received, but the answer never comes
                    return
                server.plain(self, 202, b"accepted")

        self.httpd = _Server((host, 0), Handler)
        self.scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- control ----------------------------------------------------------------
    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, name: str, body: bytes | str, content_type: str = "application/rss+xml"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.bodies[name] = (body, content_type)
        return self.url(f"/feed/{name}")

    def put(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "text/html",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` at exactly ``path``; returns its URL. Header values
        are sent byte for byte as Latin-1 (so "caf\xc3\xa9" is UTF-8 on the wire)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.paths[path] = (status, body, {"Content-Type": content_type, **(headers or {})})
        return self.url(path)

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self) -> int:
        return sum(self.hits.values())

    def reset(self) -> None:
        self.hits.clear()
        self.conditional.clear()

    # -- routes -------------------------------------------------------------------
    def route(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.startswith("http://"):  # asked as a proxy
            with self.lock:
                self.proxied.append(h.path)
            h.path = "/" + h.path.split("/", 3)[-1] if h.path.count("/") > 2 else "/"
        path = h.path.split("?", 1)[0]
        for exact in (h.path, path):  # a page of a paged API, then the path alone
            if exact in self.paths:
                status, body, headers = self.paths[exact]
                return self.plain(h, status, body, headers)
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "feed" and len(parts) > 1:
            return self.serve_feed(h, parts[1])
        if kind == "slow":
            with self.lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                time.sleep(float(parts[1]))
            finally:
                with self.lock:
                    self.in_flight -= 1
            return self.serve_feed(h, parts[2])
        if kind == "hang":
            self.stop.wait(60)
            return None
        if kind == "trickle":
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
            h.wfile.flush()
            while not self.stop.wait(1):
                h.wfile.write(b" ")
                h.wfile.flush()
            return None
        if kind == "trickle-headers":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Padding: " + b"a" * 120:
                if self.stop.wait(0.5):
                    return None
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
            return None
        if kind == "status":
            return self.plain(h, int(parts[1]), b"nope")
        if kind == "chunked" and len(parts) > 1:
            body = self.bodies[parts[1]][0]
            h.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for start in range(0, len(body), 1000):
                piece = body[start : start + 1000]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            h.wfile.write(b"0\r\n\r\n")
            return None
        if kind == "broken":
            h.wfile.write(b"HELLO THERE\r\n\r\n")
            h.close_connection = True
            return None
        if kind == "cut":
            h.send_response(200)
            h.send_header("Content-Length", "5000")
            h.end_headers()
            h.wfile.write(b"<rss>" + b" " * 95)
            h.close_connection = True
            return None
        if kind == "retry":
            return self.plain(h, 429, b"slow down", {"Retry-After": "120"})
        if kind == "garbage":
            return self.plain(h, 200, os.urandom(4096), {"Content-Type": "application/xml"})
        if kind == "html":
            page = b"<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>"
            return self.plain(h, 200, page, {"Content-Type": "text/html"})
        if kind == "gzipbomb":
            if self._bomb is None:
                self._bomb = make_gzip_bomb()
            headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
            return self.plain(h, 200, self._bomb, headers)
        if kind == "huge":
            size = 200 * 1024 * 1024
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.end_headers()  # no Content-Length: close-delimited, streamed
            h.close_connection = True
            chunk = b"<rss>" + b"x" * (1024 * 1024 - 5)
            sent = 0
            while sent < size and not self.stop.is_set():
                h.wfile.write(chunk)
                sent += len(chunk)
            return None
        if kind == "wm":
            return self.serve_webmention_target(h, parts[1])
        if kind == "home":
            page = (
                "<!DOCTYPE html><html><head><title>Home</title>"
                f'<link rel="alternate" type="application/rss+xml" href="/feed/{parts[1]}">'
                "</head><body>Welcome</body></html>"
            ).encode()
            return self.plain(h, 200, page, {"Content-Type": "text/html"})
        if kind == "bare":  # a home page with no <link>; its feed is at /atom.xml
            page = b"<!DOCTYPE html><html><head><title>Bare</title></head><body>Hi</body></html>"
            return self.plain(h, 200, page, {"Content-Type": "text/html"})
        if kind == "atom.xml" and "bare" in self.bodies:
            return self.serve_feed(h, "bare")
        if kind == "api":
            return self.serve_webmentions(h)
        if kind == "loop":
            return self.plain(h, 302, b"", {"Location": path})
        if kind == "moved":
            return self.plain(h, 301, b"", {"Location": f"/feed/{parts[1]}"})
        return self.plain(h, 404, b"not found")

    def plain(self, h, status: int, body: bytes, headers: dict[str, str] | None = None):
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        if "Content-Type" not in (headers or {}):
            h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def serve_webmention_target(self, h, name: str) -> None:
        """Posts that advertise an endpoint in each of the ways the spec allows."""
        page = "<!DOCTYPE html><html><head><title>{}</title>{}</head><body>{}</body></html>"
        if name == "link-header":
            headers = {"Content-Type": "text/html", "Link": '</wm/endpoint>; rel="webmention"'}
            return self.plain(h, 200, page.format(name, "", "").encode(), headers)
        if name == "hold":  # an endpoint that takes the POST and never answers
            headers = {"Content-Type": "text/html", "Link": '</wm/hold>; rel="webmention"'}
            return self.plain(h, 200, page.format(name, "", "").encode(), headers)
        if name == "link-tag":
            head = '<link rel="webmention" href="/wm/endpoint">'
            return self.plain(
                h, 200, page.format(name, head, "").encode(), {"Content-Type": "text/html"}
            )
        if name == "a-tag":  # a relative endpoint, resolved against the page
            body = '<p>Send me <a rel="webmention" href="endpoint">a mention</a></p>'
            return self.plain(
                h, 200, page.format(name, "", body).encode(), {"Content-Type": "text/html"}
            )
        return self.plain(
            h, 200, page.format(name, "", "no endpoint").encode(), {"Content-Type": "text/html"}
        )

    def serve_webmentions(self, h) -> None:
        """A webmention.io-like JF2 API: ?domain=&token=&since_id=&page=&per-page="""
        import json
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(h.path).query)
        self.queries.append(query)
        if query.get("token") != ["s3cret-token"]:
            return self.plain(h, 401, b'{"error": "forbidden"}')
        since = int(query.get("since_id", ["0"])[0])
        page, per = int(query.get("page", ["0"])[0]), int(query.get("per-page", ["20"])[0])
        newer = [m for m in self.webmentions if m["wm-id"] > since]
        body = {"type": "feed", "children": newer[page * per : (page + 1) * per]}
        return self.plain(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def serve_feed(self, h, name: str) -> None:
        if name not in self.bodies:
            return self.plain(h, 404, b"no such feed")
        body, content_type = self.bodies[name]
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        last_modified = "Wed, 18 Nov 2026 10:00:00 GMT"
        if h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        self.plain(
            h,
            200,
            body,
            {"Content-Type": content_type, "ETag": etag, "Last-Modified": last_modified},
        )
        return None
