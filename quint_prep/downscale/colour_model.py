"""One colour model per series: every output of a downscale has the same bands and bit depth.

ilastik needs every image of a project to have the same channels, and QuickNII wants 24-bit
RGB, so a series of colour and grey sections must not come out as a mix of 3-band and 1-band
files. The model is decided for the whole series from the headers before anything is written
(``series_colour_model``) and applied at the end of each image's pipeline
(``to_colour_model``, ``to_depth``), after the image is already small.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pyvips

from quint_prep.choices import ColourModel  # light: for --help
from quint_prep.series import ImageInfo


def colour_bands(info: ImageInfo, channels: Sequence[str] | None = None) -> int:
    """How many colour bands an image's output has before the model (alpha not counted)."""
    if channels:
        return len(channels)
    return info.bands - (1 if info.has_alpha else 0)


def series_colour_model(infos: Iterable[ImageInfo], requested: ColourModel = ColourModel.AUTO,
                        channels: Sequence[str] | None = None) -> ColourModel:
    """The one colour model of a series (never ``auto``): the requested one, or for ``auto``
    RGB when any image has three or more colour bands, grey otherwise."""
    if requested is not ColourModel.AUTO:
        return requested
    colour = any(colour_bands(info, channels) >= 3 for info in infos)
    return ColourModel.RGB if colour else ColourModel.GREY


def series_bit_depth(infos: Iterable[ImageInfo], keep_depth: bool) -> int:
    """The one bit depth of a series' outputs: 8, or 16 when depth is kept and any image is
    16-bit (its 8-bit sections are then scaled up by 257, which maps 255 to 65535)."""
    if keep_depth and any(info.sample_format == "ushort" for info in infos):
        return 16
    return 8


def _interpretation(bands: int, sixteen: bool) -> str:
    if bands >= 3:
        return "rgb16" if sixteen else "srgb"
    return "grey16" if sixteen else "b-w"


def to_colour_model(image: pyvips.Image, model: ColourModel) -> pyvips.Image:
    """Bring one image to the series' colour model: grey copied into R, G and B, or colour to
    its luminance (libvips ``colourspace``); an alpha band is kept. Other band counts (and
    ``auto``) pass unchanged."""
    if model is ColourModel.AUTO:
        return image
    alpha = None
    colour = image
    if image.hasalpha() and image.bands in (2, 4):
        colour, alpha = image.extract_band(0, n=image.bands - 1), image.extract_band(image.bands - 1)
    sixteen = colour.format == "ushort"
    if model is ColourModel.RGB and colour.bands == 1:
        colour = colour.bandjoin([colour, colour]).copy(interpretation=_interpretation(3, sixteen))
    elif model is ColourModel.GREY and colour.bands == 3:
        colour = colour.copy(interpretation=_interpretation(3, sixteen))
        colour = colour.colourspace(_interpretation(1, sixteen))
    else:
        return image
    return colour if alpha is None else colour.bandjoin(alpha.cast(colour.format))


def to_depth(image: pyvips.Image, bit_depth: int | None) -> pyvips.Image:
    """Bring an 8-bit image up to a 16-bit series (x * 257); anything else passes unchanged."""
    if bit_depth != 16 or image.format != "uchar":
        return image
    promoted = image.linear(257, 0).cast("ushort")
    colour_bands_ = image.bands - (1 if image.bands in (2, 4) else 0)
    return promoted.copy(interpretation=_interpretation(colour_bands_, True))
