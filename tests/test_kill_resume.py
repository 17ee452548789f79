"""A downscale killed with SIGKILL resumes: finished images are up to date, the rest written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import gradient, save

from quint_prep.journal import JOURNAL_NAME


def test_sigkilled_downscale_resumes_where_it_stopped(tmp_path):
    for n in range(1, 7):
        save(gradient(4000, 3000), tmp_path / f"src/m_s{n:03d}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "quint_prep", "downscale", str(tmp_path / "src"), "-o",
               str(out), "--factor", "0.5", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("m_s*.png")) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("m_s*.png")}
    assert 1 <= len(finished) < 6  # killed after the first output, before the last
    rerun = subprocess.run([*command[:-1], "--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    document = json.loads(rerun.stdout)
    assert document["counts"] == {"written": 6 - len(finished), "up-to-date": len(finished),
                                  "failed": 0}
    assert {n: (out / n).stat().st_mtime_ns for n in finished} == finished  # not rewritten
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"m_s{n:03d}.png" for n in range(1, 7)), "quint-prep.json"]  # no temporaries left
    assert not (out / JOURNAL_NAME).exists()
    assert document["check"]["ok"] is True
