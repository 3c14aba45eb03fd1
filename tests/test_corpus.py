"""Real-world feeds from ../shared/corpus/feeds, read in place (never copied).

Skipped when the corpus is absent; failed instead when
RECIPROCITY_CORPUS_REQUIRED=1, as CI sets it.
"""

from __future__ import annotations

import csv
import html
import re

import pytest
from conftest import corpus_dir
from helpers import build, make_site
from test_units import DANGER, page_is_safe

from pelican_reciprocity.friends import load_friends
from pelican_reciprocity.refresh import refresh
from pelican_reciprocity.settings import configure


def manifest():
    folder = corpus_dir("feeds")
    with (folder / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return folder, rows


def feed_rows():
    folder, rows = manifest()
    return folder, [r for r in rows if r["format"] != "opml" and int(r["item_count"] or 0) > 0]


def friends_for(folder, rows):
    return [
        {
            "name": r["filename"],
            "url": f"https://corpus{i}.example/",
            "feed": str(folder / r["filename"]),
        }
        for i, r in enumerate(rows)
    ]


def test_every_corpus_feed_yields_good_posts(tmp_path):
    folder, rows = feed_rows()
    assert len(rows) >= 25
    config = configure({"PATH": str(tmp_path), "RECIPROCITY_CACHE_PATH": str(tmp_path / "c")})
    friends = load_friends(friends_for(folder, rows), tmp_path)
    assert friends.problems == ()
    report = refresh(friends.friends, config)
    for state in report.feeds:
        assert state.outcome == "updated", (state.friend.name, state.error)
        good = [
            p
            for p in state.posts
            if p.title.strip()
            and re.match(r"https?://[^/]+", p.url)
            and p.date is not None
            and p.date.tzinfo is not None
        ]
        assert good, state.friend.name
        for post in state.posts:
            assert not DANGER.search(post.summary_html), state.friend.name


def test_corpus_feeds_show_on_the_friends_page(tmp_path, monkeypatch):
    folder, rows = feed_rows()
    site = make_site(
        tmp_path,
        friends=friends_for(folder, rows),
        articles=[{"title": "Hello", "slug": "hello"}],
        settings={"RECIPROCITY_FRIENDS_POSTS": 2, "RECIPROCITY_AUTO_MAX_AGE_DAYS": 0},
    )
    build(site, monkeypatch)
    friends_page = (site / "output" / "friends" / "index.html").read_text(encoding="utf-8")
    sections = re.split(r'<section class="reciprocity-friend[ "]', friends_page)[1:]
    assert len(sections) == len(rows)
    for row, section in zip(rows, sections, strict=True):
        assert html.escape(row["filename"]) in section
        assert 'class="reciprocity-post' in section, f"no posts shown for {row['filename']}"
    for path in (site / "output").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert page_is_safe(text), path


@pytest.mark.parametrize(
    "name,minimum",
    [("opml_netnewswire_subs.opml", 150), ("opml_malformed_plenary_programming.opml", 40)],
)
def test_real_opml_exports_load(name, minimum, tmp_path):
    folder, _ = manifest()
    result = load_friends(str(folder / name), tmp_path)
    assert len(result.friends) >= minimum


#: Where the two parsers disagree on purpose, and why the fast path is right.
KNOWN_DIFFERENCES = {
    "wordpress_onefoottsunami.atom.xml": (
        "entries with an empty alternate href: feedparser resolves it to the feed's own "
        "URL and the posts collapse as duplicates; the fast path uses each entry's id"
    ),
}


def test_fast_path_agrees_with_feedparser(tmp_path):
    """The ElementTree fast path must read real feeds as feedparser does."""
    from datetime import UTC, datetime

    from pelican_reciprocity.feeds import parse_feed

    folder, rows = feed_rows()
    now = datetime(2026, 11, 1, tzinfo=UTC)
    compared = fast_ran = 0
    for row in rows:
        if row["filename"] in KNOWN_DIFFERENCES or row["format"] == "jsonfeed":
            continue
        body = (folder / row["filename"]).read_bytes()
        fast = parse_feed(body, base="https://friend.example/", now=now)
        slow = parse_feed(body, base="https://friend.example/", now=now, fast=False)
        assert slow.parser == "feedparser", row["filename"]
        fast_ran += fast.parser == "etree"
        assert fast.title == slow.title, row["filename"]
        assert [p.url for p in fast.posts] == [p.url for p in slow.posts], row["filename"]
        for a, b in zip(fast.posts, slow.posts, strict=True):
            assert (a.title, a.date, a.tags, a.image) == (b.title, b.date, b.tags, b.image)
            assert a.summary_text.split() == b.summary_text.split(), row["filename"]
        compared += 1
    assert compared >= 20
    # Comparing feedparser with itself would prove nothing: the fast path must
    # have read most of these feeds itself (malformed ones fall back, rightly).
    assert fast_ran >= 20, (fast_ran, compared)


def _whole(body):
    """The tree the XML parser gives for the whole body, sections and all."""
    from pelican_reciprocity import feeds

    cut, feeds._long_cdata_cut = feeds._long_cdata_cut, lambda body: None
    try:
        return feeds._xml_root(body)
    finally:
        feeds._long_cdata_cut = cut


def test_long_cdata_taken_out_and_put_back_gives_the_parsers_tree():
    """Every real feed and response file whose long CDATA sections are read
    beside the XML parser gives the very tree the parser gives."""
    import xml.etree.ElementTree as ET

    from pelican_reciprocity.feeds import _long_cdata_cut, _xml_root

    cut = 0
    for folder in (corpus_dir("feeds"), corpus_dir("responses")):
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            body = path.read_bytes()
            mine, whole = _xml_root(body), _whole(body)
            assert (mine is None) == (whole is None), path.name
            if whole is not None:
                assert ET.tostring(mine) == ET.tostring(whole), path.name
            cut += _long_cdata_cut(body) is not None
    assert cut >= 10  # WordPress, Ghost, Substack, Medium and podcast feeds
