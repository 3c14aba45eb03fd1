"""The fetch as a job in its own process, beside Pelican's reading.

The build starts the job at its earliest signal and waits for it only where
it first needs posts. The child fetches, parses and writes the cache on the
second core, free of the build's interpreter lock, and reports back in a
small JSON file. The parent then reads the cache (:func:`refresh.collect`).

A child that dies, hangs or says nothing costs at most the deadline (plus a
short grace), and the build goes on with the last good copies. Only this
module knows there is a child; nothing here is shared between threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .refresh import FetchSettings, JobReport, Work, fetch

logger = logging.getLogger(__name__)

#: How long past the fetch deadline the build waits for the child to report.
GRACE = 5.0


@dataclass
class Job:
    """A running fetch: the child process and where it will report."""

    process: subprocess.Popen[bytes]
    folder: Path
    deadline: float

    @classmethod
    def start(cls, settings: FetchSettings, work: Work) -> Job | None:
        """Start the child, or return None (and say why) when it cannot start."""
        folder = Path(tempfile.mkdtemp(prefix="reciprocity-job-"))
        spec = {"settings": asdict(settings), "work": work.to_json()}
        (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        try:
            with (folder / "log.txt").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "pelican_reciprocity.job", str(folder)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    close_fds=True,
                )
        except OSError as exc:
            logger.warning("reciprocity: cannot start the fetch job (%s); fetching here", exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return cls(process, folder, settings.fetch_deadline)

    def result(self) -> JobReport | None:
        """Wait for the child (within the deadline) and read its report.

        None, with one WARNING, when the child hung, died or left no report:
        the caller then uses the cache as it is.
        """
        try:
            try:
                self.process.wait(timeout=self.deadline + GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                logger.warning(
                    "reciprocity: the fetch job did not finish within %g s; "
                    "using the last good copies",
                    self.deadline + GRACE,
                )
                return None
            try:
                data = json.loads((self.folder / "report.json").read_text(encoding="utf-8"))
                return JobReport.from_json(data)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log = _tail(self.folder / "log.txt")
                logger.warning(
                    "reciprocity: the fetch job ended (exit code %s) without a report (%s)%s; "
                    "using the last good copies",
                    self.process.returncode,
                    exc,
                    f": {log}" if log else "",
                )
                return None
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def cancel(self) -> None:
        """Stop a job whose build ended without waiting for it."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def _tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:].replace("\n", " | ")


def main(argv: list[str]) -> int:
    """The child: read the spec, fetch, write the report atomically."""
    folder = Path(argv[0])
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    report = fetch(FetchSettings(**spec["settings"]), Work.from_json(spec["work"]))
    out = folder / "report.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report.to_json()), encoding="utf-8")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
