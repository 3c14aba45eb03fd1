"""Small fixtures written for these tests: feeds, sites and builds."""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from pelican import Pelican
from pelican.settings import read_settings

NOW = datetime.now(UTC).replace(microsecond=0)


def rss(title: str, items: list[dict[str, Any]], link: str = "https://friend.example/") -> str:
    """An RSS 2.0 feed. Item keys: title, link, date (datetime), description."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>test feed</description>",
    ]
    for item in items:
        out.append("<item>")
        if "title" in item:
            out.append(f"<title>{escape(item['title'])}</title>")
        if "link" in item:
            out.append(f"<link>{escape(item['link'])}</link>")
        if "guid" in item:
            out.append(f"<guid>{escape(item['guid'])}</guid>")
        if item.get("date"):
            out.append(f"<pubDate>{item['date'].strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>")
        for tag in item.get("tags", []):
            out.append(f"<category>{escape(tag)}</category>")
        if "description" in item:
            out.append(f"<description>{escape(item['description'])}</description>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out)


def posts(slug: str, n: int = 3, *, host: str = "friend.example", days: int = 1) -> list[dict]:
    return [
        {
            "title": f"{slug} post {i}",
            "link": f"https://{host}/{slug}/{i}/",
            "date": NOW - timedelta(days=days * (i + 1)),
            "description": f"<p>Summary of {slug} post {i}.</p>",
        }
        for i in range(n)
    ]


ARTICLE = """\
Title: {title}
Date: {date}
Tags: {tags}
Slug: {slug}
{extra}
Body of {title}. {body}
"""


def make_site(
    root: Path,
    *,
    friends: list[dict[str, Any]] | str | None = None,
    articles: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    theme: str | None = None,
) -> Path:
    """Write a Pelican site; friends go to friends.toml when given as dicts."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    for i, art in enumerate(articles or [{"title": "Hello"}]):
        extra = "\n".join(f"{k}: {v}" for k, v in art.get("meta", {}).items())
        (content / f"a{i}.md").write_text(
            ARTICLE.format(
                title=art["title"],
                date=art.get("date", f"2026-01-{i + 1:02d} 10:00"),
                tags=art.get("tags", "misc"),
                slug=art.get("slug", f"article-{i}"),
                extra=extra,
                body=art.get("body", ""),
            ),
            encoding="utf-8",
        )
    conf = {
        "SITENAME": "Test site",
        "AUTHOR": "Tester",
        "SITEURL": "",
        "PATH": "content",
        "OUTPUT_PATH": "output",
        "CACHE_PATH": "cache",
        "TIMEZONE": "UTC",
        "PLUGINS": ["pelican_reciprocity"],
        "FEED_ALL_ATOM": "feeds/all.atom.xml",
        "DEFAULT_PAGINATION": False,
        "RECIPROCITY_CACHE_TTL": 3600,
    }
    if theme:
        conf["THEME"] = theme
    conf.update(settings or {})
    if isinstance(friends, list):
        (root / "friends.toml").write_text(toml_friends(friends), encoding="utf-8")
        conf.setdefault("RECIPROCITY_FRIENDS", "friends.toml")
    elif isinstance(friends, str):
        (root / "friends.toml").write_text(friends, encoding="utf-8")
        conf.setdefault("RECIPROCITY_FRIENDS", "friends.toml")
    lines = [f"{k} = {v!r}" for k, v in conf.items()]
    (root / "pelicanconf.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def toml_friends(friends: list[dict[str, Any]]) -> str:
    import tomlkit

    doc = tomlkit.document()
    table = tomlkit.aot()
    for friend in friends:
        table.append(tomlkit.item(friend))
    doc["friends"] = table
    return tomlkit.dumps(doc)


def build(root: Path, monkeypatch: Any, **override: Any) -> Path:
    """Build the site in-process, from its own folder, as `pelican content` does."""
    monkeypatch.chdir(root)
    settings = read_settings(str(root / "pelicanconf.py"), override=override or None)
    Pelican(settings).run()
    return root / "output"


def page(root: Path, name: str) -> str:
    return (root / "output" / name).read_text(encoding="utf-8")


def reciprocity_records(caplog: Any, level: int = logging.INFO) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("reciprocity:") and r.levelno >= level
    ]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
