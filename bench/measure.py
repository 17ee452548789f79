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
    cpu_seconds: float = 0.0  # user + system time of the child: above the wall time = parallel
    others_cpu: float = 0.0  # CPU seconds other processes used meanwhile (a busy, noisy machine)

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
    wait_for_quiet()
    busy_before = busy_cpu_seconds()
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
    cpu = usage.ru_utime + usage.ru_stime
    extra = dict(cpu_seconds=cpu, others_cpu=max(0.0, busy_cpu_seconds() - busy_before - cpu))
    if timed_out.is_set():
        return Measure(seconds, peak_mb, "timeout", f"killed after {timeout:.0f} s", **extra)
    if process.returncode != 0:
        return Measure(seconds, peak_mb, "failed", _last_line(log, process.returncode), **extra)
    return Measure(seconds, peak_mb, "ok", **extra)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit: float = 15.0, threshold: float = 0.15) -> float:
    """Wait (up to ``limit`` s) until other processes use under ``threshold`` of one core.

    Other work on a shared machine steals cores from a timed run; waiting for a quiet second
    keeps most runs clean, and ``Measure.others_cpu`` flags the ones that were not.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = busy_cpu_seconds()
        time.sleep(1.0)
        if busy_cpu_seconds() - before < threshold:
            break
    return time.perf_counter() - started


def _last_line(log: Path, code: int) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {code}: {lines[-1][:160] if lines else 'no output'}"


def median_of(measures: Sequence[Measure]) -> Measure:
    """The median time and the largest peak RSS of repeated runs (the first failure if any)."""
    for measure in measures:
        if not measure.ok:
            return measure
    return Measure(statistics.median(m.seconds for m in measures),
                   max(m.peak_mb for m in measures), "ok", runs=len(measures),
                   cpu_seconds=statistics.median(m.cpu_seconds for m in measures),
                   others_cpu=statistics.median(m.others_cpu for m in measures))
