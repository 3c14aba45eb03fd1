"""Pure pieces: URLs, sanitising, settings and selection, without I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pelican_reciprocity import selection
from pelican_reciprocity.model import Post
from pelican_reciprocity.sanitize import clean_html, summarise, to_text
from pelican_reciprocity.settings import ConfigError, configure
from pelican_reciprocity.urls import absolute, is_web_url, normalise

DANGER = re.compile(r"<script|<iframe|\son\w+\s*=|javascript:|<style|<object|<embed", re.I)


def page_is_safe(page: str) -> bool:
    """No executable or styling markup on a built page."""
    return not DANGER.search(page)


# -- urls ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a,b",
    [
        ("https://www.Example.org/post/", "http://example.org/post"),
        ("https://example.org/post/index.html", "https://example.org/post"),
        ("https://example.org/p?utm_source=x&id=3", "https://example.org/p?id=3"),
        ("https://example.org/p#comments", "https://example.org/p"),
        ("https://example.org:443/", "http://example.org"),
    ],
)
def test_normalise_equates_spellings_of_one_url(a, b):
    assert normalise(a) == normalise(b)


def test_normalise_keeps_what_names_a_post():
    assert normalise("https://w.org/?p=1") != normalise("https://w.org/?p=2")
    assert normalise("http://s.com/26.html#a1", keep_fragment=True) != normalise(
        "http://s.com/26.html#a2", keep_fragment=True
    )


@given(st.text())
def test_normalise_never_raises(text):
    assert isinstance(normalise(text), str)


HOSTS = st.from_regex(r"\A(www\.)?[a-vx-z][a-z]{0,7}\.(org|example)\Z")
PATHS = st.lists(st.from_regex(r"\A[a-z0-9-]{1,6}\Z"), max_size=3)


@given(st.sampled_from(["http", "https"]), HOSTS, PATHS, st.booleans())
def test_normalise_is_idempotent_on_web_urls(scheme, host, path, slash):
    url = f"{scheme}://{host}/" + "/".join(path) + ("/" if slash else "")
    once = normalise(url)
    assert normalise(once) == once
    assert once == normalise(url.replace("https://", "http://").replace("www.", ""))


@given(
    st.one_of(st.text(), st.from_regex(r"\A(https?:)?//[a-z.\[\]:#]{0,12}(/[a-z?=&#/]{0,12})?\Z"))
)
def test_a_posts_loose_key_is_its_url_normalised_without_the_fragment(url):
    # taken from the key when the URL has no fragment: it must be the same
    assert Post(title="t", url=url, date=None).loose_key == normalise(url)


#: URLs near the plain form the URL helpers answer without urlsplit, and
#: just past its edges: other schemes, ports, brackets, user names,
#: non-ASCII hosts, spaces, quotes, controls, queries and fragments.
NEAR_PLAIN = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["http", "https", "HTTPS", "hTtP", "https", "ftp", "", "javascript", " https"]),
        st.sampled_from(["://", "://", "://", "://", ":/", "//", ":"]),
        st.one_of(
            st.from_regex(r"\A[A-Za-z0-9.-]{0,10}\Z"),
            st.from_regex(r"\A[A-Za-z0-9.@:%\[\]-]{0,10}\Z"),
            st.sampled_from(["www.x.org", "WWW.X.ORG", "www.", "[::1]", "u@h.org", "u:p@h.org",
                             "h.org@x", "hé.org", ""]),
        ),
        st.sampled_from(["", "", ":80", ":443", ":8080", ":99999", ":", ":0x"]),
        st.lists(
            st.sampled_from(["/", "a", "/index.html", "/index.php", "?", "#", "=", "&", "utm_source",
                             " ", "\t", "<", '"', "é", "\x01", "%20", "//", "@"]),
            max_size=6,
        ).map("".join),
    ),
)  # fmt: skip


@settings(max_examples=500)
@given(NEAR_PLAIN, st.booleans())
@example("https://u@h.org/a", False)
@example("https://h.org:99999/a", False)
@example("HTTP://WWW.X.ORG:80/index.html", True)
@example("https://h.org/a b", False)
def test_url_helpers_answer_plain_urls_as_urlsplit_does(url, keep_fragment):
    from pelican_reciprocity import urls

    assert is_web_url(url) == (bool(url) and urls._split_is_web_url(url))
    for base in ("https://base.example/dir/", None):
        assert absolute(url, base) == (urls._joined(url, base) if url else None)
    slow = urls._split_normalise(url, keep_fragment)  # by urlsplit
    assert normalise(url, keep_fragment=keep_fragment) == slow


@given(st.from_regex(r"\A[a-vx-z0-9.:@-]{0,8}\Z"), st.from_regex(r"\A(/[a-z]{0,2})*\Z"))
def test_a_normalised_key_is_joined_as_urlunsplit_joins_it(host, path):
    """With no query or fragment, normalise joins host and path itself (a
    host and path it leaves as they are here: no "www.", no last slash; a
    path after a host is empty or starts with a slash, as urlsplit gives it)."""
    from urllib.parse import urlunsplit

    from pelican_reciprocity.urls import _key

    path = path.rstrip("/")
    assert _key(host, path) == urlunsplit(("", host, path, "", "")).lstrip("/")


@given(st.text())
def test_absolute_only_returns_web_urls(text):
    result = absolute(text, "https://base.example/dir/")
    assert result is None or is_web_url(result)


def test_absolute_resolves_relative_and_protocol_relative():
    assert absolute("/a/b", "https://x.org/feed") == "https://x.org/a/b"
    assert absolute("//cdn.x.org/i.png", None) == "https://cdn.x.org/i.png"
    assert absolute("javascript:alert(1)", "https://x.org/") is None
    assert absolute("data:text/html,hi", "https://x.org/") is None


# -- sanitising -----------------------------------------------------------------------


@given(st.text())
def test_clean_html_never_leaves_executable_markup(text):
    assert not DANGER.search(clean_html(text))


@pytest.mark.parametrize(
    "hostile",
    [
        '<img src=x onerror="alert(1)">',
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<iframe src="https://evil.example"></iframe>',
        "<svg onload=alert(1)><circle/></svg>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<scr<script>ipt>alert(1)</script>",
        '<a href="  javascript:alert(1)">x</a>',
        '<form action="https://x"><input name=a></form>',
    ],
)
def test_known_attacks_are_removed(hostile):
    cleaned = clean_html(hostile)
    assert not DANGER.search(cleaned)
    assert "<form" not in cleaned and "<svg" not in cleaned


def test_links_keep_only_web_targets_and_get_rel():
    cleaned = clean_html('<a href="https://ok.example/">ok</a>')
    assert 'href="https://ok.example/"' in cleaned and "noopener" in cleaned


def test_summary_is_truncated_after_sanitising():
    script = "<script>" + "word " * 500 + "</script>"
    html, text = summarise(script + "<p>one two three</p>", 2)
    assert "word" not in html and "word" not in text
    assert text == "one two…"


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_summarise_is_safe_and_bounded(text, words):
    html, plain = summarise(text, words)
    assert not DANGER.search(html)
    assert len(plain.split()) <= words + 1


def test_to_text_strips_markup_and_entities():
    assert to_text("<b>Slack</b> &amp; friends<script>x()</script>") == "Slack & friends"


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("RECIPROCITY_TIMEOUT", "ten", "RECIPROCITY_TIMEOUT must be a number"),
        ("RECIPROCITY_TIMEOUT", -1, "RECIPROCITY_TIMEOUT must be at least"),
        ("RECIPROCITY_CONCURRENCY", 2.5, "RECIPROCITY_CONCURRENCY must be a whole number"),
        ("RECIPROCITY_OFFLINE", "yes", "RECIPROCITY_OFFLINE must be True or False"),
        ("RECIPROCITY_FRIENDS", 42, "RECIPROCITY_FRIENDS must be a path"),
        ("RECIPROCITY_FRIENDS", ["x"], "RECIPROCITY_FRIENDS entry 1 must be a dict"),
        ("RECIPROCITY_TIMOUT", 3, "unknown setting RECIPROCITY_TIMOUT"),
        ("RECIPROCITY_FRIENDS_SAVE_AS", "../x.html", "inside the output folder"),
    ],
)
def test_bad_settings_name_the_setting(key, value, fragment, tmp_path):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        configure({"PATH": str(tmp_path), key: value})


def test_defaults_validate(tmp_path):
    config = configure({"PATH": str(tmp_path / "content"), "CACHE_PATH": str(tmp_path / "c")})
    assert config.timeout == 10 and config.cache_ttl == 3600
    assert config.cache_path == tmp_path / "c" / "reciprocity"


def test_offline_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RECIPROCITY_OFFLINE", "1")
    assert configure({"PATH": str(tmp_path)}).offline is True


def test_settings_resolve_each_folder_once_and_see_a_moved_link_next_time(tmp_path, monkeypatch):
    """The checks ask for the content and output folders about twenty
    times: each is resolved once per check of the settings, and anew at the
    next, so a folder made a link between two builds is seen (a ledger that
    would now be published is refused)."""
    site = tmp_path / "site"
    (site / "content").mkdir(parents=True)
    monkeypatch.chdir(site)
    settings = {"PATH": "content", "RECIPROCITY_LEDGER_FILE": "kept/ledger.json"}
    asked: list[Path] = []
    real = Path.resolve

    def resolve(self, strict=False):
        asked.append(self)
        return real(self, strict)

    monkeypatch.setattr(Path, "resolve", resolve)
    config = configure(settings)
    assert config.ledger_file == site / "kept" / "ledger.json"
    assert len(asked) == len(set(asked)) and len(asked) <= 6
    (site / "kept").symlink_to(site / "content")
    with pytest.raises(ConfigError, match="RECIPROCITY_LEDGER_FILE must be outside the content"):
        configure(settings)


# -- selection -------------------------------------------------------------------------------

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def post(friend: str, n: int, days: float, tags=()) -> Post:
    return Post(
        title=f"{friend}{n}",
        url=f"https://{friend}.example/{n}",
        date=AS_OF - timedelta(days=days),
        friend=friend,
        tags=tuple(tags),
    )


def recent(posts, *, as_of, max_age_days, **pick):
    """The automatic picks for one article, as the build makes them."""
    return selection.Ranking(posts, as_of=as_of, max_age_days=max_age_days).pick(**pick)


def test_recent_is_newest_first_one_per_friend():
    pool = [post("a", 1, 1), post("a", 2, 0.5), post("b", 1, 3), post("c", 1, 2)]
    picked = recent(pool, as_of=AS_OF, count=3, per_friend=1, max_age_days=365)
    assert [p.title for p in picked] == ["a2", "c1", "b1"]


def test_recent_skips_old_posts_and_respects_count():
    pool = [post("a", 1, 400), post("b", 1, 10)]
    picked = recent(pool, as_of=AS_OF, count=3, per_friend=1, max_age_days=365)
    assert [p.title for p in picked] == ["b1"]
    everything = recent(pool, as_of=AS_OF, count=3, per_friend=1, max_age_days=0)
    assert len(everything) == 2
    assert recent(pool, as_of=AS_OF, count=0, per_friend=1, max_age_days=0) == []


def test_ties_break_deterministically():
    pool = [post("b", 1, 1), post("a", 1, 1), post("c", 1, 1)]
    for order in (pool, pool[::-1]):
        picked = recent(order, as_of=AS_OF, count=3, per_friend=1, max_age_days=0)
        assert [p.friend for p in picked] == ["a", "b", "c"]


def test_more_shared_tags_rank_higher_then_newest():
    pool = [post("a", 1, 1, ["x"]), post("b", 1, 2, ["x", "y"]), post("c", 1, 3, ["x"])]
    kwargs = dict(as_of=AS_OF, count=3, per_friend=1, max_age_days=0, tags=["x", "y"])
    picked = recent(pool, prefer_shared_tags=True, **kwargs)
    assert [p.friend for p in picked] == ["b", "a", "c"]


def test_shared_tags_preferred_when_asked():
    pool = [post("a", 1, 1, ["cats"]), post("b", 1, 5, ["seeds"])]
    kwargs = dict(as_of=AS_OF, count=1, per_friend=1, max_age_days=0, tags=["Seeds"])
    assert recent(pool, **kwargs)[0].friend == "a"
    assert recent(pool, prefer_shared_tags=True, **kwargs)[0].friend == "b"


QUERY = st.fixed_dictionaries(
    {
        "count": st.integers(0, 4),
        "per_friend": st.integers(1, 2),
        "exclude": st.frozensets(
            st.sampled_from([f"https://{f}.example/{n}" for f in "abc" for n in range(3)])
        ),
        "tags": st.lists(st.sampled_from(["x", "X", "y", "z"]), max_size=3),
        "prefer_shared_tags": st.booleans(),
    }
)


@given(st.lists(QUERY, min_size=1, max_size=8))
def test_a_ranking_answers_a_repeated_question_as_a_fresh_one_would(queries):
    """The ranking keeps its answers (10,000 articles ask a few questions);
    a kept answer must be the one a new ranking gives, and changing the
    returned list must not change the next answer."""
    pool = [post(f, n, n + ord(f) % 3, ["x", "y"][: n % 3]) for f in "abc" for n in range(3)]
    keeping = selection.Ranking(pool, as_of=AS_OF, max_age_days=0)
    for query in [*queries, *queries]:
        query = {**query, "exclude": {normalise(u, keep_fragment=True) for u in query["exclude"]}}
        fresh = selection.Ranking(pool, as_of=AS_OF, max_age_days=0).pick(**query)
        answer = keeping.pick(**query)
        assert answer == fresh
        answer.clear()


def test_a_rebuild_from_the_same_posts_reuses_the_index_and_ranking():
    """Under autoreload each save rebuilds from the posts the cache already
    holds: the order and its kept picks are reused, and anything that could
    change them makes new ones."""
    pool = [post(f, n, n) for f in "ab" for n in range(3)]
    visible = pool[:3]
    index, ranking = selection.index_and_ranking(pool, visible, as_of=AS_OF, max_age_days=0)
    again = selection.index_and_ranking(list(pool), list(visible), as_of=AS_OF, max_age_days=0)
    assert again[0] is index and again[1] is ranking
    changed = [post("a", 0, 0.5), *pool[1:]]
    for args, age in [
        ((changed, visible), 0),
        ((pool, pool), 0),
        ((pool, visible), 1),
    ]:
        made = selection.index_and_ranking(*args, as_of=AS_OF, max_age_days=age)
        assert made[1] is not ranking
        fresh = selection.Ranking(args[1], as_of=AS_OF, max_age_days=age)
        assert made[1].ordered == fresh.ordered
        assert made[0].exact == selection.PostIndex(args[0]).exact
    later = selection.index_and_ranking(pool, visible, as_of=AS_OF + timedelta(1), max_age_days=2)
    assert later[1].as_of == AS_OF + timedelta(1)


def test_curated_resolve_and_unknown_stays_plain():
    pool = [post("a", 1, 1)]
    index = selection.PostIndex(pool)
    picked = selection.curated(["http://www.a.example/1/", "https://nobody.example/x"], index)
    assert picked[0].found and picked[0].post.title == "a1"
    assert not picked[1].found and picked[1].post.url == "https://nobody.example/x"


def test_highlights_metadata_split_on_commas_and_newlines():
    urls, bad = selection.parse_highlights("https://a.example/1, https://b.example/2\n not-a-url")
    assert urls == ["https://a.example/1", "https://b.example/2"]
    assert bad == ["not-a-url"]


def test_curated_posts_are_not_repeated_automatically():
    pool = [post("a", 1, 1), post("b", 1, 2)]
    chosen, auto, _ = selection.highlights_for(
        {"highlights": "https://a.example/1"},
        index=selection.PostIndex(pool),
        ranking=selection.Ranking(pool, as_of=AS_OF, max_age_days=0),
        count=3,
        per_friend=1,
        prefer_shared_tags=False,
    )
    assert [h.post.title for h in chosen] == ["a1"]
    assert [h.post.title for h in auto] == ["b1"]


def test_truncate_safe_html_closes_tags_and_counts_words():
    from pelican_reciprocity.sanitize import truncate_safe_html

    html = '<p>one <em>two three</em> four</p><p>five <a href="https://x.example/">six</a></p>'
    assert truncate_safe_html(html, 2) == "<p>one <em>two…</em></p>"
    assert truncate_safe_html(html, 4) == "<p>one <em>two three</em> four…</p>"
    assert truncate_safe_html(html, 10) == html
    assert truncate_safe_html("a<br>b c", 2) == "a<br>b…"


@given(st.text(), st.integers(min_value=1, max_value=30))
def test_truncate_safe_html_output_is_still_safe_and_balanced(text, words):
    from pelican_reciprocity.sanitize import clean_html, truncate_safe_html

    safe = clean_html(text)
    cut = truncate_safe_html(safe, words)
    assert not DANGER.search(cut)
    opened = re.findall(r"<(\w+)[^>]*>", cut)
    closed = re.findall(r"</(\w+)>", cut)
    voids = {"br", "hr", "img", "wbr"}
    assert sorted(t for t in opened if t not in voids) == sorted(closed)


def _truncate_word_by_word(safe: str, words: int) -> str:
    """truncate_safe_html as it was before it took whole tokens and kept
    what it read of each tag: every tag parsed, every word walked."""
    from pelican_reciprocity.sanitize import _BLOCK, _TOKEN, _VOID, _cut

    out: list[str] = []
    open_tags: list[str] = []
    count, in_word = 0, False
    for token in _TOKEN.split(safe):
        if not token:
            continue
        if token.startswith("<"):
            if _BLOCK.match(token):
                in_word = False
            name = token[1:].split(None, 1)[0].rstrip("/>").lower() if len(token) > 2 else ""
            if token.startswith("</"):
                name = token[2:-1].strip().lower()
                if name in open_tags:
                    while open_tags:
                        if open_tags.pop() == name:
                            break
            elif name and name not in _VOID and not token.endswith("/>"):
                open_tags.append(name)
            out.append(token)
            continue
        for place, piece in enumerate(re.split(r"(\s+)", token)):
            if place % 2:
                in_word = False
            elif piece and not in_word:
                if count == words:
                    return _cut(out, open_tags, "…")
                count += 1
                in_word = True
            out.append(piece)
    return "".join(out)


_HTML_PIECES = st.lists(
    st.sampled_from(
        ["<p>", "</p>", "<em>", "</em>", "<br>", "<br/>", '<a href="https://x.example/">', "</a>",
         "<li>", "</li>", " ", "  ", "\n", "\u00a0", ".", ",", "word", "x.", "a\x1cb", ""]
    )
    | st.text(max_size=4),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=500)
@given(_HTML_PIECES, st.integers(min_value=0, max_value=12))
def test_truncate_safe_html_cuts_where_walking_word_by_word_does(html, words):
    """Tokens short of the cut are taken whole, and each tag is read once a
    process: the cut, the closing tags and the ellipsis stay where they were."""
    from pelican_reciprocity.sanitize import truncate_safe_html

    assert truncate_safe_html(html, words) == _truncate_word_by_word(html, words)


@given(st.text(alphabet=" \t\n\x1c\x85\u00a0\u2028\u3000\u200bab"))
def test_one_spaced_collapses_whitespace_as_the_regex_did(text):
    from pelican_reciprocity.sanitize import one_spaced

    assert one_spaced(text) == re.sub(r"\s+", " ", text).strip()


def test_urls_with_quotes_or_brackets_are_never_web_urls():
    assert not is_web_url('https://ok.example/" onmouseover="alert(1)')
    assert not is_web_url("https://ok.example/<script>")
    assert absolute("https://ok.example/my post", None) == "https://ok.example/my%20post"


def test_readme_settings_table_is_the_one_the_code_declares():
    """Each setting is declared once; the README shows that very table
    (`python -m pelican_reciprocity.settings` prints it)."""
    from pathlib import Path

    from pelican_reciprocity.settings import DEFAULTS, readme_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme
    documented = set(re.findall(r"^\| `(RECIPROCITY_\w+)` \|", readme, re.M))
    assert documented == set(DEFAULTS)


def test_strings_translate_pluralise_and_join_per_language():
    from markupsafe import Markup

    from pelican_reciprocity.i18n import Strings

    fr, de, en = Strings("fr_FR"), Strings("de"), Strings("en")
    assert fr("Thank you") == "Merci" and de("From blogs I follow") == "Aus Blogs, denen ich folge"
    assert fr.plural("{n} person liked this", "{n} people liked this", 1) == "1 personne a aimé"
    assert fr.plural("{n} person liked this", "{n} people liked this", 0) == "0 personne a aimé"
    assert en.plural("{n} person liked this", "{n} people liked this", 0) == "0 people liked this"
    names = [Markup("<b>A</b>"), Markup("B"), Markup("C")]
    assert str(fr.thanks_line(names)) == "Merci à <b>A</b>, B et C pour vos réponses."
    assert str(en.thanks_line(names)) == "Thanks to <b>A</b>, B, and C for responding."
    assert str(de.join(names[1:])) == "B und C"
    assert Strings("xx")("Thank you") == "Thank you"  # no catalog: English


def test_strings_overrides_from_settings():
    from pelican_reciprocity.i18n import Strings

    overrides = {"Thank you": "Cheers!", "fr": {"Thank you": "Merci beaucoup"}}
    assert Strings("en", overrides)("Thank you") == "Cheers!"
    assert Strings("fr", overrides)("Thank you") == "Merci beaucoup"
    assert Strings("de", overrides)("Thank you") == "Cheers!"


def test_every_catalog_translates_every_string():
    from pathlib import Path

    from babel.messages.pofile import read_po

    locale = Path(__file__).resolve().parent.parent / "pelican_reciprocity" / "locale"
    english = {
        m.id for m in read_po((locale / "en/LC_MESSAGES/pelican_reciprocity.po").open("rb")) if m.id
    }
    for lang in ("fr", "de", "es", "pt"):
        catalog = read_po((locale / lang / "LC_MESSAGES/pelican_reciprocity.po").open("rb"))
        messages = {m.id: m.string for m in catalog if m.id}
        assert set(messages) == english, lang
        for string in messages.values():
            assert all(string) if isinstance(string, tuple) else string, lang


def test_english_long_dates_match_babel_without_importing_it():
    from datetime import date

    from babel.dates import format_date

    from pelican_reciprocity.i18n import _long_date

    for month in range(1, 13):
        for day in (1, 9, 28):
            when = date(2026, month, day)
            assert _long_date(when, "en") == format_date(when, format="long", locale="en")


@given(st.lists(st.text(max_size=12), min_size=0, max_size=6))
@example(["Ada"])
@example(["Ada", "Grace"])
@example(["Ada", "Grace", "Hedy"])
@example(["<b>a, b</b>", "{0}", "&amp;"])
def test_english_lists_match_babel_without_importing_it(items):
    """The thanks line of an English site lists its people as Babel does."""
    from babel.lists import format_list
    from markupsafe import Markup

    from pelican_reciprocity.i18n import Strings

    joined = Strings("en").join(Markup(i) for i in items)
    assert isinstance(joined, Markup)
    assert str(joined) == (format_list(items, locale="en") if items else "")


def test_summaries_read_cleanly_where_markup_was():
    from pelican_reciprocity.sanitize import summarise, truncate_text

    html = (
        '<p>I watched <a href="https://x.example/">Druaga1</a>\'s video on '
        "<em>Pelican</em> 1, and Tuscany. Then many more words follow here.</p>"
    )
    safe, text = summarise(html, 9)
    assert text == "I watched Druaga1's video on Pelican 1, and Tuscany…"
    assert safe.endswith("and Tuscany…</p>")  # the HTML is cut at the same word
    assert summarise("<p>One two.</p><p>Three four five</p>", 3)[1] == "One two. Three…"
    assert truncate_text("We went to Tuscany. And then", 4) == "We went to Tuscany…"


def test_a_cut_ends_with_one_ellipsis_in_place_of_the_texts_own():
    """A real Ghost feed's summary read "Mein Anfang mit Docker ... …", and
    WordPress's excerpts end "[…]" before "The post … appeared first on"."""
    from pelican_reciprocity.sanitize import summarise, truncate_safe_html, truncate_text

    wordpress = "<p>We planted garlic [&#8230;]</p><p>The post Garlic appeared first on Plot.</p>"
    assert summarise(wordpress, 4) == ("<p>We planted garlic…</p>", "We planted garlic…")
    ghost = "<p>Mein Anfang mit Docker ...</p>\n<p>... war im Jahr 2014.</p>"
    assert summarise(ghost, 5)[1] == "Mein Anfang mit Docker…"
    assert summarise(ghost, 5)[0] == "<p>Mein Anfang mit Docker…</p>"
    assert truncate_text("one two three… four", 3) == "one two three…"
    assert truncate_text("one two [...] four", 3) == "one two…"
    assert truncate_safe_html("<p>One two.</p><p>Three four</p>", 2) == "<p>One two…</p>"


_ENDINGS = ["word", "x.", "y,", "z;", "…", "...", "[…]", "[...]", "w…", "v[...]", "U.S."]


@given(st.lists(st.sampled_from(_ENDINGS), min_size=1, max_size=12), st.integers(1, 10))
def test_a_cut_summary_ends_with_a_word_and_one_ellipsis(words, count):
    from pelican_reciprocity.sanitize import safe_text, summarise

    safe, text = summarise(f"<p>{' '.join(words)}</p><p>{'more ' * 10}</p>", count)
    assert safe_text(safe) == text  # the HTML is cut where the text is
    assert text.endswith("…")
    body = text[:-1]
    assert not body.endswith((".", ",", ";", ":", "…", "[…]", "[...]", " "))


def test_a_cached_post_comes_back_whole():
    """The cache fills a Post without its __init__ (for speed): every field
    of the model must come back, defaults included."""
    import dataclasses
    from datetime import UTC, datetime

    from pelican_reciprocity.cache import post_from_json, post_to_json
    from pelican_reciprocity.model import Post

    # every field with a value of its own, so that no two can swap places in a row
    post = Post(title="T", url="https://a.example/p#x", date=datetime(2026, 1, 1, tzinfo=UTC),
                summary_html="<p>s</p>", summary_text="s", image="https://a.example/i.png",
                tags=("seeds",), friend="f", dated=False, source_html="<p>x</p>",
                source_base="https://a.example/")  # fmt: skip
    again = post_from_json(json.loads(json.dumps(post_to_json(post))))
    assert again == post and (again.key, again.loose_key) == (post.key, post.loose_key)
    # an entry written when the loose key was stored too is read as it was
    from pelican_reciprocity.cache import CacheEntry

    data = CacheEntry(url="https://a.example/feed", posts=[post]).to_json()
    data["post_fields"].append("loose_key")
    data["posts"][0].append("a.example/p")
    assert CacheEntry.from_json(data).posts == [post]
    for field in dataclasses.fields(Post):
        assert field.name in again.__dict__, field.name
    bare = post_from_json({"title": "T", "url": "https://a.example/"})
    assert bare == Post(title="T", url="https://a.example/", date=None)


def test_a_cache_entry_keeps_its_posts_as_rows_and_still_reads_the_old_objects():
    from datetime import UTC, datetime

    from pelican_reciprocity.cache import FORMAT_1, POST_FIELDS, CacheEntry, post_to_json
    from pelican_reciprocity.model import Post

    posts = [
        Post(title=f"T{i}", url=f"https://a.example/{i}", date=datetime(2026, 1, i + 1, tzinfo=UTC),
             tags=("seeds",), friend="f", source_html="<p>x</p>", dated=bool(i))
        for i in range(3)
    ]  # fmt: skip
    entry = CacheEntry(url="https://a.example/feed", fetched_at=1.0, posts=posts)
    data = json.loads(json.dumps(entry.to_json()))
    assert tuple(post_to_json(posts[0])) == POST_FIELDS == tuple(data["post_fields"])
    assert all(isinstance(row, list) for row in data["posts"])
    assert CacheEntry.from_json(data) == entry
    old = {**data, "format": FORMAT_1, "posts": [post_to_json(p) for p in posts]}
    del old["post_fields"]
    assert CacheEntry.from_json(old) == entry
    # Fields in another order (a later version's rows) are read by name.
    shuffled = list(reversed(POST_FIELDS))
    rows = [[post_to_json(p)[name] for name in shuffled] for p in posts]
    assert CacheEntry.from_json({**data, "post_fields": shuffled, "posts": rows}) == entry
    for broken in ([["too", "short"]], [[*data["posts"][0], "extra"]]):
        with pytest.raises((TypeError, ValueError)):
            CacheEntry.from_json({**data, "posts": broken})


def test_a_record_reads_as_a_dataclass_would_and_keeps_secrets_out():
    import dataclasses

    from pelican_reciprocity.fetch import FetchRequest
    from pelican_reciprocity.model import Friend, record

    @dataclasses.dataclass(frozen=True)
    class Plain:
        name: str
        tags: tuple[str, ...] = ()
        hidden: str = dataclasses.field(default="x", repr=False)

    @record(frozen=True)
    class Plain2:
        name: str
        tags: tuple[str, ...] = ()
        hidden: str = dataclasses.field(default="x", repr=False)

    assert repr(Plain2("a", ("b",))) == repr(Plain("a", ("b",))).replace("Plain(", "Plain2(")
    assert Plain2("a") == Plain2("a") and hash(Plain2("a")) == hash(Plain2("a"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Plain2("a").name = "b"  # type: ignore[misc]
    assert "SECRET" not in repr(FetchRequest(url="https://a.example/", bearer="SECRET"))
    assert repr(Friend(name="Lena", feed="https://lena.example/feed")).startswith(
        "Friend(name='Lena', feed='https://lena.example/feed'"
    )


def _as_dataclass(options):
    """A record's options as dataclass takes them: ``compact`` is a record's own."""
    return {k: v for k, v in options.items() if k != "compact"}


@pytest.mark.parametrize("options", [{}, {"frozen": True, "compact": True}])
def test_a_compact_record_takes_no_more_memory_than_the_dataclass_it_declares(options):
    """A frozen record's fields go straight into its ``__dict__``, and a
    post kept a full dictionary of its own: 529 bytes against 177, for each
    of the fetch job's 20,000 posts of 1,000 friends. A compact one's do not."""
    import dataclasses
    import tracemalloc

    from pelican_reciprocity.model import COMPILE_AFTER, record

    def declare(decorate):
        @decorate
        class Thing:
            """A record with a few fields."""

            name: str
            size: int = 3
            note: str = ""

        return Thing

    def cost(cls, count):
        tracemalloc.start()
        try:
            made = [cls(str(i)) for i in range(count)]
            return tracemalloc.get_traced_memory()[0] / len(made)
        finally:
            tracemalloc.stop()

    plain, ours = (
        declare(dataclasses.dataclass(**_as_dataclass(options))),
        declare(record(**options)),
    )
    for cls in (plain, ours):  # made often: compiled, and what the first ones cost once paid
        cost(cls, COMPILE_AFTER + 10)
    assert cost(ours, 1000) <= cost(plain, 1000) * 1.05


@pytest.mark.parametrize(
    "options", [{}, {"frozen": True}, {"eq": False}, {"frozen": True, "compact": True}]
)
def test_a_record_behaves_as_the_dataclass_it_declares(options):
    """Records are built without dataclass's per-method compilation on older
    Pythons: the same fields, defaults, comparison, hash and frozenness."""
    import dataclasses

    from pelican_reciprocity.model import COMPILE_AFTER, record

    def declare(decorate):
        @decorate
        class Thing:
            name: str
            size: int = 3
            tags: list[str] = dataclasses.field(default_factory=list)
            extra: str = dataclasses.field(default="x", compare=False)

        return Thing

    as_dataclass = _as_dataclass(options)
    plain, ours = declare(dataclasses.dataclass(**as_dataclass)), declare(record(**options))
    for cls in (plain, ours):
        first, second = cls("a"), cls("a", 3, [], "y")
        assert first.size == 3 and first.tags == [] and first.tags is not cls("a").tags
        assert (first == second) == (plain("a") == plain("a", 3, [], "y"))
        assert (first == cls("b")) is False and first.__eq__(object()) is NotImplemented
        assert dataclasses.replace(first, size=4).size == 4
        assert [f.name for f in dataclasses.fields(cls)] == ["name", "size", "tags", "extra"]
        with pytest.raises(TypeError):
            cls()  # type: ignore[call-arg]
    frozen, eq = options.get("frozen", False), options.get("eq", True)
    for cls in (plain, ours):
        thing = cls("a", tags=("t",))  # type: ignore[arg-type]
        if frozen:
            assert hash(thing) == hash(cls("a", tags=("t",), extra="y"))  # type: ignore[arg-type]
            with pytest.raises(dataclasses.FrozenInstanceError):
                thing.name = "b"
            with pytest.raises(dataclasses.FrozenInstanceError):
                del thing.name
        elif eq:
            with pytest.raises(TypeError):
                hash(thing)
        else:
            assert hash(thing) == object.__hash__(thing) and thing != cls("a", tags=("t",))
    assert dataclasses.is_dataclass(ours) and ours.__dataclass_params__.frozen == frozen
    assert ours.__match_args__ == plain.__match_args__
    # what dataclass records, as it records it: the fields, the parameters
    # (but repr, which records leave to one shared method), the class's defaults
    described = ("name", "type", "default", "default_factory", "init", "repr", "hash",
                 "compare", "metadata", "kw_only", "_field_type")  # fmt: skip
    for mine, theirs in zip(dataclasses.fields(ours), dataclasses.fields(plain), strict=True):
        assert [getattr(mine, a) for a in described] == [getattr(theirs, a) for a in described]
    params = ("init", "eq", "order", "unsafe_hash", "frozen")
    assert [getattr(ours.__dataclass_params__, a) for a in params] == [
        getattr(plain.__dataclass_params__, a) for a in params
    ]
    for name in ("size", "tags", "extra"):
        assert getattr(ours, name, None) == getattr(plain, name, None)
    for mistake in ("x: list = []", "x: int = 1\n    y: int"):
        for decorate in (dataclasses.dataclass(**as_dataclass), record(**options)):
            with pytest.raises((ValueError, TypeError)):
                exec(f"@decorate\nclass Wrong:\n    'd'\n    {mistake}", {"decorate": decorate})

    @record(**options)
    class Opaque:  # nothing compared: every two are equal, as with dataclass
        note: str = dataclasses.field(default="", compare=False)

    assert (Opaque("a") == Opaque("b")) == options.get("eq", True)

    @record(**options)
    class Later:
        """Its __init__ binds its arguments in a loop until it is compiled,
        after COMPILE_AFTER records, here made through a subclass."""

        name: str
        size: int = 3
        tags: list[str] = dataclasses.field(default_factory=list)

    class Child(Later):
        pass

    calls = [((), {}), (("a", 1, [], 2), {}), (("a",), {"name": "b"}), ((), {"nom": "a"})]
    calls += [(("a",), {}), (("a", 4), {"tags": ["t"]}), ((), {"size": 5, "name": "c"})]
    made, failed = [], []
    for args, kwargs in calls:  # bound in a loop, then compiled: the same records, the same errors
        try:
            made.append(list(vars(Later(*args, **kwargs)).items()))  # in field order
        except TypeError as exc:
            failed.append(type(exc))
    stub = Later.__init__
    for _ in range(COMPILE_AFTER):
        assert Child("c").name == "c"
    assert Later.__init__ is not stub and Later.__init__.__qualname__.endswith("Later.__init__")
    for args, kwargs in calls:
        try:
            assert list(vars(Later(*args, **kwargs)).items()) == made.pop(0)
        except TypeError as exc:
            assert type(exc) is failed.pop(0)
    assert made == failed == [] and Later("d").tags is not Later("d").tags


@given(
    summary=st.text(max_size=20),
    friend=st.text(max_size=10),
    url=st.sampled_from(
        ["https://a.example/1", "https://a.example/1#x", "http://www.a.example/2/"]
    ),
)
def test_a_changed_post_is_what_replace_makes_with_keys_only_for_its_url(summary, friend, url):
    from dataclasses import replace

    post = Post(title="t", url="https://a.example/1#c", date=None, source_html="<p>x</p>")
    _ = (post.key, post.loose_key)  # computed before the change
    changed = post.but(summary_text=summary, friend=friend, url=url)
    assert changed == replace(post, summary_text=summary, friend=friend, url=url)
    assert (changed.key, changed.loose_key) == (normalise(url, keep_fragment=True), normalise(url))
    assert post.but(friend=friend).__dict__["key"] == post.key  # kept, not recomputed
    with pytest.raises(TypeError, match="no field"):
        post.but(titel="typo")


@given(
    change=st.sampled_from(["date", "friend", "url", "title", "summary_text"]),
    day=st.integers(min_value=-3, max_value=3),
)
def test_a_post_keeps_its_place_among_the_newest_until_what_makes_it_changes(change, day):
    """newest_first is worked out once a post (the build's ranking does it)
    and made again only when its date, friend or URL changes."""
    from pelican_reciprocity.model import newest_first

    post = Post(title="t", url="https://a.example/1", date=AS_OF, friend="a")
    kept = newest_first(post)
    value = {
        "date": AS_OF + timedelta(days=day),
        "friend": f"f{day}",
        "url": f"https://a.example/{day}",
    }.get(change, f"x{day}")
    changed = post.but(**{change: value})
    fresh = (-(changed.date.timestamp()), changed.friend, changed.url)
    assert newest_first(changed) == fresh
    assert (newest_first(changed) is kept) == (change in ("title", "summary_text"))
    assert newest_first(post) is kept and post.__dict__["order"] is kept


@given(
    st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=3)), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=5),
)
def test_the_posts_summarised_at_parse_are_those_the_friends_page_shows(days, count):
    """Tied and missing dates included: a post the friends page shows must
    already be summarised, or every warm build would summarise it again."""
    from pelican_reciprocity.feeds import summarise_newest

    raw = [
        Post(
            title=f"p{i}",
            url=f"https://a.example/{i}",
            date=None if day is None else AS_OF - timedelta(days=day),
            source_html="<p>text</p>",
        )
        for i, day in enumerate(days)
    ]
    parsed = summarise_newest(raw, 10, count, friend="a")
    shown = selection.latest(parsed, count)
    assert all(p.summary_html and not p.source_html for p in shown)
    summarised = {p.url for p in parsed if p.summary_html}
    assert summarised == {p.url for p in shown}


def test_reading_a_pickle_pauses_the_collector_and_restores_it(tmp_path):
    import gc
    import pickle

    from pelican_reciprocity.files import collector_paused, read_pickle, thaw

    path = tmp_path / "data.pickle"
    path.write_bytes(pickle.dumps({"posts": [1, 2, 3]}))
    assert gc.isenabled()
    thaw()
    loaded = read_pickle(path)
    assert loaded == {"posts": [1, 2, 3]} and gc.isenabled()
    # what it made lives on: frozen, never walked again until the build lets go
    assert all(o is not loaded for o in gc.get_objects())
    thaw()
    assert gc.get_freeze_count() == 0
    assert any(o is loaded for o in gc.get_objects())
    (tmp_path / "bad.pickle").write_bytes(b"not a pickle")
    with pytest.raises(pickle.UnpicklingError):
        read_pickle(tmp_path / "bad.pickle")
    assert gc.isenabled()  # back on after a damaged file too
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            pass
        assert not gc.isenabled()  # an inner pause leaves the outer one alone
    assert gc.isenabled()
    gc.disable()
    try:
        read_pickle(path)
        assert not gc.isenabled()  # a collector the caller had off stays off
    finally:
        gc.enable()


def test_a_page_rewritten_in_place_reads_as_if_written_anew(tmp_path):
    """Longer or shorter, with the newlines a text write would give, and
    the same file (its mode and inode: nothing is freed and made again)."""
    from pelican_reciprocity.files import overwrite

    path = tmp_path / "page.html"
    path.write_text("<p>one</p>\n" * 50, encoding="utf-8")
    path.chmod(0o640)
    inode = path.stat().st_ino
    for text in ("<p>one</p>\n<section>é</section>\n" * 60, "<p>short</p>\n"):
        overwrite(path, text)
        twin = tmp_path / "twin.html"
        twin.write_text(text, encoding="utf-8")
        assert path.read_bytes() == twin.read_bytes()
        assert path.stat().st_ino == inode and path.stat().st_mode & 0o777 == 0o640


def test_an_atomic_write_keeps_the_mode_and_leaves_nothing_behind(tmp_path, monkeypatch):
    import itertools
    import os
    import stat

    from pelican_reciprocity import files

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    old_umask = os.umask(0o022)
    try:
        target = tmp_path / "sub" / "entry.json"
        status = files.write_atomic(target, b"one", durable=False)  # its folder is made too
        assert target.read_bytes() == b"one" and mode(target) == 0o644
        assert (status.st_mtime_ns, status.st_size) == (target.stat().st_mtime_ns, 3)
        for kept in (0o600, 0o666, 0o640):  # 0o666: bits the umask would take away
            target.chmod(kept)
            files.write_atomic(target, lambda out: out.write(b"two"))
            assert target.read_bytes() == b"two" and mode(target) == kept

        def half(out):
            out.write(b"half")
            raise ValueError("stopped")

        with pytest.raises(ValueError):
            files.write_atomic(target, half)
        assert target.read_bytes() == b"two"
        assert [p.name for p in target.parent.iterdir()] == ["entry.json"]
        # a crashed writer's leftover under the name this one would pick next
        monkeypatch.setattr(files, "_TEMP_NAMES", itertools.count(7))
        leftover = target.parent / f".entry.json.{os.getpid()}-7.tmp"
        leftover.write_bytes(b"stale")
        files.write_atomic(target, b"three")
        assert target.read_bytes() == b"three" and mode(target) == 0o640
        assert sorted(p.name for p in target.parent.iterdir()) == [leftover.name, "entry.json"]
        fresh = tmp_path / "sub" / "fresh.json"
        monkeypatch.setattr(files, "_TEMP_NAMES", itertools.count(7))
        (target.parent / f".fresh.json.{os.getpid()}-7.tmp").write_bytes(b"stale")
        files.write_atomic(fresh, b"new")
        assert fresh.read_bytes() == b"new" and mode(fresh) == 0o644
        monkeypatch.delattr(os, "fchmod")  # as on Windows before Python 3.13
        fresh.chmod(0o666)
        files.write_atomic(fresh, b"newer")
        assert fresh.read_bytes() == b"newer" and mode(fresh) == 0o666
    finally:
        os.umask(old_umask)


@given(
    before=st.text(alphabet=st.characters(max_codepoint=127, exclude_characters="&")),
    words=st.text(
        alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="&<>")
    ),
)
def test_a_section_added_to_an_all_ascii_page_keeps_it_ascii_and_reads_the_same(before, words):
    """A page of ASCII stays ASCII (one byte a character in memory), and a
    reader gets the same text: the section's other characters are written as
    character references. A page that is not ASCII, or a section with a
    script or a C1 control, gets the section as it is."""
    import html

    from pelican_reciprocity.render import inject

    page = f"<html><body><article>{before}</article></body></html>"
    section = f'<section class="reciprocity-highlights"><p title="{words}">{words}…</p></section>'
    made = inject(page, section, None)
    assert made.isascii()
    assert html.unescape(made) == html.unescape(
        page.replace("</article>", f"\n{section}\n</article>")
    )

    wide = page.replace("<body>", "<body>’")
    assert inject(wide, section, None) == wide.replace("</article>", f"\n{section}\n</article>")
    scripted = section + "<SCRIPT>var s = '…';</SCRIPT>"
    assert "'…'" in inject(page, scripted, None)
    c1 = section.replace("…", "\x85…")  # &#133; would read as "…"
    assert inject(page, c1, None) == page.replace("</article>", f"\n{c1}\n</article>")


@given(
    page=st.text(alphabet="ab<>p/", max_size=80),
    content=st.text(alphabet="ab<>p/", min_size=1, max_size=60),
    at=st.integers(min_value=0, max_value=80),
)
def test_a_section_goes_right_after_the_first_whole_copy_of_the_content(page, content, at):
    """The content is looked for by its opening words first; where it goes
    is where a search for the whole content puts it."""
    from pelican_reciprocity.render import inject

    page = page[:at] + content + page[at:]
    made = inject(page, "<section>S</section>", content)
    end = page.find(content) + len(content)
    assert made == page[:end] + "\n<section>S</section>\n" + page[end:]


def test_a_digest_of_equal_values_is_the_same_however_they_share_objects():
    """The ledger's and the friends page's digests are compared with those
    another process wrote: equal values must give equal digests even when
    one process shares a string (or a tuple) where another holds two."""
    import subprocess
    import sys

    from pelican_reciprocity.files import digest_of

    word = "".join(["ab", "c"])
    shared, apart = [word, word, (word,)], [word, "".join(["a", "bc"]), ("abc",)]
    assert digest_of(shared) == digest_of(apart)
    assert digest_of(shared) != digest_of([word, word, [word]])  # a list is not a tuple
    assert digest_of(shared) != digest_of([word, word, ("abd",)])
    # the same in a process whose strings are seeded anew
    code = "from pelican_reciprocity.files import digest_of; print(digest_of(['abc', 'abc', ('abc',)]))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == digest_of(shared)
    # what cannot be pickled (a function of its own, a list holding itself) is digested by its text
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    assert digest_of(cyclic) == digest_of(cyclic) != digest_of([1, [1]])
    assert digest_of([lambda: 1]) != digest_of([None])
