"""The `pelican-reciprocity` command, driven as a user would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import corpus_dir
from helpers import posts, rss

COMMAND = shutil.which("pelican-reciprocity") or ""

FRIENDS = """\
# My friends. This comment must survive every edit.

[[friends]]
name = "Anne"   # the first one
feed = "{anne}"
"""


def run(site: Path, *args: str) -> subprocess.CompletedProcess:
    command = [COMMAND] if COMMAND else [sys.executable, "-m", "pelican_reciprocity"]
    return subprocess.run(
        [*command, *args],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def site(tmp_path, feed_server):
    anne = feed_server.add("anne", rss("Anne's Blog", posts("anne", host="anne.example")))
    (tmp_path / "content").mkdir()
    (tmp_path / "pelicanconf.py").write_text(
        "SITENAME = 'Test'\nPATH = 'content'\nPLUGINS = ['pelican_reciprocity']\n"
        "RECIPROCITY_FRIENDS = 'friends.toml'\n",
        encoding="utf-8",
    )
    (tmp_path / "friends.toml").write_text(FRIENDS.format(anne=anne), encoding="utf-8")
    return tmp_path


def friends(site: Path) -> list[dict]:
    return tomllib.loads((site / "friends.toml").read_text(encoding="utf-8"))["friends"]


def test_console_script_is_declared_by_the_package():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("pelican-reciprocity") == "pelican_reciprocity.cli:main"


def test_cli_module_runs_with_python_m():
    done = subprocess.run(
        [sys.executable, "-m", "pelican_reciprocity.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "import-opml" in done.stdout


def test_add_a_home_page_finds_its_feed_and_keeps_comments(site, feed_server):
    feed_server.add(
        "ben", rss("Ben Writes", posts("ben", host="ben.example"), link="https://ben.example/")
    )
    result = run(site, "add", feed_server.url("/home/ben/"), "--tag", "writing")
    assert result.returncode == 0, result.stderr
    text = (site / "friends.toml").read_text(encoding="utf-8")
    assert "# My friends. This comment must survive every edit." in text
    assert "# the first one" in text
    ben = friends(site)[-1]
    assert ben == {
        "name": "Ben Writes",
        "url": "https://ben.example/",
        "feed": feed_server.url("/feed/ben"),
        "tags": ["writing"],
    }
    again = run(site, "add", feed_server.url("/feed/ben"))
    assert again.returncode == 2 and "not added: Ben Writes already has the feed" in again.stderr
    assert len(friends(site)) == 2


def test_add_tries_the_usual_feed_paths(site, feed_server):
    feed_server.add("bare", rss("Bare Site", posts("bare", host="bare.example")))
    result = run(site, "add", feed_server.url("/bare/"), "--name", "Bare")
    assert result.returncode == 0, result.stderr
    assert friends(site)[-1]["feed"] == feed_server.url("/atom.xml")


def test_add_something_that_is_not_a_feed_says_what_it_found(site, feed_server):
    result = run(site, "add", feed_server.url("/html"))
    assert result.returncode == 1
    assert "is an HTML page that advertises no feed" in result.stderr
    assert "Traceback" not in result.stderr


def test_remove_and_list(site, feed_server):
    assert run(site, "fetch").returncode == 0
    listing = json.loads(run(site, "list", "--json").stdout)
    assert listing[0]["name"] == "Anne" and listing[0]["status"] == "ok"
    assert listing[0]["latest"]["title"] == "anne post 0"
    assert run(site, "remove", "anne").returncode == 0
    assert friends(site) == []
    missing = run(site, "remove", "Nobody")
    assert missing.returncode == 2 and "no friend named" in missing.stderr


def test_check_strict_names_the_friend_whose_feed_is_404(site, feed_server):
    with (site / "friends.toml").open("a", encoding="utf-8") as handle:
        handle.write(f'\n[[friends]]\nname = "Gone"\nfeed = "{feed_server.url("/status/404")}"\n')
    result = run(site, "check", "--strict")
    assert result.returncode == 1
    assert "Gone: failed: HTTP 404" in result.stderr
    assert run(site, "check").returncode == 0  # not strict: reported, not fatal
    data = json.loads(run(site, "check", "--json").stdout)
    assert {r["name"]: r["status"] for r in data} == {"Anne": "ok", "Gone": "failed"}


def test_check_fix_redirects_rewrites_moved_feeds(site, feed_server):
    feed_server.add("new", rss("New", posts("new", host="new.example")))
    with (site / "friends.toml").open("a", encoding="utf-8") as handle:
        handle.write(f'\n[[friends]]\nname = "Mover"\nfeed = "{feed_server.url("/moved/new")}"\n')
    result = run(site, "check", "--fix-redirects")
    assert result.returncode == 0, result.stderr
    assert friends(site)[-1]["feed"] == feed_server.url("/feed/new")
    assert "# the first one" in (site / "friends.toml").read_text(encoding="utf-8")


def test_import_and_export_opml_of_a_real_malformed_blogroll(site):
    blogroll = corpus_dir("feeds") / "opml_malformed_plenary_programming.opml"
    result = run(site, "import-opml", str(blogroll))
    assert result.returncode == 0, result.stderr
    assert len(friends(site)) >= 41  # Anne plus at least 40 from the export
    again = run(site, "import-opml", str(blogroll))
    assert "imported 0 friend(s)" in again.stdout and "duplicate" in again.stdout
    exported = run(site, "export-opml")
    assert exported.returncode == 0
    for friend in friends(site):
        assert friend["feed"].replace("&", "&amp;") in exported.stdout


def test_user_mistakes_are_one_line(site, tmp_path):
    (site / "friends.toml").write_text('[[friends]]\nname = "Unclosed\n', encoding="utf-8")
    broken = run(site, "list")
    assert broken.returncode == 2
    assert "friends.toml: TOML syntax error" in broken.stderr and "line 2" in broken.stderr
    assert "Traceback" not in broken.stderr
    missing = run(site, "-s", "nope.py", "list")
    assert missing.returncode == 2 and "settings file nope.py not found" in missing.stderr
    usage = run(site, "frobnicate")
    assert usage.returncode == 2


def test_commands_leave_pelicans_advice_on_building_to_the_build(site):
    # Pelican warns at every reading of settings without SITEURL that their
    # feeds may not be valid: a build says so, and a command need not.
    listed = run(site, "list")
    assert listed.returncode == 0, listed.stderr
    assert "Anne" in listed.stdout
    assert "SITEURL" not in listed.stderr


def atom(title, author, link, n=2):
    entries = "".join(
        f"<entry><title>{title} {i}</title><link href='{link}{i}/'/><id>{link}{i}/</id>"
        f"<updated>2026-11-0{i + 1}T10:00:00Z</updated></entry>"
        for i in range(n)
    )
    who = f"<author><name>{author}</name></author>" if author else ""
    return (
        f"<feed xmlns='http://www.w3.org/2005/Atom'><title>{title}</title>"
        f"<link href='{link}'/>{who}{entries}</feed>"
    )


def test_add_refuses_a_second_feed_for_a_listed_site_unless_forced(site, feed_server):
    rss_url = feed_server.put(
        "/lena/feed.xml", rss("Lena's notes", posts("l"), link="https://lena.example/"),
        "application/rss+xml",
    )  # fmt: skip
    atom_url = feed_server.put(
        "/lena/atom.xml", atom("Lena's notes", "Lena Okafor", "https://lena.example/"),
        "application/atom+xml",
    )  # fmt: skip
    first = run(site, "add", rss_url)
    assert first.returncode == 0, first.stderr
    again = run(site, "add", atom_url)
    assert again.returncode == 2
    assert "is already listed for that site (https://lena.example/)" in again.stderr
    assert f"with the feed {rss_url}" in again.stderr and "--force" in again.stderr
    assert len(friends(site)) == 2
    forced = run(site, "add", atom_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert friends(site)[-1]["name"] == "Lena Okafor"  # the feed's author, not its title
    text = (site / "friends.toml").read_text(encoding="utf-8")
    assert text.count("\n\n[[friends]]") == 3  # a blank line before every block


def test_add_finds_the_feed_of_a_blog_in_a_subfolder(site, feed_server):
    feed_server.put("/cmsj2/", "<!DOCTYPE html><html><head><title>x</title></head></html>")
    feed_server.put(
        "/cmsj2/atom.xml", atom("CMSJ", "", "https://h.example/cmsj2/"), "application/atom+xml"
    )
    result = run(site, "add", feed_server.url("/cmsj2/"))
    assert result.returncode == 0, result.stderr
    added = friends(site)[-1]
    assert added["feed"] == feed_server.url("/cmsj2/atom.xml") and added["name"] == "CMSJ"


def test_add_tells_a_failing_advertised_feed_from_no_feed(site, feed_server):
    feed_server.put(
        "/dead/",
        '<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
        'href="/dead/feed.xml"></head></html>',
    )
    result = run(site, "add", feed_server.url("/dead/"))
    assert result.returncode == 1
    assert "advertises 1 feed(s), but none could be read" in result.stderr
    assert "/dead/feed.xml (HTTP 404" in result.stderr
    assert "advertises no feed" not in result.stderr
