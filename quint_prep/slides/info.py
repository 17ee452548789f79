"""Slides as the rest of quint-prep sees images: an ``ImageInfo`` and a lazy level image."""

from __future__ import annotations

from pathlib import Path

import pyvips

from quint_prep.scale import Size
from quint_prep.series import ImageInfo, source_bytes
from quint_prep.slides import Slide, open_slide


def slide_info(path: Path, scene: int | None = None) -> ImageInfo:
    """The header of a scanner file (one scene of it when ``scene`` is given), no pixels read."""
    file_bytes = source_bytes(path)
    slide = open_slide(path, scene)
    try:
        return info_of(slide, file_bytes)
    finally:
        slide.close()


def info_of(slide: Slide, file_bytes: int) -> ImageInfo:
    """An ``ImageInfo`` describing an opened slide (level_kind "slide")."""
    pixel = slide.pixel_size_um
    return ImageInfo(
        path=slide.path, format=slide.format, size=slide.size, bands=slide.bands,
        sample_format=slide.sample_format, interpretation=slide.interpretation,
        tiled=True, tile_size=Size(slide.tile, slide.tile),
        levels=tuple(level.size for level in slide.levels),
        level_pages=tuple(range(len(slide.levels))), level_kind="slide", pages=1,
        interlaced=False, file_bytes=file_bytes,
        pixels_per_mm=1000.0 / pixel[0] if pixel else None,
        channel_names=slide.channels if any(slide.channels) else (),
        pixel_size=pixel, scenes=slide.scenes, scene=slide.scene, associated=slide.associated)


def open_slide_level(info: ImageInfo, level: int = 0,
                     box_shrink: tuple[int, int] | None = None) -> pyvips.Image:
    """A lazy image of one level of the slide ``info`` describes (its scene, if one), box-shrunk
    by ``box_shrink`` = (kx, ky) when given (``Slide.shrunk_image``)."""
    slide = open_slide(info.path, info.scene)
    return slide.shrunk_image(level, *box_shrink) if box_shrink else slide.level_image(level)
