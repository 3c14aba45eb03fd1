"""``reciprocity/ledger.json``: the ledger as a file the owner reads and commits.

Sorted keys and stable text, written atomically and only when it changed.
``notify`` records its webmentions in the same file, and a build keeps them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .files import write_atomic
from .identity import Directory
from .ledger import article_records, build_ledger
from .model import ArticleFacts, Person
from .settings import ConfigError

logger = logging.getLogger(__name__)

FORMAT = "pelican-reciprocity/ledger/1"


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": FORMAT, "people": {}, "articles": {}, "webmentions": {}}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the ledger ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a pelican-reciprocity ledger")
    data.setdefault("webmentions", {})
    return data


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save(path: Path, data: dict[str, Any]) -> bool:
    """Write the ledger if it changed; True when it did."""
    text = dumps(data)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    write_atomic(path, text.encode("utf-8"))
    return True


def update(
    path: Path,
    directory: Directory,
    people: Iterable[Person],
    article_of: Mapping[str, str],
    facts: Iterable[ArticleFacts],
) -> bool:
    """Rewrite both directions of every relationship, keeping what ``notify``
    recorded. A ledger that cannot be read is left alone, with a warning."""
    try:
        data = load(path)
    except ConfigError as exc:
        logger.warning("reciprocity: %s; not updating it", exc)
        return False
    facts = list(facts)
    people_now = build_ledger(directory, people, article_of, facts)
    articles_now = article_records(facts, directory)
    if data.get("people") == people_now and data.get("articles") == articles_now:
        return False  # unchanged: not even formatted (the indented encoder is slow)
    data["people"], data["articles"] = people_now, articles_now
    try:
        return save(path, data)
    except OSError as exc:
        logger.warning("reciprocity: cannot write the ledger %s (%s)", path, exc)
        return False
