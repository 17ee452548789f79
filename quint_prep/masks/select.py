"""Which pixels of a segmentation are objects, and label-safe resampling of that selection.

A selection is a lazy single-band uchar image, 255 for objects and 0 elsewhere; every step is a
libvips operation, so it streams like the rest of quint-prep. Resampling never invents values:
it averages the 0/255 selection and thresholds it back to 0/255.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyvips

from quint_prep.choices import MaskResample  # light: for --help
from quint_prep.errors import InputError
from quint_prep.masks.sources import MaskFile, SourceKind, colour_counts, label_counts
from quint_prep.downscale.resample import exact_size, shrink_then_reduce
from quint_prep.scale import Size

Colour = tuple[int, int, int]
MAX_EQUALITIES = 8  # above this many labels a lookup table beats a chain of comparisons
MAX_LISTED = 20  # label values listed in an error message
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)


@dataclass(frozen=True)
class Selection:
    """The object pixels of one file (lazy 0/255 uchar image) and how they were chosen."""

    image: pyvips.Image
    description: str
    notes: tuple[str, ...] = ()


def select_objects(mask: MaskFile, labels: Sequence[int] | None, object_colour: Colour | None,
                   invert: bool = False) -> Selection:
    """Build the object selection of a file by its kind; InputError when the choice is unclear."""
    if mask.palette is not None:
        selection = _select_palette(mask, labels, object_colour)
    elif mask.kind is SourceKind.RGB:
        if labels is not None:
            raise InputError("a coloured segmentation has no label values; choose the objects "
                             "with --object-colour R,G,B", mask.path)
        selection = _select_colour(mask, object_colour)
    else:
        if object_colour is not None:
            raise InputError(f"a single-band {mask.kind.value} label image has no colours; choose "
                             "the objects with --labels", mask.path)
        selection = _select_labels(mask, labels)
    notes = selection.notes
    if mask.min_is_white:
        notes += ("min-is-white TIFF (inverted LUT): the stored values are used, as FIJI does "
                  "(255 = objects); if objects come out swapped, rerun with --invert",)
    if invert:
        return Selection(selection.image == 0, selection.description + ", inverted", notes)
    return Selection(selection.image, selection.description, notes)


def parse_labels(text: str) -> tuple[int, ...]:
    """``"2,3"`` or ``"2-4,7"`` -> (2, 3) / (2, 3, 4, 7); ValueError on anything else."""
    values: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not all(s.strip().isdigit() for s in ((low, high) if dash else (low,))):
            raise ValueError(f"{text!r} is not a list of label values like 2,3 or 2-4")
        if dash:
            start, stop = int(low), int(high)
            if stop < start:
                raise ValueError(f"range {part} runs backwards")
            values.extend(range(start, stop + 1))
        else:
            values.append(int(part))
    if not values or any(v < 0 for v in values):
        raise ValueError(f"{text!r} is not a list of label values like 2,3 or 2-4")
    return tuple(sorted(set(values)))


def _labels_text(values: Sequence[int]) -> str:
    shown = ",".join(str(v) for v in values[:12])
    return shown + (f",... ({len(values)} labels)" if len(values) > 12 else "")


def _select_labels(mask: MaskFile, labels: Sequence[int] | None) -> Selection:
    image = mask.labels_image()
    if labels is None:
        if mask.kind is SourceKind.ILASTIK:
            raise InputError(_ilastik_needs_labels(mask), mask.path)
        return Selection(image > 0, "non-zero")
    return Selection(select_values(image, labels), f"labels {_labels_text(labels)}")


def _ilastik_needs_labels(mask: MaskFile) -> str:
    counts = label_counts(mask)
    total = sum(counts.values()) or 1
    shown = sorted(counts.items())[:MAX_LISTED]
    listed = ", ".join(f"{value} ({count / total:.1%}, {count} px)" for value, count in shown)
    if len(counts) > len(shown):
        listed += f" and {len(counts) - len(shown)} more (instance labels? try --source cellpose)"
    example = max(counts) if counts else 2
    return (f"ilastik labels: say which label values are objects with --labels (e.g. --labels "
            f"{example}); labels in this file: {listed}")


def select_values(image: pyvips.Image, values: Sequence[int]) -> pyvips.Image:
    """255 where the single-band image holds one of the values, else 0 (lazy).

    Few values: OR of equalities. Many values on uint8/uint16: one ``maplut`` through a
    lookup table. 32-bit labels: the high 16 bits compared, the low 16 bits looked up.
    """
    values = sorted(set(int(v) for v in values))
    if len(values) <= MAX_EQUALITIES:
        result = image == values[0]
        for value in values[1:]:
            result = result | (image == value)
        return result
    if str(image.format) in ("uchar", "ushort"):
        return image.maplut(_lookup(values, 256 if image.format == "uchar" else 65536))
    groups: dict[int, list[int]] = {}
    for value in values:
        groups.setdefault(value >> 16, []).append(value & 0xFFFF)
    low = (image & 0xFFFF).cast("ushort")
    high = image >> 16
    result = None
    for high_value, lows in groups.items():
        part = (high == high_value) & low.maplut(_lookup(lows, 65536))
        result = part if result is None else result | part
    return result


def _lookup(values: Sequence[int], size: int) -> pyvips.Image:
    table = np.zeros((1, size), dtype=np.uint8)
    table[0, [v for v in values if v < size]] = 255
    return pyvips.Image.new_from_array(table)


def _colour_match(image: pyvips.Image, colour: Sequence[int]) -> pyvips.Image:
    bands = min(image.bands, len(colour))
    return (image[0:bands] == list(colour[:bands])).bandand()


def _select_colour(mask: MaskFile, object_colour: Colour | None) -> Selection:
    image = mask.open()
    notes: tuple[str, ...] = ()
    if object_colour is None:
        object_colour = _auto_colour(mask)
        notes = (f"objects are the only colour besides black/white: {_rgb(object_colour)}",)
    selection = _colour_match(image, object_colour)
    if image.bands >= 4:
        selection = selection & (image[3] >= 128)
    return Selection(selection, f"colour {_rgb(object_colour)}", notes)


def _auto_colour(mask: MaskFile) -> Colour:
    counts = colour_counts(mask)
    colours = counts.counts
    if counts.mixed == 0 and len(colours) == 2 and (WHITE in colours or BLACK in colours):
        other = [c for c in colours if c not in (WHITE, BLACK)]
        if len(other) == 1:
            return other[0]
    total = sum(colours.values()) + counts.mixed or 1
    top = sorted(colours.items(), key=lambda item: -item[1])[:10]
    listed = ", ".join(f"{_rgb(c)} ({n / total:.1%})" for c, n in top)
    more = len(colours) - len(top)
    extra = (f" and {more} more" if more > 0 else "") + \
        (f"; {counts.mixed} px in colours not resolved" if counts.mixed else "")
    return _raise(mask, f"coloured segmentation with {len(colours)} colours: say which is the "
                  f"objects with --object-colour R,G,B; colours here: {listed}{extra}")


def _raise(mask: MaskFile, message: str) -> Colour:
    raise InputError(message, mask.path)


def _rgb(colour: Sequence[int]) -> str:
    return ",".join(str(c) for c in colour[:3])


def _select_palette(mask: MaskFile, labels: Sequence[int] | None,
                    object_colour: Colour | None) -> Selection:
    palette = mask.palette or ()
    if object_colour is not None:
        chosen = [i for i, c in enumerate(palette) if tuple(c[:3]) == tuple(object_colour)]
        description = f"colour {_rgb(object_colour)}"
    elif labels is not None:
        outside = [v for v in labels if v >= len(palette)]
        if outside:
            raise InputError(f"labels {_labels_text(outside)} are not in this file's palette "
                             f"(indices 0-{len(palette) - 1})", mask.path)
        chosen = list(labels)
        description = f"labels {_labels_text(chosen)}"
    elif mask.kind is SourceKind.ILASTIK:
        raise InputError(_palette_needs_labels(mask), mask.path)
    else:
        chosen = list(range(1, len(palette)))
        description = "non-zero"
    chosen_colours = {palette[i] for i in chosen}
    clash = sorted(i for i, c in enumerate(palette) if c in chosen_colours and i not in chosen)
    if clash:
        raise InputError(f"palette indices {_labels_text(clash)} have the same colour as chosen "
                         "ones, so their pixels cannot be told apart", mask.path)
    image = mask.open()
    others = set(palette) - chosen_colours
    if len(others) < len(chosen_colours):  # the shorter chain of comparisons
        selection = _any_colour(image, others)
        selection = selection == 0 if selection is not None else image[0] * 0 + 255
    else:
        selection = _any_colour(image, chosen_colours)
        selection = selection if selection is not None else image[0] * 0
    return Selection(selection.cast("uchar"), f"palette {description}")


def _any_colour(image: pyvips.Image, colours: set) -> pyvips.Image | None:
    result = None
    for colour in sorted(colours):
        match = _colour_match(image, colour)
        result = match if result is None else result | match
    return result


def _palette_needs_labels(mask: MaskFile) -> str:
    counts = colour_counts(mask).counts
    total = sum(counts.values()) or 1
    parts = []
    for index, colour in enumerate(mask.palette or ()):
        count = counts.get(tuple(colour[:3]), 0)
        if count:
            parts.append(f"{index} = {_rgb(colour)} ({count / total:.1%})")
    return ("ilastik labels: say which label values are objects with --labels (or "
            f"--object-colour R,G,B); labels in this file: {', '.join(parts)}")


def box_average(selection: pyvips.Image, target: Size) -> pyvips.Image:
    """Box average (float): integer ``shrinkh``/``shrinkv``, then a linear ``reduce`` for the rest."""
    return shrink_then_reduce(selection.cast("float"), target, "linear")


def _area(selection: pyvips.Image, target: Size) -> pyvips.Image:
    return box_average(selection, target) >= 127.5


def _any(selection: pyvips.Image, target: Size) -> pyvips.Image:
    return box_average(selection, target) > 0


def reduce_nearest(image: pyvips.Image, target: Size) -> pyvips.Image:
    """Shrink each axis longer than ``target``'s with the nearest kernel: one input pixel per output
    pixel, so labels and ids are kept (lazy; may be a pixel off ``target``, see ``exact_size``)."""
    if image.width > target.width:
        image = image.reduceh(image.width / target.width, kernel="nearest")
    if image.height > target.height:
        image = image.reducev(image.height / target.height, kernel="nearest")
    return image


MASK_RESAMPLERS: dict[MaskResample, Callable[[pyvips.Image, Size], pyvips.Image]] = {
    MaskResample.AREA: _area,
    MaskResample.ANY: _any,
    MaskResample.NEAREST: reduce_nearest,
}


def resample_selection(selection: pyvips.Image, target: Size, method: MaskResample) -> pyvips.Image:
    """The selection at exactly the target size, still 0/255 uchar (lazy)."""
    if selection.width == target.width and selection.height == target.height:
        return selection
    source = Size(selection.width, selection.height)
    shrink = Size(min(source.width, target.width), min(source.height, target.height))
    image = selection if shrink == source else MASK_RESAMPLERS[method](selection, shrink)
    image = exact_size(image.cast("uchar"), shrink)
    if shrink != target:  # enlarge the remaining axes by repeating pixels
        image = image.resize(target.width / image.width, vscale=target.height / image.height,
                             kernel="nearest")
        image = exact_size(image, target)
    return image
