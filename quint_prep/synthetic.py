"""Synthetic section images made with pyvips: for the demo, the tests and the benchmark.

A "section" is a bright slide with a darker elliptical tissue outline, stained texture and
dark round cells, all built as lazy libvips operations so even gigapixel images stream to disk.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyvips

from quint_prep.scale import Size


def section_image(size: Size, seed: int = 0, cells: int = 60, grain: float = 0.0) -> pyvips.Image:
    """A lazy 8-bit RGB image that looks like a stained brain section on a white slide.

    Every step is a libvips operation computed per tile, so any size streams to disk without
    being held in memory. ``grain`` adds monochrome Gaussian noise of that standard deviation,
    which gives JPEG a realistic amount of detail to code (2 gives about 3 bits per pixel at Q90).
    """
    width, height = size.width, size.height
    xy = pyvips.Image.xyz(width, height)
    x = xy[0] - width / 2
    y = xy[1] - height / 2
    inside = (x * x) / (width * 0.42) ** 2 + (y * y) / (height * 0.40) ** 2  # < 1 in tissue
    tissue = (inside < 1).ifthenelse(1.0, 0.0)
    ripple = ((xy[0] * (0.05 + 0.01 * (seed % 3))).sin() * (xy[1] * 0.037).cos()) * 18
    base = tissue * (-70 + ripple) + 235
    cells_in_tissue = _cell_layer(xy, seed, cells) * tissue
    red = base - cells_in_tissue * 120
    green = base - cells_in_tissue * 160 - tissue * 25
    blue = base - cells_in_tissue * 60 + tissue * 5
    image = red.bandjoin([green, blue])
    if grain > 0:
        image = image + pyvips.Image.gaussnoise(width, height, sigma=grain, mean=0, seed=seed)
    return image.cast("uchar").copy(interpretation="srgb")


def _cell_layer(xy: pyvips.Image, seed: int, cells: int) -> pyvips.Image:
    """1.0 inside round cells on a jittered grid (about ``cells`` of them), 0.0 elsewhere.

    Each grid cell holds one disc whose centre is moved by up to a sixth of the grid step; the
    offsets come from a small per-cell table zoomed up to full size, so nothing is drawn in
    memory (drawing on a full-size image would materialise it).
    """
    width, height = xy.width, xy.height
    step = max(8, int(math.sqrt(width * height / max(cells, 1))))
    radius = max(2, step // 6)
    columns, rows = math.ceil(width / step), math.ceil(height / step)
    rng = _lcg(seed)
    offsets = [[(next(rng) * step / 3, next(rng) * step / 3) for _ in range(columns)]
               for _ in range(rows)]
    shift_x = pyvips.Image.new_from_list([[dx for dx, _ in row] for row in offsets])
    shift_y = pyvips.Image.new_from_list([[dy for _, dy in row] for row in offsets])
    jitter = shift_x.bandjoin(shift_y).zoom(step, step).crop(0, 0, width, height)
    local_x = (xy[0] % step) - (step // 2) - jitter[0]
    local_y = (xy[1] % step) - (step // 2) - jitter[1]
    return (local_x * local_x + local_y * local_y < radius * radius).ifthenelse(1.0, 0.0)


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
