"""Where does the time of a downscale go? Variants of the pipeline, each in its own process.

    .venv/bin/python bench/explore_pipeline.py [SOURCE.tif] [--repeat N] [--only NAME,...]

Each variant opens the source, builds a 0.25x pipeline and writes (or averages) it, with the
libvips operation cache off. Wall time, CPU time (user + system: above wall = parallel work)
and peak RSS are measured per process, as in bench_downscale.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import median_of, run_measured  # noqa: E402

DEFAULT = Path(__file__).resolve().parent / "cache" / "images" / "tiled_40000x30000.tif"

# name: (environment, child arguments: access, resampler, sink)
VARIANTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "decode avg (random)": ({}, ["random", "none", "avg"]),
    "decode avg (sequential)": ({}, ["sequential", "none", "avg"]),
    "decode avg, 1 thread": ({"VIPS_CONCURRENCY": "1"}, ["auto", "none", "avg"]),
    "area -> avg (no encode)": ({}, ["auto", "area", "avg"]),
    "area -> png c6 (quint-prep today)": ({}, ["auto", "area", "png6"]),
    "area -> png c6 + eval progress": ({}, ["auto", "area", "png6-progress"]),
    "area -> png c0": ({}, ["auto", "area", "png0"]),
    "area -> png c1": ({}, ["auto", "area", "png1"]),
    "area -> png c2": ({}, ["auto", "area", "png2"]),
    "area -> png c3": ({}, ["auto", "area", "png3"]),
    "area -> png c6, sequential access": ({}, ["sequential", "area", "png6"]),
    "area -> png c6, 1 thread": ({"VIPS_CONCURRENCY": "1"}, ["auto", "area", "png6"]),
    "area -> png c6, 3 threads": ({"VIPS_CONCURRENCY": "3"}, ["auto", "area", "png6"]),
    "shrink(4,4) -> png c6": ({}, ["auto", "shrink", "png6"]),
    "reduce(4,4) -> png c6": ({}, ["auto", "reduce", "png6"]),
    "resize(0.25) lanczos3 -> png c6": ({}, ["auto", "resize", "png6"]),
    "area -> jpeg Q90": ({}, ["auto", "area", "jpeg"]),
}

CHILD = """
import sys, pyvips
sys.path.insert(0, sys.argv[1])
from quint_prep.downscale.resample import RESAMPLERS, Method, exact_size
from quint_prep.scale import scaled_size
from quint_prep.series import read_info
pyvips.cache_set_max(0)
source, access, resampler, sink, out = sys.argv[2:7]
info = read_info(__import__("pathlib").Path(source))
target = scaled_size(info.size, 0.25)
access = info.access if access == "auto" else access
image = pyvips.Image.new_from_file(source, access=access)
if resampler == "area":
    image = exact_size(RESAMPLERS[Method.AREA](image, target), target)
elif resampler == "shrink":
    image = exact_size(image.shrink(4, 4, ceil=True), target)
elif resampler == "reduce":
    image = exact_size(image.reduce(4, 4, kernel="lanczos3"), target)
elif resampler == "resize":
    image = exact_size(image.resize(0.25, kernel="lanczos3"), target)
ticks = []
if sink.endswith("-progress"):
    image.set_progress(True)
    image.signal_connect("eval", lambda _image, progress: ticks.append(progress.percent))
    sink = sink.removesuffix("-progress")
if sink == "avg":
    image.avg()
elif sink == "jpeg":
    image.jpegsave(out + ".jpg", Q=90, keep="none")
else:
    image.pngsave(out + ".png", compression=int(sink[3:]), keep="none")
if ticks:
    print(f"{len(ticks)} eval callbacks")
"""


def main() -> None:
    """Run every (or the chosen) variant and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated substrings of variant names")
    args = parser.parse_args()
    chosen = [n for n in VARIANTS if not args.only or any(k in n for k in args.only.split(","))]
    root = str(Path(__file__).resolve().parent.parent)
    print(f"{args.source.name}: {'variant':<40} {'wall':>7} {'CPU':>7} {'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen:
            env, child = VARIANTS[name]
            argv = [sys.executable, "-c", CHILD, root, str(args.source), *child,
                    str(Path(folder) / "out")]
            log = Path(folder) / "log.txt"
            measure = median_of([run_measured(argv, 600, log, env) for _ in range(args.repeat)])
            cell = (f"{measure.seconds:6.2f}s {measure.cpu_seconds:6.2f}s {measure.peak_mb:7.0f}MB"
                    f" others {measure.others_cpu:5.2f}s"
                    if measure.ok else f"{measure.status}: {measure.detail}")
            extra = log.read_text().strip()
            print(f"  {name:<48} {cell} {extra}", flush=True)


if __name__ == "__main__":
    main()
