"""Reading the friends list: TOML, OPML and inline, with clear messages."""

from __future__ import annotations

import os

import pytest
from helpers import dedent

from pelican_reciprocity.friends import load_friends, read_opml
from pelican_reciprocity.settings import ConfigError


def write(tmp_path, text, name="friends.toml"):
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def test_full_entry_and_relative_feed_path(tmp_path):
    path = write(
        tmp_path,
        """
        [[friends]]
        name = "Anne R. Allen"
        url = "https://annerallen.example/"
        feed = "feeds/anne.xml"
        tags = ["writing"]
        note = "Generous, *practical* advice. <script>x()</script>"
        aliases = ["https://social.example/@anne"]
        """,
    )
    result = load_friends(str(path), tmp_path)
    assert result.problems == ()
    [anne] = result.friends
    assert anne.feed == (tmp_path / "feeds" / "anne.xml").as_uri()
    assert anne.tags == ("writing",) and anne.aliases == ("https://social.example/@anne",)
    assert "<em>practical</em>" in anne.note_html and "script" not in anne.note_html


def test_bad_entries_are_named_and_skipped(tmp_path):
    path = write(
        tmp_path,
        """
        [[friends]]
        name = "Good"
        feed = "https://good.example/feed"

        [[friends]]
        name = "No feed"
        url = "https://nofeed.example/"

        [[friends]]
        name = "FTP"
        feed = "ftp://ftp.example/feed"

        [[friends]]
        name = "Again"
        feed = "http://www.good.example/feed/"

        [[friends]]
        name = "Typo"
        feed = "https://typo.example/feed"
        tag = ["x"]
        """,
    )
    result = load_friends(str(path), tmp_path)
    assert [f.name for f in result.friends] == ["Good"]
    text = "\n".join(result.problems)
    assert f"{path}: friend #2 ('No feed'): has no 'feed'; skipped" in text
    assert "friend #3 ('FTP'): feed 'ftp://ftp.example/feed' uses ftp:" in text
    assert "friend #4 ('Again'): same feed or site as 'Good'" in text
    assert "friend #5 ('Typo'): unknown key 'tag'" in text


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, '[[friends]]\nname = "Unclosed\n')
    with pytest.raises(ConfigError, match=r"friends.toml: TOML syntax error: .*line 2"):
        load_friends(str(path), tmp_path)


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"RECIPROCITY_FRIENDS: friends file .* does not exist"):
        load_friends("nope.toml", tmp_path)


def test_inline_list(tmp_path):
    result = load_friends(
        [{"name": "Inline", "feed": "https://inline.example/feed"}, {"name": "x"}], tmp_path
    )
    assert [f.name for f in result.friends] == ["Inline"]
    assert "RECIPROCITY_FRIENDS: friend #2 ('x'): has no 'feed'" in result.problems[0]


def test_opml_well_formed_and_broken(tmp_path):
    good = b"""<?xml version="1.0"?><opml version="2.0"><body>
      <outline text="Tech"><outline type="rss" text="A" xmlUrl="https://a.example/feed"
        htmlUrl="https://a.example/"/></outline>
      <outline type="rss" text="No feed" htmlUrl="https://b.example/"/>
    </body></opml>"""
    entries, skipped = read_opml(good)
    assert entries == [{"feed": "https://a.example/feed", "name": "A", "url": "https://a.example/"}]
    assert "no xmlUrl" in skipped[0]
    broken = good.replace(b'text="A"', b'text="A & B" description="<a href="x">"')
    entries, _ = read_opml(broken)
    assert entries[0]["feed"] == "https://a.example/feed"


def test_opml_file_as_friends_list(tmp_path):
    path = tmp_path / "subs.opml"
    path.write_bytes(
        b'<opml version="1.1"><body><outline type="rss" title="T" '
        b'xmlUrl="https://t.example/rss"/></body></opml>'
    )
    assert [f.name for f in load_friends(str(path), tmp_path).friends] == ["T"]


def test_a_rebuild_in_the_same_process_reads_a_changed_list_again(tmp_path, monkeypatch):
    """Under autoreload the list read last is given again only while the file
    holds the same bytes: an edit that keeps its size and mtime still counts."""
    from pelican_reciprocity import friends as module

    path = tmp_path / "friends.toml"
    path.write_text('[[friends]]\nname = "Lena"\nfeed = "https://lena.example/feed"\n', "utf-8")
    made = []
    real = module.from_entries
    monkeypatch.setattr(module, "from_entries", lambda *a, **k: made.append(1) or real(*a, **k))
    first = load_friends("friends.toml", tmp_path)
    assert load_friends("friends.toml", tmp_path) is first and len(made) == 1
    stamp = path.stat()
    path.write_text('[[friends]]\nname = "Mira"\nfeed = "https://lena.example/feed"\n', "utf-8")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same mtime
    assert [f.name for f in load_friends("friends.toml", tmp_path).friends] == ["Mira"]
    inline = [{"name": "Lena", "feed": "https://lena.example/feed"}]
    assert load_friends(inline, tmp_path) is load_friends([dict(inline[0])], tmp_path)
    inline[0]["name"] = "Ola"
    assert load_friends(inline, tmp_path).friends[0].name == "Ola"
    assert len(made) == 4


def test_a_rebuild_in_the_same_process_shows_a_friends_feed_as_it_is_now(tmp_path):
    """Each friend's view is given again only while the friend and what is
    shown of their feed are equal: a feed that fails since shows as failing."""
    from pelican_reciprocity.model import FeedState
    from pelican_reciprocity.pages import Views
    from pelican_reciprocity.settings import configure

    config = configure({"PATH": str(tmp_path), "CACHE_PATH": str(tmp_path / "cache")})
    lena = load_friends([{"name": "Lena", "feed": "https://lena.example/feed"}], tmp_path).friends
    ok = (FeedState(friend=lena[0], link="https://lena.example/blog/"),)

    def views(feeds):
        made = Views(config)
        made.add_feeds(feeds)
        return made

    first = views(ok)
    assert views(ok).friend_views == first.friend_views and first.sites == {
        lena[0].key: "https://lena.example/blog/"
    }
    failing = (FeedState(friend=lena[0], outcome="failed", error="HTTP 500"),)
    view = views(failing).friend_views[lena[0].key]
    assert (view.ok, view.error, str(view.url)) == (False, "HTTP 500", "https://lena.example/")
    assert views(ok).friend_views[lena[0].key].ok
