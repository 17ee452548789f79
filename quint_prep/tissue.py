"""Tissue detection on a small image of a slide (a pyramid level or a shrink-on-load thumbnail).

The image given here is small (a few megapixels): it is the only place where quint-prep puts
slide pixels into numpy. Steps: a "tissue signal" per pixel (darkness of the darkest channel on
a white slide, brightness of the brightest on a dark one), a threshold between the background
(the histogram's mode, with its noise) and Otsu's tissue class, the slide's edges and excluded
areas cleared, a closing that joins fragments closer than ``join`` pixels, connected regions
(libvips ``labelregions``), and regions with less tissue than ``min_area`` dropped as dust.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Sequence

import numpy as np
import pyvips

from .plan import Box

RELATIVE_MIN_AREA = 0.05  # without --min-area: drop regions under 5% of the largest one's tissue


class Background(str, Enum):
    """What the slide looks like where there is no tissue."""

    AUTO = "auto"
    WHITE = "white"  # brightfield: dark tissue on a bright slide
    DARK = "dark"  # fluorescence: bright tissue on a dark slide


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
    threshold: float  # on the 0..1 tissue signal


def tissue_signal(image: pyvips.Image, background: Background) -> tuple[np.ndarray, Background]:
    """A 0..1 float32 array that is high on tissue, and the background it assumed.

    Alpha is dropped; 16-bit and float images are stretched between their 0.1 and 99.9
    percentiles first. ``auto`` takes a white slide when most pixels are bright.
    """
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    array = image.numpy()
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:
        low, high = (float(v) for v in np.percentile(array[:: 4, :: 4], (0.1, 99.9)))
        high = max(high, low + 1e-6)
    brightest = (array.max(axis=2).astype(np.float32) - low) / (high - low)
    darkest = (array.min(axis=2).astype(np.float32) - low) / (high - low)
    if background is Background.AUTO:
        background = Background.WHITE if np.median(brightest[:: 4, :: 4]) > 0.5 else Background.DARK
    signal = 1.0 - darkest if background is Background.WHITE else brightest
    return np.clip(signal, 0.0, 1.0, out=signal), background


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in 0..1 (the split that maximises between-class variance)."""
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    counts = counts.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    mass = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * weight / total - mass) ** 2 / (weight * (total - weight))
    between = np.nan_to_num(between)
    return float(edges[int(np.argmax(between)) + 1])


def tissue_threshold(signal: np.ndarray) -> float:
    """The signal above which a pixel is tissue: halfway between the background and Otsu's
    split (so pale tissue counts), and never within the background's noise (5 sigma)."""
    sample = signal[:: 2, :: 2].ravel()
    counts, edges = np.histogram(sample, bins=256, range=(0.0, 1.0))
    background = float(edges[int(np.argmax(counts))] + 0.5 / 256)
    split = otsu(sample)
    below = sample[sample < max(split, background + 1 / 256)]
    sigma = 1.4826 * float(np.median(np.abs(below - background))) if below.size else 0.0
    return max((background + split) / 2, background + 5 * sigma + 0.02)


def _box_sum(mask: np.ndarray, radius: int) -> np.ndarray:
    """How many set pixels lie in the (2r+1)-square around every pixel (outside counts 0)."""
    padded = np.pad(mask.astype(np.int32), radius + 1)
    table = padded.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
    size = 2 * radius + 1
    height, width = mask.shape
    return (table[size:size + height, size:size + width] - table[:height, size:size + width]
            - table[size:size + height, :width] + table[:height, :width])


def close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological closing by a square of side 2r+1: joins pieces less than 2r+1 apart."""
    if radius <= 0:
        return mask
    dilated = _box_sum(mask, radius) > 0
    return _box_sum(~dilated, radius) == 0


def _regions(closed: np.ndarray, tissue: np.ndarray, edge: int) -> list[Region]:
    """Connected regions of the closed mask with their tissue pixel counts; regions whose
    tissue lies mostly within ``edge`` pixels of the border (slide edges, shadows) are left out."""
    labels = pyvips.Image.new_from_array(closed.astype(np.uint8)).labelregions().numpy()
    ys, xs = np.nonzero(closed)
    if ys.size == 0:
        return []
    ids = labels[ys, xs]
    order = np.argsort(ids, kind="stable")
    ids, ys, xs = ids[order], ys[order], xs[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.bincount(labels[tissue].ravel(), minlength=int(labels.max()) + 1)
    inner = tissue.copy()
    if edge > 0:
        inner[:edge, :] = inner[-edge:, :] = False
        inner[:, :edge] = inner[:, -edge:] = False
    central = np.bincount(labels[inner].ravel(), minlength=counts.size)
    regions = []
    for start, left, top, right, bottom in zip(
            starts, np.minimum.reduceat(xs, starts), np.minimum.reduceat(ys, starts),
            np.maximum.reduceat(xs, starts), np.maximum.reduceat(ys, starts)):
        label = ids[start]
        if central[label] * 2 < counts[label]:
            continue
        box = Box(int(left), int(top), int(right - left + 1), int(bottom - top + 1))
        regions.append(Region(box, int(counts[label])))
    return regions


def detect_tissue(image: pyvips.Image, *, background: Background = Background.AUTO,
                  join: int = 3, min_area: int | None = None, edge: int = 0,
                  exclude: Sequence[Box] = ()) -> Detection:
    """Find the pieces of tissue on a small image of a slide (sizes in its pixels).

    ``join``: fragments closer than this are one section. ``min_area``: regions with fewer
    tissue pixels are dropped (default: under 5% of the largest region). ``edge``: a band this
    wide along the border is ignored (slide and coverslip edges). ``exclude``: boxes ignored
    (a label area).
    """
    signal, background = tissue_signal(image, background)
    threshold = tissue_threshold(signal)
    tissue = _smoothed(signal) > threshold
    del signal
    for box in exclude:
        tissue[max(box.y, 0):max(box.bottom, 0), max(box.x, 0):max(box.right, 0)] = False
    regions = _regions(close(tissue, (join + 1) // 2), tissue, edge)
    if regions:
        floor = min_area if min_area is not None else RELATIVE_MIN_AREA * max(r.tissue for r in regions)
        regions = [r for r in regions if r.tissue >= max(floor, 1)]
    return Detection(tuple(regions), background, threshold)


def _smoothed(signal: np.ndarray) -> np.ndarray:
    """A 3x3 mean, so single noisy pixels do not cross the threshold (edges repeated)."""
    padded = np.pad(signal, 1, mode="edge")
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0
