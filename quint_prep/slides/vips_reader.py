"""TIFF (incl. OME-TIFF and pyramidal TIFF), JPEG and PNG behind the Slide interface, via libvips."""

from __future__ import annotations

from pathlib import Path

import pyvips

from quint_prep.series import DECODE_FAIL_ON, ImageInfo, open_image, read_info
from quint_prep.slides import Level, Slide, check_scene


class VipsSlide(Slide):
    """A file libvips reads itself; levels are its pyramid pages or subifds."""

    def __init__(self, info: ImageInfo) -> None:
        self.info = info
        self.path = info.path
        self.format = info.format
        self.levels = tuple(Level(size, info.size.width / size.width) for size in info.levels)
        micrometres = info.microns_per_pixel  # OME-XML sizes, else TIFF resolution tags
        self.pixel_size_um = info.pixel_size or (
            (micrometres, micrometres) if micrometres is not None else None)
        self.bands = info.bands
        self.sample_format = info.sample_format
        self.interpretation = info.interpretation
        self.channels = info.channel_names or ("",) * info.bands

    @classmethod
    def open(cls, path: Path, scene: int | None = None) -> "VipsSlide":
        """Read the header (no pixels decoded)."""
        check_scene(path, (), scene)
        return cls(read_info(path))

    def level_image(self, level: int = 0) -> pyvips.Image:
        """The stored level (page or subifd) with the file's streaming access mode."""
        options: dict = {}
        if level > 0:
            key = "subifd" if self.info.level_kind == "subifds" else "page"
            options[key] = self.info.level_pages[level]
        return open_image(self.path, access=self.info.access, fail_on=DECODE_FAIL_ON, **options)
