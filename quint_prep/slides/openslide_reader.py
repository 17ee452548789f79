"""SVS, NDPI, MRXS, SCN, BIF, VMS, Philips TIFF and DICOM WSI through OpenSlide 4
(openslide-python with the openslide-bin library: no system package needed).

Levels are OpenSlide's pyramid levels; associated pictures (label, macro, thumbnail) are listed
but never used as a level. ``read_region`` gives RGBA with alpha 0 outside the scanned area:
it is flattened onto white here, so a slide's empty glass is white as on screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips

from quint_prep.errors import InputError
from quint_prep.scale import Size
from quint_prep.slides import Level, Slide, check_scene, missing_library
from quint_prep.slides.tiffstream import (READ_AHEAD, READ_THREADS, TiffStream, shrink_block,
                                         stream_image)


SHRUNK_TILE = 256  # px: virtual tiles of a box-shrunk level (1024 px regions at 1/4)


def _reason(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _flatten_white(region) -> np.ndarray:
    """A PIL RGBA region (straight alpha) onto white, as uint8 RGB (opaque ones by PIL alone)."""
    if region.getchannel("A").getextrema()[0] == 255:
        return np.asarray(region.convert("RGB"))
    rgba = np.asarray(region)
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _mpp(properties) -> tuple[float, float] | None:
    try:
        x = float(properties.get("openslide.mpp-x", 0) or 0)
        y = float(properties.get("openslide.mpp-y", 0) or 0) or x
    except ValueError:
        return None
    return (x, y) if x > 0 and y > 0 else None


class OpenSlideSlide(Slide):
    """One slide OpenSlide reads."""

    def __init__(self, path: Path, handle, vendor: str) -> None:
        self.path, self._handle = path, handle
        self.format = vendor
        self.levels = tuple(Level(Size(int(w), int(h)), float(ds)) for (w, h), ds in
                            zip(handle.level_dimensions, handle.level_downsamples))
        self.pixel_size_um = _mpp(handle.properties)
        self.associated = tuple(sorted(handle.associated_images))
        self.channels = ("",) * 3

    @classmethod
    def open(cls, path: Path, scene: int | None = None) -> "OpenSlideSlide":
        """Open the slide (reads its directory, no pixels)."""
        check_scene(path, (), scene)
        try:
            import openslide
        except (ImportError, OSError) as error:
            raise missing_library(path, "openslide-bin", error) from error
        try:
            vendor = openslide.OpenSlide.detect_format(str(path))
            if vendor is None:
                raise InputError("OpenSlide does not recognise this file as a slide it reads",
                                 path)
            return cls(path, openslide.OpenSlide(str(path)), vendor)
        except InputError:
            raise
        except Exception as error:  # OpenSlideError, OpenSlideUnsupportedFormatError, OSError
            raise InputError(f"cannot read slide: {_reason(error)}", path) from error

    def _reader(self, level: int):
        downsample = self.levels[level].downsample

        def block(x: int, y: int, w: int, h: int) -> np.ndarray:
            location = (int(round(x * downsample)), int(round(y * downsample)))
            try:
                region = self._handle.read_region(location, level, (w, h))
            except Exception as error:
                raise InputError(f"cannot read slide pixels at level {level}, {w}x{h}+{x}+{y}: "
                                 f"{_reason(error)}", self.path) from error
            return _flatten_white(region)
        return block

    def level_image(self, level: int = 0) -> pyvips.Image:
        """One pyramid level as a lazy image whose tiles OpenSlide reads on demand."""
        size = self.levels[level].size
        stream = TiffStream(size.width, size.height, 3, np.uint8, self._reader(level), tile=self.tile)
        stream.owner = self
        return stream_image(stream)

    def shrunk_image(self, level: int, kx: int, ky: int) -> pyvips.Image:
        """The level box-shrunk by kx x ky while it is read: each 256 px virtual tile is an
        aligned (kx * 256) x (ky * 256) region from OpenSlide, box-averaged by libvips (the same
        pixels as the whole-level shrink); the next tiles are read ahead by two threads
        (OpenSlide is thread-safe and its ctypes calls release the GIL). Only level 0: a
        reduced level's downsample is rarely whole, and OpenSlide interpolates a region that
        starts between two of its pixels, so other regions would give (slightly) other pixels
        than the level's own tiles."""
        if level != 0 or (kx <= 1 and ky <= 1):
            return super().shrunk_image(level, kx, ky)
        size = self.levels[level].size
        read = self._reader(level)

        def block(x: int, y: int, w: int, h: int) -> np.ndarray:
            left, top = x * kx, y * ky
            return shrink_block(read(left, top, min(w * kx, size.width - left),
                                     min(h * ky, size.height - top)), kx, ky)

        stream = TiffStream(-(-size.width // kx), -(-size.height // ky), 3, np.uint8, block,
                            tile=SHRUNK_TILE, read_ahead=READ_AHEAD, workers=READ_THREADS)
        stream.owner = self
        return stream_image(stream)

    def close(self) -> None:
        """Close the slide."""
        self._handle.close()
