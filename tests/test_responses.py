"""Acknowledgements: reading every response format, matching, people, moderation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from test_units import DANGER

from pelican_reciprocity.identity import identify
from pelican_reciprocity.matching import match_articles
from pelican_reciprocity.model import ArticleRef, Response
from pelican_reciprocity.moderation import Rules, copies_article, moderate
from pelican_reciprocity.sources import (
    read_comment_folder,
    read_source,
    read_thanks,
    split_metadata,
)

POST = (
    "Saving tomato seed is easier than it looks. Ferment the seed for three days, "
    "rinse it well, and dry it on a plate rather than on kitchen paper, which it sticks to."
)


def comment(id, text, *, name="Reader", url="", target="slug:post", kind="comment", links=0):
    return Response(
        id=id, kind=kind, target=target, author_name=name, author_url=url, text=text, links=links
    )


# -- reading -------------------------------------------------------------------------


def test_front_matter_yaml_and_pelican_style():
    meta, body = split_metadata("---\nauthor:  Ben\nlink: http://b.example/\n...\n\nHello")
    assert meta == {"author": "Ben", "link": "http://b.example/"} and body == "Hello"
    meta, body = split_metadata("author: Ann\ndate: 2026-01-02\n\nHi *there*")
    assert meta["author"] == "Ann" and body == "Hi *there*"


def test_comment_files_in_every_format(tmp_path):
    folder = tmp_path / "my-post"
    folder.mkdir()
    (folder / "1.md").write_text(
        "author: Ann\ndate: 2026-01-02 10:00\nwebsite: https://ann.example/\n\nGreat *post*."
    )
    (folder / "2.rst").write_text("author: Bo\nurl: https://bo.example/\nreplyto: 1md\n\nAgreed.")
    (folder / "3.html").write_text("author: Cy\n\n<p>Nice <script>x()</script></p>")
    (folder / "notes.txt").write_text("ignored")
    result = read_comment_folder(folder, "my-post")
    by_name = {r.author_name: r for r in result.responses}
    assert set(by_name) == {"Ann", "Bo", "Cy"}
    assert by_name["Ann"].author_url == "https://ann.example/"
    assert "<em>post</em>" in by_name["Ann"].excerpt_html
    assert by_name["Bo"].kind == "reply" and by_name["Bo"].author_url == "https://bo.example/"
    assert "script" not in by_name["Cy"].excerpt_html
    assert all(r.target == "slug:my-post" for r in result.responses)


def test_webmention_jf2_and_legacy_formats():
    jf2 = {
        "type": "feed",
        "children": [
            {"wm-id": 1, "wm-property": "like-of", "wm-target": "https://me.example/p/",
             "author": {"name": "Liker", "url": "https://liker.example/"}},
            {"wm-id": 2, "wm-property": "in-reply-to", "wm-target": "https://me.example/p/",
             "author": {"name": "Replier", "url": "javascript:alert(1)"},
             "content": {"html": "<p>Yes!<img src=x onerror=alert(1)></p>"}},
            {"wm-id": 3, "wm-property": "mention-of", "wm-target": "https://me.example/p/",
             "wm-private": True, "author": {"name": "Secret"}},
        ],
    }  # fmt: skip
    result = read_source(json.dumps(jf2).encode(), "jf2.json")
    kinds = {r.author_name: (r.kind, r.private) for r in result.responses}
    assert kinds == {
        "Liker": ("like", False),
        "Replier": ("reply", False),
        "Secret": ("mention", True),
    }
    replier = next(r for r in result.responses if r.author_name == "Replier")
    assert replier.author_url == "" and not DANGER.search(replier.excerpt_html)
    legacy = {"links": [{"id": 9, "target": "https://me.example/p/", "activity": {"type": "reply"},
                         "data": {"author": {"name": "Old"}, "content": "hi"}}]}  # fmt: skip
    [old] = read_source(json.dumps(legacy).encode(), "legacy.json").responses
    assert (old.kind, old.author_name) == ("reply", "Old")


def test_wordpress_comment_feeds_rss_and_atom():
    rss = b"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Comments for Me</title><link>https://me.example/</link>
<item><title>Comment on Seeds by Ann</title><link>https://me.example/seeds/#comment-7</link>
<dc:creator>Ann</dc:creator><pubDate>Mon, 02 Nov 2026 10:00:00 +0000</pubDate>
<description>Lovely.</description></item></channel></rss>"""
    [ann] = read_source(rss, "https://me.example/comments/feed/").responses
    assert (ann.author_name, ann.target) == ("Ann", "https://me.example/seeds/")
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Comments</title><entry><title>By: Bo</title>
<link rel="alternate" href="https://me.example/seeds/#comment-8"/>
<author><name>Bo</name><uri>https://bo.example/</uri></author>
<id>https://me.example/?p=1#comment-8</id><updated>2026-11-02T10:00:00Z</updated>
<content type="html">Thanks!</content></entry></feed>"""
    [bo] = read_source(atom, "atom.xml").responses
    assert (bo.author_url, bo.target) == ("https://bo.example/", "https://me.example/seeds/")


def test_disqus_export_respects_deleted_and_spam():
    xml = b"""<?xml version="1.0"?><disqus xmlns="http://disqus.com"
 xmlns:dsq="http://disqus.com/disqus-internals">
<thread dsq:id="1"><link>https://me.example/seeds/</link></thread>
<post dsq:id="10"><message><![CDATA[<p>Kept</p>]]></message><createdAt>2026-01-01T00:00:00Z</createdAt>
<isDeleted>false</isDeleted><isSpam>false</isSpam><author><name>Kay</name><isAnonymous>false</isAnonymous></author>
<thread dsq:id="1"/></post>
<post dsq:id="11"><message>gone</message><isDeleted>true</isDeleted><isSpam>false</isSpam>
<author><name>Del</name></author><thread dsq:id="1"/></post>
<post dsq:id="12"><message>buy</message><isDeleted>false</isDeleted><isSpam>true</isSpam>
<author><name>Spammy</name></author><thread dsq:id="1"/></post></disqus>"""
    result = read_source(xml, "disqus.xml")
    assert [(r.author_name, r.flagged_spam) for r in result.responses] == [
        ("Kay", False),
        ("Spammy", True),
    ]
    assert result.responses[0].target == "https://me.example/seeds/"


def test_thanks_metadata():
    result = read_thanks("Lena Okafor <https://lena.example/>, Nas, Bad <javascript:x>", "post")
    assert [(r.author_name, r.author_url) for r in result.responses] == [
        ("Lena Okafor", "https://lena.example/"),
        ("Nas", ""),
        ("Bad", ""),
    ]
    assert result.problems


# -- matching and people ------------------------------------------------------------------


def test_targets_match_in_every_spelling():
    articles = [ArticleRef(key="seeds.html", slug="seeds", url="2026/seeds/")]
    spellings = [
        "https://me.example/2026/seeds/",
        "http://www.me.example/2026/seeds",
        "https://me.example/2026/seeds/index.html?utm_source=x#comments",
        "/2026/seeds/",
        "slug:seeds",
    ]
    responses = [comment(str(i), "x", target=t) for i, t in enumerate(spellings)]
    responses.append(comment("other", "x", target="https://elsewhere.example/2026/seeds/"))
    matched, unmatched = match_articles(responses, articles, "https://me.example")
    assert len(matched["seeds.html"]) == len(spellings)
    assert [r.id for r in unmatched] == ["other"]


def test_people_merge_by_url_then_name_and_friends_are_known():
    responses = [
        comment("1", "a", name="Lena", url="https://lena.example/"),
        comment("2", "b", name="Lena", url="http://www.lena.example"),
        comment("3", "c", name="lena"),
        comment("4", "d", name="Anonymous"),
        comment("5", "e", name=""),
        comment("6", "f", name="Pat", url="https://pat.example/"),
    ]
    people, anonymous = identify(responses, {"url:pat.example": "Pat"})
    assert anonymous == 2
    assert [(p.name, len(p.responses), p.friend) for p in people] == [
        ("Lena", 3, False),
        ("Pat", 1, True),
    ]


# -- moderation ----------------------------------------------------------------------------

LEGIT = [
    "Great post. Agree.",
    "Thanks!",
    "Lovely, thank you for writing this.",
    "I tried this last year and the seeds went mouldy. Drying on a plate fixed it.",
    "You said to dry it on a plate rather than on kitchen paper - why is paper worse?",
    "Brilliant. Sharing with my allotment group.",
    "Merci, très utile !",
    "+1",
]


@pytest.mark.parametrize("text", LEGIT)
def test_short_and_warm_comments_are_never_held(text):
    verdicts = moderate(
        [comment("c", text)], article_texts={"post": POST}, article_of={"c": "post"}
    )
    assert verdicts["c"].status == "publish", verdicts["c"].reasons


@pytest.mark.parametrize(
    ("text", "links", "reason"),
    [
        ("Best site to buy instagram followers: cheapfollowers.example", 1, "spam phrase"),
        (POST + " Visit https://seo-spam.example/ for more", 1, "copied from the article"),
        ("See https://a.example https://b.example https://c.example now", 3, "links in"),
    ],
)
def test_spam_is_held_with_reasons(text, links, reason):
    verdicts = moderate(
        [comment("s", text, links=links)], article_texts={"post": POST}, article_of={"s": "post"}
    )
    assert verdicts["s"].status == "held"
    assert any(reason in r for r in verdicts["s"].reasons), verdicts["s"].reasons


def test_pingback_quoting_the_post_is_legitimate():
    text = "[…] " + POST[:120] + " […]"
    verdicts = moderate(
        [comment("p", text, kind="mention", links=1)],
        article_texts={"post": POST},
        article_of={"p": "post"},
    )
    assert verdicts["p"].status == "publish"
    assert copies_article(text, POST) > 0.5  # it does copy; the quote marks excuse it


def test_same_text_on_several_articles_is_held():
    text = "Amazing article, I have bookmarked it! See my site for more ideas https://x.example"
    responses = [
        comment("a", text, target="slug:one", links=1),
        comment("b", text, target="slug:two", links=1),
    ]
    verdicts = moderate(responses, article_texts={}, article_of={"a": "one", "b": "two"})
    assert all(v.status == "held" for v in verdicts.values())
    assert "posted on 2 articles" in verdicts["a"].reasons[0]


def test_rules_trust_and_decisions():
    spam = "Best site to buy instagram followers"
    base = dict(article_texts={}, article_of={})
    assert moderate([comment("x", spam, name="Fr", url="https://fr.example/")],
                    trusted={"url:fr.example"}, **base)["x"].status == "publish"  # fmt: skip
    assert (
        moderate([comment("x", spam)], decisions={"x": "approved"}, **base)["x"].status == "publish"
    )
    assert (
        moderate([comment("x", "hi")], decisions={"x": "blocked"}, **base)["x"].status == "blocked"
    )
    rules = Rules(block_domains=("bad.example",), block_words=("crypto",))
    verdict = moderate([comment("x", "hi", url="https://www.bad.example/")], rules=rules, **base)
    assert verdict["x"].status == "blocked"
    verdict = moderate([comment("x", "cheap CRYPTO")], rules=rules, **base)
    assert verdict["x"].status == "blocked"


def test_disqus_spam_flag_holds():
    flagged = Response(id="d", kind="comment", target="x", author_name="D", text="hi",
                       flagged_spam=True, source="Disqus export")  # fmt: skip
    verdict = moderate([flagged], article_texts={}, article_of={})["d"]
    assert verdict.status == "held" and "Disqus" in verdict.reasons[0]


def test_dates_are_timezone_aware(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "1.md").write_text("author: A\ndate: 2023-07-11T09:55-06:00\n\nHi")
    [response] = read_comment_folder(folder, "p").responses
    assert response.published == datetime(2023, 7, 11, 15, 55, tzinfo=UTC)


def test_a_comment_date_without_an_offset_is_in_the_sites_timezone(tmp_path):
    from zoneinfo import ZoneInfo

    folder = tmp_path / "post"
    folder.mkdir()
    (folder / "1.md").write_text("author: A\ndate: 2026-11-01 10:00\n\nHello.\n", encoding="utf-8")
    (response,) = read_comment_folder(folder, "post", ZoneInfo("Europe/Paris")).responses
    assert response.published.isoformat() == "2026-11-01T10:00:00+01:00"


def test_response_dates_that_cannot_be_right_are_unknown_not_fatal():
    children = [
        {"wm-id": i, "wm-target": "https://me.example/post/", "wm-property": "like-of",
         "author": {"name": f"P{i}"}, "published": value}
        for i, value in enumerate(
            [1764000000000, "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00", True]
        )
    ]  # fmt: skip
    result = read_source(json.dumps({"children": children}).encode(), "test")
    dates = [r.published for r in result.responses]
    assert dates[0] is not None and dates[0].year == 2025  # milliseconds, read as such
    assert dates[1:] == [None, None, None]
