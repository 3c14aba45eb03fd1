"""The example site builds offline with the README's command."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "example_site"


def test_example_site_builds_offline(tmp_path):
    site = tmp_path / "example_site"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("output", "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "pelican", "content"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "RECIPROCITY_OFFLINE": "1", "COLUMNS": "300"},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    # Pelican 4.8 itself warns that the default content/images is missing.
    warnings = [
        line
        for line in log.splitlines()
        if "WARNING" in line and "Watched path does not exist" not in line
    ]
    # the one spam comment in the example stays held, and the log says so
    assert len(warnings) == 1 and "1 response held for moderation" in warnings[0], log
    output = site / "output"
    articles = [p for p in output.glob("*.html") if p.name not in {
        "index.html", "archives.html", "authors.html", "categories.html", "tags.html"}]  # fmt: skip
    assert len(articles) >= 5
    for article in articles:
        html = article.read_text(encoding="utf-8")
        assert len(re.findall(r'<section class="reciprocity-highlights"', html)) == 1, article
    seed = (output / "seed-tin.html").read_text(encoding="utf-8")
    assert "Saving tomato seed without the mould" in seed
    friends = (output / "friends" / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<section class="reciprocity-friend[ "]', friends)) == 4
    thanks = seed[seed.index('<section class="reciprocity-thanks"') :]
    assert "Priya Raman" in thanks and "Follower Shop" not in seed
    assert "2 people liked this" in (output / "first-frost.html").read_text(encoding="utf-8")
    assert (output / "thanks" / "index.html").exists()
    # a Mastodon and a Bluesky thread, from the files in reciprocity/social/
    birds = (output / "winter-visitors.html").read_text(encoding="utf-8")
    birds = birds[birds.index('<section class="reciprocity-thanks"') :]
    for name in ("Wren Adeyemi", "Jo Bloggs", "Kit"):
        assert f">{name}</span>" in birds, name
    assert "3 people liked this, reposted 1 time" in birds
    assert "seed list" not in birds  # a direct message is never published
    assert 'href="https://wren.example/" rel="noopener"' in birds  # her blog: she is a friend
    planning = (output / "planning.html").read_text(encoding="utf-8")
    planning = planning[planning.index('<section class="reciprocity-thanks"') :]
    assert ">Priya Raman</span>" in planning and ">Lee Park</span>" in planning
    assert "3 people liked this, reposted 1 time" in planning
    pages = "".join(p.read_text(encoding="utf-8") for p in output.rglob("*.html"))
    assert not re.search(r"cdn\.bsky|files\.garden|<script|<iframe", pages)
    assert "alert(" not in "".join(p.read_text(encoding="utf-8") for p in output.rglob("*.html"))


def test_french_example_build_shows_french_strings(tmp_path):
    site = tmp_path / "example_site"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("output*", "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf_fr.py"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "RECIPROCITY_OFFLINE": "1", "COLUMNS": "300"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seed = (site / "output-fr" / "seed-tin.html").read_text(encoding="utf-8")
    assert "Les billets que je mets en avant" in seed
    text = html.unescape(re.sub(r"<[^>]+>", "", seed))  # the text a reader gets
    assert "Merci à Priya Raman ami, Jo Bloggs" in text
    assert " et un lecteur anonyme pour vos réponses." in text
    assert "novembre 2026" in seed
    frost = (site / "output-fr" / "first-frost.html").read_text(encoding="utf-8")
    assert "2 personnes ont aimé." in frost
    assert "Toutes les personnes qui ont répondu" in (
        site / "output-fr" / "thanks" / "index.html"
    ).read_text(encoding="utf-8")
