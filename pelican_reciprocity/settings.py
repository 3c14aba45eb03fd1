"""One table of defaults and a frozen, validated configuration.

Modelled on Pelican's ``configure_settings``: read the user's settings once,
check every value, and hand the rest of the plugin an immutable object so that
no module has to re-validate or guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "RECIPROCITY_"

#: Every setting the plugin reads, with its default. The README table mirrors it.
DEFAULTS: dict[str, Any] = {
    "RECIPROCITY_FRIENDS": "friends.toml",
    "RECIPROCITY_TIMEOUT": 10.0,
    "RECIPROCITY_FETCH_DEADLINE": 60.0,
    "RECIPROCITY_CONCURRENCY": 32,
    "RECIPROCITY_MAX_BYTES": 10 * 1024 * 1024,
    "RECIPROCITY_MAX_REDIRECTS": 5,
    "RECIPROCITY_CACHE_PATH": None,
    "RECIPROCITY_CACHE_TTL": 3600,
    "RECIPROCITY_OFFLINE": False,
    "RECIPROCITY_STRICT": False,
    "RECIPROCITY_USER_AGENT": None,
    "RECIPROCITY_AUTO_COUNT": 3,
    "RECIPROCITY_AUTO_PER_FRIEND": 1,
    "RECIPROCITY_AUTO_MAX_AGE_DAYS": 365,
    "RECIPROCITY_PREFER_SHARED_TAGS": False,
    "RECIPROCITY_SUMMARY_WORDS": 40,
    "RECIPROCITY_INJECT": True,
    "RECIPROCITY_DATE_FORMAT": None,
    "RECIPROCITY_FRIENDS_SAVE_AS": "friends/index.html",
    "RECIPROCITY_FRIENDS_URL": "friends/",
    "RECIPROCITY_FRIENDS_POSTS": 3,
    "RECIPROCITY_OPML_SAVE_AS": "friends.opml",
    "RECIPROCITY_HIGHLIGHTS_HEADING": None,
    "RECIPROCITY_AUTO_HEADING": None,
    "RECIPROCITY_FRIENDS_HEADING": None,
    "RECIPROCITY_STRINGS": {},
    "RECIPROCITY_CSS": True,
    "RECIPROCITY_COMMENTS_PATH": "comments",
    "RECIPROCITY_RESPONSE_SOURCES": [],
    "RECIPROCITY_WEBMENTION_IO_DOMAIN": "",
    "RECIPROCITY_WEBMENTION_IO_API": "https://webmention.io/api/mentions.jf2",
    "RECIPROCITY_MODERATION_FILE": "reciprocity/moderation.toml",
    "RECIPROCITY_LEDGER_FILE": "reciprocity/ledger.json",
    "RECIPROCITY_ALLOW_PRIVATE_ADDRESSES": False,
    "RECIPROCITY_NOTIFY_INTERVAL": 1.0,
    "RECIPROCITY_BLOCK_WORDS": [],
    "RECIPROCITY_BLOCK_DOMAINS": [],
    "RECIPROCITY_BLOCK_AUTHORS": [],
    "RECIPROCITY_APPROVE_DOMAINS": [],
    "RECIPROCITY_APPROVE_AUTHORS": [],
    "RECIPROCITY_THANKS_SAVE_AS": "thanks/index.html",
    "RECIPROCITY_THANKS_URL": "thanks/",
    "RECIPROCITY_THANKS_HEADING": None,
    "RECIPROCITY_RESPONDERS_HEADING": None,
}


class ConfigError(Exception):
    """A user mistake in the settings: the message names the setting."""


@dataclass(frozen=True)
class Config:
    friends: str | tuple[Mapping[str, Any], ...]
    site_root: Path
    timeout: float
    fetch_deadline: float
    concurrency: int
    max_bytes: int
    max_redirects: int
    cache_path: Path
    cache_ttl: float
    offline: bool
    strict: bool
    user_agent: str
    auto_count: int
    auto_per_friend: int
    auto_max_age_days: float
    prefer_shared_tags: bool
    summary_words: int
    inject: bool
    date_format: str | None
    friends_save_as: str
    friends_url: str
    friends_posts: int
    opml_save_as: str
    highlights_heading: str | None
    auto_heading: str | None
    friends_heading: str | None
    siteurl: str
    author: str
    comments_path: Path | None
    response_sources: tuple[str, ...]
    webmention_io_domain: str
    webmention_io_api: str
    moderation_file: Path
    ledger_file: Path
    allow_private_addresses: bool
    notify_interval: float
    block_words: tuple[str, ...]
    block_domains: tuple[str, ...]
    block_authors: tuple[str, ...]
    approve_domains: tuple[str, ...]
    approve_authors: tuple[str, ...]
    thanks_save_as: str
    thanks_url: str
    strings: dict[str, Any]
    css: bool
    default_lang: str
    thanks_heading: str | None
    responders_heading: str | None


def _number(settings: Mapping[str, Any], key: str, *, integer: bool, minimum: float) -> Any:
    value = settings.get(key, DEFAULTS[key])
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be {kind}, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{key} must be {kind}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{key} must be at least {minimum:g}, got {value!r}")
    return value


def _flag(settings: Mapping[str, Any], key: str) -> bool:
    value = settings.get(key, DEFAULTS[key])
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be True or False, got {value!r}")
    return value


def _text(settings: Mapping[str, Any], key: str, *, empty_ok: bool = True) -> str:
    value = settings.get(key, DEFAULTS[key])
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise ConfigError(f"{key} must be a text string, got {value!r}")
    return value


def _optional_text(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key, DEFAULTS[key])
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{key} must be a non-empty string (or None for the default), got {value!r}"
        )
    return value


def _strings(settings: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = settings.get(key, DEFAULTS[key])
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list of strings, got {value!r}")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{key} must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def env_offline(environ: Mapping[str, str] | None = None) -> bool:
    """``RECIPROCITY_OFFLINE=1`` in the environment wins over the settings file."""
    value = (environ if environ is not None else os.environ).get("RECIPROCITY_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def site_root_for(settings: Mapping[str, Any]) -> Path:
    """Where the site's own files (friends.toml, reciprocity/) live.

    Pelican does not record where the settings file was, so use the working
    directory when it holds the content folder (the usual ``pelican content``
    run), else the content folder's parent.
    """
    content = Path(settings.get("PATH") or ".").resolve()
    cwd = Path.cwd().resolve()
    if content == cwd or cwd in content.parents:
        return cwd
    return content.parent


def configure(settings: Mapping[str, Any]) -> Config:
    """Validate every ``RECIPROCITY_*`` setting once; raise ConfigError on a mistake."""
    unknown = sorted(k for k in settings if k.startswith(PREFIX) and k not in DEFAULTS)
    if unknown:
        known = ", ".join(sorted(DEFAULTS))
        raise ConfigError(f"unknown setting {unknown[0]} (check the spelling; known: {known})")

    friends = settings.get("RECIPROCITY_FRIENDS", DEFAULTS["RECIPROCITY_FRIENDS"])
    if isinstance(friends, os.PathLike):
        friends = os.fspath(friends)
    if isinstance(friends, list | tuple):
        for index, entry in enumerate(friends, 1):
            if not isinstance(entry, Mapping):
                raise ConfigError(
                    f"RECIPROCITY_FRIENDS entry {index} must be a dict "
                    f"with 'name' and 'feed', got {entry!r}"
                )
        friends = tuple(dict(e) for e in friends)
    elif not isinstance(friends, str) or not friends.strip():
        raise ConfigError(
            "RECIPROCITY_FRIENDS must be a path to a TOML or OPML file, "
            f"or a list of dicts, got {friends!r}"
        )

    site_root = site_root_for(settings)
    cache_path = settings.get("RECIPROCITY_CACHE_PATH")
    if cache_path is None:
        cache_path = Path(settings.get("CACHE_PATH") or site_root / "cache")
        cache_path = cache_path / "reciprocity"
    elif isinstance(cache_path, str | os.PathLike):
        cache_path = Path(cache_path)
        if not cache_path.is_absolute():
            cache_path = site_root / cache_path
    else:
        raise ConfigError(f"RECIPROCITY_CACHE_PATH must be a path, got {cache_path!r}")

    siteurl = str(settings.get("SITEURL") or "")
    from . import __version__

    user_agent = settings.get("RECIPROCITY_USER_AGENT")
    if user_agent is None:
        user_agent = f"pelican-reciprocity/{__version__}"
        if siteurl.startswith(("http://", "https://")):
            user_agent += f" (+{siteurl})"
    elif not isinstance(user_agent, str) or not user_agent.strip():
        raise ConfigError(f"RECIPROCITY_USER_AGENT must be a non-empty string, got {user_agent!r}")

    date_format = _optional_text(settings, "RECIPROCITY_DATE_FORMAT")
    overrides = settings.get("RECIPROCITY_STRINGS", DEFAULTS["RECIPROCITY_STRINGS"])
    if not isinstance(overrides, Mapping) or not all(
        isinstance(v, str)
        or (isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values()))
        for v in overrides.values()
    ):
        raise ConfigError(
            "RECIPROCITY_STRINGS must map English strings to replacements, optionally "
            f"per language ({{'fr': {{...}}}}), got {overrides!r}"
        )
    for key in (
        "RECIPROCITY_FRIENDS_SAVE_AS",
        "RECIPROCITY_OPML_SAVE_AS",
        "RECIPROCITY_THANKS_SAVE_AS",
    ):
        value = _text(settings, key)
        if value.startswith("/") or ".." in Path(value).parts:
            raise ConfigError(f"{key} must be a path inside the output folder")

    comments = _text(settings, "RECIPROCITY_COMMENTS_PATH")
    comments_path = None
    if comments.strip():
        if Path(comments).is_absolute() or ".." in Path(comments).parts:
            raise ConfigError(
                "RECIPROCITY_COMMENTS_PATH must be a folder inside the content folder (PATH)"
            )
        comments_path = Path(settings.get("PATH") or ".") / comments
    content = Path(settings.get("PATH") or ".").resolve()
    output = Path(settings.get("OUTPUT_PATH") or "output").resolve()
    site_files = {}
    for key in ("RECIPROCITY_MODERATION_FILE", "RECIPROCITY_LEDGER_FILE"):
        path = Path(_text(settings, key, empty_ok=False))
        if not path.is_absolute():
            path = site_root / path
        for folder, name in ((content, "content"), (output, "output")):
            if path.resolve() == folder or folder in path.resolve().parents:
                raise ConfigError(
                    f"{key} must be outside the {name} folder ({folder}), "
                    "or Pelican would publish it"
                )
        site_files[key] = path
    moderation = site_files["RECIPROCITY_MODERATION_FILE"]
    sources = _strings(settings, "RECIPROCITY_RESPONSE_SOURCES")

    timeout = _number(settings, "RECIPROCITY_TIMEOUT", integer=False, minimum=0.1)
    deadline = _number(settings, "RECIPROCITY_FETCH_DEADLINE", integer=False, minimum=0.1)
    return Config(
        friends=friends,
        site_root=site_root,
        timeout=float(timeout),
        fetch_deadline=float(max(deadline, timeout)),
        concurrency=_number(settings, "RECIPROCITY_CONCURRENCY", integer=True, minimum=1),
        max_bytes=_number(settings, "RECIPROCITY_MAX_BYTES", integer=True, minimum=1024),
        max_redirects=_number(settings, "RECIPROCITY_MAX_REDIRECTS", integer=True, minimum=0),
        cache_path=cache_path,
        cache_ttl=float(_number(settings, "RECIPROCITY_CACHE_TTL", integer=False, minimum=0)),
        offline=_flag(settings, "RECIPROCITY_OFFLINE") or env_offline(),
        strict=_flag(settings, "RECIPROCITY_STRICT"),
        user_agent=user_agent,
        auto_count=_number(settings, "RECIPROCITY_AUTO_COUNT", integer=True, minimum=0),
        auto_per_friend=_number(settings, "RECIPROCITY_AUTO_PER_FRIEND", integer=True, minimum=1),
        auto_max_age_days=float(
            _number(settings, "RECIPROCITY_AUTO_MAX_AGE_DAYS", integer=False, minimum=0)
        ),
        prefer_shared_tags=_flag(settings, "RECIPROCITY_PREFER_SHARED_TAGS"),
        summary_words=_number(settings, "RECIPROCITY_SUMMARY_WORDS", integer=True, minimum=1),
        inject=_flag(settings, "RECIPROCITY_INJECT"),
        date_format=date_format,
        friends_save_as=_text(settings, "RECIPROCITY_FRIENDS_SAVE_AS"),
        friends_url=_text(settings, "RECIPROCITY_FRIENDS_URL"),
        friends_posts=_number(settings, "RECIPROCITY_FRIENDS_POSTS", integer=True, minimum=0),
        opml_save_as=_text(settings, "RECIPROCITY_OPML_SAVE_AS"),
        highlights_heading=_optional_text(settings, "RECIPROCITY_HIGHLIGHTS_HEADING"),
        auto_heading=_optional_text(settings, "RECIPROCITY_AUTO_HEADING"),
        friends_heading=_optional_text(settings, "RECIPROCITY_FRIENDS_HEADING"),
        siteurl=siteurl,
        author=str(settings.get("AUTHOR") or ""),
        comments_path=comments_path,
        response_sources=sources,
        webmention_io_domain=_text(settings, "RECIPROCITY_WEBMENTION_IO_DOMAIN").strip(),
        webmention_io_api=_text(settings, "RECIPROCITY_WEBMENTION_IO_API", empty_ok=False),
        moderation_file=moderation,
        ledger_file=site_files["RECIPROCITY_LEDGER_FILE"],
        allow_private_addresses=_flag(settings, "RECIPROCITY_ALLOW_PRIVATE_ADDRESSES"),
        notify_interval=float(
            _number(settings, "RECIPROCITY_NOTIFY_INTERVAL", integer=False, minimum=0)
        ),
        block_words=_strings(settings, "RECIPROCITY_BLOCK_WORDS"),
        block_domains=_strings(settings, "RECIPROCITY_BLOCK_DOMAINS"),
        block_authors=_strings(settings, "RECIPROCITY_BLOCK_AUTHORS"),
        approve_domains=_strings(settings, "RECIPROCITY_APPROVE_DOMAINS"),
        approve_authors=_strings(settings, "RECIPROCITY_APPROVE_AUTHORS"),
        thanks_save_as=_text(settings, "RECIPROCITY_THANKS_SAVE_AS"),
        thanks_url=_text(settings, "RECIPROCITY_THANKS_URL"),
        strings={k: (dict(v) if isinstance(v, Mapping) else v) for k, v in overrides.items()},
        default_lang=str(settings.get("DEFAULT_LANG") or "en"),
        css=_flag(settings, "RECIPROCITY_CSS"),
        thanks_heading=_optional_text(settings, "RECIPROCITY_THANKS_HEADING"),
        responders_heading=_optional_text(settings, "RECIPROCITY_RESPONDERS_HEADING"),
    )
