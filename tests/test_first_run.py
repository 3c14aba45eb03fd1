"""A first run on a real blog: never silently empty."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from helpers import build, make_site, page, reciprocity_records, rss

OLD = [
    {
        "title": f"Old post {i}",
        "link": f"https://old.example/{i}/",
        "date": datetime(2019, 3, 1 + i, tzinfo=UTC),
    }
    for i in range(3)
]


def test_friends_who_posted_years_ago_are_named_not_silently_dropped(
    tmp_path, monkeypatch, caplog, capsys
):
    feed = tmp_path / "old.xml"
    feed.write_text(rss("Old blog", OLD, link="https://old.example/"), encoding="utf-8")
    site = make_site(
        tmp_path / "site",
        friends=[{"name": "Old Friend", "feed": feed.as_uri()}],
        articles=[{"title": "Hello", "slug": "hello"}],
    )
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    assert 'class="reciprocity-highlights"' not in page(site, "hello.html")
    warnings = reciprocity_records(caplog, logging.WARNING)
    assert any(
        "no article shows automatic highlights" in w and "RECIPROCITY_AUTO_MAX_AGE_DAYS (365)" in w
        for w in warnings
    ), warnings
    assert "Old post 0" in page(site, "friends/index.html")  # still on the friends page

    from pelican_reciprocity.cli import main

    monkeypatch.chdir(site)
    capsys.readouterr()  # what the build printed
    assert main(["-s", "pelicanconf.py", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "no posts for 6 months"
    assert "older than RECIPROCITY_AUTO_MAX_AGE_DAYS (365)" in row["detail"]
    assert "appears on articles" in row["detail"]
    assert main(["-s", "pelicanconf.py", "report"]) == 0
    assert "Nobody is owed a response." in capsys.readouterr().out


def test_no_warning_when_a_friend_posted_recently(tmp_path, monkeypatch, caplog):
    from helpers import posts

    feed = tmp_path / "new.xml"
    feed.write_text(rss("New blog", posts("n"), link="https://friend.example/"), encoding="utf-8")
    site = make_site(tmp_path / "site", friends=[{"name": "N", "feed": feed.as_uri()}])
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    assert not any("no article shows" in w for w in reciprocity_records(caplog, logging.WARNING))


WRAPPED_PAGE = """{% extends "base.html" %}
{% block title %}{{ page.title|striptags }} | {{ SITENAME }}{% endblock %}
{% block content %}
<section id="content" class="content"><h1 class="wrapped-title">{{ page.title }}</h1>
{{ page.content }}
</section>
{% endblock %}
"""


def _pages_site(tmp_path, **settings):
    from helpers import posts

    feed = tmp_path / "f.xml"
    feed.write_text(rss("F", posts("f"), link="https://friend.example/"), encoding="utf-8")
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "page.html").write_text(WRAPPED_PAGE, encoding="utf-8")
    site = make_site(
        tmp_path / "site",
        friends=[{"name": "F", "feed": feed.as_uri()}],
        articles=[
            {"title": "Hello", "slug": "hello", "meta": {"Thanks": "Lena <https://lena.example/>"}}
        ],
        settings={"THEME_TEMPLATES_OVERRIDES": [str(overrides)], **settings},
    )
    return site


def test_friends_and_thanks_pages_are_pages_of_the_theme(tmp_path, monkeypatch):
    """A theme whose page.html adds the content wrapper wraps the plugin's pages too."""
    site = _pages_site(tmp_path)
    build(site, monkeypatch)
    for name, title, section in (
        ("friends/index.html", "Friends", "reciprocity-friends"),
        ("thanks/index.html", "Everyone who responded", "reciprocity-responders"),
    ):
        html = page(site, name)
        wrapper = html.index('<section id="content" class="content">')
        assert html.index(f'class="{section}"') > wrapper
        assert f'<h1 class="wrapped-title">{title}</h1>' in html
        assert f"<title>{title} | Test site</title>" in html
    assert "f post 0" in page(site, "friends/index.html")
    assert "Lena" in page(site, "thanks/index.html")
    assert 'href="/friends/"' not in page(site, "hello.html")  # not in the menu unless asked


def test_the_menu_lists_the_plugin_pages_when_asked(tmp_path, monkeypatch):
    site = _pages_site(tmp_path, RECIPROCITY_MENU=True, DISPLAY_PAGES_ON_MENU=True)
    build(site, monkeypatch)
    article = page(site, "hello.html")
    assert 'href="/friends/"' in article and 'href="/thanks/"' in article
    html = page(site, "friends/index.html")
    assert html.count('class="reciprocity-friends"') == 1
    assert html.index('class="reciprocity-friends"') > html.index('<section id="content"')
