"""The sections as a reader sees them: real Chromium, three themes, axe-core.

Needs Debian's chromium and the playwright package (test extras); skipped
with a reason without them, and failed instead when
RECIPROCITY_BROWSER_REQUIRED=1 (as .ci/run sets).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import screenshots  # noqa: E402

AXE = Path(
    os.environ.get(
        "RECIPROCITY_AXE", ROOT / ".ci" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
    )
)
THEMES = ("notmyidea", "simple", "reflex")
SECTIONS = (".reciprocity-highlights", ".reciprocity-thanks")


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("RECIPROCITY_BROWSER_REQUIRED") == "1":
            pytest.fail(f"{reason}, and RECIPROCITY_BROWSER_REQUIRED=1")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    _need(Path(screenshots.CHROMIUM).exists(), f"no Chromium at {screenshots.CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = screenshots.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return {
        theme: screenshots.build_example(theme, tmp_path_factory.mktemp(theme) / "site")
        for theme in THEMES
    }


@pytest.mark.parametrize("theme", THEMES)
def test_sections_are_visible_and_fit_a_phone(theme, browser, built, tmp_path):
    page = browser.new_page(viewport={"width": 360, "height": 780})
    screenshots.stub_friends(page)
    page.goto((built[theme] / "first-frost.html").as_uri())
    for selector in SECTIONS:
        section = page.locator(selector)
        assert section.count() == 1, selector
        assert section.is_visible(), selector
        box = section.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, selector
        display = section.evaluate("e => getComputedStyle(e).display")
        assert display != "none"
        overflow = section.evaluate(
            "e => ({right: e.getBoundingClientRect().right, scroll: e.scrollWidth,"
            " client: e.clientWidth, viewport: document.documentElement.clientWidth})"
        )
        assert overflow["scroll"] <= overflow["client"] + 1, (selector, overflow)
        assert overflow["right"] <= overflow["viewport"] + 1, (selector, overflow)
    page.screenshot(path=str(tmp_path / f"first-frost-{theme}-360.png"), full_page=True)
    first = page.locator(".reciprocity-highlights a.reciprocity-post").first
    href = first.get_attribute("href")
    assert href == "https://tomas.example/posts/green-tomato-chutney.html"
    with page.expect_navigation():
        first.click()
    assert page.url == href
    page.close()


def test_the_stylesheet_leaves_colours_to_the_theme():
    """Colour contrast is the theme's: our CSS sets no colour of its own (so
    axe's colour-contrast rule, which notmyidea's red links on beige fail on
    its own pages too, is not the plugin's to pass)."""
    css = (ROOT / "pelican_reciprocity" / "static" / "reciprocity.css").read_text()
    for declaration in re.findall(r"(?<![-\w])(color|background(?:-color)?)\s*:\s*([^;}]+)", css):
        assert declaration[1].strip() in ("inherit", "currentColor"), declaration


@pytest.mark.parametrize("theme", THEMES)
def test_no_serious_accessibility_violations_in_the_sections(theme, browser, built):
    _need(AXE.exists(), f"axe-core not found at {AXE} (npm install --prefix .ci/axe axe-core)")
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    found = []
    for name in ("first-frost.html", "friends/index.html", "thanks/index.html"):
        page.goto((built[theme] / name).as_uri())
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            """async () => await axe.run(
                {include: [['.reciprocity-highlights'], ['.reciprocity-thanks'],
                           ['.reciprocity-friends'], ['.reciprocity-responders']]},
                {resultTypes: ['violations'], rules: {'color-contrast': {enabled: false}}})"""
        )
        for violation in result["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]]
                found.append((name, violation["id"], violation["help"], targets[:3]))
    page.close()
    assert found == []
