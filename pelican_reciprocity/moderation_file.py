"""The moderation file: the owner's decisions and rules, and every held response.

``reciprocity/moderation.toml`` in the site. The owner edits it to approve
or block by id, author or domain; the plugin only ever adds to it, keeping
the owner's own formatting and comments, so nothing held is ever lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from .files import write_atomic
from .model import DECISIONS, Response, Verdict, record
from .moderation import Rules
from .settings import ConfigError

logger = logging.getLogger(__name__)

HEADER = """\
Responses that pelican-reciprocity held for moderation. Nothing here is ever
deleted by the plugin. To publish one, set its status to "approved"; to keep
it off the site for good, set it to "blocked". The [rules] apply to every
future response too (names or URLs in *_authors, host names in *_domains).
"""


@record
class ModerationFile:
    """The owner's moderation file as read: decisions and rules, and the document to write back."""

    path: Path
    decisions: dict[str, str] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)
    document: Any = None
    entries: dict[str, Any] = field(default_factory=dict)


def load_moderation(path: Path) -> ModerationFile:
    """Read the owner's file; a syntax error is a user mistake, named clearly.

    Read with the standard library's parser: tomlkit, which keeps the
    owner's comments and formatting, is loaded only to add to the file
    (:func:`record_held`). Reading this file with it took about 42 ms of
    every build that thanks anyone, warm ones too, against 4 ms."""
    import tomllib

    result = ModerationFile(path=path)
    if not path.exists():
        return result
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # a syntax error, bytes that are not UTF-8, a file we cannot read
        raise ConfigError(f"{path}: cannot read the moderation file: {exc}") from None
    result.rules = _rules(path, doc.get("rules", {}))
    entries = doc.get("response", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            f"{path}: 'response' must be [[response]] tables (two brackets), "
            f"got {type(entries).__name__}"
        )
    for index, entry in enumerate(entries, 1):
        rid = str(entry.get("id") or "")
        status = str(entry.get("status") or "held").strip().lower()
        if not rid:
            logger.warning("reciprocity: %s: response #%d has no id; ignored", path, index)
            continue
        if status not in DECISIONS:
            logger.warning(
                "reciprocity: %s: response %s has status %r (use held, approved or "
                "blocked); treated as held",
                path,
                rid,
                status,
            )
            status = "held"
        result.decisions[rid] = status
        result.entries[rid] = entry
    return result


RULE_KEYS = ("block_words", "block_domains", "block_authors", "approve_domains", "approve_authors")


def _rules(path: Path, rules: Any) -> Rules:
    """The [rules] table, each key checked like a setting: a list of strings.
    A single string would otherwise be read letter by letter, and block
    every response that contains an "a"."""
    if not isinstance(rules, dict):
        raise ConfigError(f"{path}: [rules] must be a table, got {type(rules).__name__}")
    unknown = sorted(set(rules) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} in [rules] (allowed: {', '.join(RULE_KEYS)})"
        )
    values = {}
    for key in RULE_KEYS:
        value = rules.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f'{path}: [rules] {key} must be a list of strings, like {key} = ["casino"]; '
                f"got {value!r}"
            )
        values[key] = tuple(str(v) for v in value)
    return Rules(**values)


def record_held(
    moderation: ModerationFile,
    held: Iterable[tuple[Response, Verdict, str]],
) -> int:
    """Add newly held responses to the file (never removing any); returns how
    many were added. Writes only when something changed."""
    new = [item for item in held if item[0].id not in moderation.entries]
    if not new:
        return 0
    import tomlkit

    try:
        doc = _document(moderation)
        if "response" not in doc:
            doc["response"] = tomlkit.aot()
        present = {str(entry.get("id") or "") for entry in doc["response"]}
    except Exception as exc:  # changed since it was read, or tomlkit cannot read what tomllib did
        logger.warning(
            "reciprocity: %s: cannot add to the moderation file (%s); "
            "%d held response(s) not recorded yet",
            moderation.path,
            exc,
            len(new),
        )
        return 0
    added = 0
    for response, verdict, article in new:
        if response.id in moderation.entries or response.id in present:
            continue
        entry = tomlkit.table()
        entry["id"] = response.id
        entry["status"] = "held"
        entry["article"] = article
        entry["author"] = response.author_name or "(anonymous)"
        if response.author_url:
            entry["author_url"] = response.author_url
        if response.published:
            entry["date"] = response.published.isoformat()
        entry["source"] = response.source
        entry["reasons"] = list(verdict.reasons)
        entry["excerpt"] = response.excerpt_text[:300]
        doc["response"].append(entry)
        moderation.entries[response.id] = entry
        moderation.decisions[response.id] = "held"
        added += 1
    if added:
        try:
            write_atomic(moderation.path, tomlkit.dumps(doc).encode("utf-8"))
        except OSError as exc:  # they stay held, and are recorded when the file can be written
            logger.warning("reciprocity: %s; %d held response(s) not recorded yet", exc, added)
    return added


def _document(moderation: ModerationFile) -> Any:
    """The file as tomlkit reads it, comments and formatting kept, to add to
    (read now: the owner may have edited it since the build read it); a new
    one, with the header and empty rules, when there is none."""
    import tomlkit

    if moderation.document is not None:
        return moderation.document
    if moderation.path.exists():
        doc = tomlkit.parse(moderation.path.read_text(encoding="utf-8"))
    else:
        doc = tomlkit.document()
        for line in HEADER.splitlines():
            doc.add(tomlkit.comment(line))
        rules = tomlkit.table()
        for key in ("approve_authors", "approve_domains", "block_authors", "block_domains"):
            rules[key] = tomlkit.array()
        rules["block_words"] = tomlkit.array()
        doc["rules"] = rules
        doc["response"] = tomlkit.aot()
    moderation.document = doc
    return doc
