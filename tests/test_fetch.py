"""The fetcher against a loopback server that misbehaves in every usual way."""

from __future__ import annotations

import gzip
import time
from dataclasses import replace

import pytest
from helpers import posts, rss

from pelican_reciprocity.fetch import FetchRequest, Limits, fetch_all_sync

LIMITS = Limits(timeout=2.0, max_bytes=1024 * 1024, max_redirects=3)


def fetch(url: str, limits: Limits = LIMITS, **request):
    return fetch_all_sync([FetchRequest(url, **request)], limits)[url]


def test_good_feed_has_body_and_validators(feed_server):
    url = feed_server.add("ok", rss("OK", posts("ok")))
    result = fetch(url)
    assert result.ok and result.status == 200
    assert b"ok post 0" in result.body
    assert result.etag and result.last_modified
    assert result.requests == 1


def test_conditional_request_gets_304(feed_server):
    url = feed_server.add("ok", rss("OK", posts("ok")))
    first = fetch(url)
    second = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body is None and second.ok
    assert feed_server.conditional["/feed/ok"] == 1


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("/hang", "timed out after 2 s"),
        ("/trickle", "timed out after 2 s"),
        ("/trickle-headers", "timed out after 2 s"),
    ],
)
def test_total_deadline_holds_against_slow_servers(feed_server, path, expect):
    started = time.monotonic()
    result = fetch(feed_server.url(path))
    elapsed = time.monotonic() - started
    assert result.error == expect
    assert elapsed < LIMITS.timeout + 1.5, elapsed


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("/status/500", "HTTP 500"),
        ("/status/404", "HTTP 404"),
        ("/loop", "too many redirects (more than 3)"),
        ("/gzipbomb", "over the 1 MiB cap (after decompression)"),
        ("/huge", "over the 1 MiB cap"),
    ],
)
def test_faults_become_errors_not_exceptions(feed_server, path, expect):
    result = fetch(feed_server.url(path))
    assert result.error and expect in result.error
    assert result.body is None


def test_gzip_is_decoded(feed_server):
    body = rss("Zipped", posts("zip")).encode()
    feed_server.add("plain", body)
    # serve a gzipped copy through the bomb route's machinery
    feed_server._bomb = gzip.compress(body)
    result = fetch(feed_server.url("/gzipbomb"))
    assert result.ok and result.body == body


def test_retry_after_is_reported(feed_server):
    result = fetch(feed_server.url("/retry"))
    assert result.error.startswith("HTTP 429")
    assert result.retry_after == 120


def test_a_rate_limit_reset_is_a_retry_after(feed_server):
    """Mastodon answers 429 with X-RateLimit-Reset (an ISO date), not Retry-After."""
    from datetime import UTC, datetime, timedelta

    reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    url = feed_server.put("/limited", "", status=429, headers={"X-RateLimit-Reset": reset})
    result = fetch(url)
    assert result.error.startswith("HTTP 429") and 280 < result.retry_after <= 300


def test_permanent_redirect_is_remembered(feed_server):
    feed_server.add("new", rss("New", posts("new")))
    result = fetch(feed_server.url("/moved/new"))
    assert result.ok and result.moved_to == feed_server.url("/feed/new")


def test_only_web_and_file_schemes():
    for url in ("ftp://example.org/feed", "gopher://x/", "javascript:alert(1)"):
        result = fetch(url)
        assert not result.ok and "not allowed" in result.error
        assert result.requests == 0


def test_file_urls_are_read_with_the_cap(tmp_path):
    small = tmp_path / "feed.xml"
    small.write_text(rss("File", posts("file")), encoding="utf-8")
    assert fetch(small.as_uri()).ok
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * (LIMITS.max_bytes + 10))
    assert "larger than" in fetch(big.as_uri()).error
    assert "cannot read" in fetch((tmp_path / "missing.xml").as_uri()).error


def test_feeds_are_fetched_concurrently(feed_server):
    for i in range(8):
        feed_server.add(f"f{i}", rss(f"F{i}", posts(f"f{i}")))
    urls = [feed_server.url(f"/slow/1/f{i}") for i in range(8)]
    limits = replace(LIMITS, per_host=8)  # one loopback server stands for eight hosts
    results = fetch_all_sync([FetchRequest(u) for u in urls], limits, concurrency=8)
    assert all(r.ok for r in results.values())
    # all eight were in flight at once, so they cost one latency, not eight
    assert feed_server.peak_in_flight == 8


def test_one_host_is_asked_a_few_at_a_time_while_others_go_on(feed_server):
    """Friends on one platform wait for each other (``per_host``); a friend
    elsewhere does not wait behind them."""
    for i in range(8):
        feed_server.add(f"f{i}", rss(f"F{i}", posts(f"f{i}")))
    crowded = [feed_server.url(f"/slow/0.3/f{i}") for i in range(6)]
    elsewhere = [u.replace("127.0.0.1", "localhost") for u in
                 (feed_server.url(f"/slow/0.3/f{i}") for i in (6, 7))]  # fmt: skip
    limits = replace(LIMITS, per_host=2)
    requests = [FetchRequest(u) for u in crowded + elsewhere]
    results = fetch_all_sync(requests, limits, concurrency=8)
    assert all(r.ok for r in results.values()), results
    assert feed_server.peak_in_flight == 4  # two for 127.0.0.1, two for localhost


def test_concurrency_is_bounded(feed_server):
    for i in range(6):
        feed_server.add(f"f{i}", rss(f"F{i}", posts(f"f{i}")))
    urls = [feed_server.url(f"/slow/0.3/f{i}") for i in range(6)]
    results = fetch_all_sync([FetchRequest(u) for u in urls], LIMITS, concurrency=2)
    assert all(r.ok for r in results.values())
    assert feed_server.peak_in_flight == 2


def test_phase_deadline_cuts_off_the_rest(feed_server):
    urls = [feed_server.url("/hang") for _ in range(1)] + [feed_server.url("/hang?2")]
    limits = Limits(timeout=30)
    started = time.monotonic()
    results = fetch_all_sync([FetchRequest(u) for u in urls], limits, deadline=1.0)
    assert time.monotonic() - started < 3
    assert all("deadline" in r.error for r in results.values())


def _bodies_held_at_once(room_size: int | None) -> int:
    """The most results gather held at once, fetched but not yet handled by
    a handler slower than the downloads (a parser falling behind)."""
    import asyncio

    from pelican_reciprocity.fetch import FetchResult, gather

    held, most = 0, 0

    class Instant:  # a server that answers at once
        def turn(self, url: str) -> asyncio.Semaphore:
            return asyncio.Semaphore(1)  # each its own host: hosts are not the point here

        async def get(self, request: FetchRequest, *, turn_taken: bool = False) -> FetchResult:
            nonlocal held, most
            held += 1
            most = max(most, held)
            return FetchResult(request.url, body=b"x" * 1000)

    async def slow_parse(result: FetchResult) -> None:
        nonlocal held
        await asyncio.sleep(0.01)
        result.body = None
        held -= 1

    async def main() -> None:
        room = asyncio.Semaphore(room_size) if room_size else None
        requests = [FetchRequest(f"https://f{i}.example/feed") for i in range(40)]
        await gather(Instant(), requests, slow_parse, room)  # type: ignore[arg-type]

    asyncio.run(main())
    return most


def test_downloads_wait_for_a_parser_that_falls_behind():
    assert _bodies_held_at_once(None) == 40  # without room: every body at once
    assert _bodies_held_at_once(4) == 4


# -- the HTTP/1.1 client ------------------------------------------------------------------


def test_chunked_body_after_an_informational_answer(feed_server):
    body = rss("Chunks", posts("chunks", 8)).encode()
    feed_server.add("chunks", body)
    result = fetch(feed_server.url("/chunked/chunks"))
    assert result.ok and result.status == 200, result.error
    assert result.body == body and len(body) > 1000  # more than one chunk


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("/broken", "broken HTTP response"),
        ("/cut", "broken HTTP response"),  # 100 bytes of a promised 5,000
    ],
)
def test_answers_that_are_not_http_are_errors(feed_server, path, expect):
    result = fetch(feed_server.url(path))
    assert result.error and result.error.startswith(expect), result.error
    assert result.body is None


def test_a_closed_port_cannot_connect():
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert result.error and result.error.startswith("cannot connect"), result.error


def test_the_request_target_is_percent_encoded_and_the_host_named(feed_server):
    url = feed_server.put("/p/caf%C3%A9%20au%20lait", rss("Cafe", posts("cafe")), "text/xml")
    result = fetch(url.replace("caf%C3%A9%20au%20lait", "café au lait"))
    assert result.ok, result.error
    assert feed_server.hits["/p/caf%C3%A9%20au%20lait"] == 1
    host = feed_server.base.split("//")[1]
    assert feed_server.hosts == [host]


def test_a_proxy_in_the_environment_is_used(feed_server, monkeypatch):
    """A blogger behind a proxy (HTTP_PROXY): every request goes through it,
    even one for a host this machine cannot resolve."""
    from pelican_reciprocity import httpclient

    feed_server.add("far", rss("Far", posts("far")))
    monkeypatch.setenv("HTTP_PROXY", feed_server.base)
    assert httpclient.proxied()
    result = fetch("http://far-away.invalid/feed/far")
    assert result.ok, result.error
    assert b"far post 0" in result.body
    assert feed_server.proxied == ["http://far-away.invalid/feed/far"]
    monkeypatch.delenv("HTTP_PROXY")
    assert not httpclient.proxied()
    assert fetch("http://far-away.invalid/feed/far").error.startswith("cannot connect")
