"""Benchmark: a 16-image series downscaled with --jobs 2 (two images at once, in threads)
against --jobs 1.

    .venv/bin/python bench/bench_jobs.py [--repeat 3] [--size 4000x3000]

The series (16 synthetic sections of varying width: striped LZW TIFF and baseline JPEG, the
kinds that must be decoded in full) is built once in bench/cache/jobs16/. Each run is a fresh
`quint-prep downscale --factor 0.25 --overwrite` process; the median wall time of --repeat
runs is reported, with the ratio, the cores and the libvips version. Results also go to
bench/results/bench_jobs.json. quint_prep is compiled first (compileall), as an install is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyvips

from quint_prep.parallel import cpu_cores
from quint_prep.scale import Size, parse_size
from quint_prep.synthetic import section_image

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "jobs16"
RESULTS = HERE / "results"
COUNT = 16


def build_series(base: Size) -> Path:
    """16 noisy sections, widths 70-130 % of base, half LZW TIFF, half JPEG (kept between runs)."""
    folder = CACHE / str(base)
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index in range(COUNT):
        scale = 0.7 + 0.6 * ((index * 7) % COUNT) / (COUNT - 1)
        size = Size(int(base.width * scale), int(base.height * scale))
        # Scanner noise: without it the synthetic sections compress 100:1 and decode for free.
        noise = pyvips.Image.gaussnoise(size.width, size.height, mean=0, sigma=6, seed=index)
        image = (section_image(size, seed=index) + noise).cast("uchar").copy(interpretation="srgb")
        stem = f"bench_s{index + 1:03d}"
        if index % 2:
            image.jpegsave(str(folder / f"{stem}.jpg"), Q=90)
        else:
            image.tiffsave(str(folder / f"{stem}.tif"), compression="lzw")
    done.write_text("ok\n")
    return folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(series: Path, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds (all processes) of one `quint-prep downscale` over the series."""
    output = CACHE / f"out-jobs{jobs}"
    command = [sys.executable, "-m", "quint_prep", "downscale", str(series), "-o", str(output),
               "--factor", "0.25", "--overwrite", "-q", "--jobs", str(jobs)]
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, _children_cpu() - cpu


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="6000x4500", help="base section size WxH")
    args = parser.parse_args()
    base = parse_size(args.size)
    load_before = os.getloadavg()[0]
    series = build_series(base)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "quint_prep")],
                   check=True, stdout=subprocess.DEVNULL)
    megapixels = sum(pyvips.Image.new_from_file(str(p)).width * pyvips.Image.new_from_file(str(p)).height
                     for p in series.iterdir() if not p.name.startswith(".")) / 1e6
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    run_once(series, 1)  # warm the page cache so both settings read from memory
    for _ in range(args.repeat):
        for jobs in (1, 2):
            wall, used = run_once(series, jobs)
            times[jobs].append(wall)
            cpu[jobs].append(used)
    median = {jobs: statistics.median(values) for jobs, values in times.items()}
    median_cpu = {jobs: statistics.median(values) for jobs, values in cpu.items()}
    libvips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    report = {
        "series": f"{COUNT} sections around {base} ({megapixels:.0f} MP in all), "
                  "LZW TIFF + JPEG, factor 0.25",
        "cores": cpu_cores(), "python": platform.python_version(), "libvips": libvips,
        "pyvips": pyvips.__version__, "repeat": args.repeat,
        "wall_seconds": {f"jobs{jobs}": [round(t, 2) for t in values] for jobs, values in times.items()},
        "median_seconds": {f"jobs{jobs}": round(t, 2) for jobs, t in median.items()},
        "median_cpu_seconds": {f"jobs{jobs}": round(t, 2) for jobs, t in median_cpu.items()},
        "speed_up": round(median[1] / median[2], 2),
        "max_child_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "load_average_before": round(load_before, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_jobs.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['series']}; {report['cores']} cores, libvips {libvips}, "
          f"median of {args.repeat}")
    print("| jobs | wall (s) | images/s | CPU (s) | cores busy |")
    print("|---|---|---|---|---|")
    for jobs in (1, 2):
        print(f"| {jobs} | {median[jobs]:.2f} | {COUNT / median[jobs]:.1f} | "
              f"{median_cpu[jobs]:.2f} | {median_cpu[jobs] / median[jobs]:.2f} |")
    print(f"--jobs 2 is {report['speed_up']:.2f}x faster than --jobs 1")
    if load_before > 0.5:
        print(f"note: load average {load_before:.1f} before the runs: other processes shared the "
              "cores, so the ratio understates what --jobs gives on an idle machine")


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "100")
    main()
