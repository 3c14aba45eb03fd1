"""The foundation: one identity, explicit nesting, the fetch job, one policy."""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import build, make_site, page, posts, rss

from pelican_reciprocity import job as job_module
from pelican_reciprocity import plugin
from pelican_reciprocity.identity import is_owner, same_site
from pelican_reciprocity.model import Post, Response
from pelican_reciprocity.moderation import moderate
from pelican_reciprocity.netpolicy import PolicyError, Redirects, check_address, pin
from pelican_reciprocity.refresh import FetchSettings, Work


def response(**fields) -> Response:
    base = {"id": "r1", "kind": "comment", "target": "slug:post", "author_name": "Reader"}
    return Response(**{**base, **fields})


# -- identity -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bookmark", "like", "repost", "mention", "comment"])
def test_a_spammers_response_of_any_kind_is_held(kind):
    spam = response(kind=kind, author_name="Buy instagram followers")
    verdicts = moderate([spam], article_texts={}, article_of={"r1": "post"})
    assert verdicts["r1"].status == "held"
    assert any("spam phrase" in reason for reason in verdicts["r1"].reasons)


def test_the_owner_is_recognised_by_host_equality_never_a_prefix():
    site = "https://example.com"
    neighbour = response(author_name="Neighbour", author_url="https://example.community/me")
    assert not is_owner(neighbour, author="Me", siteurl=site)
    assert is_owner(response(author_url="https://www.example.com/about"), author="", siteurl=site)
    assert is_owner(response(author_name="me"), author="Me", siteurl=site)
    assert not same_site("https://example.community/", site)
    assert same_site("http://EXAMPLE.com/x", "https://www.example.com/")


def test_a_responder_whose_host_merely_starts_like_the_site_is_thanked(tmp_path, monkeypatch):
    site = make_site(
        tmp_path,
        friends=None,
        articles=[{"title": "Post", "slug": "post"}],
        settings={"SITEURL": "https://example.com"},
    )
    folder = site / "content" / "comments" / "post"
    folder.mkdir(parents=True)
    (folder / "1.md").write_text(
        "author: Neighbour\nwebsite: https://example.community/\n\nLovely post, thank you.\n",
        encoding="utf-8",
    )
    build(site, monkeypatch)
    assert "Neighbour" in page(site, "post.html")


# -- the fetch job --------------------------------------------------------------------


def _count_jobs(monkeypatch) -> list[object]:
    started: list[object] = []
    original = job_module.Job.start.__func__

    def counting(cls, *args):
        job = original(cls, *args)
        started.append(job)
        return job

    monkeypatch.setattr(job_module.Job, "start", classmethod(counting))
    return started


def test_a_cold_build_fetches_in_a_child_and_a_warm_or_offline_one_starts_none(
    tmp_path, monkeypatch, feed_server
):
    feed_server.add("a", rss("A", posts("a")))
    site = make_site(tmp_path, friends=[{"name": "A", "feed": feed_server.url("/feed/a")}])
    started = _count_jobs(monkeypatch)
    build(site, monkeypatch)
    assert len(started) == 1
    assert "a post 0" in page(site, "friends/index.html")
    assert feed_server.requests == 1
    build(site, monkeypatch)  # warm: everything fresh in the cache
    assert len(started) == 1 and feed_server.requests == 1
    build(site, monkeypatch, RECIPROCITY_CACHE_TTL=0, RECIPROCITY_OFFLINE=True)
    assert len(started) == 1 and feed_server.requests == 1
    assert "a post 0" in page(site, "friends/index.html")


def test_a_child_that_dies_costs_only_itself(tmp_path, monkeypatch, feed_server, caplog):
    feed_server.add("a", rss("A", posts("a")))
    site = make_site(tmp_path, friends=[{"name": "A", "feed": feed_server.url("/feed/a")}])
    build(site, monkeypatch)  # a good copy in the cache
    real_start = job_module.Job.start.__func__

    def dying(cls, *args):
        job = real_start(cls, *args)
        os.kill(job.pid, signal.SIGKILL)
        return job

    monkeypatch.setattr(job_module.Job, "start", classmethod(dying))
    caplog.set_level(logging.WARNING)
    build(site, monkeypatch, RECIPROCITY_CACHE_TTL=0)
    assert "a post 0" in page(site, "friends/index.html")
    assert any("fetch job ended" in r.getMessage() for r in caplog.records)


def test_a_child_that_hangs_is_stopped_at_the_deadline(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(job_module, "GRACE", 0.5)
    settings = FetchSettings(cache_path=str(tmp_path), fetch_deadline=0.5)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job = job_module.Job(process.pid, tmp_path / "job", settings.fetch_deadline, process)
    (tmp_path / "job").mkdir()
    caplog.set_level(logging.WARNING)
    assert job.result() is None
    assert process.poll() is not None
    assert any("did not finish" in r.getMessage() for r in caplog.records)


def test_the_job_reports_through_a_file(tmp_path, feed_server):
    feed_server.add("a", rss("A", posts("a")))
    settings = FetchSettings(cache_path=str(tmp_path / "cache"), timeout=5, fetch_deadline=10)
    from pelican_reciprocity.model import Friend

    work = Work(friends=(Friend(name="A", feed=feed_server.url("/feed/a")),))
    job = job_module.Job.start(settings, work)
    assert job is not None
    found = job.result()
    assert found is not None
    report, touched = found
    assert report.feeds[feed_server.url("/feed/a")] == ("updated", None)
    handed = touched.feeds[feed_server.url("/feed/a")].posts
    assert handed[0].title == "a post 0"
    assert all("key" in p.__dict__ for p in handed)  # worked out by the job, for the index
    assert report.requests == 1
    job.finish(timeout=10)
    assert job.returncode == 0
    assert not job.folder.exists()


def test_many_friends_are_split_in_two_by_host():
    from pelican_reciprocity.model import Friend

    settings = FetchSettings(cache_path="cache", concurrency=100)
    hosts = ["127.0.0.1", "localhost"]  # their CRC-32s differ in parity
    friends = tuple(
        Friend(name=f"F{i}", feed=f"http://{hosts[i % 2]}:8000/{i}.xml")
        for i in range(job_module.SPLIT_AT)
    )
    work = Work(friends=friends, sources=("https://comments.example/feed",))
    halves = job_module._halves(settings, work)
    assert halves is not None
    half, mine, theirs = halves
    assert half.concurrency == 50
    assert {f.feed.split("/")[2] for f in mine.friends} == {"127.0.0.1:8000"}
    assert {f.feed.split("/")[2] for f in theirs.friends} == {"localhost:8000"}
    assert mine.sources == work.sources and theirs.sources == ()  # the rest stays in one
    assert job_module._halves(settings, replace(work, friends=friends[:-1])) is None  # too few
    one_host = tuple(replace(f, feed=f"http://127.0.0.1/{i}") for i, f in enumerate(friends))
    assert job_module._halves(settings, replace(work, friends=one_host)) is None


def test_the_halves_carry_as_many_feeds_each_as_whole_hosts_allow():
    from pelican_reciprocity.model import Friend

    settings = FetchSettings(cache_path="cache", concurrency=100)
    sizes = {"a.example": 60, "b.example": 50, "c.example": 50, "d.example": 40}
    friends = tuple(
        Friend(name=f"{host} {i}", feed=f"https://{host}/{i}.xml")
        for i in range(60)
        for host, size in sizes.items()
        if i < size
    )
    halves = job_module._halves(settings, Work(friends=friends))
    assert halves is not None
    _, mine, theirs = halves
    assert len(mine.friends) == len(theirs.friends) == 100
    hosts = [{f.feed.split("/")[2] for f in half.friends} for half in (mine, theirs)]
    assert hosts == [{"a.example", "d.example"}, {"b.example", "c.example"}]
    for half in (mine, theirs):  # each in the list's own order
        assert list(half.friends) == [f for f in friends if f in half.friends]


SPLIT_JOB = """
import json, os, sys
from pelican_reciprocity import job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work

job.SPLIT_AT = 4
real_fetch = job.fetch

def fetch(settings, work, **kwargs):  # the forked processes inherit it
    with open(sys.argv[2], "a", encoding="utf-8") as log:
        log.write(json.dumps([os.getpid(), [f.feed for f in work.friends]]) + "\\n")
    return real_fetch(settings, work, **kwargs)

job.fetch = fetch
feeds = sys.argv[3:]
settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=20)
running = job.Job.start(settings, Work(friends=tuple(Friend(name=u, feed=u) for u in feeds)))
assert running.process is None  # forked
report, touched = running.result()
running.finish(timeout=20)
print(json.dumps({u: [report.feeds[u][0], len(touched.feeds[u].posts)] for u in feeds}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_a_job_with_many_friends_reads_them_in_two_processes(tmp_path, feed_server):
    """Each process asks its own hosts; the build gets one report with every
    feed, and the cache gets every entry."""
    feeds = []
    for i in range(6):
        feed_server.add(f"s{i}", rss(f"S{i}", posts(f"s{i}")))
        url = feed_server.url(f"/feed/s{i}")
        feeds.append(url if i % 2 else url.replace("127.0.0.1", "localhost"))
    log = tmp_path / "fetches.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", SPLIT_JOB, str(tmp_path / "cache"), str(log), *feeds],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {u: ["updated", 3] for u in feeds}
    fetches = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len({pid for pid, _ in fetches}) == 2
    assert sorted(u for _, urls in fetches for u in urls) == sorted(feeds)
    for _, urls in fetches:  # one host each
        assert len({u.split("/")[2] for u in urls}) == 1
    assert len(list((tmp_path / "cache" / "feeds").glob("*.json"))) == 6
    # one index of every entry, from both processes: the next build parses none
    from pelican_reciprocity.cache import FeedCache

    indexed = FeedCache(tmp_path / "cache")._read_index()
    assert sorted(entry.url for _, entry in indexed.values()) == sorted(feeds)
    assert all(len(entry.posts) == 3 for _, entry in indexed.values())


# -- explicit nesting -----------------------------------------------------------------


def test_two_builds_in_two_threads_keep_their_own_runs(tmp_path, monkeypatch, feed_server):
    """Build B starting while A waits for its feeds must not end A's run."""
    feed_server.add("a", rss("A", posts("a")))
    feed_server.add("b", rss("B", posts("b")))
    sites = []
    for name, route in (("one", "/slow/1.5/a"), ("two", "/feed/b")):
        sites.append(
            make_site(tmp_path / name, friends=[{"name": name, "feed": feed_server.url(route)}])
        )
    from pelican import Pelican
    from pelican.settings import read_settings

    monkeypatch.chdir(tmp_path)
    settings = [
        read_settings(
            str(site / "pelicanconf.py"),
            override={
                "PATH": str(site / "content"),
                "OUTPUT_PATH": str(site / "output"),
                "CACHE_PATH": str(site / "cache"),
                "RECIPROCITY_FRIENDS": str(site / "friends.toml"),
                "RECIPROCITY_LEDGER_FILE": str(site / "reciprocity" / "ledger.json"),
                "RECIPROCITY_MODERATION_FILE": str(site / "reciprocity" / "moderation.toml"),
            },
        )
        for site in sites
    ]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            Pelican(settings[index]).run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=run, args=(0,))
    first.start()
    second = threading.Thread(target=run, args=(1,))
    second.start()
    first.join(60)
    second.join(60)
    assert not errors
    for site, word in zip(sites, ("a post 0", "b post 0"), strict=True):
        assert word in (site / "output" / "friends" / "index.html").read_text(encoding="utf-8")
        assert (site / "output" / "friends.opml").is_file()
        assert list((site / "output").rglob("reciprocity.css"))
    assert not plugin._RUNS


def test_an_inherited_run_is_used_only_while_its_build_is_live(tmp_path, monkeypatch):
    site = make_site(tmp_path, friends=[{"name": "A", "feed": "https://a.example/feed"}])
    from pelican import Pelican
    from pelican.settings import read_settings

    monkeypatch.chdir(site)
    parent = Pelican(
        read_settings(str(site / "pelicanconf.py"), override={"RECIPROCITY_OFFLINE": True})
    )
    parent_run = plugin.start_run(parent)
    assert parent_run is not None
    child = Pelican({**parent.settings})  # as i18n_subsites copies the settings
    child_run = plugin.start_run(child)
    assert child_run is not None and child_run.parent is parent_run
    plugin.finish_run(child)
    plugin.finish_run(parent)
    again = Pelican({**parent.settings, plugin.RUN_KEY: parent_run.id})
    later = plugin.start_run(again)  # the parent's run is over: no nesting
    assert later is not None and later.parent is None
    plugin.finish_run(again)
    assert not plugin._RUNS


def test_no_module_walks_the_interpreter_stack():
    package = Path(plugin.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "_getframe" not in text and "inspect.stack" not in text, path.name


# -- the command line -----------------------------------------------------------------


def test_export_opml_without_an_author_or_heading_names_the_site(tmp_path, monkeypatch):
    from pelican_reciprocity.cli import main

    site = make_site(tmp_path, friends=[{"name": "A", "feed": "https://a.example/feed"}])
    monkeypatch.chdir(site)
    out = site / "friends-out.opml"
    assert main(["-s", "pelicanconf.py", "export-opml", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<title>Test site: Friends</title>" in text
    assert "None" not in text


# -- one HTTP policy ------------------------------------------------------------------


def test_redirects_are_followed_by_one_rule():
    chain = Redirects("https://a.example/feed", limit=2)
    assert chain.follow(200, None) is None
    assert chain.follow(301, "/new") == "https://a.example/new"
    assert chain.permanent
    assert chain.follow(302, "https://b.example/x") == "https://b.example/x"
    assert not chain.permanent
    with pytest.raises(PolicyError, match="too many"):
        chain.follow(301, "/again")
    for bad in ("javascript:alert(1)", "http://127.0.0.1:99999/", "file:///etc/passwd"):
        with pytest.raises(PolicyError):
            Redirects("https://a.example/", limit=5).follow(302, bad)


def test_the_guard_refuses_private_addresses_and_pins_the_checked_one(monkeypatch):
    import socket

    answers = {"public.example": "93.184.216.34", "inside.example": "10.0.0.7"}

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert check_address("https://public.example/x", allow_private=False) == "93.184.216.34"
    with pytest.raises(PolicyError, match="non-public"):
        check_address("https://inside.example/", allow_private=False)
    url, headers, extensions = pin("https://public.example:8443/x?y=1", "93.184.216.34")
    assert url == "https://93.184.216.34:8443/x?y=1"
    assert headers == {"Host": "public.example:8443"}
    assert extensions == {"sni_hostname": b"public.example"}


# -- the shape of the package ---------------------------------------------------------

LAYERS = {
    "top": {"plugin", "cli"},
    "io": {
        "job", "refresh", "fetch", "httpclient", "netpolicy", "webmention", "discovery", "feeds", "sources",
        "friends", "friends_file", "cache", "files", "moderation_file", "ledger_file",
        "acknowledge", "pages", "site_settings", "terminal", "responders", "social", "avatars",
        "templates", "articles",
    },
    "decisions": {
        "selection", "schedule", "matching", "moderation", "ledger", "notify", "health",
        "thanks", "render",
    },
    "bottom": {"model", "identity", "settings", "urls", "sanitize", "i18n"},
}  # fmt: skip
RANK = {name: rank for rank, layer in enumerate(LAYERS.values()) for name in layer}


def _package_imports() -> dict[str, set[str]]:
    import ast

    package = Path(plugin.__file__).parent
    graph = {}
    for path in package.glob("*.py"):
        if path.stem in ("__init__", "__main__"):
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
        graph[path.stem] = {name for name in found if name != "__version__"}
    return graph


def test_every_module_has_a_layer_and_imports_point_down():
    graph = _package_imports()
    assert set(graph) == set(RANK), "a module was added or removed: place it in LAYERS"
    for module, imports in graph.items():
        for imported in imports:
            assert RANK[imported] >= RANK[module], f"{module} imports {imported} (upward)"
            if RANK[module] == RANK["model"]:
                assert RANK[imported] == RANK["model"], f"{module} imports {imported}"


def test_there_is_no_import_cycle():
    graph = _package_imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in graph[module]:
            assert state.get(imported) != 1, "cycle: " + " -> ".join([*path, imported])
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_the_top_layer_stays_thin():
    package = Path(plugin.__file__).parent
    for name in ("plugin", "cli"):
        lines = (package / f"{name}.py").read_text(encoding="utf-8").count("\n")
        assert lines < 400, f"{name}.py has {lines} lines"


FORKED = """
import contextlib, json, sys, time
from pelican.log import console
from pelican_reciprocity import job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work

# `pelican content` builds under a status spinner, which runs in a thread
spinner = console.status("Generating...") if sys.argv[3] == "spinner" else contextlib.nullcontext()
spinner.__enter__()
assert job._can_fork()
settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=10)
running = job.Job.start(settings, Work(friends=(Friend(name="A", feed=sys.argv[2]),)))
assert running.process is None  # forked, not a new interpreter
report, touched = running.result()
running.finish(timeout=10)
assert running.returncode == 0
# the child wrote the cache after handing its result over
from pelican_reciprocity.cache import FeedCache
assert FeedCache(sys.argv[1]).load(sys.argv[2]).posts[0].title == "a post 0"
print(json.dumps(report.feeds))
job.GRACE = 0.2
job.fetch = lambda *args, **kwargs: time.sleep(60)  # the next child hangs
quick = FetchSettings(cache_path=sys.argv[1], fetch_deadline=0.3)
hung = job.Job.start(quick, Work(friends=(Friend(name="A", feed=sys.argv[2]),)))
started = time.monotonic()
print(json.dumps([hung.result() is None, time.monotonic() - started < 5]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
@pytest.mark.parametrize("threads", ["alone", "spinner"])
def test_a_forked_job_reports_and_a_hung_one_is_stopped(tmp_path, feed_server, threads):
    """Without other threads, or beside the status spinner of `pelican
    content` only, the job forks."""
    url = feed_server.add("a", rss("A", posts("a")))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", FORKED, str(tmp_path / "cache"), url, threads],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()
    assert json.loads(first) == {url: ["updated", None]}
    assert json.loads(second) == [True, True]


def _job_script(script: str, tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """Run a script that starts the job on one feed, in a process of its own
    (the job forks, and the test process has other threads)."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "cache"), url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


PRIORITY = """
import json, os, sys
from pelican_reciprocity import job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work

saving, fetching = job.save_touched, job.fetch
def save_touched(*args, **kwargs):  # in the child, once its result is handed over
    with open(sys.argv[1] + ".priority", "a") as out:
        out.write(f" {os.getpriority(os.PRIO_PROCESS, 0)}")
    return saving(*args, **kwargs)
def fetch(*args, **kwargs):  # in the child, before
    with open(sys.argv[1] + ".priority", "a") as out:
        out.write(f" {os.getpriority(os.PRIO_PROCESS, 0)}")
    return fetching(*args, **kwargs)
job.save_touched, job.fetch = save_touched, fetch
settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=10)
running = job.Job.start(settings, Work(friends=(Friend(name="A", feed=sys.argv[2]),)))
running.result()
running.finish(timeout=10)
seen = [int(n) for n in open(sys.argv[1] + ".priority").read().split()]
print(json.dumps([seen, os.getpriority(os.PRIO_PROCESS, 0)]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_the_job_fetches_below_the_build_and_writes_the_cache_at_the_lowest_priority(
    tmp_path, feed_server
):
    """Pelican has pages to write while the job fetches, and the build has
    its own after the job hands its result over: the job fetches a step
    below the build's priority, and writes the cache, which the build needs
    only before it exits, at the lowest."""
    url = feed_server.add("a", rss("A", posts("a")))
    done = _job_script(PRIORITY, tmp_path, url)
    (fetching, saving), build = json.loads(done.stdout)
    assert fetching == min(19, build + job_module.FETCH_NICENESS) and saving == 19
    assert build == os.getpriority(os.PRIO_PROCESS, 0)


FROZEN = """
import gc, json, pickle, sys
from pathlib import Path
from pelican_reciprocity import files, job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work

settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=10)
work = Work(friends=(Friend(name="A", feed=sys.argv[2]),))
seen = []
for load in (False, True):
    files.thaw()
    loaded = None
    if load:  # as the snapshot reads the cache index
        path = Path(sys.argv[1] + ".pickle")
        path.write_bytes(pickle.dumps({"posts": [1, 2, 3]}))
        loaded = files.read_pickle(path)
    running = job.Job.start(settings, work)
    seen.append([gc.get_freeze_count() > 0, all(o is not loaded for o in gc.get_objects())])
    running.result()
    running.finish(timeout=10)
print(json.dumps(seen))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_forking_the_job_leaves_what_a_load_froze_frozen(tmp_path, feed_server):
    """The fork freezes the build's objects for the child's sake only; what
    a load froze before it stays frozen until the build lets go."""
    url = feed_server.add("a", rss("A", posts("a")))
    done = _job_script(FROZEN, tmp_path, url)
    assert json.loads(done.stdout) == [[False, True], [True, True]]


REVALIDATED = """
import json, sys
from pelican_reciprocity import job
from pelican_reciprocity.model import Friend
from pelican_reciprocity.refresh import FetchSettings, Work, snapshot

settings = FetchSettings(cache_path=sys.argv[1], timeout=5, fetch_deadline=10, cache_ttl=0)
work = Work(friends=(Friend(name="A", feed=sys.argv[2]),))
first = job.Job.start(settings, work)
first.result()
first.finish(timeout=10)
before = snapshot(settings, work)  # the build's own reading of the cache
held = before.feeds[sys.argv[2]]
running = job.Job.start(settings, work, before)
report, touched = running.result()
running.finish(timeout=10)
entry = touched.feeds[sys.argv[2]]
print(json.dumps([report.feeds[sys.argv[2]][0], len(entry.posts), entry.posts == held.posts,
                  entry.fetched_at > held.fetched_at, sorted(touched.kept)]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_a_revalidated_feed_comes_back_from_the_job_with_the_posts_the_build_holds(
    tmp_path, feed_server
):
    """A 304 changes only stamps: the forked job hands back those, and the
    build puts back the posts it already read (not megabytes through a file)."""
    url = feed_server.add("a", rss("A", posts("a", 5)))
    done = subprocess.run(
        [sys.executable, "-c", REVALIDATED, str(tmp_path / "cache"), url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["revalidated", 5, True, True, []]
    assert feed_server.conditional["/feed/a"] == 1


def posts_of(n: int) -> list[Post]:
    return [
        Post(f"Post {i}", f"https://a.example/{i}/", None, f"<p>{i} words</p>" * 50)
        for i in range(n)
    ]


def test_only_the_stamps_of_an_unchanged_feed_are_handed_over():
    from pelican_reciprocity.cache import CacheEntry
    from pelican_reciprocity.refresh import JobReport, Snapshot, Touched

    old = CacheEntry(url="u", fetched_at=1.0, posts=posts_of(3), first_seen={"k": "d"})
    new = CacheEntry(url="n", fetched_at=2.0, posts=posts_of(1))
    touched = Touched(feeds={"u": replace(old, fetched_at=5.0), "n": new})
    report = JobReport(feeds={"u": ("revalidated", None), "n": ("updated", None)})
    before = Snapshot(feeds={"u": old, "n": None}, sources={}, due=True)
    light = touched.without_held(report, before)
    assert light.kept == {"u"} and light.feeds["u"].posts == [] and light.feeds["n"] is new
    assert len(pickle.dumps(light)) < len(pickle.dumps(touched)) / 2
    back = pickle.loads(pickle.dumps(light)).with_held(before)
    assert back.feeds["u"].posts == old.posts and back.feeds["u"].fetched_at == 5.0
    assert back.feeds["u"].first_seen == {"k": "d"} and back.feeds["n"].posts == new.posts
    assert touched.without_held(report, None) is touched  # a new interpreter: whole entries


# -- feeds that come in while Pelican writes ------------------------------------------


def _deferred_pages(monkeypatch) -> list[int]:
    """How many pages each build left for the friends page generator to finish."""
    from pelican_reciprocity import pages

    counts: list[int] = []
    original = pages.Deferred.patch

    def counting(self):
        counts.append(len(self.pages))
        original(self)

    monkeypatch.setattr(pages.Deferred, "patch", counting)
    return counts


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("sidebar", [False, True])
def test_late_feeds_give_the_pages_early_feeds_give(tmp_path, monkeypatch, feed_server, sidebar):
    """Cold, the feeds arrive after Pelican has read the articles: article pages
    written meanwhile get their sections afterwards (or, when the theme reads
    the plugin's values on every page, the first page waits). Warm, everything
    is known at once. Both give byte-identical sites."""
    feed_server.add("a", rss("A", posts("a")))
    feed_server.add("b", rss("B", posts("b", host="b.example")))
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    if sidebar:
        import pelican

        simple = Path(pelican.__file__).parent / "themes" / "simple" / "templates"
        base = (simple / "base.html").read_text(encoding="utf-8")
        blogroll = (
            '<p id="blogroll">{{ reciprocity.friends|length }} friends, '
            '<a href="{{ SITEURL }}/{{ reciprocity.friends_url }}">all</a></p>'
        )
        base = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + blogroll, base, count=1)
        assert blogroll in base
        (overrides / "base.html").write_text(base, encoding="utf-8")
    site = make_site(
        tmp_path / "site",
        friends=[
            {"name": "A", "feed": feed_server.url("/slow/1/a")},
            {"name": "B", "feed": feed_server.url("/feed/b")},
        ],
        articles=[
            {"title": "One", "slug": "one", "meta": {"Highlights": "https://friend.example/a/1/"}},
            {"title": "Two", "slug": "two"},
            {"title": "Three", "slug": "three"},
        ],
        settings={
            "THEME": "simple",
            "RELATIVE_URLS": True,
            "THEME_TEMPLATES_OVERRIDES": [str(overrides)],
        },
    )
    counts = _deferred_pages(monkeypatch)
    build(site, monkeypatch)
    assert len(counts) == 1  # cold: the job was still running when posts were first needed
    assert counts[0] == (0 if sidebar else 3)
    html = page(site, "one.html")
    assert html.count('class="reciprocity-highlights"') == 1
    assert "a post 1" in html and "b post 0" in html
    if sidebar:
        assert "2 friends" in html
    cold = tmp_path / "cold"
    os.rename(site / "output", cold)
    build(site, monkeypatch)  # warm: no job, nothing deferred
    assert len(counts) == 1
    _same_tree(cold, site / "output")


WARM_IMPORTS = """
import json, sys, traceback
BANNED = {"httpx", "httpcore", "h11", "feedparser", "babel", "asyncio", "tomlkit"}
caught = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BANNED:
            frames = [f.filename for f in traceback.extract_stack()]
            if any("pelican_reciprocity" in f for f in frames):
                caught.append(name)
        return None

sys.meta_path.insert(0, Watch())
from pelican import Pelican
from pelican.settings import read_settings
Pelican(read_settings("pelicanconf.py")).run()
print(json.dumps(sorted(set(caught))))
"""


def banned_imports_of_a_build(site: Path) -> list[str]:
    """What the plugin imports of BANNED while building ``site`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", WARM_IMPORTS], cwd=site, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_warm_english_build_imports_no_http_client_feed_parser_or_babel(tmp_path, monkeypatch):
    """What a warm build costs starts with what it imports: the plugin
    itself pulls in none of these when every feed is fresh."""
    feed = tmp_path / "feed.xml"
    feed.write_text(rss("A", posts("a")), encoding="utf-8")
    site = make_site(tmp_path, friends=[{"name": "A", "feed": feed.as_uri()}])
    build(site, monkeypatch)  # cold: fills the cache
    assert banned_imports_of_a_build(site) == []


def test_the_job_hands_back_posts_with_their_keys_already_computed(tmp_path):
    """The build indexes every post by its keys: the job computes them on its
    own core, and they come back in the pickle, not computed again."""
    from pelican_reciprocity.cache import CacheEntry
    from pelican_reciprocity.refresh import JobReport, Touched

    posts = [Post(title=f"P{i}", url=f"HTTPS://A.example/{i}/#x", date=None) for i in range(3)]
    touched = Touched(feeds={"https://a.example/feed": CacheEntry(url="x", posts=posts)})
    job_module._write_result(tmp_path, JobReport(), touched)
    with (tmp_path / job_module.RESULT).open("rb") as handed:
        _report, back = pickle.load(handed)
    for post in back.feeds["https://a.example/feed"].posts:
        assert "key" in post.__dict__  # the loose key is made from it when asked
        assert post.loose_key == post.__dict__["key"].split("#")[0]
        assert "loose_key" not in post.__dict__  # a second key made every post's dict 5x larger


def test_the_build_reads_the_jobs_result_while_its_helper_still_fetches(tmp_path):
    """The job writes its result, then waits for its helper: a build that is
    already waiting reads the result meanwhile, and only the part after."""
    from pelican_reciprocity.cache import CacheEntry
    from pelican_reciprocity.refresh import JobReport, Touched

    entry = CacheEntry(url="https://a.example/feed", title="A", fetched_at=1.0)
    job_module._write_result(tmp_path, JobReport(), Touched(feeds={entry.url: entry}))
    ready, told = os.pipe()
    running = job_module.Job(pid=os.getpid(), folder=tmp_path, deadline=5.0, ready=ready)
    try:
        assert not running._wait(0.2)  # no word from the job yet
        assert running.early is not None
        (tmp_path / job_module.RESULT).unlink()  # what was read stays read
        os.write(told, b"1")
        found = running.result()
        assert found is not None and found[1].feeds[entry.url].title == "A"
        assert running.early is None
    finally:
        os.close(ready)
        os.close(told)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the job forks only on Linux")
def test_a_helper_that_hands_over_nothing_in_time_is_stopped(caplog):
    """So no part can appear after the job's result, and no process is left."""
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # a helper that never says its part is in
        try:
            os.close(ready)
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(told)
    started = time.monotonic()
    assert job_module._await_helper((pid, ready), time.monotonic() + 0.2) is None
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):  # stopped and reaped
        os.waitpid(pid, os.WNOHANG)
    assert "handed over nothing" in caplog.text


def test_the_build_reads_the_helpers_part_while_the_job_still_fetches(tmp_path, caplog):
    """The build waits for the job anyway: the helper's half is read as
    soon as it is in, and a damaged one costs only its own feeds."""
    from pelican_reciprocity.cache import CacheEntry
    from pelican_reciprocity.refresh import JobReport, Touched

    def half(url: str, outcome: str) -> tuple[JobReport, Touched]:
        entry = CacheEntry(url=url, posts=[Post(title="P", url=url + "/1", date=None)])
        return JobReport(feeds={url: (outcome, None)}, requests=1), Touched(feeds={url: entry})

    def the_job_ends_later(job: job_module.Job, told: int, seen: list[object]) -> None:
        time.sleep(0.3)
        seen.append(job.part)  # read while the job was still fetching
        job_module._write_result(job.folder, *half("https://a.example/feed", "updated"))
        os.write(told, b"1")

    for damaged in (False, True):
        folder = tmp_path / str(damaged)
        folder.mkdir()
        ready, told = os.pipe()
        job = job_module.Job(pid=-1, folder=folder, deadline=5.0, ready=ready)
        if damaged:
            (folder / job_module.PART).write_bytes(b"not a pickle")
        else:
            job_module._write_result(
                folder, *half("https://b.example/feed", "updated"), "part.pickle"
            )
        seen: list[object] = []
        ending = threading.Thread(target=the_job_ends_later, args=(job, told, seen))
        ending.start()
        report, touched = job.result()
        ending.join()
        os.close(told)
        os.close(ready)
        assert seen and seen[0] is not None
        expected = {"https://a.example/feed"} | (set() if damaged else {"https://b.example/feed"})
        assert set(report.feeds) == set(touched.feeds) == expected
        assert report.requests == len(expected)
    assert caplog.text.count("part is unreadable") == 1


def test_any_other_thread_keeps_the_job_from_forking():
    """A thread of unknown kind could hold a lock the child needs."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not job_module._can_fork()
    finally:
        stop.set()
        other.join()
