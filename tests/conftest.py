from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from feedserver import FeedServer

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
    logging.getLogger("pelican_reciprocity").setLevel(logging.DEBUG)


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
