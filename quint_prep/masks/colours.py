"""What a segmentation file holds: its PNG header and its exact colour counts, in bounded memory.

The PNG header is read directly (33 bytes), because libvips expands palette PNGs to RGB on load
and so hides whether a file is indexed. Colours are counted by libvips in a streaming pass;
nothing larger than a 65536-entry histogram is ever held in numpy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyvips

from quint_prep.errors import InputError
from quint_prep.series import refuse_impossible, vips_reason

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {0: "greyscale", 2: "rgb", 3: "palette", 4: "greyscale+alpha", 6: "rgb+alpha"}
MAX_AMBIGUOUS_BINS = 255  # red/green pairs resolved exactly in the second pass

Colour = tuple[int, int, int]


def parse_rgb(value: str | list[int]) -> Colour:
    """The one reading of an RGB colour, on the command line (``"255,0,0"``) and in a config
    (``"255,0,0"`` or ``[255, 0, 0]``): three whole numbers 0-255. ValueError otherwise, with
    the message the user reads after the option or key name."""
    try:
        numbers = [int(part) for part in value.split(",")] if isinstance(value, str) else list(value)
    except ValueError:
        numbers = []
    if len(numbers) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 255
                                    for n in numbers):
        raise ValueError(f"{value!r} is not R,G,B with three numbers 0-255, e.g. 255,0,0")
    return numbers[0], numbers[1], numbers[2]


@dataclass(frozen=True)
class PngHeader:
    """The IHDR chunk of a PNG: size, bit depth per sample and colour type."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool

    @property
    def kind(self) -> str:
        """The colour type in words: greyscale, rgb, palette, greyscale+alpha, rgb+alpha."""
        return PNG_COLOUR_TYPES.get(self.colour_type, f"colour type {self.colour_type}")


def read_png_header(path: Path) -> PngHeader | None:
    """The PNG header of a file, or None when the file does not start like a PNG."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(33)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path) from error
    if len(head) < 33 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour_type, _comp, _filter, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return PngHeader(width, height, depth, colour_type, interlace == 1)


@dataclass(frozen=True)
class ColourCounts:
    """Pixel count per colour of a segmentation (grey values are given as (v, v, v)).

    ``exact`` is False only when more than MAX_AMBIGUOUS_BINS red/green pairs hold several
    blue values; ``counts`` then lacks the colours of the pairs beyond the first
    MAX_AMBIGUOUS_BINS, ``distinct`` is a lower bound and ``mixed`` counts their pixels.
    ``transparent`` counts the pixels left out for their alpha (below 128) when the count was
    asked to leave them out (``count_image_colours``); they are never objects.
    """

    counts: dict[Colour, int]
    distinct: int
    exact: bool
    total: int
    absent: frozenset[Colour] = frozenset()  # colours checked one by one and not found
    transparent: int = 0

    @property
    def mixed(self) -> int:
        """Pixels (not transparent) whose colour is not among ``counts`` (0 when exact)."""
        return self.total - self.transparent - sum(self.counts.values())

    def lacks(self, colour: Colour) -> bool:
        """True when the colour is known not to occur."""
        return colour not in self.counts and (self.exact or colour in self.absent)

    def ranked(self) -> list[tuple[Colour, int]]:
        """Colours from most to least common."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))


def count_colours(path: Path) -> ColourCounts:
    """Count the pixels of every colour of an 8-bit segmentation file (alpha ignored: the checks
    report it on its own), streaming it through libvips (``count_image_colours``).

    Raises InputError when the file cannot be decoded.
    """
    try:
        return count_image_colours(lambda: _open(path), path)
    except pyvips.Error as error:
        raise InputError(f"cannot decode: {vips_reason(error)}", path) from error


def count_image_colours(open_image: Callable[[], pyvips.Image], path: Path, *,
                        skip_transparent: bool = False) -> ColourCounts:
    """Count the pixels of every colour of an image, in bounded memory, exact for real masks.

    ``open_image`` gives a fresh lazy image for each pass (a sequential image is read once);
    ``path`` names the file in errors. With ``skip_transparent`` pixels whose alpha (band 4 of
    RGBA, band 2 of grey+alpha) is below 128 are not counted (``ColourCounts.transparent``).
    Method:
    1. One streaming pass: the 16-bit key ``r*256+g`` indexes ``hist_find_indexed`` over the
       three double bands (w, w*b, w*b*b), w = 1 for a counted pixel, else 0. Per red/green pair
       this gives the pixel count n, the sum of blue S and of blue squared Q: at most 65536 x 3
       doubles (1.5 MB), exact integers (below 2**53 for any image under 10**11 pixels). A pair
       holds ONE colour exactly when n*Q == S*S (zero variance), and that colour is (r, g, S/n).
    2. Only when some pairs hold several blue values (rare outside anti-aliased images): a second
       pass maps the first MAX_AMBIGUOUS_BINS such pairs to an index 1..255 with ``maplut`` and
       histograms ``index*256 + b`` (65536 bins), which counts every colour of those pairs
       exactly; pairs beyond them are left unresolved (``exact`` False).
    Greyscale images take one ``hist_find`` (256 or 65536 bins). Raises InputError for colour
    samples that are not 8-bit, pyvips.Error when libvips cannot decode the file (the caller
    words that error).
    """
    image = open_image()
    if image.bands < 3:
        return _grey_counts(image, skip_transparent)
    if image.format != "uchar":
        raise InputError(f"colour counts need 8-bit samples, not {image.format}", path)
    opaque = (image[3] >= 128) if skip_transparent and image.bands >= 4 else None
    key = (image[0] * 256 + image[1]).cast("ushort")
    blue = image[2].cast("double")
    if opaque is None:
        stats = (blue * 0 + 1).bandjoin([blue, blue * blue])
    else:
        weight = (opaque / 255).cast("double")
        weighted = blue * weight
        stats = weight.bandjoin([weighted, weighted * blue])
    table = stats.hist_find_indexed(key).numpy().reshape(-1, 3)
    counts: dict[Colour, int] = {}
    ambiguous: list[int] = []
    counted = 0
    for pair in np.nonzero(table[:, 0])[0]:
        n, s, q = (int(round(v)) for v in table[pair])
        counted += n
        if n * q == s * s:
            counts[(int(pair) >> 8, int(pair) & 255, s // n)] = n
        else:
            ambiguous.append(int(pair))
    total = image.width * image.height
    resolved, unresolved = ambiguous[:MAX_AMBIGUOUS_BINS], ambiguous[MAX_AMBIGUOUS_BINS:]
    if resolved:
        counts.update(_resolve(open_image, resolved, skip_transparent))
    return ColourCounts(counts, len(counts) + 2 * len(unresolved), not unresolved, total,
                        transparent=total - counted)


def _open(path: Path) -> pyvips.Image:
    image = pyvips.Image.new_from_file(str(path), access="sequential", fail=True)
    refuse_impossible(path, image)  # header only: nothing is decoded before this passes
    return image


def _grey_counts(image: pyvips.Image, skip_transparent: bool) -> ColourCounts:
    band = image[0]
    if skip_transparent and image.bands == 2:
        weight = ((image[1] >= 128) / 255).cast("double")
        hist = weight.hist_find_indexed(band).numpy().reshape(-1).round().astype(np.int64)
    else:
        hist = band.hist_find().numpy().reshape(-1).astype(np.int64)
    values = np.nonzero(hist)[0]
    counts = {(int(v), int(v), int(v)): int(hist[v]) for v in values}
    total = image.width * image.height
    return ColourCounts(counts, len(counts), True, total, transparent=total - int(hist.sum()))


def _resolve(open_image: Callable[[], pyvips.Image], pairs: list[int],
             skip_transparent: bool) -> dict[Colour, int]:
    """Second pass: exact colours of the red/green pairs that hold several blue values."""
    lut = np.zeros(65536, dtype=np.uint16)
    for index, pair in enumerate(pairs, start=1):
        lut[pair] = index
    table = pyvips.Image.new_from_memory(lut.tobytes(), 65536, 1, 1, "ushort")
    image = open_image()
    key = (image[0] * 256 + image[1]).cast("ushort")
    slot = key.maplut(table)
    if skip_transparent and image.bands >= 4:
        slot = (image[3] >= 128).ifthenelse(slot, 0)  # slot 0: not counted here
    hist = (slot * 256 + image[2]).cast("ushort").hist_find().numpy().reshape(-1)
    found: dict[Colour, int] = {}
    for bin_ in np.nonzero(hist)[0]:
        index, blue = divmod(int(bin_), 256)
        if index == 0:
            continue  # pixels of pairs known from the first pass (or not counted)
        pair = pairs[index - 1]
        found[(pair >> 8, pair & 255, blue)] = int(hist[bin_])
    return found


def with_colour_counted(path: Path, counts: ColourCounts, colour: Colour) -> ColourCounts:
    """Counts that surely include ``colour``: when the counts are a lower bound and the colour is
    not among them, count its pixels with one streaming pass ``(image == colour).bandand()``."""
    if counts.exact or colour in counts.counts:
        return counts
    try:
        image = _open(path)
        rgb = image[0:3] if image.bands >= 3 else image[0].bandjoin([image[0], image[0]])
        pixels = int(round((rgb == list(colour)).bandand().avg() / 255 * image.width * image.height))
    except pyvips.Error as error:
        raise InputError(f"cannot decode: {vips_reason(error)}", path) from error
    if pixels == 0:
        return replace(counts, absent=counts.absent | {colour})
    return replace(counts, counts={**counts.counts, colour: pixels})
