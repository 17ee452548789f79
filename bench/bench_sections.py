"""Benchmark `quint-prep sections` on a 40000 x 30000 slide (issue 17 budgets).

Budgets: a pyramidal slide (tiled JPEG TIFF with halving levels) is detected in under 2 s and
200 MB peak RSS; a non-pyramidal one (tiled JPEG, level 0 only) within 1.2x the time of
decoding it (``avg()``, random access). Every case runs in its own process, measured as a user
meets it (CLI start included). Inputs are generated once into bench/cache/sections
(git-ignored, about 1 GB). Run: `.venv/bin/python bench/bench_sections.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measure, median_of, run_measured  # noqa: E402

from quint_prep.sections.plan import Box  # noqa: E402
from quint_prep.scale import Size  # noqa: E402
from quint_prep.sections.synthetic import SlideSection, slide_image  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "sections"
RESULTS = HERE / "results"
SLIDE = Size(40000, 30000)
SECTIONS = [  # two rows of three, one torn; at 0.5 um/px each is 4-6 mm across
    SlideSection(Box(1500, 2500, 9000, 6500), (200, 60, 60)),
    SlideSection(Box(12500, 2000, 8500, 7500), (60, 60, 200), tear=120),
    SlideSection(Box(23500, 3000, 8500, 6500), (60, 160, 60)),
    SlideSection(Box(2500, 14000, 8500, 6500), (200, 100, 200)),
    SlideSection(Box(12000, 14500, 7500, 6000), (180, 160, 40)),
    SlideSection(Box(21500, 13500, 11000, 8500), (40, 160, 180)),
]
TIME_BUDGET_S = 2.0
RSS_BUDGET_MB = 200.0
FLAT_BUDGET = 1.2
CLI = str(Path(sys.executable).with_name("quint-prep"))
DECODE = ("import sys, pyvips; pyvips.cache_set_max(0); "
          "pyvips.Image.new_from_file(sys.argv[1], access='random').avg()")


def ensure_slide(name: str, pyramid: bool) -> Path:
    """Write the slide unless it is cached (temporary name, then rename). The non-pyramidal
    slide is level 0 of the pyramidal one, re-saved without its levels."""
    path = CACHE / name
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    if pyramid:  # no Gaussian noise: libvips' gaussnoise would take most of the generation
        image = slide_image(SLIDE, SECTIONS, noise=0).copy(xres=2000.0, yres=2000.0)  # 0.5 um/px
    else:
        image = pyvips.Image.new_from_file(str(ensure_slide("slide-pyramid.tif", True)),
                                           access="sequential")
    partial = path.with_name(f".{name}.partial.tif")
    image.tiffsave(str(partial), tile=True, tile_width=512, tile_height=512, pyramid=pyramid,
                   compression="jpeg", Q=85, bigtiff=True)
    partial.rename(path)
    return path


def measure(argv: list[str], repeat: int, log: Path) -> Measure:
    return median_of([run_measured(argv, timeout=600, log=log) for _ in range(repeat)])


def sections_case(slide: Path, repeat: int, work: Path) -> tuple[Measure, int]:
    plan = work / f"plan-{slide.stem}"
    runs = []
    for _ in range(repeat):
        shutil.rmtree(plan, ignore_errors=True)
        runs.append(run_measured([CLI, "sections", str(slide), "-o", str(plan), "--prefix",
                                  "bench"], timeout=600, log=work / f"{slide.stem}.log"))
    if not (plan / "sections.csv").exists():
        return median_of(runs), 0
    with open(plan / "sections.csv", newline="") as handle:
        found = len(list(csv.DictReader(handle)))
    return median_of(runs), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        ensure_slide("slide-pyramid.tif", pyramid=True)
        ensure_slide("slide-flat.tif", pyramid=False)
        return 0
    if not all((CACHE / name).exists() for name in ("slide-pyramid.tif", "slide-flat.tif")):
        # In a child: a child's peak RSS starts at its parent's RSS when it is forked, so the
        # measuring process must never have held the generation's memory (271 MB seen).
        subprocess.run([sys.executable, __file__, "--generate-only"], check=True)
    pyramidal = ensure_slide("slide-pyramid.tif", pyramid=True)
    flat = ensure_slide("slide-flat.tif", pyramid=False)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as folder:  # outside the slides' folder
        work = Path(folder)
        pyramid_run, pyramid_found = sections_case(pyramidal, args.repeat, work)
        flat_run, flat_found = sections_case(flat, args.repeat, work)
        decode = measure([sys.executable, "-c", DECODE, str(flat)], args.repeat, work / "decode.log")
    ratio = flat_run.seconds / decode.seconds
    checks = [
        (f"pyramidal: {pyramid_run.seconds:.2f} s < {TIME_BUDGET_S} s", pyramid_run.seconds < TIME_BUDGET_S),
        (f"pyramidal: {pyramid_run.peak_mb:.0f} MB < {RSS_BUDGET_MB:.0f} MB", pyramid_run.peak_mb < RSS_BUDGET_MB),
        (f"non-pyramidal: {flat_run.seconds:.2f} s = {ratio:.2f}x decode ({decode.seconds:.2f} s) "
         f"<= {FLAT_BUDGET}x", ratio <= FLAT_BUDGET),
        (f"sections found: {pyramid_found} and {flat_found} of {len(SECTIONS)}",
         pyramid_found == flat_found == len(SECTIONS)),
    ]
    libvips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    lines = [f"# sections on a {SLIDE} slide (libvips {libvips}, median of {args.repeat})", "",
             "| case | wall | peak RSS | CPU |", "|---|---|---|---|"]
    for label, run in (("sections, pyramidal", pyramid_run), ("sections, non-pyramidal", flat_run),
                       ("decode only, non-pyramidal", decode)):
        lines.append(f"| {label} | {run.seconds:.2f} s | {run.peak_mb:.0f} MB | {run.cpu_seconds:.2f} s |")
    lines += [""] + [f"- {'ok' if ok else 'OVER BUDGET'}: {text}" for text, ok in checks]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sections.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
