"""Benchmark `quint-prep downscale --factor 0.25` against the decode-only floor, Pillow and ImageMagick.

Run with `make bench` (or `.venv/bin/python bench/bench_downscale.py [--quick] [--repeat N]`).
Inputs are generated once into bench/cache/images (git-ignored, about 1.6 GB at full size).
Every case runs in its own process (libvips caches operations within a process); wall time is
the whole process as a user meets it, peak RSS is the child's ``ru_maxrss``. The table is
printed and written as markdown to bench/results/downscale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measure, median_of, run_measured  # noqa: E402
from sources import CACHE, Source, bench_sources, ensure_source  # noqa: E402

from quint_prep.downscale.resample import plan_load  # noqa: E402
from quint_prep.scale import scaled_size  # noqa: E402
from quint_prep.series import read_info  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FACTOR = 0.25
RSS_BUDGET_MB = 400.0
RSS_GROWTH_BUDGET = 1.3  # quint-prep's own share (peak RSS minus decode-only's), 4x the height
WIDTH_GROWTH_BUDGET = 2.0  # the same share for 2x the width and height: at most linear in width
TIME_BUDGET = 1.5
REGISTRATION_BUDGET = 1.15  # both series from one run vs the segmentation series alone (issue 10)

DECODE = """
import json, sys, pyvips
pyvips.cache_set_max(0)
image = pyvips.Image.new_from_file(sys.argv[1], access=sys.argv[2], **json.loads(sys.argv[3]))
image.avg()
"""
PILLOW = """
import sys
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
with Image.open(sys.argv[1]) as image:
    image.load()
    size = (round(image.width * 0.25), round(image.height * 0.25))
    image.resize(size, Image.LANCZOS).save(sys.argv[2])
"""
MAGICK_POLICY = """<policymap>
  <policy domain="resource" name="memory" value="6GiB"/>
  <policy domain="resource" name="map" value="6GiB"/>
  <policy domain="resource" name="width" value="1MP"/>
  <policy domain="resource" name="height" value="1MP"/>
  <policy domain="resource" name="area" value="100GP"/>
  <policy domain="resource" name="disk" value="64GiB"/>
</policymap>
"""


@dataclass(frozen=True)
class Case:
    """One command measured on one source."""

    name: str
    argv: list[str]
    kind: str  # "quint-prep", "registration", "floor", "level floor", "baseline"
    env: dict[str, str] | None = None


def quint_prep_binary() -> str:
    """The quint-prep console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "quint-prep"
    found = str(beside) if beside.exists() else shutil.which("quint-prep")
    if found is None:
        raise SystemExit("quint-prep is not installed in this environment: run `make install`")
    return found


def imagemagick() -> str | None:
    """The real ImageMagick convert (a stand-in script that only prints PNGs does not count)."""
    for name in ("magick", "convert"):
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run([path, "-version"], capture_output=True, text=True)
        if probe.returncode == 0 and "ImageMagick" in probe.stdout:
            return path
    return None


def has_pillow() -> bool:
    """True when Pillow can be imported (the `bench` extra)."""
    probe = subprocess.run([sys.executable, "-c", "import PIL"], capture_output=True)
    return probe.returncode == 0


def numbered_link(path: Path, out: Path) -> Path:
    """A link to the source with a QUINT section number in its name (``<stem>_s001.tif``)."""
    link = out / "numbered" / f"{path.stem}_s001{path.suffix}"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(path.resolve())
    return link


def cases_for(source: Source, out: Path, convert: str | None, pillow: bool) -> list[Case]:
    """The commands measured on one source."""
    path = str(source.path)
    info = read_info(source.path)
    access = info.access
    # The check downscale prints on what it wrote fails (exit 1) a name without a section
    # number, as QUINT needs one: every quint-prep case reads the source through a link named
    # <stem>_s001 (the same file, the same bytes decoded).
    numbered = str(numbered_link(source.path, out))
    cases = [
        Case("quint-prep downscale", [quint_prep_binary(), "downscale", numbered, "-o",
                                      str(out / "qp"), "--factor", str(FACTOR), "-q"], "quint-prep"),
        Case(f"decode only ({access} access, avg)", [sys.executable, "-c", DECODE, path, access,
                                                      "{}"], "floor"),
        # Issue 10: the registration series from the same run must cost at most 1.15x. QuickNII
        # needs a section number, so the source is given one through a symbolic link.
        Case("quint-prep downscale --registration (both series)", [
            quint_prep_binary(), "downscale", numbered, "-o",
            str(out / "qp"), "--factor", str(FACTOR), "--registration", str(out / "qp-reg"), "-q"],
            "registration"),
    ]
    plan = plan_load(info, scaled_size(info.size, FACTOR))
    if plan.options:
        cases.append(Case(f"decode only, {plan.description}", [
            sys.executable, "-c", DECODE, path, access, json.dumps(plan.options)], "level floor"))
    if source.baselines and pillow:
        cases.append(Case("Pillow open + resize(LANCZOS) + save PNG", [
            sys.executable, "-c", PILLOW, path, str(out / "pillow.png")], "baseline"))
    if source.baselines and convert:
        policy = CACHE / "magick"
        policy.mkdir(parents=True, exist_ok=True)
        (policy / "policy.xml").write_text(MAGICK_POLICY)
        cases.append(Case("ImageMagick convert -resize 25%", [
            convert, f"{path}[0]", "-resize", "25%", str(out / "magick.png")], "baseline",
            {"MAGICK_CONFIGURE_PATH": str(policy), "MAGICK_TMPDIR": str(out)}))
    return cases


def measure_case(case: Case, source: Source, repeat: int, timeout: float) -> Measure:
    """Run a case ``repeat`` times (slow baselines once) in fresh processes and keep the median."""
    runs = 1 if case.kind == "baseline" else repeat
    out = CACHE / "out" / source.path.stem
    measures = []
    for index in range(runs):
        shutil.rmtree(out / "qp", ignore_errors=True)
        shutil.rmtree(out / "qp-reg", ignore_errors=True)
        for stale in ("pillow.png", "magick.png"):
            (out / stale).unlink(missing_ok=True)
        log = RESULTS / "logs" / f"{source.path.stem}-{case.kind.replace(' ', '-')}-{index}.log"
        measures.append(run_measured(case.argv, timeout, log, case.env))
        if not measures[-1].ok:
            break
    return median_of(measures)


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    source: Source
    case: Case
    measure: Measure
    floor: Measure | None


def run_source(source: Source, args: argparse.Namespace, convert: str | None,
               pillow: bool) -> list[Row]:
    """Measure every case on one source and print each line as it completes."""
    out = CACHE / "out" / source.path.stem
    out.mkdir(parents=True, exist_ok=True)
    measured: list[tuple[Case, Measure]] = []
    for case in cases_for(source, out, convert, pillow):
        timeout = args.baseline_timeout if case.kind == "baseline" else args.timeout
        measure = measure_case(case, source, args.repeat, timeout)
        measured.append((case, measure))
        print(f"  {case.name:<48} {_cell(measure)}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    floor = next((m for c, m in measured if c.kind == "floor"), None)
    return [Row(source, case, measure, floor) for case, measure in measured]


def _cell(measure: Measure) -> str:
    if not measure.ok:
        return f"{measure.status}: {measure.detail}"
    busy = f"  (others used {measure.others_cpu:.1f} CPU-s meanwhile)" if noisy(measure) else ""
    return (f"{measure.seconds:7.2f} s wall {measure.cpu_seconds:7.2f} s CPU "
            f"{measure.peak_mb:6.0f} MB{busy}")


def _ratio(row: Row) -> str:
    if not row.measure.ok or row.floor is None or not row.floor.ok:
        return ""
    return f"{row.measure.seconds / row.floor.seconds:.2f}x"


def noisy(measure: Measure) -> bool:
    """True when other processes took more than an eighth of the machine during the run."""
    return measure.others_cpu > 0.125 * (os.cpu_count() or 1) * measure.seconds


def markdown_table(rows: list[Row]) -> str:
    """The results as a markdown table (what the README shows)."""
    lines = ["| input | case | wall (s) | CPU (s) | peak RSS (MB) | wall / decode-only |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        m = row.measure
        if m.ok:
            wall = f"{m.seconds:.2f}{' *' if noisy(m) else ''}"
        else:
            wall = f"{m.status} ({m.detail})"
        lines.append(f"| {row.source.label} | {row.case.name} | {wall} | {m.cpu_seconds:.2f} | "
                     f"{m.peak_mb:.0f} | {_ratio(row)} |")
    return "\n".join(lines)


def check_budgets(rows: list[Row]) -> list[tuple[str, bool, str]]:
    """Every budget of the issue: (what, passed, the figures behind it)."""
    verdicts = []
    quint = {row.source: row.measure for row in rows if row.case.kind == "quint-prep"}
    for source, measure in quint.items():
        verdicts.append((f"peak RSS < {RSS_BUDGET_MB:.0f} MB: {source.label}",
                         measure.ok and measure.peak_mb < RSS_BUDGET_MB, f"{measure.peak_mb:.0f} MB"))
    floors = {row.source: row.measure for row in rows if row.case.kind == "floor"}
    for small, large, budget in _pairs(list(quint)):
        verdicts.append(own_share_growth(small, large, quint, floors, budget))
    for row in rows:
        alone = quint.get(row.source)
        if row.case.kind == "registration" and alone is not None:
            ratio = row.measure.seconds / alone.seconds if row.measure.ok and alone.ok else float("inf")
            verdicts.append((f"both series <= {REGISTRATION_BUDGET}x the segmentation series: "
                             f"{row.source.label}", ratio <= REGISTRATION_BUDGET,
                             f"{row.measure.seconds:.2f} s / {alone.seconds:.2f} s = {ratio:.2f}x"))
    for row in rows:
        if row.case.kind == "quint-prep" and row.floor is not None:
            ratio = (row.measure.seconds / row.floor.seconds
                     if row.measure.ok and row.floor.ok else float("inf"))
            cpu = (row.measure.cpu_seconds / row.floor.cpu_seconds
                   if row.measure.ok and row.floor.ok and row.floor.cpu_seconds else float("inf"))
            verdicts.append((f"wall <= {TIME_BUDGET}x decode-only: {row.source.label}",
                             ratio <= TIME_BUDGET, f"{row.measure.seconds:.2f} s / "
                             f"{row.floor.seconds:.2f} s = {ratio:.2f}x; CPU {cpu:.2f}x"))
    return verdicts


def own_share_growth(small: Source, large: Source, quint: dict[Source, Measure],
                     floors: dict[Source, Measure], budget: float) -> tuple[str, bool, str]:
    """The RSS growth budget for 4x the pixels, on quint-prep's own share of the memory.

    The share is the peak RSS above the decode-only run of the same file (the decoder's own
    growth belongs to libvips). Streaming in rows, memory is bounded by the WIDTH: the
    decoder, the shrink and the PNG encoder each hold full-width rows, so 4x the pixels by
    height must leave it flat (``RSS_GROWTH_BUDGET``), and 2x the width and the height may
    grow it at most linearly with the width (``WIDTH_GROWTH_BUDGET``), never with the pixels.
    """
    a, b, fa, fb = quint[small], quint[large], floors.get(small), floors.get(large)
    how = "4x the height" if large.size.width == small.size.width else "2x the width and height"
    what = (f"own RSS (above decode-only) growth < {budget}x for {how}: "
            f"{small.label} -> {large.size.width} x {large.size.height}")
    if not (a.ok and b.ok and fa and fb and fa.ok and fb.ok):
        return what, False, "a run failed"
    own_small, own_large = a.peak_mb - fa.peak_mb, b.peak_mb - fb.peak_mb
    growth = own_large / own_small if own_small > 0 else float("inf")
    return what, growth < budget, (
        f"{a.peak_mb:.0f} - {fa.peak_mb:.0f} = {own_small:.0f} MB -> {b.peak_mb:.0f} - "
        f"{fb.peak_mb:.0f} = {own_large:.0f} MB: {growth:.2f}x; whole process "
        f"{b.peak_mb / a.peak_mb:.2f}x, decode-only {fb.peak_mb / fa.peak_mb:.2f}x")


def _pairs(sources: list[Source]) -> list[tuple[Source, Source, float]]:
    """(smaller, 4x larger, budget): the same layout doubled on both sides, or 4x as tall."""
    pairs = []
    for small in sources:
        for large in sources:
            if large.layout != small.layout:
                continue
            if large.size.width == 2 * small.size.width and large.size.height == 2 * small.size.height:
                pairs.append((small, large, WIDTH_GROWTH_BUDGET))
            elif large.size.width == small.size.width and large.size.height == 4 * small.size.height:
                pairs.append((small, large, RSS_GROWTH_BUDGET))
    return pairs


def environment(convert: str | None) -> list[str]:
    """Versions and machine, for the record."""
    pillow = subprocess.run([sys.executable, "-c", "import PIL; print(PIL.__version__)"],
                            capture_output=True, text=True).stdout.strip() or "not installed"
    magick = "not installed"
    if convert:
        magick = subprocess.run([convert, "-version"], capture_output=True, text=True).stdout
        magick = magick.splitlines()[0].removeprefix("Version: ").split(" https")[0]
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return [f"pyvips {pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}."
            f"{pyvips.version(2)}, Pillow {pillow}, {magick}",
            f"Python {platform.python_version()}, {os.cpu_count()} cores ({cpu}), "
            f"VIPS_CONCURRENCY={os.environ.get('VIPS_CONCURRENCY', 'default')}"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quarter-size inputs (a sanity run)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per libvips case, median kept (Pillow/ImageMagick run once)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per libvips run")
    parser.add_argument("--baseline-timeout", type=float, default=240,
                        help="seconds per Pillow/ImageMagick run")
    parser.add_argument("--no-baselines", action="store_true", help="skip Pillow and ImageMagick")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate the inputs if needed, measure every case, print the table and the budgets."""
    args = parse_args(argv)
    pyvips.cache_set_max(0)
    convert = None if args.no_baselines else imagemagick()
    pillow = not args.no_baselines and has_pillow()
    header = environment(convert)
    print("\n".join(header))
    rows: list[Row] = []
    for source in bench_sources(args.quick):
        spent = ensure_source(source)
        note = f" (generated in {spent:.0f} s)" if spent else ""
        size_mb = source.path.stat().st_size / 1e6
        print(f"{source.label}, {size_mb:.0f} MB{note}", flush=True)
        rows.extend(run_source(source, args, convert, pillow))
    table = markdown_table(rows)
    verdicts = check_budgets(rows)
    lines = [f"- {'PASS' if ok else 'FAIL'}: {what} ({figures})" for what, ok, figures in verdicts]
    print("\n" + table + "\n\nBudgets:\n" + "\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    notes = [f"Factor {FACTOR}; median of {args.repeat} runs for libvips cases, one run for "
             "Pillow and ImageMagick; each case in its own process, started when the machine "
             "was quiet. CPU = user + system seconds of the process (above wall: parallel). "
             "`*`: other processes used more than 1/8 of the machine during the run.", *header]
    report = "\n".join([table, "", *notes, "", "Budgets:", *lines, ""])
    (RESULTS / "downscale.md").write_text(report)
    print(f"\nwritten: {RESULTS / 'downscale.md'}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
