"""Resampling of section images: how a source is opened, shrunk and brought to 8 bits.

Every step is a lazy libvips operation, so a pipeline streams the image in strips or tiles and
memory stays bounded whatever the image size. Nothing here writes files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import pyvips

from quint_prep.choices import Method  # light: for --help
from quint_prep.downscale.colour_model import ColourModel, to_colour_model, to_depth
from quint_prep.errors import InputError
from quint_prep.downscale.normalise import Window, apply_window, select_channels
from quint_prep.scale import Size
from quint_prep.series import DECODE_FAIL_ON, ImageInfo, level_options, open_source


@dataclass(frozen=True)
class LoadPlan:
    """How to open a source so that no more pixels are decoded than the target needs."""

    options: dict
    description: str
    size: Size  # the size of what is decoded (level 0, a pyramid level, or JPEG shrunk on load)


def plan_load(info: ImageInfo, target: Size, box_shrink: bool = False) -> LoadPlan:
    """Pick the stored pyramid level or JPEG shrink-on-load closest above the target size.

    ``box_shrink``: the caller box-shrinks by the integer part of the scale next (``area``), so
    a scanner slide may do that while it is read (``Slide.shrunk_image``: the same pixels,
    fewer of them through libvips); not for a crop, whose boxes start at the crop.
    """
    plan = _plan_level(info, target)
    if not (box_shrink and info.is_slide and info.crop is None):
        return plan
    kx, ky = plan.size.width // target.width, plan.size.height // target.height
    if kx < 2 and ky < 2:
        return plan
    return LoadPlan({**plan.options, "box_shrink": (max(1, kx), max(1, ky))},
                    f"{plan.description}, box shrink {max(1, kx)}x{max(1, ky)} while read",
                    plan.size)


def _plan_level(info: ImageInfo, target: Size) -> LoadPlan:
    if len(info.levels) > 1:
        for index in range(len(info.levels) - 1, 0, -1):
            level = info.levels[index]
            if level.width >= target.width and level.height >= target.height:
                return LoadPlan(level_options(info, index), f"pyramid level {index} ({level})",
                                level)
    if info.format == "jpeg":
        for shrink in (8, 4, 2):
            if (math.ceil(info.size.width / shrink) >= target.width
                    and math.ceil(info.size.height / shrink) >= target.height):
                shrunk = Size(math.ceil(info.size.width / shrink), math.ceil(info.size.height / shrink))
                return LoadPlan({"shrink": shrink}, f"JPEG shrink-on-load 1/{shrink}", shrunk)
    return LoadPlan({}, "full resolution", info.size)


def shrink_then_reduce(image: pyvips.Image, target: Size, kernel: str) -> pyvips.Image:
    """Box ``shrinkh``/``shrinkv`` by the integer part of the scale (every source pixel counts
    once: area-correct), then ``reduceh``/``reducev`` with ``kernel`` for the remaining fraction.

    Used for images (lanczos3) and, on float 0/255 selections, for label-safe mask averages
    (linear). The result may be a pixel off the target: follow with ``exact_size``.
    """
    hscale = image.width / target.width
    vscale = image.height / target.height
    if int(hscale) > 1:
        image = image.shrinkh(int(hscale), ceil=True)
    if int(vscale) > 1:
        image = image.shrinkv(int(vscale), ceil=True)
    if image.width > target.width:
        image = image.reduceh(image.width / target.width, kernel=kernel)
    if image.height > target.height:
        image = image.reducev(image.height / target.height, kernel=kernel)
    return image


def _area(image: pyvips.Image, target: Size) -> pyvips.Image:
    return shrink_then_reduce(image, target, "lanczos3")


def _lanczos3(image: pyvips.Image, target: Size) -> pyvips.Image:
    return image.resize(target.width / image.width, vscale=target.height / image.height,
                        kernel="lanczos3")


RESAMPLERS: dict[Method, Callable[[pyvips.Image, Size], pyvips.Image]] = {
    Method.AREA: _area,
    Method.LANCZOS3: _lanczos3,
}


def exact_size(image: pyvips.Image, target: Size) -> pyvips.Image:
    """Crop or extend (by copying the edge) so the image is exactly the target size.

    Kernels may round a side one pixel off; this settles it without resampling.
    """
    if image.width == target.width and image.height == target.height:
        return image
    if image.width >= target.width and image.height >= target.height:
        return image.crop(0, 0, target.width, target.height)
    return image.embed(0, 0, target.width, target.height, extend="copy")


def to_displayable(image: pyvips.Image, keep_alpha: bool) -> pyvips.Image:
    """Bring colour to sRGB or grey, and flatten alpha onto white unless it is kept.

    Alpha is flattened BEFORE resampling so edges are not darkened by unpremultiplied colour.
    """
    interpretation = str(image.interpretation)
    if interpretation in ("cmyk", "lab", "labs", "lch", "xyz", "hsv", "yxy", "cmc", "scrgb"):
        image = image.colourspace("srgb")
    if image.hasalpha() and not keep_alpha:
        white = 65535 if image.format == "ushort" else 255
        image = image.flatten(background=[white] * (image.bands - 1))
    return image


def to_8bit(image: pyvips.Image) -> pyvips.Image:
    """Scale 16-bit samples to 8 bits over the full range (x / 257, rounded), never clipping."""
    if image.format == "uchar":
        return image
    if image.format == "ushort":
        image = image.linear(1 / 257, 0.5).cast("uchar")
    else:
        raise InputError(f"{image.format} samples cannot be brought to 8 bits")
    interpretation = "b-w" if image.bands <= 2 else "srgb"
    return image.copy(interpretation=interpretation)


def check_sample_format(info: ImageInfo, windowed: bool) -> None:
    """Refuse sample formats quint-prep cannot scale faithfully, naming the file."""
    if info.sample_format not in ("uchar", "ushort") and not windowed:
        raise InputError(
            f"{info.bit_depth}-bit {info.sample_format} samples need an intensity window: "
            "use --normalise fixed:LO,HI, or export the section as 8- or 16-bit integer TIFF",
            info.path,
        )


def _finish_samples(image: pyvips.Image, window: Window | None, keep_depth: bool) -> pyvips.Image:
    if window is None:
        return image if keep_depth else to_8bit(image)
    if image.hasalpha() and image.bands in (2, 4):
        colour = image.extract_band(0, n=image.bands - 1)
        alpha = to_8bit(image.extract_band(image.bands - 1))
        return apply_window(colour, window).bandjoin(alpha)
    return apply_window(image, window)


def downscale_pipeline(info: ImageInfo, target: Size, method: Method, *, keep_depth: bool = False,
                       keep_alpha: bool = False, window: Window | None = None,
                       channels: Sequence[str] | None = None,
                       colour: ColourModel = ColourModel.AUTO,
                       bit_depth: int | None = None) -> tuple[pyvips.Image, LoadPlan]:
    """Build the lazy pipeline that turns one source into its target-size image.

    Order: load (pyramid level / shrink-on-load) -> pick channels -> sRGB/flatten alpha ->
    resample -> exact size -> intensity window (or plain 16->8 bit scaling) -> the series'
    colour model and bit depth (on the small image). Returns the pipeline (nothing is decoded
    until it is written) and the load plan used.
    """
    check_sample_format(info, window is not None)
    plan = plan_load(info, target, box_shrink=method is Method.AREA)
    # A cut-off or undecodable file is an error, not an image with a grey tail or garbage.
    image = open_source(info, fail_on=DECODE_FAIL_ON, **plan.options)
    if info.crop is not None:  # a plan row: its box, on the level that was opened
        image = info.crop.on(image)
    image = select_channels(image, channels, info.path)
    image = to_displayable(image, keep_alpha)
    image = RESAMPLERS[method](image, target)
    image = exact_size(image, target)
    image = to_colour_model(_finish_samples(image, window, keep_depth), colour)
    return to_depth(image, bit_depth), plan


# Memory of a pipeline, for the parallel runs' budget.
# libvips streams, so memory grows with the WIDTH of the decoded level (every pipeline stage
# keeps a few lines or a strip of tiles of it, per thread), not with its height. Measured
# (peak RSS of one process, 8-bit RGB striped LZW, factor 0.1, libvips 8.18): 20000 px wide
# 65 MB (area) / 94-112 MB (lanczos3, 1-2 threads); 60000 px wide 141 MB / 226-282 MB, i.e.
# ~27 MB for Python + libvips, plus per decoded column ~1.9 KB (area) or 3.3-4.3 KB
# (lanczos3). The estimate below is deliberately generous (about 1.5-2x): 100 MB per worker
# plus 3.5 KB (area) or 6 KB (lanczos3) per column, scaled by bands and bit depth.
WORKER_BYTES = 100 * 1024**2
BYTES_PER_COLUMN = {Method.AREA: 3500, Method.LANCZOS3: 6000}


def estimate_memory(info: ImageInfo, target: Size, method: Method) -> int:
    """A generous guess of the peak memory (bytes) one image needs while it is downscaled."""
    decoded = plan_load(info, target).size
    per_column = BYTES_PER_COLUMN[method] * max(info.bands, 3) / 3 * info.bit_depth / 8
    return int(WORKER_BYTES + decoded.width * per_column)
