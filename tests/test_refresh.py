"""Cache behaviour: TTL, revalidation, stale fallback, offline, corruption."""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time

from helpers import posts, rss

from pelican_reciprocity.cache import CacheEntry, FeedCache
from pelican_reciprocity.model import Friend, Post
from pelican_reciprocity.refresh import log_failures, refresh
from pelican_reciprocity.schedule import FAILED_RETRY, Due, Held, plan, slow_first
from pelican_reciprocity.settings import configure


def config_for(tmp_path, **extra):
    settings = {"PATH": str(tmp_path), "RECIPROCITY_CACHE_PATH": str(tmp_path / "cache")}
    settings.update({f"RECIPROCITY_{k.upper()}": v for k, v in extra.items()})
    return configure(settings)


def test_rebuild_within_ttl_makes_no_request(feed_server, tmp_path):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url)]
    config = config_for(tmp_path)
    first = refresh(friends, config)
    assert first.feeds[0].outcome == "updated" and feed_server.requests == 1
    second = refresh(friends, config)
    assert second.feeds[0].outcome == "cached" and second.requests == 0
    assert feed_server.requests == 1
    assert [p.title for p in second.feeds[0].posts] == [p.title for p in first.feeds[0].posts]


def test_expired_cache_revalidates_without_reparsing(feed_server, tmp_path, monkeypatch):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url)]
    config = config_for(tmp_path, cache_ttl=0)
    refresh(friends, config)
    import pelican_reciprocity.feeds as module  # refresh reads it from here on each use

    def no_parse(*args, **kwargs):
        raise AssertionError("a 304 must not re-parse")

    monkeypatch.setattr(module, "parse_feed", no_parse)
    report = refresh(friends, config)
    assert report.feeds[0].outcome == "revalidated"
    assert feed_server.conditional["/feed/a"] == 1
    assert len(report.feeds[0].posts) == 3


def test_server_gone_uses_last_good_copy(feed_server, tmp_path, caplog):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url)]
    refresh(friends, config_for(tmp_path))
    feed_server.close()
    caplog.set_level(logging.WARNING)
    report = refresh(friends, config_for(tmp_path, cache_ttl=0, timeout=2))
    state = report.feeds[0]
    assert state.outcome == "failed" and len(state.posts) == 3
    log_failures(report)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith(f"reciprocity: feed of A ({url}) failed: cannot connect")
    assert "using copy from just now" in line
    assert "1 failed (using copy from just now)" in report.summary()


def test_offline_never_touches_the_network(feed_server, tmp_path):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url), Friend(name="B", feed=feed_server.url("/feed/b"))]
    refresh(friends[:1], config_for(tmp_path))
    feed_server.reset()
    report = refresh(friends, config_for(tmp_path, offline=True, cache_ttl=0))
    assert feed_server.requests == 0
    assert report.feeds[0].outcome == "cached" and len(report.feeds[0].posts) == 3
    assert report.feeds[1].outcome == "failed"
    assert report.feeds[1].error == "offline, and no cached copy"


def test_corrupt_cache_entry_is_dropped_and_rebuilt(feed_server, tmp_path, caplog):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url)]
    config = config_for(tmp_path)
    refresh(friends, config)
    path = FeedCache(config.cache_path).path_for(url)
    for junk in (b"{not json", b'{"format": "someone-else"}', b"\xff\xfe"):
        path.write_bytes(junk)
        caplog.clear()
        report = refresh(friends, config)
        assert report.feeds[0].outcome == "updated"
        assert any("dropping corrupt cache entry" in r.getMessage() for r in caplog.records)
        assert json.loads(path.read_bytes())["url"] == url


def test_retry_after_is_honoured(feed_server, tmp_path):
    friends = [Friend(name="R", feed=feed_server.url("/retry"))]
    config = config_for(tmp_path, cache_ttl=0)
    assert refresh(friends, config).feeds[0].outcome == "failed"
    assert refresh(friends, config).requests == 0  # still inside Retry-After


def test_undated_posts_keep_their_first_seen_date(feed_server, tmp_path):
    url = feed_server.add("u", rss("U", [{"title": "t", "link": "https://u.example/1"}]))
    friends = [Friend(name="U", feed=url)]
    first = refresh(friends, config_for(tmp_path)).feeds[0].posts[0]
    time.sleep(1.1)
    feed_server.add("u", rss("U", [{"title": "t2", "link": "https://u.example/1"}]))
    second = refresh(friends, config_for(tmp_path, cache_ttl=0)).feeds[0].posts[0]
    assert second.title == "t2" and second.date == first.date and not second.dated


def test_plan_is_pure_and_follows_the_rules():
    url = "https://a.example/feed"
    held = Held(checked_at=1000, fetched_at=1000, etag='"x"')
    assert plan(url, None, now=1000, ttl=60, offline=False) == Due(url)
    assert plan(url, held, now=1030, ttl=60, offline=False) is None
    assert plan(url, held, now=1100, ttl=60, offline=False) == Due(url, '"x"')
    assert plan(url, held, now=1030, ttl=60, offline=False, force=True) == Due(url, '"x"')
    assert plan(url, held, now=9999, ttl=60, offline=True) is None
    assert plan(url, held, now=9999, ttl=60, offline=True, force=True) is None
    waiting = Held(checked_at=1, fetched_at=1, retry_after=5000)
    assert plan(url, waiting, now=4000, ttl=60, offline=False) is None
    failed = Held(checked_at=1000, fetched_at=900, error="HTTP 500")
    assert plan(url, failed, now=1000 + FAILED_RETRY + 1, ttl=86400, offline=False) is not None
    # a local file is read again only when it changed, online or not
    local = "file:///site/feed.xml"
    stamped = Held(checked_at=1, fetched_at=1, etag="file:1:2")
    assert (
        plan(local, stamped, now=5, ttl=60, offline=True, local=True, file_stamp="file:1:2") is None
    )
    assert plan(local, stamped, now=5, ttl=60, offline=True, local=True, file_stamp="file:3:2")


def test_parallel_writers_never_leave_a_broken_entry(tmp_path):
    cache = FeedCache(tmp_path)
    url = "https://a.example/feed"
    errors = []

    def writer(n):
        for i in range(30):
            cache.save(CacheEntry(url=url, fetched_at=n * 1000 + i, title="x" * (n * 500)))

    def reader():
        for _ in range(200):
            path = cache.path_for(url)
            if path.exists():
                try:
                    CacheEntry.from_json(json.loads(path.read_bytes()))
                except Exception as exc:  # pragma: no cover - the failure we test for
                    errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 4)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not list((tmp_path / "feeds").glob("*.tmp"))


def test_feeds_that_timed_out_start_first():
    due = [Due(f"https://f{i}.example/feed") for i in range(4)]
    held = {
        "https://f2.example/feed": Held(error="timed out after 10 s"),
        "https://f3.example/feed": Held(error="HTTP 500"),
    }
    assert [d.url for d in slow_first(due, held)] == [
        "https://f2.example/feed",
        "https://f0.example/feed",
        "https://f1.example/feed",
        "https://f3.example/feed",
    ]


def test_an_unchanged_entry_is_not_parsed_again_in_the_same_process(tmp_path, monkeypatch):
    """`pelican --autoreload` rebuilds in one process: an entry this process
    wrote or read, whose file has not changed since, comes from memory; one
    that another process changed is read again."""
    import json as real_json

    from pelican_reciprocity import cache as module
    from pelican_reciprocity.cache import CacheEntry, FeedCache

    monkeypatch.setattr(module, "_INDEXED", {})
    store = FeedCache(tmp_path)
    store.save(CacheEntry(url="https://a.example/feed", title="First", fetched_at=1.0))
    parsed, original = [], real_json.loads

    def counting(raw):
        parsed.append(1)
        return original(raw)

    monkeypatch.setattr(module.json, "loads", counting)
    first = store.load("https://a.example/feed")
    first.title = "changed by a caller"  # a caller's change never leaks into the next load
    assert store.load("https://a.example/feed").title == "First"
    assert parsed == []
    other = CacheEntry(url="https://a.example/feed", title="Another", fetched_at=3.0)
    store.path_for(other.url).write_text(real_json.dumps(other.to_json()), encoding="utf-8")
    assert store.load("https://a.example/feed").title == "Another" and len(parsed) == 1
    assert store.load("https://a.example/feed").title == "Another" and len(parsed) == 1
    store.save(CacheEntry(url="https://a.example/feed", title="Second", fetched_at=2.0))
    assert store.load("https://a.example/feed").title == "Second" and len(parsed) == 1


def test_a_304_writes_the_new_times_as_a_stamp_not_the_whole_entry(feed_server, tmp_path):
    url = feed_server.add("a", rss("A", posts("a")))
    friends = [Friend(name="A", feed=url)]
    refresh(friends, config_for(tmp_path))
    path = FeedCache(tmp_path / "cache").path_for(url)
    written, stat = path.read_bytes(), path.stat()
    time.sleep(0.05)
    assert refresh(friends, config_for(tmp_path, cache_ttl=0)).feeds[0].outcome == "revalidated"
    assert path.read_bytes() == written and path.stat().st_mtime_ns == stat.st_mtime_ns
    entry = FeedCache(tmp_path / "cache").load(url)
    assert entry is not None and entry.checked_at > json.loads(written)["checked_at"]
    assert entry.fetched_at == entry.checked_at and len(entry.posts) == 3
    # the stamp counts for the TTL: within it, no request
    feed_server.reset()
    assert refresh(friends, config_for(tmp_path, cache_ttl=3600)).feeds[0].outcome == "cached"
    assert feed_server.requests == 0
    # a feed that changes is written whole again, and its stamp dropped
    feed_server.add("a", rss("A", posts("a", 4)))
    assert refresh(friends, config_for(tmp_path, cache_ttl=0)).feeds[0].outcome == "updated"
    assert path.read_bytes() != written
    stamps = json.loads((tmp_path / "cache" / "feeds" / "stamps.json").read_bytes())
    assert url not in stamps["stamps"]
    assert len(FeedCache(tmp_path / "cache").load(url).posts) == 4


def test_stamps_lay_over_entries_and_a_damaged_file_costs_only_a_warning(tmp_path, caplog):
    cache = FeedCache(tmp_path)
    old = CacheEntry(url="https://a.example/feed", checked_at=100.0, fetched_at=90.0, title="A")
    cache.save(old)
    cache.stamp(CacheEntry(url=old.url, checked_at=200.0, fetched_at=200.0))
    cache.stamp(CacheEntry(url="https://gone.example/feed", checked_at=50.0, fetched_at=50.0))
    cache.flush()
    entry = FeedCache(tmp_path).load(old.url)
    assert (entry.checked_at, entry.fetched_at, entry.title) == (200.0, 200.0, "A")
    # a stamp older than the entry (written whole since) changes nothing
    cache.save(CacheEntry(url=old.url, checked_at=300.0, fetched_at=250.0, title="B"))
    assert FeedCache(tmp_path).load(old.url).checked_at == 300.0
    # a second build's stamps are merged, not overwritten
    other = FeedCache(tmp_path)
    other.stamp(CacheEntry(url="https://b.example/feed", checked_at=70.0, fetched_at=70.0))
    other.flush()
    cache.flush()
    stamps = json.loads((tmp_path / "feeds" / "stamps.json").read_bytes())["stamps"]
    assert set(stamps) == {"https://gone.example/feed", "https://b.example/feed"}
    for junk in (b"{not json", b'{"format": "x"}', b'{"format": "pelican-reciprocity/stamps/1"}'):
        (tmp_path / "feeds" / "stamps.json").write_bytes(junk)
        caplog.clear()
        entry = FeedCache(tmp_path).load(old.url)
        assert entry is not None and entry.checked_at == 300.0
        assert any("ignoring damaged" in r.getMessage() for r in caplog.records)
    # a fetch that saves entries whole also mends the damaged file
    mend = FeedCache(tmp_path)
    assert mend.load(old.url) is not None
    mend.save(CacheEntry(url="https://c.example/feed", checked_at=1.0, fetched_at=1.0))
    mend.flush()
    stamps_file = tmp_path / "feeds" / "stamps.json"
    assert json.loads(stamps_file.read_bytes())["stamps"] == {}
    again = FeedCache(tmp_path)
    again.stamp(CacheEntry(url=old.url, checked_at=400.0, fetched_at=400.0))
    again.flush()
    assert FeedCache(tmp_path).load(old.url).checked_at == 400.0
    # saving whole an entry that has no stamp leaves the file alone
    written = stamps_file.stat().st_mtime_ns
    time.sleep(0.01)
    quiet = FeedCache(tmp_path)
    quiet.save(CacheEntry(url="https://d.example/feed", checked_at=1.0, fetched_at=1.0))
    quiet.flush()
    assert stamps_file.stat().st_mtime_ns == written


def test_the_job_hands_stamps_over_to_be_saved_as_stamps(feed_server, tmp_path):
    from pelican_reciprocity.refresh import FetchSettings, Touched, Work, fetch, save_touched

    url = feed_server.add("a", rss("A", posts("a")))
    friends = (Friend(name="A", feed=url), Friend(name="B", feed=feed_server.url("/missing")))
    refresh(friends, config_for(tmp_path))
    path = FeedCache(tmp_path / "cache").path_for(url)
    written = path.read_bytes()
    settings = FetchSettings.from_config(config_for(tmp_path, cache_ttl=0))
    touched = Touched()
    report = fetch(settings, Work(friends=friends), touched=touched, save=False)
    assert report.feeds[url][0] == "revalidated" and touched.stamped == {url}
    save_touched(settings, touched)
    assert path.read_bytes() == written
    assert FeedCache(tmp_path / "cache").load(url).checked_at > json.loads(written)["checked_at"]


def _count_parses(monkeypatch) -> list[str]:
    """The feeds whose cache entry is parsed from its JSON file from now on."""
    parsed: list[str] = []
    real = CacheEntry.from_json
    monkeypatch.setattr(
        CacheEntry,
        "from_json",
        classmethod(lambda cls, data: parsed.append(data["url"]) or real(data)),
    )
    return parsed


def test_the_index_saves_the_parse_and_never_outranks_the_files(tmp_path, monkeypatch):
    from pelican_reciprocity import cache as module

    def new_process() -> None:  # what a new build starts from: nothing read yet
        monkeypatch.setattr(module, "_READ", {})
        monkeypatch.setattr(module, "_INDEXED", {})

    a, b = "https://a.example/feed", "https://b.example/feed"
    post = Post(title="One", url="https://a.example/1", date=None, summary_text="one")
    store = FeedCache(tmp_path)
    now = time.time()  # asked about just now, as every entry a fetch writes
    store.save(CacheEntry(url=a, checked_at=now, fetched_at=1.0, title="A", posts=[post]))
    store.save(CacheEntry(url=b, checked_at=now, fetched_at=1.0, title="B"))
    store.flush()
    index = tmp_path / "feeds" / "entries.pickle"
    assert index.is_file()
    parsed = _count_parses(monkeypatch)
    new_process()
    entry = FeedCache(tmp_path).load(a)
    assert entry.title == "A" and entry.posts == [post] and parsed == []
    assert vars(entry.posts[0])["key"] == post.key  # the key comes with the posts
    # another build rewrote b: its file wins over the index
    path = FeedCache(tmp_path).path_for(b)
    b2 = CacheEntry(url=b, checked_at=now, fetched_at=2.0, title="B2")
    path.write_bytes(json.dumps(b2.to_json()).encode())
    new_process()
    assert FeedCache(tmp_path).load(b).title == "B2" and parsed == [b]
    FeedCache(tmp_path).flush()  # and the index catches up
    new_process()
    parsed.clear()
    assert FeedCache(tmp_path).load(b).title == "B2" and parsed == []
    assert FeedCache(tmp_path).load(a).title == "A" and parsed == []  # kept, though not read
    # a damaged index, or one from another version, costs only the parse, and is rewritten
    for junk in (
        b"not a pickle",
        pickle.dumps(("another version", {})),
        pickle.dumps((module._index_header(), {"x.json": ((1, 2), "not an entry", [])})),
    ):
        index.write_bytes(junk)
        new_process()
        parsed.clear()
        assert FeedCache(tmp_path).load(a).title == "A" and parsed == [a]
        FeedCache(tmp_path).flush()
        assert index.read_bytes() != junk
    # a post's row that is not its fields (an index written wrongly) costs that entry's parse
    new_process()
    store = FeedCache(tmp_path)
    store.load(a), store.load(b), store.flush()  # an index of both again
    header, stored = pickle.loads(index.read_bytes())
    name = FeedCache(tmp_path).path_for(a).name
    stamp, entry, rows = stored[name]
    assert rows == [dict(vars(post))]  # each row is a post's fields, by name
    for row in (tuple(rows[0].values()), {"title": "One"}, None):
        index.write_bytes(pickle.dumps((header, {**stored, name: (stamp, entry, [row])})))
        new_process()
        parsed.clear()
        assert FeedCache(tmp_path).load(a).posts == [post] and parsed == [a]
        assert FeedCache(tmp_path).load(b).title == "B2" and parsed == [a]  # the rest indexed


def test_the_index_leaves_out_feeds_no_build_has_asked_about_for_a_month(tmp_path, monkeypatch):
    """A friend removed, or a feed moved, must not be read by every warm
    build from then on; its file stays, and is read if it is wanted again."""
    from pelican_reciprocity import cache as module

    def new_process() -> None:
        monkeypatch.setattr(module, "_READ", {})
        monkeypatch.setattr(module, "_INDEXED", {})

    def indexed() -> set[str]:
        _, stored = pickle.loads((tmp_path / "feeds" / module.INDEX).read_bytes())
        return {entry.url for _, entry, _ in stored.values()}

    now, old = time.time(), time.time() - module.UNUSED_AFTER - 60
    kept, gone, stamped = (f"https://{n}.example/feed" for n in ("kept", "gone", "stamped"))
    store = FeedCache(tmp_path)
    store.save(CacheEntry(url=kept, checked_at=now, title="Kept"))
    store.save(CacheEntry(url=gone, checked_at=old, title="Gone"))
    store.save(CacheEntry(url=stamped, checked_at=old, title="Stamped"))
    store.stamp(CacheEntry(url=stamped, checked_at=now, fetched_at=now))  # a 304 since
    store.flush()
    assert indexed() == {kept, gone, stamped}  # this process read them all
    new_process()
    store = FeedCache(tmp_path)
    assert store.load(kept).title == "Kept"
    store.save(CacheEntry(url=kept, checked_at=now, title="Kept again"))
    store.flush()
    assert indexed() == {kept, stamped}
    assert store.path_for(gone).is_file()
    parsed = _count_parses(monkeypatch)
    new_process()
    assert FeedCache(tmp_path).load(gone).title == "Gone" and parsed == [gone]
    assert FeedCache(tmp_path).load(stamped).title == "Stamped" and parsed == [gone]
    # read again by a build: indexed again, however long ago it was asked about
    store = FeedCache(tmp_path)
    store.load(gone)
    store.flush()
    assert indexed() == {kept, gone, stamped}


def test_the_two_processes_of_a_split_job_each_write_an_index_that_readers_take_together(
    tmp_path, monkeypatch
):
    """Neither process of a split job reads and rewrites the other's index
    at the end of a cold build; the next build parses nothing all the same,
    and the next whole index takes the part in."""
    from pelican_reciprocity import cache as module

    def new_process() -> None:
        monkeypatch.setattr(module, "_READ", {})
        monkeypatch.setattr(module, "_INDEXED", {})
        monkeypatch.setattr(module, "_BEHIND", set())

    urls = [f"https://f{i}.example/feed" for i in range(4)]
    now = time.time()  # asked about just now, as every entry a fetch writes
    old = FeedCache(tmp_path)  # an earlier build's whole index, of every feed
    for url in urls:
        old.save(CacheEntry(url=url, checked_at=now, fetched_at=1.0, title="old"))
    old.flush()
    new_process()
    assert FeedCache(tmp_path).load(urls[3]).title == "old"  # what a build held before forking
    mine, theirs = FeedCache(tmp_path), FeedCache(tmp_path)
    mine.save(CacheEntry(url=urls[0], checked_at=now, fetched_at=2.0, title="mine"))
    mine.flush(own=module.INDEX)
    theirs.save(CacheEntry(url=urls[1], checked_at=now, fetched_at=2.0, title="theirs"))
    theirs.flush(own=module.PART_INDEX)
    part = tmp_path / "feeds" / module.PART_INDEX
    stored = {name: module.FeedCache(tmp_path)._stored_in(name) for name in module.PARTS}
    # each holds what its process wrote, and what its own file held that is still current
    titles = {name: sorted(e.title for _, e, _ in held.values()) for name, held in stored.items()}
    assert titles == {module.INDEX: ["mine", "old", "old", "old"], module.PART_INDEX: ["theirs"]}
    parsed = _count_parses(monkeypatch)
    new_process()
    reader = FeedCache(tmp_path)
    assert [reader.load(u).title for u in urls] == ["mine", "theirs", "old", "old"]
    assert parsed == []
    reader.save(CacheEntry(url=urls[2], checked_at=now, fetched_at=3.0, title="again"))
    reader.flush()  # a whole index: every entry, and the part taken in
    assert not part.exists()
    new_process()
    assert [FeedCache(tmp_path).load(u).title for u in urls] == ["mine", "theirs", "again", "old"]
    assert parsed == []


def test_downloads_go_on_while_the_bodies_that_came_in_together_are_read(
    feed_server, tmp_path, monkeypatch
):
    """Friends whose servers are equally slow answer together. Their bodies
    are read one at a time, with a round of the event loop after each, so
    the places the first ones free go to new requests while the rest are
    read. Read all in one round, they came in waves: nothing was being
    downloaded while a wave was read, and nothing read while the next one
    was downloaded."""
    import pelican_reciprocity.refresh as module

    for i in range(24):
        feed_server.add(f"f{i}", rss(f"F{i}", posts(f"f{i}")))
    urls = [feed_server.url(f"/slow/0.3/f{i}") for i in range(24)]
    # two hosts, six at a time each: twelve at once, as concurrency allows
    urls = [u.replace("127.0.0.1", "localhost") if i % 2 else u for i, u in enumerate(urls)]
    friends = [Friend(name=f"F{i}", feed=url) for i, url in enumerate(urls)]
    read, in_flight = module._parse, []

    def slow_read(*args, **kwargs):
        # The first body read takes long: the other eleven come in meanwhile.
        time.sleep(0.05 if in_flight else 0.6)  # a long body holds the loop's thread as long
        in_flight.append(feed_server.in_flight)  # requests the server is answering now
        return read(*args, **kwargs)

    monkeypatch.setattr(module, "_parse", slow_read)
    report = refresh(friends, config_for(tmp_path, concurrency=12))
    assert [f.outcome for f in report.feeds] == ["updated"] * 24
    # Read as a wave, the first twelve were read with nothing in flight.
    assert any(in_flight[1:12]), in_flight
