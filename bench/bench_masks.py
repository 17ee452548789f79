"""Benchmark `quint-prep masks` on a 30000 x 20000 uint16 Cellpose label TIFF.

Generates the label image once in bench/cache/ (git-ignored): 40 px cells with their own ids
(30 x 30 px, 0-background gaps), tiled deflate TIFF. Each measurement runs in its own process;
peak RSS is that child's ru_maxrss (os.wait4). The baseline decodes every pixel (`avg()`).

Usage: python bench/bench_masks.py [--width 30000 --height 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pyvips

CACHE = Path(__file__).resolve().parent / "cache"
LIMIT_MB = 400.0


def make_labels(path: Path, width: int, height: int) -> None:
    """Write the synthetic instance-label TIFF (streamed, never whole in memory)."""
    if path.exists():
        return
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    ids = ((x / 40).floor() * 1000 + (y / 40).floor()) % 65534 + 1
    inside = ((x % 40) < 30) & ((y % 40) < 30)
    labels = inside.ifthenelse(ids, 0).cast("ushort").copy(interpretation="grey16")
    temporary = path.with_suffix(".partial.tif")
    labels.tiffsave(str(temporary), tile=True, tile_width=256, tile_height=256,
                    compression="deflate", predictor="horizontal", bigtiff=True)
    temporary.rename(path)


def measure(command: list[str]) -> tuple[float, float, int]:
    """Run a command in its own process: (wall seconds, peak RSS MB, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.stderr.write(process.stderr.read().decode(errors="replace") if process.stderr else "")
    return wall, usage.ru_maxrss / 1024.0, process.returncode


def main() -> int:
    """Generate the input, run the baseline and the masks runs, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=20000)
    args = parser.parse_args()
    (CACHE / "masks_input").mkdir(parents=True, exist_ok=True)
    source = CACHE / "masks_input" / f"bench{args.width}x{args.height}_s001_cp_masks.tif"
    started = time.perf_counter()
    make_labels(source, args.width, args.height)
    print(f"input: {source.name} ({source.stat().st_size / 1e6:.0f} MB on disk, "
          f"made/found in {time.perf_counter() - started:.1f} s); libvips "
          f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, pyvips {pyvips.__version__}, "
          f"{os.cpu_count()} CPUs")
    python = sys.executable
    decode = [python, "-c", "import sys, pyvips; pyvips.cache_set_max(0); "
              "print(pyvips.Image.new_from_file(sys.argv[1], access='random').avg())", str(source)]
    masks = [python, "-m", "quint_prep", "masks", str(source), "--overwrite", "-q"]
    runs = [
        ("decode only (avg)", decode),
        ("masks, non-zero, keep size", masks + ["-o", str(CACHE / "masks_keep")]),
        ("masks, --max-size 14000x10000 (area)", masks + ["-o", str(CACHE / "masks_area"),
                                                          "--max-size", "14000x10000"]),
        ("masks, 20 labels (maplut), --max-size", masks + ["-o", str(CACHE / "masks_lut"),
                                                           "--labels", "1-20",
                                                           "--max-size", "14000x10000"]),
    ]
    rows = []
    base_wall = None
    worst = 0.0
    for name, command in runs:
        wall, rss, code = measure(command)
        base_wall = base_wall or wall
        if name.startswith("masks"):
            worst = max(worst, rss)
        rows.append((name, wall, wall / base_wall, rss, code))
    print(f"{'run':40s} {'wall s':>8s} {'x decode':>9s} {'peak RSS MB':>12s} {'exit':>5s}")
    for name, wall, ratio, rss, code in rows:
        print(f"{name:40s} {wall:8.2f} {ratio:9.2f} {rss:12.0f} {code:5d}")
    verdict = "OK" if worst < LIMIT_MB else "OVER"
    print(f"peak RSS of masks runs: {worst:.0f} MB (limit {LIMIT_MB:.0f} MB): {verdict}")
    return 0 if verdict == "OK" and all(code == 0 for *_, code in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
