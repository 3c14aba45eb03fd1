"""pelican-reciprocity: highlight friends' posts and thank the people who respond."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("pelican-reciprocity")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"


def register() -> None:
    """Pelican's entry point: connect the module-level signal receivers."""
    from . import plugin

    plugin.connect()
