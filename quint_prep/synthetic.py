"""Synthetic section images made with pyvips: for the demo, the tests and the benchmark.

A "section" is a bright slide with a darker elliptical tissue outline, stained texture and
dark round cells, all built as lazy libvips operations so even gigapixel images stream to disk.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyvips

from .scale import Size


def section_image(size: Size, seed: int = 0, cells: int = 60) -> pyvips.Image:
    """A lazy 8-bit RGB image that looks like a stained brain section on a white slide."""
    width, height = size.width, size.height
    xy = pyvips.Image.xyz(width, height)
    x = xy[0] - width / 2
    y = xy[1] - height / 2
    inside = (x * x) / (width * 0.42) ** 2 + (y * y) / (height * 0.40) ** 2  # < 1 in tissue
    tissue = (inside < 1).ifthenelse(1.0, 0.0)
    ripple = ((xy[0] * (0.05 + 0.01 * (seed % 3))).sin() * (xy[1] * 0.037).cos()) * 18
    base = tissue * (-70 + ripple) + 235
    cell_layer = pyvips.Image.black(width, height)
    step = max(8, int(math.sqrt(width * height / max(cells, 1))))
    radius = max(2, step // 6)
    rng = _lcg(seed)
    for cy in range(step // 2, height, step):
        for cx in range(step // 2, width, step):
            jx = int(next(rng) * step / 3)
            jy = int(next(rng) * step / 3)
            cell_layer = cell_layer.draw_circle(1, cx + jx, cy + jy, radius, fill=True)
    cells_in_tissue = cell_layer * tissue
    red = base - cells_in_tissue * 120
    green = base - cells_in_tissue * 160 - tissue * 25
    blue = base - cells_in_tissue * 60 + tissue * 5
    return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")


def _lcg(seed: int):
    state = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    while True:
        state = (1103515245 * state + 12345) & 0x7FFFFFFF
        yield (state / 0x7FFFFFFF) - 0.5


def write_demo_series(folder: Path, count: int = 6, base: Size = Size(3000, 2000)) -> list[Path]:
    """Write a small synthetic series of differently sized sections in several formats.

    Names follow the QUINT convention (``demo_s001.tif``, ...) with a junk file among them, as
    real folders have. Returns the image paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        scale = 0.8 + 0.4 * ((index * 37) % 10) / 10
        size = Size(int(base.width * scale), int(base.height * scale))
        image = section_image(size, seed=index)
        stem = f"demo_s{(index + 1) * 2 - 1:03d}"
        kind = index % 3
        if kind == 0:
            path = folder / f"{stem}.tif"
            image.tiffsave(str(path), tile=True, pyramid=True, compression="jpeg", Q=90)
        elif kind == 1:
            path = folder / f"{stem}.tif"
            image.tiffsave(str(path), compression="lzw")
        else:
            path = folder / f"{stem}.jpg"
            image.jpegsave(str(path), Q=90)
        paths.append(path)
    (folder / "notes.txt").write_text("scanner export notes: not an image, skipped quietly\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    """``python -m quint_prep.synthetic FOLDER [COUNT]``: write a demo series into FOLDER."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m quint_prep.synthetic FOLDER [COUNT]")
    count = int(args[1]) if len(args) > 1 else 6
    paths = write_demo_series(Path(args[0]), count=count)
    print(f"wrote {len(paths)} synthetic sections to {args[0]}")


if __name__ == "__main__":
    main()
