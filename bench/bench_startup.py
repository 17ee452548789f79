"""Benchmark: start-up of the command line (issue 18 item 3: under 0.25 s).

    .venv/bin/python bench/bench_startup.py [--repeat 5]

Each case is a fresh `quint-prep` process (the console script of the venv): `--help`, the
`--help` of every command the command line registers (`quint_prep.cli.COMMAND_MODULES`), and
two real commands whose work is nothing, so that what is measured is the start-up before the
work: `inspect` of one 64 x 48 PNG (a header read) and `rename --dry-run` of a folder of two.
For `downscale` and `masks`, whose start-up imports the library they run (numpy, pyvips),
what is held against the budget is the time until the work starts: the process is stopped
when the command calls its core function (`downscale_checked`, `convert_and_check`), its
options parsed, its series read and its output folder locked. The best wall time of --repeat runs is held against the budget (the fastest run is the one
least disturbed by other processes), with its CPU time (user + system) beside it, and the
python interpreter alone (`python -c pass`) for scale. quint_prep is compiled first
(`compileall`): where PYTHONDONTWRITEBYTECODE is set, as on our machines, Python would otherwise
compile every module from source at each start (about 0.1 s of CPU) where a user's install has
its .pyc files. Results also go to bench/results/startup.json. Exit 1 when a budget fails.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_verdicts  # noqa: E402

import quint_prep  # noqa: E402
from quint_prep.cli import COMMAND_MODULES  # noqa: E402  (imports neither numpy nor pyvips)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUDGET_SECONDS = 0.25
PROGRAM = Path(sys.executable).with_name("quint-prep")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(argv: list[str], repeat: int) -> tuple[float, float]:
    """(best wall, best CPU) seconds of ``repeat`` runs of ``argv``, each its own process."""
    walls, cpus = [], []
    environment = {**os.environ, "COLUMNS": "100"}
    for _ in range(repeat):
        cpu, started = _children_cpu(), time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=environment)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
    return min(walls), min(cpus)


# Run the console script's main() with sys.argv[2:], and stop the process when the command
# calls the core function sys.argv[1]: print the clock and the CPU time used until then.
UNTIL_WORK = """
import importlib, os, resource, sys, time
module_name, function_name = sys.argv[1].rsplit(".", 1)
sys.argv = ["quint-prep", *sys.argv[2:]]
def work_starts(*args, **kwargs):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(time.time(), usage.ru_utime + usage.ru_stime, flush=True)
    os._exit(0)
setattr(importlib.import_module(module_name), function_name, work_starts)
from quint_prep.cli import main
main()
"""


def best_until_work(core: str, arguments: list[str], output: Path,
                    repeat: int) -> tuple[float, float]:
    """(best wall, best CPU) seconds from starting ``quint-prep ARGUMENTS -o OUTPUT/N`` to its
    call of ``core`` (module.function), ``repeat`` processes, each with a new output folder."""
    walls, cpus = [], []
    environment = {**os.environ, "COLUMNS": "100"}
    for run in range(repeat):
        argv = [sys.executable, "-c", UNTIL_WORK, core, *arguments, "-o", str(output / str(run))]
        started = time.time()
        done = subprocess.run(argv, check=True, capture_output=True, text=True, env=environment)
        lines = done.stdout.split()
        if len(lines) != 2:
            raise RuntimeError(f"{' '.join(arguments)} never called {core}: {done.stderr}")
        walls.append(float(lines[0]) - started)
        cpus.append(float(lines[1]))
    return min(walls), min(cpus)


def small_png(folder: Path, name: str = "section_s001.png", mask: bool = False) -> Path:
    """A 64 x 48 grey PNG written with the standard library (no image library started here):
    uniform grey, or with ``mask`` a binary mask (left half 0, right half 255)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    width, height = 64, 48
    row = bytes(width // 2) + bytes([255]) * (width - width // 2) if mask else bytes([128]) * width
    rows = b"".join(b"\x00" + row for _ in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    path = folder / name
    path.write_bytes(png)
    return path


def main() -> int:
    """Measure every case, print a table and the budget verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compileall.compile_dir(Path(quint_prep.__file__).parent, quiet=1)  # as an install has it
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        image = small_png(Path(scratch))
        small_png(Path(scratch), "section_s002.png")
        cases = [("quint-prep --help", [str(PROGRAM), "--help"])]
        cases += [(f"quint-prep {name} --help", [str(PROGRAM), name, "--help"])
                  for name in COMMAND_MODULES]
        cases.append(("quint-prep inspect one small PNG", [str(PROGRAM), "inspect", str(image)]))
        cases.append(("quint-prep rename --dry-run of two small PNGs",
                      [str(PROGRAM), "rename", "--dry-run", scratch]))
        segmentations = Path(scratch) / "segmentations"
        segmentations.mkdir()
        for number in (1, 2):
            small_png(segmentations, f"section_s00{number}_mask.png", mask=True)
        until_work = [
            ("quint-prep downscale of two small PNGs, until the work starts",
             "quint_prep.downscale.series.downscale_checked",
             ["downscale", scratch, "--factor", "0.5", "-q"]),
            ("quint-prep masks of two small masks, until the work starts",
             "quint_prep.masks.series.convert_and_check",
             ["masks", str(segmentations), "-q"])]
        python = best_of([sys.executable, "-c", "pass"], args.repeat)
        rows = [(label, *best_of(argv, args.repeat)) for label, argv in cases]
        with tempfile.TemporaryDirectory() as outputs:
            rows += [(label, *best_until_work(core, arguments, Path(outputs) / str(index),
                                              args.repeat))
                     for index, (label, core, arguments) in enumerate(until_work)]
    print(f"best of {args.repeat}; python alone: {python[0]:.3f} s wall, {python[1]:.3f} s CPU")
    print("| case | wall (s) | CPU (s) |\n|---|---:|---:|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall:.3f} | {cpu:.3f} |")
    verdicts = [(f"start-up < {BUDGET_SECONDS} s: {label}", wall < BUDGET_SECONDS,
                 f"{wall:.3f} s wall, {cpu:.3f} s CPU") for label, wall, cpu in rows]
    print_verdicts(verdicts, load_before)
    RESULTS.mkdir(exist_ok=True)
    report = {"repeat": args.repeat, "budget_seconds": BUDGET_SECONDS,
              "load_average_before": round(load_before, 2),
              "python_alone": {"wall": round(python[0], 3), "cpu": round(python[1], 3)},
              "cases": [{"case": label, "wall": round(wall, 3), "cpu": round(cpu, 3)}
                        for label, wall, cpu in rows]}
    (RESULTS / "startup.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
