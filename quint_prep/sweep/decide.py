"""Decisions of ``sweep``: which sections to try, which region to show, which factor to recommend.

Everything here is pure (numbers in, numbers out) so it is tested without images; the images
are written by ``sweep.sample`` and drawn by ``sweep.page``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from quint_prep.choices import (DEFAULT_FACTORS, DEFAULT_FACTORS_TEXT,  # light: for --help
                                DEFAULT_SECTIONS)
from quint_prep.masks.components import ComponentStats
from quint_prep.errors import UsageError
from quint_prep.masks.select import MaskResample
from quint_prep.scale import Size, check_factor, consistent_factor, scaled_size

DISPLAY_SIDE = 400  # px: every crop of the region is enlarged to this size (nearest neighbour)
MIN_OBJECT_PX = 3.0  # objects narrower than this at a factor are at risk
MODES = tuple(mode.value for mode in MaskResample)  # the label-safe mask resampling modes, in order


@dataclass(frozen=True)
class Region:
    """A rectangle in full-resolution pixels of a section."""

    x: int
    y: int
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"

    def scaled(self, source: Size, output: Size) -> "Region":
        """The same rectangle in an output of ``output`` px made from ``source`` px (>= 1 px)."""
        sx, sy = output.width / source.width, output.height / source.height
        x, y = min(math.floor(self.x * sx), output.width - 1), min(math.floor(self.y * sy), output.height - 1)
        width = max(1, min(round(self.width * sx), output.width - x))
        height = max(1, min(round(self.height * sy), output.height - y))
        return Region(x, y, width, height)

    def to_json(self) -> dict:
        """JSON form."""
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def parse_factors(text: str) -> tuple[float, ...]:
    """``"0.5,0.25"`` -> (0.5, 0.25), largest first, duplicates dropped; UsageError otherwise."""
    try:
        values = {float(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise UsageError(f"--factors {text!r} is not a list of numbers like 0.5,0.25,0.125") from None
    if not values:
        raise UsageError("--factors needs at least one factor, e.g. 0.5,0.25,0.125")
    for value in values:
        check_factor(value)
    return tuple(sorted(values, reverse=True))


def parse_region(text: str) -> Region:
    """``"x,y,w,h"`` in full-resolution pixels -> Region; UsageError otherwise."""
    try:
        x, y, width, height = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--region {text!r} is not x,y,w,h in whole pixels, e.g. 5000,3000,800,800") from None
    if x < 0 or y < 0 or width < 1 or height < 1:
        raise UsageError(f"--region {text!r}: x and y must be >= 0, w and h >= 1")
    return Region(x, y, width, height)


def clip_region(region: Region, size: Size) -> Region | None:
    """The part of the region inside an image of ``size``; None when they do not overlap."""
    if region.x >= size.width or region.y >= size.height:
        return None
    return Region(region.x, region.y, min(region.width, size.width - region.x),
                  min(region.height, size.height - region.y))


_PICK = re.compile(r"^_?s?(\d+)$", re.IGNORECASE)


def parse_picks(text: str) -> tuple[int, ...]:
    """``"s010,s050"`` (or ``10,50``) -> (10, 50); UsageError otherwise."""
    numbers = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        match = _PICK.match(part)
        if not match:
            raise UsageError(f"--pick {part!r} is not a section number like s010 or 10")
        numbers.append(int(match.group(1)))
    if not numbers:
        raise UsageError("--pick needs section numbers, e.g. s010,s050")
    return tuple(numbers)


def spread_indices(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, first and last included."""
    if count < 1:
        raise UsageError(f"--sections {count}: give at least 1")
    if count >= total:
        return list(range(total))
    if count == 1:
        return [total // 2]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


def pick_sample(sections: Sequence[int | None], count: int = DEFAULT_SECTIONS,
                picks: Sequence[int] | None = None) -> list[int]:
    """Indices of the sections to try: the picked section numbers, or ``count`` spread ones.

    ``sections`` holds each image's section number (None when it has none), in series order.
    An unknown picked number is a UsageError that lists the numbers there are.
    """
    if not picks:
        return spread_indices(len(sections), count)
    chosen = []
    for number in picks:
        found = [i for i, value in enumerate(sections) if value == number]
        if not found:
            known = sorted({v for v in sections if v is not None})
            shown = ", ".join(str(v) for v in known[:20]) + (" ..." if len(known) > 20 else "")
            raise UsageError(f"--pick: no section number {number} in the series "
                             f"(section numbers: {shown or 'none'})")
        chosen.extend(i for i in found if i not in chosen)
    return chosen


def choose_region(detail: np.ndarray, tile: Size, image: Size) -> Region:
    """The ``tile``-sized window (full-resolution px) with the most detail, kept inside the image.

    ``detail`` is a grid of per-cell detail values whose cells split the whole image evenly
    (NaN cells count as 0); the window covers the block of cells nearest to ``tile`` in size
    whose summed detail is highest. Without any detail, the centre of the image.
    """
    width, height = min(tile.width, image.width), min(tile.height, image.height)
    if detail.size == 0 or not np.isfinite(detail).any():
        return Region((image.width - width) // 2, (image.height - height) // 2, width, height)
    grid = np.where(np.isfinite(detail), detail, 0.0)
    rows, columns = grid.shape
    cell_w, cell_h = image.width / columns, image.height / rows
    span_c = int(min(max(round(width / cell_w), 1), columns))
    span_r = int(min(max(round(height / cell_h), 1), rows))
    sums = np.pad(grid, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    windows = (sums[span_r:, span_c:] - sums[:-span_r, span_c:] - sums[span_r:, :-span_c]
               + sums[:-span_r, :-span_c])
    row, column = np.unravel_index(int(np.argmax(windows)), windows.shape)
    centre_x, centre_y = (column + span_c / 2) * cell_w, (row + span_r / 2) * cell_h
    x = int(min(max(round(centre_x - width / 2), 0), image.width - width))
    y = int(min(max(round(centre_y - height / 2), 0), image.height - height))
    return Region(x, y, width, height)


def region_side(factors: Sequence[float], display: int = DISPLAY_SIDE) -> int:
    """Side of the default region in full-resolution px: the largest factor shows it at 1:1."""
    return max(1, round(display / max(factors)))


def fits(factor: float, sizes: Iterable[Size], box: Size) -> bool:
    """True when every image, scaled by ``factor``, fits the box (as it is, not turned)."""
    for size in sizes:
        out = scaled_size(size, factor)
        if out.width > box.width or out.height > box.height:
            return False
    return True


def small_object_px(diameter_um: float, microns_per_pixel: float, factor: float) -> float:
    """The diameter in output pixels of an object of ``diameter_um`` at ``factor``."""
    return diameter_um * factor / microns_per_pixel


@dataclass(frozen=True)
class Comparison:
    """One mask downscaled by one factor and mode, compared with full resolution."""

    section: str
    factor: float
    mode: str
    size: Size
    counts: ComponentStats
    full: ComponentStats
    full_size: Size

    @property
    def objects_ratio(self) -> float | None:
        """Objects kept (1.0 = as many as at full resolution); None without objects at full."""
        return self.counts.objects / self.full.objects if self.full.objects else None

    @property
    def area_ratio(self) -> float | None:
        """Area fraction relative to full resolution; None when full resolution has no objects."""
        return self.counts.area_fraction / self.full.area_fraction if self.full.object_pixels else None

    @property
    def size_ratio(self) -> float | None:
        """Mean object size relative to the full-resolution mean scaled to this resolution."""
        pixel_area = (self.size.width * self.size.height) / (self.full_size.width * self.full_size.height)
        expected = self.full.mean_size * pixel_area
        return self.counts.mean_size / expected if expected and self.counts.objects else None

    def keeps(self, keep_objects: float, area_tolerance: float) -> bool:
        """True when enough objects survive and the area fraction stays within the tolerance."""
        objects, area = self.objects_ratio, self.area_ratio
        if objects is None:  # nothing at full resolution: nothing may appear either
            return self.counts.objects == 0
        return objects >= keep_objects and area is not None and abs(area - 1.0) <= area_tolerance


@dataclass(frozen=True)
class Recommendation:
    """The factor to use (None when none qualifies), the mask mode, and why.

    ``mask_scale`` is the segmentations' size over the images' (1.0: full resolution; None:
    not one scale); the factor applies to the segmentations' own size, so for the images it is
    ``image_factor`` = factor x mask_scale. ``left_out`` names the sections whose masks were not
    used, each with the reason.
    """

    factor: float | None
    mode: str | None
    reason: str
    mask_scale: float | None = 1.0
    left_out: tuple[str, ...] = ()

    @property
    def image_factor(self) -> float | None:
        """The recommended factor for the images (None without a factor or a mask scale)."""
        if self.factor is None or self.mask_scale is None:
            return None
        return self.factor * self.mask_scale


def mask_scale(pairs: Sequence[tuple[Size, Size]]) -> float | None:
    """The one scale of the segmentations against their images, from (image size, mask size)
    pairs: 1.0 when they are the same size (or none given), None when they disagree."""
    if all(image == mask for image, mask in pairs):
        return 1.0
    fit = consistent_factor(pairs)
    return fit.factor if not fit.outliers else None


def recommend(factors: Sequence[float], sizes: Sequence[Size], box: Size,
              comparisons: Sequence[Comparison] | None = None, keep_objects: float = 0.95,
              area_tolerance: float = 0.05, *, left_out: Sequence[str] = (),
              scale: float | None = 1.0) -> Recommendation:
    """With comparisons: the smallest factor that fits ``box`` for every image of the series
    and keeps the objects of EVERY sampled section (``Comparison.keeps``) under one mask mode
    (modes tried in MODES order, so ties go to ``area``). Without: the largest factor that fits,
    since nothing measured what smaller factors lose. ``left_out`` are the sections whose masks
    were judged unusable (``masks.judge``: empty or mostly objects), with the reason; their
    comparisons must not be among ``comparisons``. ``scale`` is the segmentations' scale
    (``mask_scale``): a factor F of the masks is F x scale of the images, which must fit."""
    result = _recommend(factors, sizes, box, comparisons, keep_objects, area_tolerance,
                        left_out, scale if scale is not None else 1.0)
    return Recommendation(result.factor, result.mode, result.reason, scale, tuple(left_out))


def _recommend(factors: Sequence[float], sizes: Sequence[Size], box: Size,
               comparisons: Sequence[Comparison] | None, keep_objects: float,
               area_tolerance: float, left_out: Sequence[str], scale: float) -> Recommendation:
    fitting = [f for f in sorted(factors) if fits(f * scale, sizes, box)]
    if not fitting:
        return Recommendation(None, None, f"no factor makes every image fit {box}; try smaller factors")
    if comparisons is not None and not comparisons and left_out:
        return Recommendation(None, None, (
            f"no recommendation: the mask of every sampled section that has one is left out "
            f"({len(left_out)}: no objects, or objects over most of the section, see above), so "
            "nothing measured what a factor keeps; fix the objects' choice (--labels, "
            "--instance-ids, --labels-table, --invert) and rerun, or --pick sections whose "
            "masks are right"))
    if comparisons is not None and not comparisons:
        return Recommendation(None, None, "segmentations were given but no sampled section's "
                              "objects could be counted; fix the errors above, or --pick sections "
                              "that have segmentations")
    if comparisons is None:  # nothing measured what is lost: the least downscaling that fits
        return Recommendation(fitting[-1], None, f"the largest factor tried that fits {box} (images "
                              "only: without --segmentations what a smaller factor loses is not "
                              "measured; compare the sheets before going smaller)")
    for factor in fitting:
        for mode in MODES:
            rows = [c for c in comparisons if c.factor == factor and c.mode == mode]
            if rows and all(c.keeps(keep_objects, area_tolerance) for c in rows):
                reason = _kept_reason(rows, box, keep_objects, area_tolerance)
                if left_out:
                    reason += (f"; {len(left_out)} section{'s' if len(left_out) > 1 else ''} left "
                               "out (see above)")
                return Recommendation(factor, mode, reason)
    return Recommendation(None, None, f"no factor keeps at least {keep_objects:.0%} of the objects with "
                          f"the area fraction within {area_tolerance:.0%} and fits {box}; "
                          "try larger factors, or relax --keep-objects / --area-tolerance")


def _kept_reason(rows: Sequence[Comparison], box: Size, keep: float, tolerance: float) -> str:
    worst_objects = min(c.objects_ratio for c in rows if c.objects_ratio is not None) \
        if any(c.objects_ratio is not None for c in rows) else 1.0
    worst_area = max((abs(c.area_ratio - 1) for c in rows if c.area_ratio is not None), default=0.0)
    return (f"the smallest factor that fits {box} and, in every sampled section, keeps "
            f">= {keep:.0%} of the objects (worst {worst_objects:.1%}) with the area fraction "
            f"within {tolerance:.0%} (worst {worst_area:.1%} off)")


def small_object_warnings(diameter_um: float, microns_per_pixel: Sequence[float | None],
                          factors: Sequence[float]) -> list[str]:
    """Warnings for factors at which objects of ``diameter_um`` fall under MIN_OBJECT_PX.

    Uses the coarsest known pixel size of the sample; one warning when none is known.
    """
    known = [m for m in microns_per_pixel if m]
    if not known:
        return [f"--min-object-um {diameter_um:g}: the images record no pixel size, so object "
                "sizes in pixels cannot be worked out"]
    coarsest = max(known)
    notes = []
    for factor in factors:
        pixels = small_object_px(diameter_um, coarsest, factor)
        if pixels < MIN_OBJECT_PX:
            notes.append(f"at factor {factor:g} ({coarsest / factor:.3g} µm/px) objects of "
                         f"{diameter_um:g} µm are {pixels:.2g} px across, under {MIN_OBJECT_PX:g} px: "
                         "they may vanish or merge")
    return notes
