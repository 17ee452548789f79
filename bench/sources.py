"""The benchmark's source images: generated once with quint_prep.synthetic, cached in bench/cache.

Every file is streamed from a lazy libvips pipeline to disk (written under a temporary name,
then renamed), so generation never holds a whole image in memory and an interrupted run leaves
no half-written file in the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyvips

from quint_prep.scale import Size
from quint_prep.synthetic import section_image

CACHE = Path(__file__).resolve().parent / "cache"
IMAGES = CACHE / "images"
CELL_SPACING = 60  # px between nuclei, as at 20x
GRAIN = 2.0  # monochrome noise: about 3 bits per pixel at JPEG Q90, like real tissue scans


@dataclass(frozen=True)
class Source:
    """One benchmark input: its size and how it is stored."""

    key: str
    size: Size
    layout: str  # "tiled" (JPEG tiles), "pyramid" (JPEG tiles + halving levels), "striped" (LZW)
    baselines: bool  # also run Pillow and ImageMagick on it

    @property
    def path(self) -> Path:
        """Where the generated file is cached."""
        return IMAGES / f"{self.key}_{self.size.width}x{self.size.height}.tif"

    @property
    def label(self) -> str:
        """A short description for the table."""
        kinds = {"tiled": "tiled JPEG TIFF", "pyramid": "pyramidal tiled JPEG TIFF",
                 "striped": "striped LZW TIFF"}
        return f"{self.size.width} x {self.size.height} {kinds[self.layout]}"


def bench_sources(quick: bool) -> list[Source]:
    """The inputs of a run: full size, or a quarter of each side with ``--quick``."""
    d = 4 if quick else 1
    return [
        Source("tiled", Size(40000 // d, 30000 // d), "tiled", True),
        Source("tiled", Size(20000 // d, 15000 // d), "tiled", True),
        Source("pyramid", Size(40000 // d, 30000 // d), "pyramid", False),
        Source("striped", Size(20000 // d, 15000 // d), "striped", True),
        Source("striped", Size(10000 // d, 7500 // d), "striped", False),
        Source("striped", Size(10000 // d, 30000 // d), "striped", False),  # 4x by height
    ]


def _content(size: Size) -> pyvips.Image:
    cells = max(1, size.width * size.height // CELL_SPACING**2)
    return section_image(size, seed=7, cells=cells, grain=GRAIN)


def _write(source: Source, temporary: Path) -> None:
    if source.layout == "striped":
        _content(source.size).tiffsave(str(temporary), compression="lzw", predictor="horizontal")
        return
    options = dict(tile=True, tile_width=256, tile_height=256, compression="jpeg", Q=90)
    if source.layout == "pyramid":
        # From the flat tiled file when it exists: decoding it is 10x cheaper than generating.
        flat = Source("tiled", source.size, "tiled", False).path
        image = (pyvips.Image.new_from_file(str(flat), access="sequential") if flat.exists()
                 else _content(source.size))
        image.tiffsave(str(temporary), pyramid=True, **options)
        return
    _content(source.size).tiffsave(str(temporary), **options)


def ensure_source(source: Source) -> float:
    """Generate the file unless it is cached; return the seconds spent (0 when cached)."""
    if source.path.exists():
        return 0.0
    IMAGES.mkdir(parents=True, exist_ok=True)
    temporary = source.path.with_name(f".{source.path.name}.partial")
    started = time.perf_counter()
    try:
        _write(source, temporary)
        temporary.replace(source.path)
    finally:
        temporary.unlink(missing_ok=True)
    return time.perf_counter() - started
