"""``reciprocity/ledger.json``: the ledger as a file the owner reads and commits.

Sorted keys and stable text, written atomically and only when it changed.
``notify`` records its webmentions in the same file, and a build keeps them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from . import __version__
from .files import LastMade, digest_of, stamp, write_atomic
from .identity import Directory
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
    facts: Iterable[ArticleFacts] | Callable[[], list[ArticleFacts]],
    *,
    memo: Path | None = None,
    made_from: list[Any] | None = None,
) -> bool:
    """Rewrite both directions of every relationship, keeping what ``notify``
    recorded. A ledger that cannot be read is left alone, with a warning.

    ``memo`` (a file in the cache) remembers a digest of the inputs the ledger
    was last found up to date with, and the ledger file's stamp then: a
    rebuild with the same inputs and an untouched ledger reads neither.
    ``facts`` may be a function that makes them, called only when the ledger
    must be read, and ``made_from`` the plain values they are made of,
    digested in their place (see :func:`articles.ledger_articles`).
    """
    people = list(people)
    if memo is not None:
        if made_from is None:
            facts = made_from = list(facts() if callable(facts) else facts)
        digest = inputs_digest(directory, people, article_of, made_from)
        if _remembered(memo) == [digest, str(path), *stamp(path)]:
            return False
    facts = list(facts() if callable(facts) else facts)
    try:
        data = load(path)
    except ConfigError as exc:
        logger.warning("reciprocity: %s; not updating it", exc)
        return False
    from .ledger import article_records, build_ledger  # unchanged inputs never load it

    people_now = build_ledger(directory, people, article_of, facts)
    articles_now = article_records(facts, directory)
    written = False
    # An unchanged ledger is not even formatted: the indented encoder is slow.
    if data.get("people") != people_now or data.get("articles") != articles_now:
        data["people"], data["articles"] = people_now, articles_now
        try:
            written = save(path, data)
        except OSError as exc:
            logger.warning("reciprocity: cannot write the ledger %s (%s)", path, exc)
            return False
    if memo is not None:
        _remember(memo, [digest, str(path), *stamp(path)])
    return written


#: The fields the digest reads, named in it: a field added to either record changes it.
_FIELDS = tuple(tuple(f.name for f in fields(record)) for record in (Person, ArticleFacts))
_person_fields, _facts_fields = (attrgetter(*names) for names in _FIELDS)


def inputs_digest(
    directory: Directory,
    people: list[Person],
    article_of: Mapping[str, str],
    facts: list[Any],
) -> str:
    """One digest of everything the ledger is made from. Sets are sorted, as
    their order changes from process to process; the version is included,
    as a new release may build the same inputs into a different ledger.
    ``facts`` are the articles' facts, or the plain values they are made of."""
    parts = [__version__, FORMAT, sorted(article_of.items())]
    for name, value in sorted(vars(directory).items()):
        parts.append((name, sorted(value) if isinstance(value, set | frozenset) else value))
    parts.append(_FIELDS)
    parts.append(list(map(_person_fields, people)))  # every field, in the order of _FIELDS
    parts.append([_facts_fields(f) if isinstance(f, ArticleFacts) else f for f in facts])
    return _LAST_DIGEST.get(parts, lambda: digest_of(parts))


#: The inputs last digested in this process, and their digest: comparing
#: them again is quicker than writing them out (about 1 ms for 300 articles).
_LAST_DIGEST = LastMade()


def _remembered(memo: Path) -> Any:
    try:
        return json.loads(memo.read_bytes())
    except (OSError, ValueError):
        return None  # no memo yet, or a damaged one: the ledger is checked in full


def _remember(memo: Path, value: list[Any]) -> None:
    with contextlib.suppress(OSError):  # only a later build's shortcut is lost
        write_atomic(memo, json.dumps(value).encode("utf-8"), durable=False)
