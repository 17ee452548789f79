"""One way to open every image quint-prep reads: TIFF/JPEG/PNG through libvips, scanner slides
(CZI, SVS, NDPI, MRXS, SCN, BIF, DICOM WSI, ...) through their vendors' libraries.

The interface (stable: other modules and branches build on it)::

    slide = open_slide(path, scene=None)       # raises InputError naming the file
    slide.format                               # "tiff", "jpeg", "png", "czi", "aperio", ...
    slide.levels                               # (Level(size, downsample), ...), level 0 first
    slide.scenes                               # (Scene(index, name, size, position), ...)
    slide.scene                                # the scene this Slide shows (None: the whole file)
    slide.pixel_size_um                        # (x, y) micrometres per level-0 pixel, or None
    slide.channels                             # channel names ("" for unnamed), one per band
    slide.bands, slide.sample_format           # libvips band count and format ("uchar", ...)
    slide.associated                           # names of label/macro/thumbnail pictures
    slide.level_image(level)                   # lazy pyvips.Image of a whole level
    slide.shrunk_image(level, kx, ky)          # the level box-shrunk (shrinkh/shrinkv, ceil)
    slide.read_region(level, x, y, w, h)       # lazy pyvips.Image of a crop (level coords)

``level_image`` never decodes a whole level: for vendor formats it is a virtual tiled TIFF
whose tiles are read from the library on demand (``tiffstream``), so any libvips pipeline
(crop, box shrink, reduce, histogram) streams it in bounded memory. Colour images come out as
R, G, B (CZI's B,G,R order is swapped; OpenSlide's alpha is flattened onto white); scene
positions and crops are in level-0 pixels of the file (scenes) and of the level (crops).
Associated pictures (label, macro) are never levels.

Vendor libraries are imported only when such a file is opened, so start-up stays fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import pyvips

from quint_prep.errors import InputError
from quint_prep.scale import Size

# Suffix -> reader module (imported lazily) for files libvips cannot read itself.
CZI_SUFFIXES = {".czi"}
OPENSLIDE_SUFFIXES = {".svs", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".vmu", ".dcm"}
SLIDE_SUFFIXES = CZI_SUFFIXES | OPENSLIDE_SUFFIXES  # .vsi: see series.UNSUPPORTED_SUFFIXES
TILE_SIZE = 512  # px: tiles of the virtual TIFF a vendor level is streamed through


@dataclass(frozen=True)
class Level:
    """One stored resolution: its size and how much smaller than level 0 it is."""

    size: Size
    downsample: float


@dataclass(frozen=True)
class Scene:
    """One scan region of a multi-scene file (CZI): index, name, size and position (level-0 px)."""

    index: int
    name: str
    size: Size
    position: tuple[int, int]

    def to_json(self) -> dict:
        """JSON form (``inspect --json``)."""
        return {"index": self.index, "name": self.name, "width": self.size.width,
                "height": self.size.height, "x": self.position[0], "y": self.position[1]}


class Slide(ABC):
    """An opened image file: levels, scenes, pixel size and lazy pixel access (see module doc)."""

    path: Path
    format: str
    levels: tuple[Level, ...]
    scenes: tuple[Scene, ...] = ()
    scene: int | None = None
    pixel_size_um: tuple[float, float] | None = None
    channels: tuple[str, ...] = ()
    associated: tuple[str, ...] = ()
    bands: int = 3
    sample_format: str = "uchar"
    interpretation: str = "srgb"
    tile: int = TILE_SIZE  # px: the side of the virtual TIFF's tiles a level is streamed in

    @property
    def size(self) -> Size:
        """Level-0 size."""
        return self.levels[0].size

    @abstractmethod
    def level_image(self, level: int = 0) -> pyvips.Image:
        """The whole level as a lazy libvips image (random access, nothing decoded yet)."""

    def shrunk_image(self, level: int, kx: int, ky: int) -> pyvips.Image:
        """The level box-shrunk by kx x ky (``shrinkh(kx, ceil=True)``, ``shrinkv(ky,
        ceil=True)``); a reader may make it while it reads (CZI), the pixels are the same."""
        image = self.level_image(level)
        if kx > 1:
            image = image.shrinkh(kx, ceil=True)
        if ky > 1:
            image = image.shrinkv(ky, ceil=True)
        return image

    def read_region(self, level: int, x: int, y: int, width: int, height: int) -> pyvips.Image:
        """A crop of a level (coordinates in that level's pixels), lazy like ``level_image``."""
        size = self.levels[level].size
        if x < 0 or y < 0 or width < 1 or height < 1 or x + width > size.width \
                or y + height > size.height:
            raise InputError(f"region {width}x{height}+{x}+{y} is outside level {level} "
                             f"({size})", self.path)
        return self.level_image(level).crop(x, y, width, height)

    def close(self) -> None:
        """Release the file (images already made keep what they need)."""


def is_slide_file(path: Path) -> bool:
    """True when the file is read by a vendor library rather than libvips."""
    return Path(path).suffix.lower() in SLIDE_SUFFIXES


def open_slide(path: Path, scene: int | None = None) -> Slide:
    """Open any image quint-prep reads; ``scene`` picks one scene of a multi-scene file.

    Raises InputError (naming the file and the reason) when it cannot be read, and when a
    vendor library is missing (saying what to install).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CZI_SUFFIXES:
        from quint_prep.slides.czi_reader import CziSlide
        return CziSlide.open(path, scene)
    if suffix in OPENSLIDE_SUFFIXES:
        from quint_prep.slides.openslide_reader import OpenSlideSlide
        return OpenSlideSlide.open(path, scene)
    from quint_prep.slides.vips_reader import VipsSlide
    return VipsSlide.open(path, scene)


def check_scene(path: Path, scenes: tuple[Scene, ...], scene: int | None) -> None:
    """Refuse a scene number the file does not have."""
    if scene is None:
        return
    known = [s.index for s in scenes] or [0]
    if scene not in known:
        raise InputError(f"no scene {scene}: the file has scene(s) "
                         f"{', '.join(str(i) for i in known)}", path)


def missing_library(path: Path, package: str, error: Exception) -> InputError:
    """The one-line error for a vendor library that cannot be imported or loaded."""
    return InputError(f"cannot load {package} to read this file ({error}); install it with "
                      f"`pip install {package}`", path)
