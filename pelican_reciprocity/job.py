"""The fetch as a job in its own process, beside Pelican's reading.

The build starts the job at its earliest signal and waits for it only where
it first needs posts. The child fetches, parses and writes the cache on the
second core, free of the build's interpreter lock, and hands back its report
and the entries it changed in one file in a private folder.

On Linux, a build with no other thread than the status spinner of `pelican
content` (:data:`SAFE_THREADS`) forks: the child starts at once with
everything already imported, says "ready" through a pipe as soon as its
result is written, and writes the cache after that, while Pelican writes the
site (the build reaps it at ``finalized``). With many friends, it forks a
helper for half their hosts, so parsing runs on both cores once Pelican's
own work is done (:func:`_halves`). Elsewhere, or beside other
threads (tests, ``pelican --listen``), it starts a fresh interpreter
(``python -m pelican_reciprocity.job``) and the build waits for it to exit.
A child that dies, hangs or says nothing costs at most the deadline (plus a
short grace), and the build goes on with the last good copies. Nothing here
is shared between threads.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import asdict, field, replace
from pathlib import Path
from typing import Any

from .cache import INDEX, PART_INDEX
from .files import read_pickle
from .model import record
from .refresh import (
    FetchSettings,
    JobReport,
    Snapshot,
    Touched,
    Work,
    fetch,
    save_touched,
)
from .urls import host_of

logger = logging.getLogger(__name__)

#: How long past the fetch deadline the build waits for the child to report.
GRACE = 5.0
RESULT = "result.pickle"
#: From this many friends on, a forked job reads their feeds in two processes
#: (see :func:`_halves`): parsing is most of its work, and one process
#: parses on one core only.
SPLIT_AT = 200
PART = "part.pickle"
#: How often the build looks for the helper's part while it waits (seconds).
PART_POLL = 0.05
#: How much nicer than the build the job fetches. Its two processes and
#: Pelican want the CPU at once: at the same priority, Pelican still had
#: pages to write when the feeds came in (0.3 to 0.5 s of 1,000 feeds' cold
#: build), and the build's own work on the feeds came only after them. A
#: step below, Pelican has a core to itself and is done first, and the job
#: takes both cores while the build waits. Ten alternating cold builds of
#: 1,000 feeds: 7.04 s at the same priority, 6.88 s a step below (medians).
FETCH_NICENESS = 5
#: The job's collector thresholds. Its own objects are mostly posts that live
#: until it ends, and collecting every 700 new objects walked them again and
#: again: 0.4 s of about 4 s of CPU for 1,000 feeds, 0.1 s with these.
COLLECT_EVERY = (50_000, 20, 100)


@record
class Job:
    """A running fetch: the child process and where it will report."""

    pid: int
    folder: Path
    deadline: float
    process: subprocess.Popen[bytes] | None = None  # None: a forked child
    ready: int | None = None  # a forked child's pipe: a byte when its result is in
    started: float = field(default_factory=time.monotonic)
    returncode: int | None = None
    before: Snapshot | None = None  # the build's snapshot: unchanged feeds' posts come from it
    #: The helper's part as :func:`_read_part` gives it, read while the job
    #: still fetches its own half (see :meth:`_wait`); None: not read yet.
    part: tuple[Any, str | None] | None = None
    #: The job's own result, read the same way while its helper still
    #: fetches (the job writes it first, then waits for the helper).
    early: Any = None

    @classmethod
    def start(
        cls, settings: FetchSettings, work: Work, before: Snapshot | None = None
    ) -> Job | None:
        """Start the child, or return None (and say why) when it cannot start.

        A forked child reads the cache through the build's own ``before``
        snapshot instead of loading every entry again."""
        folder = Path(tempfile.mkdtemp(prefix="reciprocity-job-"))
        try:
            if _can_fork():
                ready, told = os.pipe()
                # The child's garbage collector leaves the build's objects
                # alone: walking them would copy every page they sit on. In
                # the build, what a load froze before (the cache index read
                # for the snapshot) stays frozen until the build lets go
                # (files.collector_paused), and so does what is frozen now.
                loaded = gc.get_freeze_count() > 0
                gc.freeze()
                try:
                    with warnings.catch_warnings():  # Python 3.12+ warns of any thread
                        warnings.simplefilter("ignore", DeprecationWarning)
                        pid = os.fork()
                    if pid == 0:  # the child: never returns
                        os.close(ready)
                        _forked_child(folder, settings, work, told, before)
                finally:
                    if not loaded:  # in the build only: the child never gets here
                        gc.unfreeze()
                os.close(told)
                return cls(pid, folder, settings.fetch_deadline, ready=ready, before=before)
            spec = {"settings": asdict(settings), "work": work.to_json()}
            (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
            with (folder / "log.txt").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "pelican_reciprocity.job", str(folder)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    close_fds=True,
                )
            return cls(process.pid, folder, settings.fetch_deadline, process)
        except OSError as exc:
            logger.warning("reciprocity: cannot start the fetch job (%s); fetching here", exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def result(self) -> tuple[JobReport, Touched] | None:
        """Wait for the child (within the deadline) and read what it found.

        None, with one WARNING, when the child hung, died or left no result:
        the caller then uses the cache as it is.
        """
        try:
            if not self._wait(self.deadline + GRACE):
                self.finish()
                logger.warning(
                    "reciprocity: the fetch job did not finish within %g s; "
                    "using the last good copies",
                    self.deadline + GRACE,
                )
                return None
            try:
                early, result = self.early, self.folder / RESULT
                report, touched = early if early is not None else read_pickle(result)
                report, touched = _with_part(self.folder, report, touched, self.part)
            except Exception as exc:  # no result, or a damaged one: the child failed
                log = _tail(self.folder / "log.txt")
                logger.warning(
                    "reciprocity: the fetch job ended (exit code %s) without a report (%s)%s; "
                    "using the last good copies",
                    self.returncode,
                    exc,
                    f": {log}" if log else "",
                )
                return None
            logger.debug(
                "reciprocity: the fetch job took %.2f s, %.2f s of it fetching and parsing",
                time.monotonic() - self.started,
                report.elapsed,
            )
            return report, touched.with_held(self.before)
        finally:
            self.early = None
            with contextlib.suppress(OSError):
                (self.folder / RESULT).unlink()

    def done(self) -> bool:
        """Is the result in (or the child gone)? Never waits."""
        if self.process is not None:
            return self.process.poll() is not None
        assert self.ready is not None
        return bool(select.select([self.ready], [], [], 0)[0])

    def _wait(self, timeout: float) -> bool:
        """Wait for the result (or the child's end); False if neither came in time."""
        if self.process is not None:
            try:
                self.returncode = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        assert self.ready is not None
        # A byte: the result is in. End of file: the child is gone without one.
        # Meanwhile, a helper's part is read as soon as it is in: the job's
        # other half often takes a second longer, and the build waits anyway.
        end = time.monotonic() + timeout
        while not select.select([self.ready], [], [], self._poll(end))[0]:
            if time.monotonic() >= end:
                return False
            if self.part is None and (self.folder / PART).is_file():
                self.part = _read_part(self.folder)
            if self.early is None and (self.folder / RESULT).is_file():
                with contextlib.suppress(Exception):  # read again, and reported, after
                    self.early = read_pickle(self.folder / RESULT)
        if os.read(self.ready, 1) != b"1":
            self._reap(block=True)
        return True

    def _poll(self, end: float) -> float:
        left = max(0.0, end - time.monotonic())
        return left if self.part is not None and self.early is not None else min(left, PART_POLL)

    def _reap(self, *, block: bool) -> bool:
        """Collect a forked child's exit status; True once it has ended."""
        if self.returncode is not None:
            return True
        try:
            done, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            self.returncode = os.waitstatus_to_exitcode(status)
        return bool(done)

    def finish(self, timeout: float = 0.0) -> None:
        """End the job: let a child that is still writing the cache finish
        (within ``timeout``), else stop it; then clean up."""
        stopped = False
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.returncode = self.process.wait(timeout=timeout)
            if self.returncode is None:
                self.process.kill()
                self.returncode, stopped = self.process.wait(), True
        else:
            if self.returncode is None:
                self.returncode, stopped = _end(self.pid, timeout)
            if self.ready is not None:
                os.close(self.ready)
                self.ready = None
        if self.returncode and not stopped:  # it failed on its own, after its report
            log = _tail(self.folder / "log.txt")
            logger.warning(
                "reciprocity: the fetch job failed while saving the cache (exit code %s)%s; "
                "the next build fetches again",
                self.returncode,
                f": {log}" if log else "",
            )
        shutil.rmtree(self.folder, ignore_errors=True)


#: Threads a fork may leave behind. `pelican content` builds under a status
#: spinner (rich's live display), whose thread only repaints the terminal:
#: the locks it may hold at fork time are the display's, the console's and
#: standard output's, and the child takes none of them (it writes to its
#: own log through fresh streams, with every logging handler dropped).
SAFE_THREADS = frozenset({"rich.live._RefreshThread"})


def _can_fork() -> bool:
    """Fork only where it is safe: Linux (macOS system libraries are not
    fork-safe), and no other thread that could hold a lock the child needs."""
    if not sys.platform.startswith("linux"):
        return False
    main = threading.main_thread()
    return all(
        thread is main or f"{type(thread).__module__}.{type(thread).__qualname__}" in SAFE_THREADS
        for thread in threading.enumerate()
    )


def _tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:].replace("\n", " | ")


def _write_result(folder: Path, report: JobReport, touched: Touched, name: str = RESULT) -> None:
    """Hand back the report and the changed entries, atomically (the
    helper hands its own over in ``PART``, the same way).

    Each post's key is computed here first, on the job's own core: it
    travels in the pickle (a cached property lives in the instance), and the
    build, which indexes every post by it, would otherwise compute them all
    while Pelican waits (about 70 ms for 2,000 posts). Not its place among
    the newest (:func:`model.newest_first`): 10,000 more tuples to pickle
    raised each process's peak by about 10 MB."""
    for entry in touched.feeds.values():
        for post in entry.posts if entry is not None else ():
            _ = post.key
    tmp = folder / (name + ".tmp")
    with tmp.open("wb") as out:  # streamed: 1,000 feeds are tens of megabytes
        pickle.dump((report, touched), out, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / name)


def _forked_child(
    folder: Path, settings: FetchSettings, work: Work, told: int, before: Snapshot | None
) -> Any:
    """The forked child: quiet, on its own, and it never returns to Pelican.

    It hands over its result first and writes the cache after, so the build
    does not wait for disk writes it does not need."""
    code = 1
    try:
        log = os.open(folder / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        # Fresh streams: the build's own may be locked by a thread that is gone.
        sys.stdout = sys.stderr = open(log, "w", 1, "utf-8", "replace")  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        gc.set_threshold(*COLLECT_EVERY)  # the helper inherits it
        with contextlib.suppress(OSError):  # the helper inherits it too (see FETCH_NICENESS)
            os.nice(FETCH_NICENESS)
        for item in [logging.root, *logging.Logger.manager.loggerDict.values()]:
            if isinstance(item, logging.Logger):
                item.handlers.clear()
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        halves = _halves(settings, work)
        helper = None
        if halves is not None:
            settings, work, other = halves
            helper = _start_helper(folder, settings, other, before, told)
        started = time.monotonic()
        touched = Touched()
        report = fetch(settings, work, touched=touched, save=False, before=before)
        # Written while the helper may still be writing its own part: the
        # build reads neither before the byte below.
        _write_result(folder, report, touched.without_held(report, before))
        helper_pid = None
        if helper is not None:  # it is under the same deadline: a second's grace to hand over
            helper_pid = _await_helper(helper, started + settings.fetch_deadline + 1.0)
        os.write(told, b"1")
        os.close(told)
        _make_way()
        save_touched(settings, touched, own=INDEX if helper is not None else None)
        if helper_pid is not None:  # let it finish writing the cache and its own index
            _end(helper_pid, settings.fetch_deadline)
        code = 0
    except BaseException:  # the parent reads the log; the child must still exit
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


def _halves(settings: FetchSettings, work: Work) -> tuple[FetchSettings, Work, Work] | None:
    """Many friends' feeds, split in two by host (each host's requests stay
    in one process, under one per-host limit), each half with half the
    concurrency; the first half keeps every other kind of work. None: not
    worth a second process.

    Hosts go to the half with fewer feeds so far, the busiest host first, so
    the halves take about as long: split by a hash of the host instead,
    1,000 feeds on 32 hosts came out 563 to 437, and in a timed build the
    larger half ended 1.6 s after the other (the build waits for both)."""
    if len(work.friends) < SPLIT_AT or (os.cpu_count() or 1) < 2:
        return None
    by_host: dict[str, list[int]] = {}  # each host's friends, by their place in the list
    for place, friend in enumerate(work.friends):
        by_host.setdefault(host_of(friend.feed), []).append(place)
    if len(by_host) < 2:
        return None
    halves: tuple[list[int], list[int]] = ([], [])
    for host in sorted(by_host, key=lambda h: (-len(by_host[h]), h)):
        halves[len(halves[0]) > len(halves[1])].extend(by_host[host])
    mine, theirs = (tuple(work.friends[i] for i in sorted(half)) for half in halves)
    half = replace(settings, concurrency=max(1, -(-settings.concurrency // 2)))
    return half, replace(work, friends=mine), Work(friends=theirs)


def _start_helper(
    folder: Path, settings: FetchSettings, work: Work, before: Snapshot | None, build: int
) -> tuple[int, int]:
    """Fork a process that fetches ``work`` (friends' feeds only), hands its
    report and entries over in ``PART``, says so through a pipe, then writes
    its entries to the cache. Returns its pid and the pipe's reading end.
    ``build`` is the job's own pipe to the build, which the helper closes:
    a job that dies must still look dead to the build at once."""
    ready, told = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(told)
        return pid, ready
    code = 1  # the helper: never returns
    try:
        os.close(ready)
        os.close(build)
        touched = Touched()
        report = fetch(settings, work, touched=touched, save=False, before=before, webmention=False)
        _write_result(folder, report, touched.without_held(report, before), PART)
        os.write(told, b"1")
        os.close(told)
        _make_way()
        save_touched(settings, touched, own=PART_INDEX)  # the job writes the other index
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


def _make_way() -> None:
    """Once its result is handed over, a forked process only writes the
    cache, which the build needs only before it exits, while the build
    still has its pages to finish: at the lowest priority, the build's
    last second runs on a core of its own instead of sharing two with the
    job and its helper (Linux sets it per thread: this is the last one).

    Living on beside the build's own peak, it first gives back what its
    parsing left behind: the cycles the collector has not reached yet, and
    the heap that freeing them leaves empty (glibc keeps it otherwise).
    The peak of the summed PSS of cold builds of 1,000 feeds (medians of
    four, alternating): 162 MB at the normal priority against 194 MB at
    the lowest; then 176 MB at the normal priority against 175 MB so."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)


def _await_helper(helper: tuple[int, int], until: float) -> int | None:
    """Wait until the helper says its part is in (it works under the same
    fetch deadline as we do: ``until`` is only a grace). The build reads the
    part itself, so this process never holds the helper's posts. A helper
    that died or is late is stopped, so no part appears after our result:
    its friends' feeds keep their last good copies, as after a failed fetch.
    Returns its pid if it is still to be waited for."""
    pid, ready = helper
    try:
        wait = max(0.0, until - time.monotonic())
        if select.select([ready], [], [], wait)[0] and os.read(ready, 1) == b"1":
            return pid
    except OSError:
        pass
    finally:
        os.close(ready)
    _end(pid, 0.0)
    logger.warning("reciprocity: the second fetch process handed over nothing")
    return None


def _read_part(folder: Path) -> tuple[Any, str | None]:
    """The helper's part (its report and entries), or None and why it cannot
    be read (None, None: there is none). The reason is kept as text: an
    exception would keep the reader's frames, and what they hold, alive."""
    try:
        other, more = read_pickle(folder / PART)
        return (other, more), None
    except FileNotFoundError:
        return None, None
    except Exception as exc:
        return None, str(exc) or type(exc).__name__


def _with_part(
    folder: Path, report: JobReport, touched: Touched, part: Any = None
) -> tuple[JobReport, Touched]:
    """The job's result with the helper's part (if it handed one over) added,
    as read already (``part``, from :func:`_read_part`) or read now. A
    damaged part costs only its own friends' fresh copies."""
    found, problem = _read_part(folder) if part is None else part
    if problem:
        logger.warning("reciprocity: the second fetch process's part is unreadable (%s)", problem)
    if found is None:
        return report, touched
    other, more = found
    merged = JobReport(
        feeds={**report.feeds, **other.feeds},
        sources=report.sources,
        webmention_error=report.webmention_error,
        requests=report.requests + other.requests,
        elapsed=max(report.elapsed, other.elapsed),
    )
    feeds = {**touched.feeds, **more.feeds}
    return merged, Touched(feeds, touched.sources, touched.kept | more.kept)


def _end(pid: int, timeout: float) -> tuple[int | None, bool]:
    """Let a forked process finish (within ``timeout``), else stop it: its
    exit code (None if it was not ours to wait for), and whether it was stopped."""
    end = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None, False
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() >= end:
            break
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), True
    except ChildProcessError:
        return None, True


def main(argv: list[str]) -> int:
    """The child started as ``python -m pelican_reciprocity.job FOLDER``."""
    folder = Path(argv[0])
    gc.set_threshold(*COLLECT_EVERY)
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    touched = Touched()
    report = fetch(FetchSettings(**spec["settings"]), Work.from_json(spec["work"]), touched=touched)
    _write_result(folder, report, touched)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
