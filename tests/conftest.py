from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from feedserver import FeedServer
from helpers import posts, rss

from pelican_reciprocity import netpolicy

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


@pytest.fixture
def feed_server():
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    monkeypatch.delenv("RECIPROCITY_OFFLINE", raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy"):  # loopback is asked directly
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    logging.getLogger("pelican_reciprocity").setLevel(logging.DEBUG)
    # Pelican drops a log line it has seen before in this process: each test
    # builds as a fresh `pelican` run would.
    from pelican.log import LimitFilter

    LimitFilter._raised_messages.clear()
    LimitFilter._group_count.clear()


def corpus_dir(name: str) -> Path:
    """The shared real-world corpus, or skip (fail when it is required)."""
    folder = CORPUS / name
    if not (folder.is_dir() and any(folder.iterdir())):
        reason = f"corpus folder {folder} is absent"
        if os.environ.get("RECIPROCITY_CORPUS_REQUIRED") == "1":
            pytest.fail(f"{reason}, and RECIPROCITY_CORPUS_REQUIRED=1")
        pytest.skip(reason)
    return folder


# Hypothesis: a fixed seed and no per-example deadline, so CI sees the same
# generated inputs on every run and a slow machine fails nothing.
settings.register_profile("reciprocity", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("reciprocity")


@pytest.fixture
def inside(monkeypatch):
    """A server "inside the network" (127.0.0.2), and a resolver where the
    test server's 127.0.0.1 counts as public and these names resolve as told."""
    server = FeedServer("127.0.0.2").start()
    server.add("secret", rss("Intranet", posts("secret", 2)))
    answers: dict[str, list[str]] = {"inside.example": ["127.0.0.2"]}
    asked: list[str] = []
    real_resolve, real_public = socket.getaddrinfo, netpolicy.is_public

    def resolve(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        asked.append(name)
        if name in answers:
            address = answers[name].pop(0) if len(answers[name]) > 1 else answers[name][0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(netpolicy, "is_public", lambda a: a == "127.0.0.1" or real_public(a))
    server.answers, server.asked = answers, asked
    try:
        yield server
    finally:
        server.close()
