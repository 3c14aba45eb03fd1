"""Build the example site on several themes and photograph the plugin's sections.

    python docs/screenshots.py          # writes docs/*.png (needs Chromium and playwright)

The browser tests use the same helpers, so what the README shows is what is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_site"
CHROMIUM = os.environ.get("RECIPROCITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def theme_path(theme: str) -> str | None:
    if theme == "notmyidea":
        return None  # Pelican's default
    if theme == "simple":
        return "simple"
    if theme == "reflex":
        from pelican.themes import reflex

        return reflex.path()
    raise ValueError(theme)


def build_example(theme: str, dest: Path, *, settings: str = "pelicanconf.py") -> Path:
    """Copy the example site to ``dest``, build it offline on ``theme``; return the output."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("output*", "cache"))
    overrides = dest / "themeconf.py"
    lines = [
        "import os, sys",
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))",
        f"from {Path(settings).stem} import *  # noqa: F403",
        "CC_LICENSE = None  # reflex looks this up",
    ]
    path = theme_path(theme)
    if path:
        lines.append(f"THEME = {path!r}")
    overrides.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pelican", "content", "-s", "themeconf.py"],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "RECIPROCITY_OFFLINE": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"example build on {theme} failed:\n{proc.stdout}\n{proc.stderr}")
    output = dest / ("output-fr" if "fr" in settings else "output")
    return output


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def stub_friends(page) -> None:
    """The example's friends live at *.example: answer for them, offline."""

    def fulfil(route):
        url = route.request.url
        body = f"<!DOCTYPE html><html lang=en><title>Friend's post</title><h1>{url}</h1></html>"
        route.fulfill(status=200, content_type="text/html", body=body)

    page.route("https://*.example/**", fulfil)


def shoot(page, selector: str, path: Path) -> None:
    page.locator(selector).first.screenshot(path=str(path))


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs"
    with tempfile.TemporaryDirectory() as work, sync_playwright() as playwright:
        browser = launch(playwright)
        for theme in ("notmyidea", "simple", "reflex"):
            output = build_example(theme, Path(work) / theme)
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.goto((output / "first-frost.html").as_uri())
            shoot(page, ".reciprocity-thanks", out / f"thanks-{theme}.png")
            shoot(page, ".reciprocity-highlights", out / f"highlights-{theme}.png")
            page.goto((output / "friends" / "index.html").as_uri())
            shoot(page, ".reciprocity-friends", out / f"friends-{theme}.png")
            page.close()
        browser.close()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()
