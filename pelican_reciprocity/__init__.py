"""pelican-reciprocity: highlight friends' posts and thank the people who respond."""

from __future__ import annotations

__version__ = "0.1.0"  # also the package version (pyproject reads it from here)


def register() -> None:
    """Pelican's entry point: connect the module-level signal receivers."""
    from . import plugin

    plugin.connect()
