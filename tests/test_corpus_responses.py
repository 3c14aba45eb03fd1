"""Real response data from ../shared/corpus/responses, read in place.

Skipped when the corpus is absent; failed when RECIPROCITY_CORPUS_REQUIRED=1.
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import corpus_dir
from helpers import build, make_site, page
from test_units import DANGER, page_is_safe

from pelican_reciprocity.matching import match_articles, path_key
from pelican_reciprocity.model import ArticleRef
from pelican_reciprocity.moderation import moderate
from pelican_reciprocity.sources import read_comment_files, read_comment_folder, read_source

#: file, site URL, expected count, expected kinds, one (target path, author) pair known to match
SOURCES = [
    ("webmentionio-jf2-andrewm.codes.json", "https://andrewm.codes", 178,
     {"like": 96, "reply": 68, "mention": 9, "repost": 5},
     "/blog/a11y-in-rails-automated-linting-with-accesslint/"),
    ("webmentionio-legacy-links-rockorager.json", "https://timculverhouse.com", 9,
     {"reply": 8, "mention": 1}, "/notes/2021-04-16-first-post.html"),
    ("wordpress-comments-rss2-sitewide-whizzy.org.xml", "https://whizzy.org", 50, None,
     "/2017/02/23/cisco-7941-asterisk-and-sip/"),
    ("wordpress-comments-rss2-perpost-whizzy.org.xml", "https://whizzy.org", 9, None,
     "/2015/06/11/howto-very-low-power-usage-on-pro-mini-v2-arduino-clone/"),
    ("wordpress-comments-atom-sitewide-bigredtin.com.xml", "http://bigredtin.com", 10, None,
     "/2011/wordpress-theme-elements/"),
    ("wordpress-comments-atom-sitewide-girtby.net.xml", "http://girtby.net", 10, None,
     "/archives/2009/08/23/archiving-tweets/"),
    ("disqus-export-yesilmavihayat.xml", "https://yesilmavihayat.com", 49, {"comment": 49},
     "/yorumlar"),
    ("blogger-export-atom-pelican-testfixture.xml", "http://youngdoctornotes.blogspot.com", 1,
     {"comment": 1}, "/2010/11/the-steel-windpipe.html"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "siteurl", "count", "kinds", "known"), SOURCES)
def test_every_source_format_reads_and_matches(name, siteurl, count, kinds, known):
    folder = corpus_dir("responses")
    result = read_source((folder / name).read_bytes(), name)
    assert result.problems == ()
    assert len(result.responses) == count
    if kinds:
        assert Counter(r.kind for r in result.responses) == kinds
    for response in result.responses:
        assert not DANGER.search(response.excerpt_html)
        assert response.published is None or response.published.tzinfo is not None
    # a site with an article at every path the responses point to
    paths = sorted({path_key(r.target) for r in result.responses if r.target})
    assert path_key(known) in paths
    articles = [ArticleRef(key=p, slug=p.strip("/") or "home", url=p.lstrip("/")) for p in paths]
    matched, unmatched = match_articles(result.responses, articles, siteurl)
    assert unmatched == []
    assert matched[path_key(known)]


def test_pelican_comment_system_files_with_blogger_replyto():
    folder = corpus_dir("responses") / "pcs-minchin-blogger-imported" / "comments"
    result = read_comment_files(folder)
    assert len(result.responses) == 22 and result.problems == ()
    slugs = {r.target for r in result.responses}
    assert "slug:code-of-conduct" in slugs and len(slugs) == 4
    assert Counter(r.kind for r in result.responses)["reply"] >= 5
    articles = [ArticleRef(key=s[5:], slug=s[5:], url=f"{s[5:]}.html") for s in slugs]
    matched, unmatched = match_articles(result.responses, articles, "https://blog.minchin.ca")
    assert unmatched == [] and len(matched["code-of-conduct"]) == 2


def test_pingbacks_quoting_the_post_are_not_held():
    folder = corpus_dir("responses") / "pcs-owlfolio-css-data-theft"
    result = read_comment_folder(folder, "css-data-theft")
    assert len(result.responses) == 10
    pingbacks = [r for r in result.responses if r.kind == "mention"]
    assert {r.author_name for r in pingbacks} == {"blog.mozilla.com", "www.seginfo.com.br"}
    verdicts = moderate(result.responses, article_texts={}, article_of={})
    assert all(v.status == "publish" for v in verdicts.values()), verdicts


def test_webmentions_build_into_thanks(tmp_path, monkeypatch):
    folder = corpus_dir("responses")
    site = make_site(
        tmp_path,
        friends=None,
        articles=[
            {
                "title": "Rails 6.1 with asdf",
                "slug": "how-to-install-ruby-on-rails-6-1-with-asdf-on-macos-big-sur",
            }
        ],
        settings={
            "SITEURL": "https://andrewm.codes",
            "ARTICLE_URL": "blog/{slug}/",
            "ARTICLE_SAVE_AS": "blog/{slug}/index.html",
            "RECIPROCITY_RESPONSE_SOURCES": [str(folder / "webmentionio-jf2-andrewm.codes.json")],
        },
    )
    build(site, monkeypatch)
    html = page(site, "blog/how-to-install-ruby-on-rails-6-1-with-asdf-on-macos-big-sur/index.html")
    assert '<section class="reciprocity-thanks"' in html
    assert "liked this" in html
    assert page_is_safe(html)
