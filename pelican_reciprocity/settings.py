"""Every setting declared once, checked once, frozen into one ``Config``.

Modelled on Pelican's ``configure_settings``: read the user's settings once,
check every value, and hand the rest of the plugin an immutable object. Each
:class:`Setting` below is the single declaration of one ``RECIPROCITY_*``
name: its default, its check, and its line in the README's settings table
(``python -m pelican_reciprocity.settings`` prints that table; a test holds
the README to it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from . import __version__
from .model import record

PREFIX = "RECIPROCITY_"


class ConfigError(Exception):
    """A user mistake in the settings: the message names the setting."""


#: A check turns the user's value into the Config value, or raises ConfigError.
#: It sees the whole settings mapping and the values checked so far.
Check = Callable[[str, Any, Mapping[str, Any], dict[str, Any]], Any]


@record(frozen=True)
class Setting:
    """One RECIPROCITY_ setting: the single place its default, check and help live."""

    name: str
    default: Any
    check: Check
    help: str
    shown: str = ""  # the default as the README shows it, when repr() is not right

    @property
    def field(self) -> str:
        return self.name[len(PREFIX) :].lower()

    def row(self) -> str:
        shown = self.shown or _shown(self.default)
        return f"| `{self.name}` | {shown} | {self.help} |"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float) and value.is_integer() and value >= 10:
        return f"`{int(value)}`"
    return f"`{value!r}`"


# -- checks --------------------------------------------------------------------------


def one_of(*choices: str) -> Check:
    def check(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> str:
        if value not in choices:
            raise ConfigError(
                f"{key} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return str(value)

    return check


def number(*, integer: bool = False, minimum: float = 0) -> Check:
    def check(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be {kind}, got {value!r}")
        if integer and not isinstance(value, int):
            raise ConfigError(f"{key} must be {kind}, got {value!r}")
        if value < minimum:
            raise ConfigError(f"{key} must be at least {minimum:g}, got {value!r}")
        return value if integer else float(value)

    return check


def flag(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be True or False, got {value!r}")
    return value


def text(*, empty_ok: bool = True, strip: bool = False) -> Check:
    def check(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> str:
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            raise ConfigError(f"{key} must be a text string, got {value!r}")
        return value.strip() if strip else value

    return check


def optional_text(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{key} must be a non-empty string (or None for the default), got {value!r}"
        )
    return value


def strings(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list of strings, got {value!r}")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{key} must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def output_path(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> str:
    value = text()(key, value, settings, done)
    if value.startswith("/") or ".." in Path(value).parts:
        raise ConfigError(f"{key} must be a path inside the output folder")
    return value


def friends_spec(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, list | tuple):
        for index, entry in enumerate(value, 1):
            if not isinstance(entry, Mapping):
                raise ConfigError(
                    f"{key} entry {index} must be a dict with 'name' and 'feed', got {entry!r}"
                )
        return tuple(dict(e) for e in value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{key} must be a path to a TOML or OPML file, or a list of dicts, got {value!r}"
        )
    return value


def cache_folder(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Path:
    root = site_root_for(settings)
    if value is None:
        return Path(settings.get("CACHE_PATH") or root / "cache") / "reciprocity"
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"{key} must be a path, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else root / path


def offline(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> bool:
    return flag(key, value, settings, done) or env_offline()


def deadline(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> float:
    """Never shorter than one feed's timeout."""
    return max(number(minimum=0.1)(key, value, settings, done), done["timeout"])


def user_agent(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> str:
    if value is None:
        siteurl = str(settings.get("SITEURL") or "")
        agent = f"pelican-reciprocity/{__version__}"
        return agent + (f" (+{siteurl})" if siteurl.startswith(("http://", "https://")) else "")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
    return value


def overrides(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str)
        or (isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values()))
        for v in value.values()
    ):
        raise ConfigError(
            f"{key} must map English strings to replacements, optionally "
            f"per language ({{'fr': {{...}}}}), got {value!r}"
        )
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in value.items()}


def comments_folder(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Any:
    value = text()(key, value, settings, done)
    if not value.strip():
        return None
    if Path(value).is_absolute() or ".." in Path(value).parts:
        raise ConfigError(f"{key} must be a folder inside the content folder (PATH)")
    return Path(settings.get("PATH") or ".") / value


def site_file(key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]) -> Path:
    """A file the owner keeps and commits: never inside content/ or output/."""
    path = Path(text(empty_ok=False)(key, value, settings, done))
    if not path.is_absolute():
        path = site_root_for(settings) / path
    content = _resolved(Path(settings.get("PATH") or "."))
    output = _resolved(Path(settings.get("OUTPUT_PATH") or "output"))
    where = _resolved(path)
    for folder, name in ((content, "content"), (output, "output")):
        if where == folder or folder in where.parents:
            raise ConfigError(
                f"{key} must be outside the {name} folder ({folder}), or Pelican would publish it"
            )
    return path


def optional_site_folder(
    key: str, value: Any, settings: Mapping[str, Any], done: dict[str, Any]
) -> Path | None:
    """A folder the owner keeps and commits, or None (off)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return site_file(key, value, settings, done)


# -- the table -------------------------------------------------------------------------

S = Setting
SETTINGS: tuple[Setting, ...] = (
    S("RECIPROCITY_FRIENDS", "friends.toml", friends_spec, "TOML or OPML file, or a list of dicts"),
    S("RECIPROCITY_TIMEOUT", 10.0, number(minimum=0.1),
      "total seconds allowed per feed, however slowly it trickles"),
    S("RECIPROCITY_FETCH_DEADLINE", 60.0, deadline, "bound on the whole fetch phase, in seconds"),
    S("RECIPROCITY_CONCURRENCY", 100, number(integer=True, minimum=1),
      "requests in flight at once (100 friends never wait for each other)"),
    S("RECIPROCITY_MAX_BYTES", 10 * 1024 * 1024, number(integer=True, minimum=1024),
      "body size cap (10 MiB), applied after decompression"),
    S("RECIPROCITY_MAX_REDIRECTS", 5, number(integer=True), "redirects followed per feed"),
    S("RECIPROCITY_MAX_POSTS", 100, number(integer=True, minimum=1),
      "newest posts kept per feed (a feed of 100,000 entries costs no more than one of 100)"),
    S("RECIPROCITY_CACHE_PATH", None, cache_folder, "where feed copies are kept",
      shown="`<CACHE_PATH>/reciprocity`"),
    S("RECIPROCITY_CACHE_TTL", 3600, number(),
      "seconds during which a feed is not requested at all"),
    S("RECIPROCITY_OFFLINE", False, offline,
      "never touch the network (also: environment `RECIPROCITY_OFFLINE=1`)"),
    S("RECIPROCITY_STRICT", False, flag, "make any feed failure stop the build (for CI)"),
    S("RECIPROCITY_USER_AGENT", None, user_agent, "sent with every request",
      shown="`pelican-reciprocity/<version> (+SITEURL)`"),
    S("RECIPROCITY_AUTO_COUNT", 3, number(integer=True),
      "automatic highlights per article (0 turns them off)"),
    S("RECIPROCITY_AUTO_PER_FRIEND", 1, number(integer=True, minimum=1),
      "at most this many automatic highlights from one friend"),
    S("RECIPROCITY_AUTO_MAX_AGE_DAYS", 365, number(), "skip older posts (0: no limit)"),
    S("RECIPROCITY_PREFER_SHARED_TAGS", False, flag,
      "put posts sharing a tag with the article first"),
    S("RECIPROCITY_SUMMARY_WORDS", 40, number(integer=True, minimum=1),
      "summary length, counted after sanitising"),
    S("RECIPROCITY_INJECT", True, flag, "insert the section into article pages automatically"),
    S("RECIPROCITY_DATE_FORMAT", None, optional_text,
      '`strftime` format for dates; `None`: the language\'s long form ("November 23, 2026", '
      '"23 novembre 2026", "23. November 2026")'),
    S("RECIPROCITY_FRIENDS_SAVE_AS", "friends/index.html", output_path,
      'friends page (`""` turns it off)'),
    S("RECIPROCITY_FRIENDS_URL", "friends/", text(), "its URL"),
    S("RECIPROCITY_FRIENDS_POSTS", 3, number(integer=True),
      "latest posts listed per friend on that page"),
    S("RECIPROCITY_OPML_SAVE_AS", "friends.opml", output_path, 'OPML blogroll (`""` turns it off)'),
    S("RECIPROCITY_HIGHLIGHTS_HEADING", None, optional_text, "section heading",
      shown="`None` (\"Posts I'm highlighting\", translated)"),
    S("RECIPROCITY_AUTO_HEADING", None, optional_text, "automatic-highlights sub-heading",
      shown='`None` ("From blogs I follow", translated)'),
    S("RECIPROCITY_FRIENDS_HEADING", None, optional_text, "friends page heading",
      shown='`None` ("Friends", translated)'),
    S("RECIPROCITY_STRINGS", {}, overrides,
      'replace any of the plugin\'s strings, e.g. `{"Thank you": "Cheers!"}` or per language '
      '`{"fr": {"Thank you": "Merci !"}}`'),
    S("RECIPROCITY_CSS", True, flag,
      "link the small default stylesheet from pages with a section (`False`: style it in your "
      "theme)"),
    S("RECIPROCITY_COMMENTS_PATH", "comments", comments_folder,
      'folder of comment files inside `PATH` (`""`: none)'),
    S("RECIPROCITY_RESPONSE_SOURCES", [], strings,
      "files or URLs of comment feeds, exports and webmention JSON"),
    S("RECIPROCITY_WEBMENTION_IO_DOMAIN", "", text(strip=True),
      "ask webmention.io for this domain's mentions (token in `WEBMENTION_IO_TOKEN`)"),
    S("RECIPROCITY_WEBMENTION_IO_API", "https://webmention.io/api/mentions.jf2",
      text(empty_ok=False), "the API address (tests point it elsewhere)"),
    S("RECIPROCITY_MODERATION_FILE", "reciprocity/moderation.toml", site_file,
      "held responses and your decisions, relative to the site root"),
    S("RECIPROCITY_LEDGER_FILE", "reciprocity/ledger.json", site_file,
      "the reciprocity ledger, relative to the site root"),
    S("RECIPROCITY_NOTIFY_INTERVAL", 1.0, number(),
      "seconds between two requests to one host from `notify`"),
    S("RECIPROCITY_ALLOW_PRIVATE_ADDRESSES", False, flag,
      "let redirects and `notify` reach loopback and private addresses (tests only)"),
    S("RECIPROCITY_BLOCK_WORDS", [], strings, "block responses containing any of these"),
    S("RECIPROCITY_BLOCK_DOMAINS", [], strings,
      "block responders from these hosts (and subdomains)"),
    S("RECIPROCITY_BLOCK_AUTHORS", [], strings, "block these names or URLs"),
    S("RECIPROCITY_APPROVE_DOMAINS", [], strings, "always trust responders from these hosts"),
    S("RECIPROCITY_APPROVE_AUTHORS", [], strings, "always trust these names or URLs"),
    S("RECIPROCITY_THANKS_SAVE_AS", "thanks/index.html", output_path,
      'the page of responders (`""` turns it off)'),
    S("RECIPROCITY_THANKS_URL", "thanks/", text(), "its URL"),
    S("RECIPROCITY_MENU", False, flag,
      "list the friends and thanks pages with the site's pages, so the theme's menu "
      "(`DISPLAY_PAGES_ON_MENU`) and sitemap plugins show them"),
    S("RECIPROCITY_THANKS_HEADING", None, optional_text, "heading of the thanks section",
      shown='`None` ("Thank you", translated)'),
    S("RECIPROCITY_RESPONDERS_HEADING", None, optional_text, "heading of the responders page",
      shown='`None` ("Everyone who responded", translated)'),
    S("RECIPROCITY_BLUESKY_API", "https://public.api.bsky.app", text(empty_ok=False, strip=True),
      "the Bluesky AppView asked for the threads of `Bluesky:` posts (no account needed)"),
    S("RECIPROCITY_SOCIAL_ARCHIVE", None, optional_site_folder,
      "a folder (relative to the site root) where each Mastodon and Bluesky thread is kept "
      "as JSON files to commit: used when its server fails or is gone, or offline with no cache",
      shown="`None` (off)"),
    S("RECIPROCITY_MASTODON_TOKEN_SERVER", "", text(strip=True),
      'a server whose API needs a token (GoToSocial), as `"https://gts.example"`; the token '
      "is read from the environment variable `MASTODON_TOKEN` and sent to that server only"),
    S("RECIPROCITY_MASTODON_ACCOUNT", "", text(strip=True),
      'your account (`"@me@instance"`): your public posts that link to an article announce it, '
      "no `Mastodon:` metadata needed"),
    S("RECIPROCITY_BLUESKY_ACCOUNT", "", text(strip=True),
      'your handle (`"me.example"`): your posts that link to an article announce it, '
      "no `Bluesky:` metadata needed"),
    S("RECIPROCITY_RESPONDER_FEEDS", False, flag,
      "find and read the feeds of people who responded (not friends), to show their latest post"),
    S("RECIPROCITY_RESPONDER_LATEST", "thanks_page", one_of("off", "thanks_page", "everywhere"),
      'where "latest post" is shown after a responder\'s name: `"off"`, `"thanks_page"` '
      'or `"everywhere"` (the thanks sections too)'),
    S("RECIPROCITY_RESPONDER_MAX", 50, number(integer=True, minimum=1),
      "responders whose feeds are read per build, most recent first"),
    S("RECIPROCITY_RESPONDER_MAX_AGE_DAYS", 365, number(),
      "a responder's latest post older than this is not shown (0: no limit)"),
    S("RECIPROCITY_AVATARS", False, flag,
      "show who liked and reposted as a row of small avatars, copied into the site at build "
      "time, so no reader's browser asks a social server (needs Pillow: "
      "`pelican-reciprocity[avatars]`)"),
)  # fmt: skip
del S

#: Every setting the plugin reads, with its default.
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}

#: Values taken from Pelican's own settings rather than from a RECIPROCITY_* name.
DERIVED: tuple[tuple[str, Any], ...] = (
    ("site_root", Path),
    ("siteurl", str),
    ("author", str),
    ("default_lang", str),
    ("timezone", str),
)

Config = record(
    type(
        "Config",
        (),
        {
            "__module__": __name__,
            # documented before it is made: a record without a docstring is
            # given its signature as one, and its __init__ compiled for it
            "__doc__": "Every RECIPROCITY_* setting, checked, plus what comes from Pelican's own.",
            "__annotations__": {**{s.field: Any for s in SETTINGS}, **dict(DERIVED)},
        },
    ),
    frozen=True,
)


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
    content = _resolved(Path(settings.get("PATH") or "."))
    cwd = _resolved(Path.cwd())
    if content == cwd or cwd in content.parents:
        return cwd
    return content.parent


def exclude_from_content(settings: dict[str, Any], folder: Path | None) -> bool:
    """Keep the comments folder out of Pelican's articles and pages (in
    the build's own settings); True if the site has one."""
    if folder is None or not folder.is_dir():
        return False
    relative = os.path.relpath(folder, settings.get("PATH") or ".")
    for key in ("ARTICLE_EXCLUDES", "PAGE_EXCLUDES"):
        excludes = list(settings.get(key) or [])
        if relative not in excludes:
            settings[key] = [*excludes, relative]
    return True


#: Paths already resolved by the :func:`configure` in progress in this
#: thread or task: its checks ask for the content folder, the output folder and the
#: working directory about twenty times, each a system call per component.
_RESOLVING: ContextVar[dict[Path, Path] | None] = ContextVar("_RESOLVING", default=None)


def _resolved(path: Path) -> Path:
    seen = _RESOLVING.get()
    if seen is None:
        return path.resolve()
    if path not in seen:
        seen[path] = path.resolve()
    return seen[path]


def configure(settings: Mapping[str, Any]) -> Any:
    """Check every ``RECIPROCITY_*`` setting once; raise ConfigError on a mistake."""
    token = _RESOLVING.set({})
    try:
        return _configure(settings)
    finally:
        _RESOLVING.reset(token)


def _configure(settings: Mapping[str, Any]) -> Any:
    unknown = sorted(k for k in settings if k.startswith(PREFIX) and k not in DEFAULTS)
    if unknown:
        known = ", ".join(sorted(DEFAULTS))
        raise ConfigError(f"unknown setting {unknown[0]} (check the spelling; known: {known})")
    done: dict[str, Any] = {}
    for setting in SETTINGS:
        value = settings.get(setting.name, setting.default)
        done[setting.field] = setting.check(setting.name, value, settings, done)
    return Config(
        **done,
        site_root=site_root_for(settings),
        siteurl=str(settings.get("SITEURL") or ""),
        author=str(settings.get("AUTHOR") or ""),
        default_lang=str(settings.get("DEFAULT_LANG") or "en"),
        timezone=str(settings.get("TIMEZONE") or "UTC"),
    )


def readme_table() -> str:
    """The README's settings table, from the declarations above."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    return "\n".join(lines + [s.row() for s in SETTINGS]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(readme_table())
