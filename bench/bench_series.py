"""Benchmark: a small series without overhead (issue 18 item 3: within 1.3x of decoding it).

    .venv/bin/python bench/bench_series.py [--repeat 3] [--size 6000x4500]

12 synthetic sections of 6000 x 4500 with scanner-like noise, four of each kind: striped LZW
TIFF, baseline JPEG and tiled JPEG TIFF (built once in bench/cache/series12/). The floor is
decoding them all two at a time: two processes, each decoding every other file in full with
pyvips (`avg()`, the access mode downscale uses for that layout). Against it,
`quint-prep downscale SERIES -o OUT --factor 0.25 --overwrite -q` with the default settings
and with `--jobs 2`, each a fresh process. The median of --repeat runs is kept, wall and CPU
(user + system of every process); the budget is on wall time, CPU ratios are printed beside
it (steadier on a shared machine). Results also go to bench/results/series.json. Exit 1 when a
budget fails. quint_prep is compiled first (compileall), so the runs start as a user's install
does even where PYTHONDONTWRITEBYTECODE is set (without .pyc files every run compiles the
modules: about 0.1 s of CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_verdicts  # noqa: E402

import pyvips

from quint_prep.scale import Size, parse_size
from quint_prep.synthetic import section_image

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "series12"
RESULTS = HERE / "results"
BUDGET = 1.3
KINDS = ("striped LZW TIFF", "baseline JPEG", "tiled JPEG TIFF")
PER_KIND = 4

DECODE = """
import sys, pyvips
pyvips.cache_set_max(0)
for path in sys.argv[1:]:
    access = "random" if path.endswith("_tiled.tif") else "sequential"
    pyvips.Image.new_from_file(path, access=access).avg()
"""


def build_series(size: Size) -> list[Path]:
    """The 12 sections (kept between runs), in name order."""
    folder = CACHE / str(size)
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for index in range(len(KINDS) * PER_KIND):
            noise = pyvips.Image.gaussnoise(size.width, size.height, mean=0, sigma=6, seed=index)
            image = (section_image(size, seed=index) + noise).cast("uchar").copy(
                interpretation="srgb")
            stem = folder / f"series_s{index + 1:03d}"
            kind = KINDS[index % len(KINDS)]
            if kind == "baseline JPEG":
                image.jpegsave(f"{stem}.jpg", Q=90)
            elif kind == "striped LZW TIFF":
                image.tiffsave(f"{stem}.tif", compression="lzw")
            else:
                image.tiffsave(f"{stem}_tiled.tif", compression="jpeg", Q=90, tile=True,
                               tile_width=256, tile_height=256)
        done.write_text("ok\n")
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decode_two_at_a_time(files: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of two processes decoding every other file each."""
    cpu, started = _children_cpu(), time.perf_counter()
    halves = [subprocess.Popen([sys.executable, "-c", DECODE, *map(str, files[start::2])])
              for start in (0, 1)]
    if any(process.wait() for process in halves):
        raise RuntimeError("a decode-only process failed")
    return time.perf_counter() - started, _children_cpu() - cpu


def downscale(folder: Path, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `quint-prep downscale` of the series."""
    output = CACHE / "out"
    command = [str(Path(sys.executable).with_name("quint-prep")), "downscale", str(folder),
               "-o", str(output), "--factor", "0.25", "--overwrite", "-q", *extra]
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, _children_cpu() - cpu


def main() -> int:
    """Measure the floor and both settings, print the table and the budgets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="6000x4500", help="section size WxH")
    args = parser.parse_args()
    size = parse_size(args.size)
    files = build_series(size)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "quint_prep")],
                   check=True, stdout=subprocess.DEVNULL)
    load_before = os.getloadavg()[0]
    cases = {"decode only, two at a time": lambda: decode_two_at_a_time(files),
             "quint-prep downscale (default)": lambda: downscale(files[0].parent, []),
             "quint-prep downscale --jobs 2": lambda: downscale(files[0].parent, ["--jobs", "2"])}
    decode_two_at_a_time(files)  # warm the page cache: every case reads from memory
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, case in cases.items():  # interleaved: a load change hits every case alike
            runs[name].append(case())
    median = {name: (statistics.median(w for w, _ in values),
                     statistics.median(c for _, c in values)) for name, values in runs.items()}
    floor_wall, floor_cpu = median["decode only, two at a time"]
    print(f"{len(files)} sections of {size} ({', '.join(KINDS)}, {PER_KIND} each), factor 0.25, "
          f"median of {args.repeat}; {os.cpu_count()} cores")
    print("| case | wall (s) | CPU (s) | wall / floor | CPU / floor |\n|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in median.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / floor_wall:.2f}x | "
              f"{cpu / floor_cpu:.2f}x |")
    verdicts = [(f"{name} within {BUDGET}x of decoding the series two at a time",
                 wall / floor_wall <= BUDGET,
                 f"{wall:.2f} s / {floor_wall:.2f} s = {wall / floor_wall:.2f}x; "
                 f"CPU {cpu / floor_cpu:.2f}x")
                for name, (wall, cpu) in median.items() if name.startswith("quint-prep")]
    print_verdicts(verdicts, load_before)
    RESULTS.mkdir(exist_ok=True)
    report = {"sections": len(files), "size": str(size), "repeat": args.repeat,
              "load_average_before": round(load_before, 2), "budget": BUDGET,
              "runs": {name: [[round(w, 2), round(c, 2)] for w, c in values]
                       for name, values in runs.items()},
              "median": {name: {"wall": round(w, 2), "cpu": round(c, 2)}
                         for name, (w, c) in median.items()}}
    (RESULTS / "series.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
