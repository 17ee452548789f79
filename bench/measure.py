"""Run one command in its own process and measure its wall time and peak resident memory."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Measure:
    """One run (or the median of several) of a case."""

    seconds: float
    peak_mb: float
    status: str  # "ok", "timeout", "refused", "failed"
    detail: str = ""
    runs: int = 1

    @property
    def ok(self) -> bool:
        """True when the command finished with exit code 0 in time."""
        return self.status == "ok"


def run_measured(argv: Sequence[str], timeout: float, log: Path,
                 env: dict[str, str] | None = None) -> Measure:
    """Run argv to completion (killed after ``timeout`` s); peak RSS from the child's rusage.

    ``os.wait4`` returns the rusage of exactly this child, so nothing else the benchmark ran
    is mixed into ``ru_maxrss``. The child's stdout and stderr go to ``log``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    if timed_out.is_set():
        return Measure(seconds, peak_mb, "timeout", f"killed after {timeout:.0f} s")
    if process.returncode != 0:
        return Measure(seconds, peak_mb, "failed", _last_line(log, process.returncode))
    return Measure(seconds, peak_mb, "ok")


def _last_line(log: Path, code: int) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {code}: {lines[-1][:160] if lines else 'no output'}"


def median_of(measures: Sequence[Measure]) -> Measure:
    """The median time and the largest peak RSS of repeated runs (the first failure if any)."""
    for measure in measures:
        if not measure.ok:
            return measure
    return Measure(statistics.median(m.seconds for m in measures),
                   max(m.peak_mb for m in measures), "ok", runs=len(measures))
