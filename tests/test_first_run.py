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


def test_no_warning_when_a_friend_posted_recently(tmp_path, monkeypatch, caplog):
    from helpers import posts

    feed = tmp_path / "new.xml"
    feed.write_text(rss("New blog", posts("n"), link="https://friend.example/"), encoding="utf-8")
    site = make_site(tmp_path / "site", friends=[{"name": "N", "feed": feed.as_uri()}])
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    assert not any("no article shows" in w for w in reciprocity_records(caplog, logging.WARNING))
