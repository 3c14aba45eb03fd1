"""The site a command works on: its settings, friends file and friends.

Commands read the same settings file as the build (``-s``), so they use the
same friends file, cache and ledger.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .cache import FeedCache
from .friends import friend_site, load_friends
from .model import Friend, record
from .settings import Config, ConfigError, configure


@record
class Site:
    """A site's settings, read once for the commands that work on it."""

    config: Config
    settings: dict[str, Any]
    root: Path

    @property
    def friends_file(self) -> Path:
        spec = self.config.friends
        if not isinstance(spec, str):
            raise ConfigError(
                "RECIPROCITY_FRIENDS is an inline list in the settings; this command "
                "edits a friends.toml file (point RECIPROCITY_FRIENDS at one)"
            )
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else self.root / path
        if path.suffix.lower() in (".opml", ".xml"):
            raise ConfigError(
                f"RECIPROCITY_FRIENDS is the OPML file {path}; import it into a TOML "
                "friends file with `pelican-reciprocity import-opml` and point the setting there"
            )
        return path

    def friends(self) -> list[Friend]:
        try:
            return list(load_friends(self.config.friends, self.root).friends)
        except ConfigError as exc:
            if "does not exist" in str(exc):
                return []
            raise

    def sites(self, friends: list[Friend]) -> list[tuple[Friend, str, Any]]:
        """Each friend, their site (as the build knows it) and their cache entry."""
        cache = FeedCache(self.config.cache_path)
        out = []
        for friend in friends:
            entry = cache.load(friend.feed)
            out.append((friend, friend_site(friend, entry.link if entry else None), entry))
        return out


def load_site(settings_path: str) -> Site:
    path = Path(settings_path)
    if not path.is_file():
        raise ConfigError(f"settings file {path} not found (use -s to name your pelicanconf.py)")
    from pelican.settings import read_settings

    os.chdir(path.resolve().parent)
    # Pelican's advice on the settings is about building ("Feeds generated
    # without SITEURL..."): the build gives it, and a command that adds a
    # friend or lists the ledger would only open with it every time.
    advice = logging.getLogger("pelican.settings")
    level = advice.level
    advice.setLevel(logging.ERROR)
    try:
        settings = read_settings(str(path.resolve()))
    except Exception as exc:  # a broken pelicanconf.py is the user's to fix
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    finally:
        advice.setLevel(level)
    config = configure(settings)
    return Site(config=config, settings=settings, root=config.site_root)
