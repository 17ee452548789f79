"""Tissue detection on a small image of a slide (a pyramid level or a shrink-on-load thumbnail).

The image given here is small (a few megapixels) and every pixel operation is a libvips one;
numpy sees only histograms and per-region counts (and the small mask when areas are excluded).
Steps: a "tissue signal" per pixel (darkness of the darkest channel on
a white slide, brightness of the brightest on a dark one), a threshold between the background
(the histogram's mode, with its noise) and Otsu's tissue class, the slide's edges and excluded
areas cleared, a closing that joins fragments closer than ``join`` pixels, connected regions
(libvips ``labelregions``), and regions with less tissue than ``min_area`` dropped as dust.
On a white (brightfield) colour slide, a region at one end of the slide whose "tissue" is mostly
ink (dark and grey: printed text, a barcode) is the slide's label, not a section: it is set
aside in ``Detection.labels`` so the caller can say where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyvips

from quint_prep.choices import Background  # light: for --help
from quint_prep.sections.plan import Box

RELATIVE_MIN_AREA = 0.05  # without --min-area: drop regions under 5% of the largest one's tissue
INK_DARKNESS = 100  # a channel below this in all of R, G, B ...
INK_GREYNESS = 40  # ... with its channels this close together: print, not stain
LABEL_INK = 0.5  # a region whose tissue is at least half ink ...
LABEL_END = 0.3  # ... lying within this fraction of the slide's longer side from one end,
LABEL_SIDE = 0.2  # ... and at least this fraction of its shorter side long (not a speck)


@dataclass(frozen=True)
class Region:
    """One piece of tissue found on the small image: its box and tissue pixel count there."""

    box: Box
    tissue: int


@dataclass(frozen=True)
class Detection:
    """What detection found on one small image, and the background it decided on."""

    regions: tuple[Region, ...]
    background: Background
    threshold: float  # on the 0..255 tissue signal
    labels: tuple[Region, ...] = ()  # label areas (printed ink at a slide's end), not sections


def tissue_signal(image: pyvips.Image, background: Background) -> tuple[pyvips.Image, Background]:
    """An 8-bit image that is high on tissue, smoothed over 3x3, and the background assumed.

    Alpha is dropped; 16-bit and float images are stretched between their 0.1 and 99.9
    percentiles first. ``auto`` takes a white slide when most pixels are bright.
    """
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.format != "uchar":
        low, high = image.percent(0.1), image.percent(99.9)
        image = ((image - low) * (255.0 / max(high - low, 1e-6))).cast("uchar")
    bands = [image[i] for i in range(image.bands)]
    brightest = bands[0].bandrank(bands[1:], index=len(bands) - 1) if len(bands) > 1 else bands[0]
    darkest = bands[0].bandrank(bands[1:], index=0) if len(bands) > 1 else bands[0]
    if background is Background.AUTO:
        background = Background.WHITE if brightest.percent(50) > 127 else Background.DARK
    signal = darkest.invert() if background is Background.WHITE else brightest
    mean3 = pyvips.Image.new_from_list([[1, 1, 1]] * 3, scale=9)
    return signal.conv(mean3, precision="integer").copy_memory(), background


def otsu(counts: np.ndarray) -> int:
    """Otsu's threshold of a histogram: the first bin above the split that maximises the
    between-class variance."""
    counts = np.asarray(counts, dtype=np.float64)
    values = np.arange(counts.size)
    weight = np.cumsum(counts)
    total = weight[-1]
    mass = np.cumsum(counts * values)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * weight / total - mass) ** 2 / (weight * (total - weight))
    return int(np.argmax(np.nan_to_num(between))) + 1


def tissue_threshold(counts: np.ndarray) -> float:
    """The signal (0..255) above which a pixel is tissue, from the signal's histogram: halfway
    between the background (the peak) and Otsu's split, so pale tissue counts, and never within
    the background's noise (5 sigma, from the median absolute deviation below the split)."""
    background = int(np.argmax(counts))
    split = otsu(counts)
    below = counts[:max(split, background + 1)]
    deviations = np.abs(np.arange(below.size) - background)
    order = np.argsort(deviations, kind="stable")
    cumulative = np.cumsum(below[order])
    mad = float(deviations[order][np.searchsorted(cumulative, cumulative[-1] / 2)]) if cumulative[-1] else 0.0
    return max((background + split) / 2, background + 5 * 1.4826 * mad + 5)


def close(mask: pyvips.Image, radius: int) -> pyvips.Image:
    """Morphological closing (0/255 image) by a square of side 2r+1, as separable max then min
    rank filters: joins pieces less than 2r+1 px apart."""
    if radius <= 0:
        return mask
    side = 2 * radius + 1
    dilated = mask.rank(side, 1, side - 1).rank(1, side, side - 1)
    return dilated.rank(side, 1, 0).rank(1, side, 0)


def _per_label(image: pyvips.Image, labels: pyvips.Image, size: int) -> np.ndarray:
    counts = np.zeros(size)
    found = (image / 255).hist_find_indexed(labels).numpy().ravel()
    counts[:found.size] = found
    return counts


def ink(image: pyvips.Image) -> pyvips.Image | None:
    """0/255 where an 8-bit colour image shows printed ink (dark in every channel, and grey);
    None for images without colour, where print and stain cannot be told apart."""
    if image.bands < 3 or image.format != "uchar":
        return None
    bands = [image[i] for i in range(3)]
    darkest = bands[0].bandrank(bands[1:], index=0)
    brightest = bands[0].bandrank(bands[1:], index=2)
    return ((brightest < INK_DARKNESS) & ((brightest - darkest) < INK_GREYNESS)).copy_memory()


def _label_like(box: Box, width: int, height: int) -> bool:
    """True when the box is as big as print on a label and lies within ``LABEL_END`` of one
    end of the slide's longer side."""
    if max(box.width, box.height) < LABEL_SIDE * min(width, height):
        return False
    if width >= height:
        return box.right <= LABEL_END * width or box.x >= (1 - LABEL_END) * width
    return box.bottom <= LABEL_END * height or box.y >= (1 - LABEL_END) * height


def _regions(closed: pyvips.Image, tissue: pyvips.Image, edge: int,
             min_area: int | None, printed: pyvips.Image | None = None,
             ) -> tuple[list[Region], list[Region]]:
    """Connected regions of the closed mask with their tissue pixel counts, and the label areas
    among them (mostly ``printed`` ink, at one end of the slide). Left out: regions with less
    tissue than ``min_area`` (default: 5% of the largest region), and regions whose tissue lies
    mostly within ``edge`` pixels of the border (slide edges, shadows)."""
    labels = closed.labelregions()
    size = int(labels.max()) + 1
    inside = _per_label(closed, labels, size)
    counts = _per_label(tissue, labels, size)
    inked = _per_label(printed & tissue, labels, size) if printed is not None else np.zeros(size)
    central = counts
    if edge > 0 and tissue.width > 2 * edge and tissue.height > 2 * edge:
        crop = (edge, edge, tissue.width - 2 * edge, tissue.height - 2 * edge)
        central = _per_label(tissue.crop(*crop), labels.crop(*crop), size)
    counts[inside == 0] = 0  # regions of the background
    floor = min_area if min_area is not None else RELATIVE_MIN_AREA * counts.max()
    regions, label_areas = [], []
    for label in np.flatnonzero((counts >= max(floor, 1)) & (central * 2 >= counts)):
        columns, rows = (labels == int(label)).project()  # sums per column and per row
        xs, ys = np.flatnonzero(columns.numpy()), np.flatnonzero(rows.numpy())
        box = Box(int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))
        region = Region(box, int(counts[label]))
        if inked[label] >= LABEL_INK * counts[label] and _label_like(box, tissue.width, tissue.height):
            label_areas.append(region)
        else:
            regions.append(region)
    return regions, label_areas


def detect_tissue(image: pyvips.Image, *, background: Background = Background.AUTO,
                  join: int = 3, min_area: int | None = None, edge: int = 0,
                  exclude: Sequence[Box] = ()) -> Detection:
    """Find the pieces of tissue on a small image of a slide (sizes in its pixels).

    ``join``: fragments closer than this are one section. ``min_area``: regions with fewer
    tissue pixels are dropped (default: under 5% of the largest region). ``edge``: a band this
    wide along the border is ignored (slide and coverslip edges). ``exclude``: boxes ignored
    (a label area). On a white colour slide, printed labels at the slide's ends are set aside
    (``Detection.labels``).
    """
    signal, background = tissue_signal(image, background)
    threshold = tissue_threshold(signal.hist_find().numpy().ravel())
    tissue = (signal > threshold).copy_memory()  # 0/255
    if exclude:
        array = tissue.numpy().copy()  # uint8, the size of the small image
        for box in exclude:
            array[max(box.y, 0):max(box.bottom, 0), max(box.x, 0):max(box.right, 0)] = 0
        tissue = pyvips.Image.new_from_array(array)
    printed = ink(image) if background is Background.WHITE else None
    regions, label_areas = _regions(close(tissue, (join + 1) // 2).copy_memory(), tissue, edge,
                                    min_area, printed)
    return Detection(tuple(regions), background, threshold, tuple(label_areas))
