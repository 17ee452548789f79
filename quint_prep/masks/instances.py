"""Instance labels (Cellpose, QuPath instance exports): resampled by id, separated, counted.

Nutil and PyNutil count 4-connected regions of one colour, so two touching cells drawn in one
colour are ONE object. For instance-label sources the order is:

1. resample the label image label-safely (ids are kept, never averaged into new ids; an output
   pixel over several instances becomes background, see ``resample_instances``);
2. separate touching instances: a pixel becomes background when its right or lower
   4-neighbour belongs to ANOTHER instance (both non-zero). So of every pair of 4-neighbours
   with different ids exactly one pixel, the left or upper one, is removed: afterwards no two
   different instances touch, and nothing else is removed;
3. colour the remaining non-zero pixels.

Separating after resampling means a downscale cannot join the instances again. Every step is
a lazy libvips operation (neighbours are the image cropped by one pixel and embedded back), so
it streams with one row of look-ahead and works in bounded memory on gigapixel label images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyvips

from quint_prep.errors import InputError
from quint_prep.masks.select import MaskResample, box_average, reduce_nearest, select_values
from quint_prep.masks.sources import MaskFile, SourceKind
from quint_prep.downscale.resample import exact_size
from quint_prep.scale import Size
from quint_prep.series import vips_reason

HIGH_BANDS = 32  # 32-bit census: high halves counted per pass (65536 x 32 doubles, 16 MB)


def is_instance_source(mask: MaskFile, forced: bool = False) -> bool:
    """True for instance labels: Cellpose files, QuPath 16/32-bit label images, or ``forced``.

    QuPath class label images are 8-bit (indexed PNGs, one index per class) and are not
    instances; its instance/detection exports need more ids than 8 bits hold and come as
    16/32-bit single-band images without a palette. Other 8-bit labels need ``--instances``.
    """
    if mask.palette is not None or mask.kind is SourceKind.RGB:
        return False
    wide = mask.info.sample_format not in ("uchar", "char")
    return forced or mask.kind is SourceKind.CELLPOSE or (mask.kind is SourceKind.QUPATH and wide)


def instance_labels(mask: MaskFile, labels: Sequence[int] | None) -> tuple[pyvips.Image, str]:
    """The instance id image (lazy), limited to ``labels`` when given, and its description."""
    image = mask.labels_image()
    if labels is None:
        return image, "non-zero"
    chosen = select_values(image, labels)
    shown = ",".join(str(v) for v in labels[:12]) + ("..." if len(labels) > 12 else "")
    return chosen.ifthenelse(image, 0).cast(image.format), f"labels {shown}"


# Variance of an id byte under an output pixel above which several instances lie under it. A
# minority instance of weight w whose byte differs by d gives w(1-w)d^2: below 0.05, w*d < 0.25,
# so the rounded byte means are still the majority's; float rounding stays near 0.01.
MIXED_VARIANCE = 0.05


def _id_bytes(labels: pyvips.Image) -> list[pyvips.Image]:
    count = {"uchar": 1, "char": 1, "ushort": 2, "short": 2}.get(str(labels.format), 4)
    return [((labels >> (8 * j)) & 255 if j else labels & 255).cast("float")
            for j in range(count)]


def _byte_table(count: int) -> pyvips.Image:
    """The lookup table id -> (object weight, then per byte: the byte, its square), float."""
    values = np.arange(256 ** count)
    bands = [(values > 0).astype(np.float32)]
    for j in range(count):
        byte = ((values >> (8 * j)) & 255).astype(np.float32)
        bands += [byte, byte * byte]
    return pyvips.Image.new_from_array(np.stack(bands, axis=-1).reshape(1, -1, len(bands)))


def _weighted_bytes(labels: pyvips.Image) -> pyvips.Image:
    """Per pixel: the object weight (0/1) and each byte of the id and its square (float).

    A byte of an id is 0 where the id is 0, so the bytes need no weighting. 8- and 16-bit ids
    go through ONE ``maplut`` (a table of 256 or 65536 entries: one operation instead of a
    dozen at the source's resolution, the same float values); wider ids are computed.
    """
    count = {"uchar": 1, "ushort": 2}.get(str(labels.format))
    if count is not None:
        return labels.maplut(_byte_table(count).cast("float"))
    weight = ((labels > 0) / 255).cast("float")
    bands = [weight]
    for byte in _id_bytes(labels):
        weighted = byte * weight
        bands += [weighted, weighted * byte]
    return bands[0].bandjoin(bands[1:])


def _box_ids(labels: pyvips.Image, target: Size, method: MaskResample) -> pyvips.Image:
    """Area/any on ids in ONE streamed chain: per output pixel, the box means of the object
    weight and of each byte of the id and its square, over object pixels (float).

    Every byte constant <=> one instance under the pixel: its id is rebuilt exactly from the
    rounded byte means. Several instances under one pixel: background (no id is invented or
    guessed; this is the separating line at the output's resolution). One chain, because libvips
    cannot feed two differently shrunk branches from one sequential source ("out of order
    read"). Bytes keep every value exact in float (at most 255 squared).
    """
    means = exact_size(box_average(_weighted_bytes(labels), target), target)
    covered = means[0]
    objects = covered >= 0.5 if method is MaskResample.AREA else covered > 0
    ids = None
    mixed = None
    exact = "float" if means.bands <= 5 else "double"  # float holds 16-bit ids exactly
    for j in range((means.bands - 1) // 2):
        mean = means[1 + 2 * j] / covered
        variance = means[2 + 2 * j] / covered - mean * mean
        part = mean.rint().cast(exact) * float(256 ** j)
        ids = part if ids is None else ids + part
        spread = variance >= MIXED_VARIANCE
        mixed = spread if mixed is None else mixed | spread
    return (objects & (mixed == 0)).ifthenelse(ids, 0)


def resample_instances(labels: pyvips.Image, target: Size, method: MaskResample) -> pyvips.Image:
    """The instance id image at exactly ``target``, ids kept (lazy; same format as ``labels``).

    ``nearest``: the id of the input pixel at the output pixel's centre. ``area``: an output
    pixel is an object when at least half of the input pixels under it are, ``any`` when any
    is; it takes the id of the one instance under it, and becomes background when several
    instances share it (see ``_box_ids``). Enlarging repeats pixels.
    """
    if labels.width == target.width and labels.height == target.height:
        return labels
    source = Size(labels.width, labels.height)
    shrink = Size(min(source.width, target.width), min(source.height, target.height))
    image = labels
    if shrink != source:
        if method is MaskResample.NEAREST:
            image = exact_size(reduce_nearest(labels, shrink), shrink)
        else:
            image = _box_ids(labels, shrink, method)
        image = image.cast(labels.format)
    if shrink != target:
        image = image.resize(target.width / image.width, vscale=target.height / image.height,
                             kernel="nearest")
        image = exact_size(image, target)
    return image


def separate_instances(labels: pyvips.Image) -> pyvips.Image:
    """Background where a pixel's right or lower neighbour is another instance (lazy).

    Returns the id image with those pixels set to 0: of each 4-neighbour pair with two different
    non-zero ids, the left (or upper) pixel is removed, nothing else. libvips computes
    ``labels`` once per branch that reads it (three here): it should be a decoded file or a
    scratch file, not a resampling (``flatten.settle_resampled_ids``). Masks of 8/16-bit ids
    are separated strip by strip in numpy instead (``stream.separated_objects``).
    """
    width, height = labels.width, labels.height
    touching = None
    if width > 1:
        right = labels.crop(1, 0, width - 1, height).embed(0, 0, width, height)
        touching = (right > 0) & (right != labels)
    if height > 1:
        below = labels.crop(0, 1, width, height - 1).embed(0, 0, width, height)
        vertical = (below > 0) & (below != labels)
        touching = vertical if touching is None else touching | vertical
    if touching is None:
        return labels
    return (touching & (labels > 0)).ifthenelse(0, labels).cast(labels.format)


@dataclass(frozen=True)
class LabelCensus:
    """Distinct non-zero ids of a label image and how many pixels they cover."""

    instances: int
    pixels: int


def label_census(open_labels: Callable[[], pyvips.Image], path: object = None) -> LabelCensus:
    """Count distinct non-zero ids in bounded memory (streamed; InputError on a decode failure).

    ``open_labels`` opens the id image afresh for each pass (a sequential image can be read
    only once). Up to 16 bits: one ``hist_find`` (at most 65536 bins). 32-bit ids: a histogram
    of the high 16 bits, then, per group of HIGH_BANDS high values present, one
    ``hist_find_indexed`` of the low 16 bits (65536 bins per high value): 1 + ceil(highs /
    HIGH_BANDS) passes, memory a few tens of MB whatever the number of cells.
    """
    try:
        labels = open_labels()
        if str(labels.format) in ("uchar", "ushort"):
            histogram = labels.hist_find().numpy().ravel()
            return LabelCensus(int(np.count_nonzero(histogram[1:])), int(histogram[1:].sum()))
        return _census_32(labels, open_labels)
    except pyvips.Error as error:
        raise InputError(f"failed while counting labels: {vips_reason(error)}",
                         path) from error  # type: ignore[arg-type]


def _census_32(labels: pyvips.Image, open_labels: Callable[[], pyvips.Image]) -> LabelCensus:
    highs = np.flatnonzero((labels.cast("uint") >> 16).cast("ushort").hist_find().numpy().ravel())
    instances = pixels = 0
    for start in range(0, len(highs), HIGH_BANDS):
        group = [int(h) for h in highs[start:start + HIGH_BANDS]]
        labels = open_labels().cast("uint")
        high = (labels >> 16).cast("ushort")
        low = (labels & 0xFFFF).cast("ushort")
        planes = [(high == h) / 255 for h in group]
        stack = planes[0].bandjoin(planes[1:]) if len(planes) > 1 else planes[0]
        counts = stack.cast("double").hist_find_indexed(low, combine="sum").numpy()
        counts = counts.reshape(-1, len(group))
        for band, value in enumerate(group):
            column = counts[:, band].copy()
            if value == 0:
                column[0] = 0  # id 0 is background
            instances += int(np.count_nonzero(column))
            pixels += int(column.sum())
    return LabelCensus(instances, pixels)
