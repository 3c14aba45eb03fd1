"""Run one Pelican build in this process and report its time and peak memory.

Used by run.py as a subprocess so that each build starts cold, as
`pelican content` does, and so that peak RSS belongs to that build alone.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import resource
import sys
import time


class _Summary(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("reciprocity: ") and " feeds: " in message:
            self.lines.append(message)


def _spinner() -> contextlib.AbstractContextManager[object]:
    """What `pelican content` builds under: its console's status spinner,
    which runs in a thread of its own (`pelican --autoreload` shows none)."""
    try:
        from pelican.log import console
    except ImportError:  # a Pelican before 4.9
        return contextlib.nullcontext()
    return console.status("Generating...")


class _Collector:
    """The garbage collector's time, summed over its collections: the
    plugin's objects add to what each one walks, and what it freezes (see
    files.collector_paused) is walked by none, Pelican's included."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def _rebuilds(argv: list[str]) -> int:
    """``--again [N]``: N more builds in the same process (1 if no N)."""
    if "--again" not in argv:
        return 0
    after = argv[argv.index("--again") + 1 :]
    return int(after[0]) if after and after[0].isdigit() else 1


def main() -> None:
    site = sys.argv[1]
    os.chdir(site)
    started = time.perf_counter()
    from pelican import Pelican
    from pelican.settings import read_settings

    handler = _Summary()
    logging.getLogger().addHandler(handler)
    logging.getLogger("pelican_reciprocity").setLevel(logging.INFO)
    settings = read_settings("pelicanconf.py")
    again = _rebuilds(sys.argv)
    collector = _Collector()
    with contextlib.nullcontext() if again else _spinner():
        Pelican(settings).run()
    elapsed = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() + children.ru_utime + children.ru_stime  # the fetch job's too
    rebuilds: list[tuple[float, float, float]] = []
    for _ in range(again):  # what `pelican --autoreload` does on each save: the same process
        os.getppid()  # marks a rebuild's start and end, where valgrind splits its count
        collector.seconds = 0.0
        started, cpu_before = time.perf_counter(), time.process_time()
        Pelican(read_settings("pelicanconf.py")).run()
        rebuilds.append(
            (time.perf_counter() - started, time.process_time() - cpu_before, collector.seconds)
        )
        os.getppid()
    if rebuilds:  # their mean: what a session of that many saves costs, a save
        elapsed, cpu, collector.seconds = (sum(r[i] for r in rebuilds) / again for i in range(3))
    # The fetch job's processes are counted by run.py, which watches them
    # (their peaks are summed with this one); the largest child's peak is
    # here in case one lived too briefly to be seen.
    # Not ru_maxrss: on Linux it survives exec, so it would report the
    # benchmark's own size (with 1,000 feed bodies of 200 KB, about 200 MB)
    # for any build smaller than that.
    from run import peak_kib  # beside this script

    rss_kib = peak_kib(os.getpid()) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "elapsed": elapsed,
                "cpu": cpu,
                "gc": collector.seconds,
                "rss_mib": rss_kib / 1024,
                "largest_child_mib": child_kib / 1024,
                "summary": handler.lines,
                "rebuilds": [r[0] for r in rebuilds],
            }
        )
    )


if __name__ == "__main__":
    main()
