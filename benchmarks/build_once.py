"""Run one Pelican build in this process and report its time and peak memory.

Used by run.py as a subprocess so that each build starts cold, as
`pelican content` does, and so that peak RSS belongs to that build alone.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import logging
import os
import resource
import signal
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


#: The plugin's wrappers around Pelican's own work, and the call each passes on.
_PASSING_ON = {
    "_InjectingTemplate.render": "render",  # the theme's article template
    "wrap_templates.<locals>.get_template": "get_template",  # Pelican's lookup
}


class _Sampler:
    """The plugin's own share of the build's CPU time, sampled where it is
    spent. Comparing two builds in turn leaves the machine's drift in the
    result (on this VM, the same 10,000-article build took 72 s and 96 s a
    few minutes apart); a share taken inside one build has the same drift
    above and below the line.

    On each tick of CPU time (``ITIMER_PROF``: the process's user and
    system time; asked for every millisecond, given every 4 ms here), the
    main thread's stack is looked at. The time since the last look is the
    plugin's when the innermost frame from its package is not just passing
    a call on to Pelican's own work (the article template wrapper rendering
    the theme's template, its ``get_template`` asking Pelican's). Its
    imports, its receivers, the friends page and the collections that its
    own allocations set off are the plugin's; what its objects add to the
    collections that Pelican's allocations set off is not.
    """

    def __init__(self, interval: float = 0.001) -> None:
        spec = importlib.util.find_spec("pelican_reciprocity")  # without importing it
        locations = (spec.submodule_search_locations or []) if spec else []
        self.package = os.path.join(locations[0], "") if locations else "\0"
        self.ours = self.total = 0.0
        self._mine: dict[object, bool] = {}
        self._last = time.process_time()
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, interval, interval)

    def _sample(self, signum: int, frame: object) -> None:
        # Weighed by the CPU time since the last look: the handler waits for
        # a call in C to return (a collection, a long search), so the looks
        # are not evenly spaced, and that time goes to the frame that made
        # the call.
        now = time.process_time()
        spent, self._last = now - self._last, now
        self.total += spent
        inner, mine = None, self._mine
        while frame is not None:
            code = frame.f_code  # type: ignore[attr-defined]
            ours = mine.get(code)
            if ours is None:  # looked up once a code object
                ours = mine[code] = code.co_filename.startswith(self.package)
            if ours:
                passing = _PASSING_ON.get(code.co_qualname)
                if inner is None or passing is None or inner.f_code.co_name != passing:
                    self.ours += spent
                return
            inner, frame = frame, frame.f_back  # type: ignore[attr-defined]

    def share(self) -> float:
        return self.ours / self.total if self.total else 0.0

    def reset(self) -> None:
        self.ours = self.total = 0.0
        self._last = time.process_time()

    def stop(self) -> None:
        """Before the interpreter ends: a tick after its handler is gone
        would end the process (SIGPROF's default action)."""
        signal.setitimer(signal.ITIMER_PROF, 0, 0)


def _rebuilds(argv: list[str]) -> int:
    """``--again [N]``: N more builds in the same process (1 if no N)."""
    if "--again" not in argv:
        return 0
    after = argv[argv.index("--again") + 1 :]
    return int(after[0]) if after and after[0].isdigit() else 1


def main() -> None:
    site = sys.argv[1]
    os.chdir(site)
    sampler = _Sampler() if "--sample" in sys.argv else None
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
    share = sampler.share() if sampler else None
    shares = []
    for _ in range(again):  # what `pelican --autoreload` does on each save: the same process
        os.getppid()  # marks a rebuild's start and end, where valgrind splits its count
        collector.seconds = 0.0
        if sampler:
            sampler.reset()
        started, cpu_before = time.perf_counter(), time.process_time()
        Pelican(read_settings("pelicanconf.py")).run()
        rebuilds.append(
            (time.perf_counter() - started, time.process_time() - cpu_before, collector.seconds)
        )
        if sampler:
            shares.append(sampler.share())
        os.getppid()
    if sampler:
        sampler.stop()
    if shares:
        share = sum(shares) / len(shares)
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
                "share": share,
            }
        )
    )


if __name__ == "__main__":
    main()
