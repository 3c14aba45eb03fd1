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


def build_responders(dest: Path) -> Path:
    """A site whose commenters have blogs (served on loopback), built with
    RECIPROCITY_RESPONDER_FEEDS on; returns the output folder."""
    sys.path.insert(0, str(ROOT / "tests"))
    from feedserver import FeedServer
    from helpers import make_site
    from pelican import Pelican
    from pelican.settings import read_settings
    from test_return_visit import ARTICLE, seed_thread, write_comments

    server = FeedServer().start()
    here = os.getcwd()
    try:
        _sites, thread = seed_thread(server, None, titles=TITLES)
        site = make_site(
            dest,
            friends=None,
            articles=[ARTICLE],
            settings={
                "RECIPROCITY_RESPONDER_FEEDS": True,
                "RECIPROCITY_ALLOW_PRIVATE_ADDRESSES": True,  # the blogs are on loopback
            },
        )
        write_comments(site, thread[:8])
        os.chdir(site)
        Pelican(read_settings(str(site / "pelicanconf.py"))).run()
        return site / "output"
    finally:
        os.chdir(here)
        server.close()


def build_facepile(dest: Path) -> Path:
    """The example site with RECIPROCITY_AVATARS on: the Bluesky thread's
    people have pictures on a loopback server (one has none, for initials)."""
    import io
    import json

    from PIL import Image, ImageDraw

    sys.path.insert(0, str(ROOT / "tests"))
    from feedserver import FeedServer

    server = FeedServer().start()
    try:
        shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("output*", "cache"))
        colours = {"Tomás Ortega": ("#2f6b4f", "#cfe8d8"), "Lee Park": ("#7a4b8c", "#ead7f2")}
        for path in (dest / "reciprocity" / "social").rglob("*.json"):
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
            for name, (back, face) in colours.items():
                picture = Image.new("RGB", (200, 200), back)
                draw = ImageDraw.Draw(picture)
                draw.ellipse((60, 35, 140, 115), fill=face)
                draw.ellipse((25, 120, 175, 260), fill=face)
                out = io.BytesIO()
                picture.save(out, format="PNG")
                url = server.put(f"/avatar/{len(name)}.png", out.getvalue(), "image/png")
                _set_avatar(data, name, url)
            _set_avatar(data, "Sol", "")
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        conf = dest / "pelicanconf.py"
        conf.write_text(
            conf.read_text(encoding="utf-8")
            + "RECIPROCITY_AVATARS = True\n"
            + "RECIPROCITY_ALLOW_PRIVATE_ADDRESSES = True  # the pictures are on loopback\n"
            + f"RECIPROCITY_BLUESKY_API = {server.base!r}\n",
            encoding="utf-8",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "pelican", "content"],
            cwd=dest, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"facepile build failed:\n{proc.stdout}\n{proc.stderr}")
        return dest / "output"
    finally:
        server.close()


def _set_avatar(data: object, name: str, url: str) -> None:
    """Give everyone called ``name`` in an API answer this avatar."""
    if isinstance(data, dict):
        if data.get("displayName") == name:
            data["avatar"] = url
        for value in data.values():
            _set_avatar(value, name, url)
    elif isinstance(data, list):
        for value in data:
            _set_avatar(value, name, url)


#: What the responders' blogs have just published, for the picture.
TITLES = {
    "lena": "Why Twitter is like a telephone",
    "priya": "Seed swaps, one year on",
    "tom": "Mould, and what I learned from it",
    "rue": "How long do seeds keep?",
}


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
        output = build_responders(Path(work) / "responders")
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto((output / "thanks" / "index.html").as_uri())
        shoot(page, ".reciprocity-responders", out / "responders-latest.png")
        page.close()
        output = build_facepile(Path(work) / "facepile")
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto((output / "planning.html").as_uri())
        shoot(page, ".reciprocity-thanks", out / "thanks-facepile.png")
        page.close()
        browser.close()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()
