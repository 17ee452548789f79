"""Synthetic whole slides made with pyvips: several textured sections on one slide, for the
tests and the benchmark of ``sections``. Everything is lazy: a gigapixel slide streams to disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pyvips

from quint_prep.sections.plan import Box
from quint_prep.scale import Size

WHITE_SLIDE = 238
DARK_SLIDE = 6


@dataclass(frozen=True)
class SlideSection:
    """One elliptical section on a synthetic slide: its box, colour, and an optional tear (a
    vertical gap of that many pixels through its middle, which makes two fragments)."""

    box: Box
    colour: tuple[int, int, int]
    tear: int = 0


def _section(section: SlideSection, backdrop: float, seed: int) -> pyvips.Image:
    width, height = section.box.width, section.box.height
    xy = pyvips.Image.xyz(width, height)
    x = xy[0] - width / 2
    y = xy[1] - height / 2
    inside = (x * x) / (width / 2) ** 2 + (y * y) / (height / 2) ** 2 < 1
    if section.tear:
        gap = (x.abs() < section.tear / 2)
        inside = inside & (gap == 0)
    ripple = (xy[0] * (0.05 + 0.01 * (seed % 3))).sin() * (xy[1] * 0.037).cos() * 0.15 + 0.85
    colour = pyvips.Image.black(width, height, bands=3).new_from_image(list(section.colour))
    textured = colour * ripple
    return inside.ifthenelse(textured, pyvips.Image.black(width, height, bands=3) + backdrop)


def label_image(box: Box) -> pyvips.Image:
    """A slide label: white paper with black print (lines of text and a barcode)."""
    xy = pyvips.Image.xyz(box.width, box.height)
    line = (xy[1] % 14) < 6  # lines of text ...
    letters = ((xy[0] % 9) < 5) & (xy[1] < box.height // 2)  # ... made of letters
    bars = ((xy[0] % 7) < 3) & (xy[1] >= box.height * 2 // 3)  # a barcode below
    margin = (xy[0] > 6) & (xy[0] < box.width - 6) & (xy[1] > 6) & (xy[1] < box.height - 6)
    printed = ((line & letters) | bars) & margin
    return printed.ifthenelse([25, 25, 28], [250, 250, 250])


def slide_image(size: Size, sections: Sequence[SlideSection], *, dark: bool = False,
                noise: float = 3.0, dust: Sequence[tuple[int, int, int]] = (),
                seed: int = 0, label: Box | None = None) -> pyvips.Image:
    """A lazy 8-bit RGB slide: sections (textured ellipses in their boxes) on a white (or, with
    ``dark``, black) background with Gaussian noise; ``dust`` is (x, y, radius) specks;
    ``label`` a printed paper label in that box."""
    backdrop = float(DARK_SLIDE if dark else WHITE_SLIDE)
    image = pyvips.Image.black(size.width, size.height, bands=3) + backdrop
    for index, section in enumerate(sections):
        image = image.insert(_section(section, backdrop, seed + index), section.box.x, section.box.y)
    if label is not None:
        image = image.insert(label_image(label), label.x, label.y)
    speck = [200, 200, 200] if dark else [60, 50, 40]
    for x, y, radius in dust:
        side = 2 * radius + 1
        xy = pyvips.Image.xyz(side, side) - radius
        disc = (xy[0] * xy[0] + xy[1] * xy[1]) < radius * radius
        piece = disc.ifthenelse(speck, [backdrop] * 3)
        image = image.insert(piece, x - radius, y - radius)
    if noise > 0:
        image = image + pyvips.Image.gaussnoise(size.width, size.height, sigma=noise, mean=0, seed=seed)
    return image.cast("uchar").copy(interpretation="srgb")
