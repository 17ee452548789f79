"""Run one command in its own process and measure its wall time and peak resident memory."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


# A forked child starts with its parent's resident pages counted, and exec keeps that count as
# the child's peak: every command started by a benchmark that had grown to 126 MB (it generates
# its inputs in-process) showed at least 126 MB. So the command is started by this small
# launcher, which waits for it and writes the command's own rusage (peak RSS in KB, CPU s).
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


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
    """Run argv to completion (killed after ``timeout`` s); peak RSS from the command's rusage.

    The command runs under ``LAUNCHER``, whose ``os.wait4`` gives the rusage of exactly that
    command: neither this process's memory nor anything else the benchmark ran is mixed into
    ``ru_maxrss``. The command's stdout and stderr go to ``log``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    wait_for_quiet()
    busy_before = busy_cpu_seconds()
    report = Path(tempfile.mkstemp(prefix="measure-", suffix=".txt")[1])
    with open(log, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(report), *argv],
                                   stdout=sink, stderr=subprocess.STDOUT,
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
    measured = report.read_text().split()
    report.unlink(missing_ok=True)
    if len(measured) == 2:  # the command's own figures
        peak_mb, cpu = int(measured[0]) / 1024, float(measured[1])  # kilobytes on Linux
    else:  # killed before it reported: the launcher's (an upper bound)
        peak_mb, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
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


def print_verdicts(verdicts: list[tuple[str, bool, str]], load_before: float) -> None:
    """Print each budget as PASS/FAIL with its figures, and a note when the machine was busy."""
    print("\nBudgets:")
    for what, ok, figures in verdicts:
        print(f"- {'PASS' if ok else 'FAIL'}: {what} ({figures})")
    if load_before > 0.5:
        print(f"note: load average {load_before:.1f} before the runs: other processes shared the "
              "cores (compare the CPU column)")
