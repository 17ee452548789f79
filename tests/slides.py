"""Synthetic slides shared by the sections tests: six sections in two rows, one torn in two
fragments, two close to each other but separate, and a dust speck."""

from __future__ import annotations

from pathlib import Path

from quint_prep.sections.plan import Box
from quint_prep.scale import Size
from quint_prep.sections.synthetic import SlideSection, slide_image

SLIDE = Size(4800, 3000)
BRIGHTFIELD = [  # reading order: row 1 left to right, then row 2
    SlideSection(Box(200, 300, 1100, 800), (200, 60, 60)),
    SlideSection(Box(1500, 250, 1000, 900), (60, 60, 200), tear=16),
    SlideSection(Box(2800, 350, 1000, 800), (60, 160, 60)),
    SlideSection(Box(300, 1700, 1000, 800), (200, 100, 200)),
    SlideSection(Box(1420, 1750, 900, 750), (180, 160, 40)),  # 120 px right of the one before
    SlideSection(Box(2600, 1650, 1300, 1000), (40, 160, 180)),
]
FLUORESCENCE = [SlideSection(s.box, tuple(255 - c // 3 if c > 100 else c for c in s.colour), s.tear)
                for s in BRIGHTFIELD]
DUST = [(4300, 2700, 12)]
MICRONS_PER_PIXEL = 2.0


def write_slide(path: Path, *, dark: bool = False, pyramid: bool = True,
                sections: list[SlideSection] | None = None, seed: int = 0) -> Path:
    """Write a slide TIFF (tiled pyramid, or LZW strips) with a 2 um pixel size."""
    chosen = sections if sections is not None else (FLUORESCENCE if dark else BRIGHTFIELD)
    image = slide_image(SLIDE, chosen, dark=dark, dust=DUST, seed=seed)
    image = image.copy(xres=1000 / MICRONS_PER_PIXEL, yres=1000 / MICRONS_PER_PIXEL)
    path.parent.mkdir(parents=True, exist_ok=True)
    if pyramid:
        image.tiffsave(str(path), tile=True, pyramid=True, compression="jpeg", Q=90)
    else:
        image.tiffsave(str(path), compression="lzw")
    return path


def nearest_section(rgb, sections: list[SlideSection] | None = None) -> int:
    """Index of the section whose colour (texture averages 0.85 of it) is nearest to ``rgb``."""
    chosen = sections if sections is not None else BRIGHTFIELD
    distances = [sum((a - 0.85 * b) ** 2 for a, b in zip(rgb, s.colour)) for s in chosen]
    return distances.index(min(distances))
