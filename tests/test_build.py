"""End-to-end builds of temporary sites."""

from __future__ import annotations

import filecmp
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import NOW, build, make_site, page, posts, reciprocity_records, rss
from pelican import Pelican
from pelican.settings import read_settings
from test_units import page_is_safe

REFLEX = None
try:
    from pelican.themes import reflex

    REFLEX = reflex.path()
except ImportError:  # pragma: no cover
    pass

THEMES = {"notmyidea": None, "simple": "simple", "reflex": REFLEX}
SECTION = re.compile(r'<section class="reciprocity-highlights"')


def good_friends(server, n=5):
    friends = []
    for i in range(n):
        url = server.add(f"good{i}", rss(f"Good {i}", posts(f"good{i}", host=f"good{i}.example")))
        friends.append(
            {"name": f"Good Friend {i}", "url": f"https://good{i}.example/", "feed": url}
        )
    return friends


ARTICLES = [
    {
        "title": "Curated",
        "slug": "curated",
        "meta": {"Highlights": "https://good1.example/good1/0/"},
    },
    {"title": "Plain", "slug": "plain"},
    {"title": "Quiet", "slug": "quiet", "meta": {"Reciprocity": "off"}},
]


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_article_pages_get_exactly_one_section_on_each_theme(
    theme, feed_server, tmp_path, monkeypatch
):
    if theme == "reflex" and REFLEX is None:
        pytest.fail("pelican-theme-reflex is a test dependency and must be installed")
    extra = {"CC_LICENSE": {}} if theme == "reflex" else {}  # reflex needs it defined
    site = make_site(
        tmp_path,
        friends=good_friends(feed_server),
        articles=ARTICLES,
        theme=THEMES[theme],
        settings=extra,
    )
    build(site, monkeypatch)
    curated = page(site, "curated.html")
    assert len(SECTION.findall(curated)) == 1
    section = curated[curated.index('<section class="reciprocity-highlights"') :]
    section = section[: section.index("</section>")]
    links = re.findall(r'<a class="reciprocity-post[^"]*" href="([^"]+)"', section)
    assert links[0] == "https://good1.example/good1/0/"  # curated first
    assert len(links) == 4  # then three automatic, one per friend
    assert "good1.example/good1/1" not in section  # curated friend not repeated
    assert 'rel="noopener"' in section and "Good Friend 1" in section
    assert len(SECTION.findall(page(site, "plain.html"))) == 1
    assert not SECTION.search(page(site, "quiet.html"))
    # never in the site's own feed or in index summaries
    assert "reciprocity" not in page(site, "feeds/all.atom.xml")
    assert "reciprocity-highlights" not in page(site, "index.html")
    # the friends page lists everyone, with their latest posts
    friends = page(site, "friends/index.html")
    assert len(re.findall(r'<section class="reciprocity-friend[ "]', friends)) == 5
    assert "good4 post 2" in friends
    opml = page(site, "friends.opml")
    assert opml.count("<outline ") == 5 and 'xmlUrl="http://127.0.0.1' in opml


def test_theme_that_places_the_section_is_not_injected_twice(feed_server, tmp_path, monkeypatch):
    overrides = tmp_path / "overrides"
    (overrides / "reciprocity").mkdir(parents=True)
    simple = Path(Pelican.__module__ and __import__("pelican").__file__).parent
    article = (simple / "themes" / "simple" / "templates" / "article.html").read_text()
    article = article.replace(
        "{{ article.content }}",
        '{{ article.content }}<aside>{% include "reciprocity/highlights.html" %}</aside>',
    )
    (overrides / "article.html").write_text(article)
    (overrides / "reciprocity" / "friends.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="custom">'
        "{{ reciprocity.friends|length }} friends</p>{% endblock %}"
    )
    site = make_site(
        tmp_path / "site",
        friends=good_friends(feed_server, 2),
        articles=ARTICLES[:2],
        settings={"THEME_TEMPLATES_OVERRIDES": [str(overrides)]},
    )
    build(site, monkeypatch)
    html = page(site, "curated.html")
    assert len(SECTION.findall(html)) == 1
    assert '<aside>\n<section class="reciprocity-highlights"' in html or (
        "<aside><section" in html.replace("\n", "")
    )
    assert '<p id="custom">2 friends</p>' in page(site, "friends/index.html")


def test_no_friends_does_nothing_with_one_info_line(tmp_path, monkeypatch, caplog):
    site = make_site(tmp_path, friends=None)
    caplog.set_level(logging.INFO)
    build(site, monkeypatch)
    lines = reciprocity_records(caplog)
    assert len(lines) == 1 and "no friends configured" in lines[0]
    assert not (site / "output" / "friends").exists()
    assert not SECTION.search(page(site, "article-0.html"))


def test_rebuild_is_byte_identical_and_makes_no_requests(feed_server, tmp_path, monkeypatch):
    site = make_site(tmp_path, friends=good_friends(feed_server), articles=ARTICLES)
    build(site, monkeypatch)
    first = tmp_path / "first"
    os.rename(site / "output", first)
    requests = feed_server.requests
    build(site, monkeypatch)
    assert feed_server.requests == requests
    diff = filecmp.dircmp(first, site / "output")
    assert not diff.diff_files and not diff.left_only and not diff.right_only
    for sub in diff.subdirs.values():
        assert not sub.diff_files


def test_a_finished_build_lets_go_of_its_feeds(feed_server, tmp_path, monkeypatch):
    """Pelican keeps every article, and through them the context, until the
    process ends: what the build held of ours is freed when it finishes (by
    reference counting alone), not walked by each collection until exit.
    So are the posts a fetch job handed over (a warm build's stay with the
    cache's copies, for the next build in the process)."""
    import gc

    from pelican_reciprocity.model import FeedState, Post
    from pelican_reciprocity.render import FriendView

    kinds: tuple[type, ...] = (FeedState, Post)

    def held() -> list[object]:
        # (an article's highlights keep their views, and each its friend's)
        return [
            o
            for o in gc.get_objects()
            if isinstance(o, kinds) or (isinstance(o, FriendView) and o.posts)
        ]

    site = make_site(tmp_path, friends=good_friends(feed_server), articles=ARTICLES)
    running = gc.isenabled()
    for _ in range(2):  # a cold build, then a warm one
        gc.collect()
        earlier = held()  # other tests' in this process, kept alive so no address is reused
        gc.disable()
        try:
            build(site, monkeypatch)
            mine = [o for o in held() if not any(o is e for e in earlier)]
        finally:
            if running:
                gc.enable()
        assert 'class="reciprocity-friends"' in page(site, "friends/index.html")
        assert mine == []
        kinds = (FeedState,)


def test_the_friends_page_is_kept_between_builds_while_its_inputs_are_unchanged(
    feed_server, tmp_path, monkeypatch
):
    """The friends page's views and their rendering are most of its cost in
    a warm build: a build whose inputs are those of the last one takes the
    rendered content from the cache (the same bytes); a new post, a new
    setting or a damaged copy has it made again."""
    from pelican_reciprocity import pages

    friends = good_friends(feed_server, 3)
    site = make_site(tmp_path, friends=friends, articles=ARTICLES)
    build(site, monkeypatch)
    first = page(site, "friends/index.html")
    made = []
    real = pages.Views.friends_page

    def making(self, feeds, lang):
        made.append(lang)
        return real(self, feeds, lang)

    monkeypatch.setattr(pages.Views, "friends_page", making)
    opml, css = site / "output" / "friends.opml", site / "output" / "theme" / "reciprocity.css"
    written = opml.stat().st_mtime_ns, css.stat().st_mtime_ns
    time.sleep(0.01)
    build(site, monkeypatch)
    assert made == [] and page(site, "friends/index.html") == first
    # the same blogroll and stylesheet are not written again
    assert (opml.stat().st_mtime_ns, css.stat().st_mtime_ns) == written
    new = {"title": "good1 news", "link": "https://good1.example/news/", "date": NOW}
    feed_server.add("good1", rss("Good 1", [new, *posts("good1", host="good1.example")]))
    build(site, monkeypatch, RECIPROCITY_CACHE_TTL=0)  # a friend posted: made again
    assert len(made) == 1 and "good1 news" in page(site, "friends/index.html")
    assert "good1 post 0" in page(site, "friends/index.html")
    build(site, monkeypatch, RECIPROCITY_FRIENDS_POSTS=1)  # a setting the page shows
    assert len(made) == 2 and "good1 post 0" not in page(site, "friends/index.html")
    build(site, monkeypatch, RECIPROCITY_FRIENDS_POSTS=1)
    assert len(made) == 2
    for kept in (site / "cache" / "reciprocity" / "pages").glob("*.json"):
        kept.write_text("{not json", encoding="utf-8")
    build(site, monkeypatch, RECIPROCITY_FRIENDS_POSTS=1)
    assert len(made) == 3 and "good1 news" in page(site, "friends/index.html")
    assert "good1 post 0" not in page(site, "friends/index.html")


def test_the_kept_friends_page_follows_each_feeds_copy_in_the_cache(
    feed_server, tmp_path, monkeypatch
):
    """The kept friends page is keyed by each feed's cache entry (the file
    written anew whenever its posts change), not by every post's fields: a
    copy written again with other posts, and nothing else changed, has the
    page made again; posts that no cache file holds are read one by one."""
    from pelican_reciprocity import pages
    from pelican_reciprocity.cache import FeedCache

    friends = good_friends(feed_server, 2)
    site = make_site(tmp_path, friends=friends, articles=ARTICLES)
    build(site, monkeypatch)
    made = []
    real = pages.Views.friends_page
    monkeypatch.setattr(
        pages.Views, "friends_page", lambda self, *a: made.append(1) or real(self, *a)
    )
    build(site, monkeypatch)
    assert made == []
    cache = FeedCache(site / "cache" / "reciprocity")
    entry = cache.load(friends[0]["feed"])
    assert entry is not None and entry.posts
    entry.posts = [entry.posts[0].but(title="Retitled in the cache"), *entry.posts[1:]]
    cache.save(entry)
    build(site, monkeypatch)
    assert made == [1] and "Retitled in the cache" in page(site, "friends/index.html")
    assert feed_server.requests == 2  # the cold build's two: the copy was read, not fetched

    monkeypatch.setattr(pages, "file_identity", lambda path: None)  # no file stands for them
    build(site, monkeypatch)
    assert made == [1, 1]  # another key: the posts' own fields
    build(site, monkeypatch)
    assert made == [1, 1]


def test_pelican_does_not_search_the_plugins_own_pages_for_its_link_syntax(
    feed_server, tmp_path, monkeypatch
):
    """The friends page's content is the plugin's own rendering, with
    absolute links only: Pelican's search of a page's content for
    ``{filename}`` links (a regular expression over the whole page) is not
    run on it, and the page shows that content as rendered."""
    from pelican.contents import Content

    from pelican_reciprocity import pages

    searched = []
    real = Content._update_content

    def update(self, content, siteurl):
        searched.append(type(self))
        return real(self, content, siteurl)

    monkeypatch.setattr(Content, "_update_content", update)
    rendered = []
    real_render = pages._render_kept
    monkeypatch.setattr(
        pages, "_render_kept", lambda *a: rendered.append(real_render(*a)) or rendered[-1]
    )
    site = make_site(tmp_path, friends=good_friends(feed_server, 2), articles=ARTICLES)
    build(site, monkeypatch)
    assert searched and pages.Page not in searched  # the articles' content still is searched
    assert rendered and rendered[0] in page(site, "friends/index.html")


def test_the_friends_page_views_are_made_only_when_a_page_reads_them(
    feed_server, tmp_path, monkeypatch
):
    """Held from the feeds' arrival through the writing of every page, the
    friends page's views cost a warm build one more full garbage collection:
    they are made when a template first reads them (the friends page), once."""
    from pelican import signals

    from pelican_reciprocity import pages

    site = make_site(tmp_path, friends=good_friends(feed_server), articles=ARTICLES)
    build(site, monkeypatch)  # warm
    shutil.rmtree(site / "cache" / "reciprocity" / "pages")  # no friends page kept from it
    events = []
    real = pages.Views.friends_page

    def making(self, feeds, lang):
        events.append("views")
        return real(self, feeds, lang)

    def written(path, context=None):
        events.append(Path(path).name)

    monkeypatch.setattr(pages.Views, "friends_page", making)
    signals.content_written.connect(written)
    try:
        build(site, monkeypatch)
    finally:
        signals.content_written.disconnect(written)
    assert events.count("views") == 1
    made = events.index("views")
    assert "curated.html" in events[:made] and "index.html" in events[:made]
    assert 'class="reciprocity-friends"' in page(site, "friends/index.html")


def test_autoreload_style_second_run_and_content_cache(feed_server, tmp_path, monkeypatch):
    site = make_site(
        tmp_path,
        friends=good_friends(feed_server, 2),
        articles=ARTICLES,
        settings={"CACHE_CONTENT": True, "LOAD_CONTENT_CACHE": True},
    )
    monkeypatch.chdir(site)
    pelican = Pelican(read_settings(str(site / "pelicanconf.py")))
    pelican.run()
    requests = feed_server.requests
    pelican.run()  # --autoreload reruns the same instance
    assert feed_server.requests == requests
    assert len(SECTION.findall(page(site, "curated.html"))) == 1
    # a fresh instance reading articles from Pelican's content cache
    Pelican(read_settings(str(site / "pelicanconf.py"))).run()
    assert len(SECTION.findall(page(site, "curated.html"))) == 1


def test_builds_in_one_process_keep_nothing_of_each_other(feed_server, tmp_path, monkeypatch):
    """Pelican keeps every build's articles until the process ends; under
    autoreload, what the plugin hung on them (each article's sections, and
    through the context the articles generator with its environment) must
    not pile up with every save."""
    import gc

    from pelican.generators import ArticlesGenerator

    from pelican_reciprocity.render import ArticleReciprocity

    site = make_site(tmp_path, friends=good_friends(feed_server, 2), articles=ARTICLES)
    monkeypatch.chdir(site)

    def held() -> tuple[int, int]:
        gc.collect()
        objects = gc.get_objects()
        return (
            sum(isinstance(o, ArticleReciprocity) for o in objects),
            sum(isinstance(o, ArticlesGenerator) for o in objects),
        )

    Pelican(read_settings(str(site / "pelicanconf.py"))).run()
    before = held()
    for _ in range(2):
        Pelican(read_settings(str(site / "pelicanconf.py"))).run()
        assert gc.get_freeze_count() == 0  # what its loads froze, given back at its end
    assert held() == before
    assert SECTION.search(page(site, "plain.html"))


def test_a_build_leaves_pelicans_articles_as_compact_as_it_found_them(
    feed_server, tmp_path, monkeypatch
):
    """Python keeps an object's attributes without a dictionary of their own
    until one is asked for (``vars``): Pelican keeps every article until the
    process ends, so one asked for by the plugin would be 300 more objects
    for the collector to walk after every save under autoreload."""
    import gc

    from pelican import signals

    def own_dicts(settings: dict[str, object]) -> int:
        made: list[object] = []

        def keep(generator: object) -> None:
            made.extend(generator.articles)  # type: ignore[attr-defined]

        signals.article_generator_finalized.connect(keep, weak=False)
        try:
            Pelican(read_settings(str(site / "pelicanconf.py"), override=settings)).run()
        finally:
            signals.article_generator_finalized.disconnect(keep)
        assert made
        # an article whose attributes are a dictionary refers to it; one that keeps them inline does not
        return sum(
            any(type(r) is dict and "_content" in r for r in gc.get_referents(a)) for a in made
        )

    site = make_site(tmp_path, friends=good_friends(feed_server, 2), articles=ARTICLES)
    monkeypatch.chdir(site)
    plain = own_dicts({"PLUGINS": []})
    assert own_dicts({}) == plain
    assert SECTION.search(page(site, "plain.html"))  # the plugin did run


def test_a_translation_sharing_its_highlights_shows_them_in_its_own_language(
    feed_server, tmp_path, monkeypatch
):
    """The section is rendered once for every article showing the same posts
    the same way: a translation shows the same posts under its own heading."""
    articles = [
        {"title": "Hello", "slug": "hello"},
        {"title": "Bonjour", "slug": "hello", "meta": {"Lang": "fr"}},
    ]
    site = make_site(tmp_path, friends=good_friends(feed_server), articles=articles)
    build(site, monkeypatch)
    english, french = page(site, "hello.html"), page(site, "hello-fr.html")
    shown = re.compile(r'<a [^>]*href="(https://good[^"]+)"')
    assert shown.findall(english) == shown.findall(french) != []  # the same posts
    assert "Posts I&#39;m highlighting" in english or "Posts I'm highlighting" in english
    assert "billets que je mets en avant" in french
    assert "highlighting" not in french


def test_unknown_curated_url_is_a_plain_link_with_a_warning(
    feed_server, tmp_path, monkeypatch, caplog
):
    site = make_site(
        tmp_path,
        friends=good_friends(feed_server, 1),
        articles=[
            {"title": "X", "slug": "x", "meta": {"Highlights": "https://elsewhere.example/p"}}
        ],
    )
    build(site, monkeypatch)
    assert 'href="https://elsewhere.example/p"' in page(site, "x.html")
    assert any(
        "https://elsewhere.example/p is not in any friend's feed" in line
        for line in reciprocity_records(caplog, logging.WARNING)
    )


def test_other_pelican_instances_are_left_alone(feed_server, tmp_path, monkeypatch):
    with_plugin = make_site(tmp_path / "a", friends=good_friends(feed_server, 1))
    build(with_plugin, monkeypatch)
    without = make_site(
        tmp_path / "b", friends=good_friends(feed_server, 1), settings={"PLUGINS": []}
    )
    build(without, monkeypatch)
    assert SECTION.search(page(with_plugin, "article-0.html"))
    assert not SECTION.search(page(without, "article-0.html"))
    assert not (without / "output" / "friends").exists()


def test_autoescape_on_does_not_double_escape(feed_server, tmp_path, monkeypatch):
    url = feed_server.add(
        "amp",
        rss(
            "Amp",
            [
                {
                    "title": "Fish & Chips <3",
                    "link": "https://amp.example/1",
                    "description": "<b>bold</b> & brave",
                }
            ],
        ),
    )
    site = make_site(
        tmp_path,
        friends=[{"name": "A&B", "feed": url}],
        settings={"JINJA_ENVIRONMENT": {"autoescape": True}},
    )
    build(site, monkeypatch)
    html = page(site, "article-0.html")
    assert "Fish &amp; Chips &lt;3" in html and "&amp;amp;" not in html
    assert "A&amp;B" in html


def test_strict_mode_fails_the_build_naming_the_feed(feed_server, tmp_path, monkeypatch, caplog):
    site = make_site(
        tmp_path,
        friends=[{"name": "Broken", "feed": feed_server.url("/status/500")}],
        settings={"RECIPROCITY_STRICT": True},
    )
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit):
        build(site, monkeypatch)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert re.match(r"reciprocity: RECIPROCITY_STRICT .* Broken \(HTTP 500", line)


HOSTILE = """<?xml version="1.0"?><rss version="2.0"><channel><title>Evil</title>
<link>https://evil.example/</link>
<item><title>&lt;img src=x onerror=alert(1)&gt;Click</title>
<link>javascript:alert(1)</link><description>x</description></item>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Real title</title>
<link>https://evil.example/real</link>
<description>&lt;p onmouseover="alert(1)"&gt;Hi&lt;iframe src="https://evil.example/x"&gt;&lt;/iframe&gt;
&lt;a href="javascript:alert(2)"&gt;click&lt;/a&gt;&lt;script&gt;steal()&lt;/script&gt;&lt;/p&gt;</description>
</item></channel></rss>"""


def test_hostile_friends_cannot_hang_crash_or_inject(feed_server, tmp_path):
    """The core issue's acceptance build, run as a user would, with `pelican`."""
    friends = good_friends(feed_server, 5)
    evil = feed_server.add("evil", HOSTILE)
    for name, path in [
        ("Never answers", "/hang"),
        ("Trickles", "/trickle"),
        ("Server error", "/status/500"),
        ("Garbage", "/garbage"),
        ("Gzip bomb", "/gzipbomb"),
        ("Huge body", "/huge"),
        ("Redirect loop", "/loop"),
        ("Web page", "/html"),
    ]:
        friends.append({"name": name, "feed": feed_server.url(path)})
    friends.append({"name": "Scripts", "url": "https://evil.example/", "feed": evil})
    site = make_site(
        tmp_path, friends=friends, articles=ARTICLES, settings={"RECIPROCITY_TIMEOUT": 3}
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py", "-v"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400"},  # keep rich from wrapping log lines
    )
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert elapsed < 3 * 3 + 10, elapsed  # a few timeouts, never the sum
    assert "Traceback" not in log
    for name in ["Never answers", "Trickles", "Server error", "Garbage", "Gzip bomb",
                 "Huge body", "Redirect loop", "Web page"]:  # fmt: skip
        assert f"feed of {name} (" in log, name
    friends_page = page(site, "friends/index.html")
    for i in range(5):
        assert f"good{i} post 0" in friends_page
    assert "Real title" in friends_page
    assert "Never answers" in friends_page and "Gzip bomb" in friends_page  # still listed
    for path in (site / "output").rglob("*.html"):
        assert page_is_safe(path.read_text(encoding="utf-8")), path
    summary = [line for line in log.splitlines() if "reciprocity: 14 feeds" in line]
    assert summary and "8 failed" in summary[0], log


def test_bad_setting_is_one_clear_line(tmp_path):
    site = make_site(tmp_path, friends=[], settings={"RECIPROCITY_TIMEOUT": "soon"})
    proc = subprocess.run(
        [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py"],
        cwd=site, capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "RECIPROCITY_TIMEOUT must be a number, got 'soon'" in log
    assert "Traceback" not in log


def test_i18n_subsites_build_every_language_from_one_fetch(feed_server, tmp_path, monkeypatch):
    site = make_site(
        tmp_path,
        friends=good_friends(feed_server, 2),
        articles=[
            {"title": "Hello", "slug": "hello", "meta": {"Lang": "en"}},
            {"title": "Bonjour", "slug": "hello", "meta": {"Lang": "fr"}},
        ],
        settings={
            "PLUGINS": ["pelican.plugins.i18n_subsites", "pelican_reciprocity"],
            "JINJA_ENVIRONMENT": {"extensions": ["jinja2.ext.i18n"]},
            "I18N_SUBSITES": {"fr": {"SITENAME": "Site de test"}},
            "DEFAULT_LANG": "en",
        },
    )
    build(site, monkeypatch)
    assert feed_server.requests == 2  # one per feed, not one per language
    assert len(SECTION.findall(page(site, "hello.html"))) == 1
    assert len(SECTION.findall(page(site, "fr/hello.html"))) == 1
    assert (site / "output" / "fr" / "friends" / "index.html").exists()


#: What a warm build must never load for the plugin: the HTTP client, the
#: feed parsers, the response readers and the translations of an English site,
#: nor, with no responses and a ledger already up to date, the thanks
#: section's code and the ledger's builder.
FETCHING_STACK = (
    "httpx", "httpcore", "h11", "feedparser", "babel", "pelican_reciprocity.fetch",
    "pelican_reciprocity.httpclient", "pelican_reciprocity.feeds", "pelican_reciprocity.job", "pelican_reciprocity.acknowledge",
    "pelican_reciprocity.thanks", "pelican_reciprocity.ledger",
)  # fmt: skip
LOADED = """
import sys
from pelican import Pelican
from pelican.settings import read_settings
plain = {"PLUGINS": []} if sys.argv[1:] == ["plain"] else None
Pelican(read_settings("pelicanconf.py", override=plain)).run()
print("MODULES", " ".join(sorted(sys.modules)))
"""


def test_a_warm_build_loads_nothing_it_does_not_need(feed_server, tmp_path):
    """Rebuilds are cheap: within the TTL a build of an English site imports
    no HTTP client, no parser and no Babel beyond what Pelican itself loads
    (it imports every installed namespace plugin). Modules, never times."""
    site = make_site(tmp_path, friends=good_friends(feed_server, 3), articles=ARTICLES)

    def loaded(*plain: str) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-c", LOADED, *plain],
            cwd=site, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        line = [x for x in proc.stdout.splitlines() if x.startswith("MODULES ")][-1]
        return set(line.split()[1:])

    cold = loaded()
    assert "pelican_reciprocity.job" in cold  # the cold build started a fetch
    assert list(site.rglob("feeds/entries.pickle"))  # the job indexed what it wrote
    asked = sum(feed_server.hits.values())
    assert asked >= 3
    warm = loaded()
    assert sum(feed_server.hits.values()) == asked
    assert "good0 post 0" in page(site, "friends/index.html")
    ours = warm - loaded("plain")
    assert "pelican_reciprocity.plugin" in ours
    assert not ours & set(FETCHING_STACK), sorted(ours & set(FETCHING_STACK))
