"""Zeiss CZI through pylibCZIrw (Zeiss' own libCZI): brightfield B,G,R and fluorescence channels.

Pixels are read at full resolution in tiles (``CziReader.read`` with ``zoom`` left at 1: its
zoom subsamples, 5 grey levels off an area-correct reduction) and reduced by libvips.
Brightfield ``Bgr24``/``Bgr48`` is stored B,G,R and is turned into R,G,B here; areas no tile
covers are white for brightfield and 0 for fluorescence. A CZI pyramid is not used (level 0
only): the downscale still decodes every pixel once.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pyvips

from ..errors import InputError
from ..scale import Size
from . import Level, Scene, Slide, check_scene, missing_library
from .tiffstream import TiffStream, stream_image

CACHE_BYTES = 64 * 1024**2  # libCZI subblock cache: a tile row of typical subblocks
PIXEL_TYPES = {"Gray8": (1, np.uint8), "Gray16": (1, np.uint16), "Gray32Float": (1, np.float32),
               "Bgr24": (3, np.uint8), "Bgr48": (3, np.uint16)}
FORMATS = {np.dtype(np.uint8): "uchar", np.dtype(np.uint16): "ushort", np.dtype(np.float32): "float"}


def _czi_reason(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def _listed(node) -> list:
    return node if isinstance(node, list) else ([node] if node else [])


def _pixel_size(metadata: dict) -> tuple[float, float] | None:
    """Micrometres per pixel from ``Metadata/Scaling/Items/Distance`` (metres), None if absent."""
    try:
        distances = _listed(metadata["ImageDocument"]["Metadata"]["Scaling"]["Items"]["Distance"])
        values = {d["@Id"]: float(d["Value"]) * 1e6 for d in distances}
    except (KeyError, TypeError, ValueError):
        return None
    x, y = values.get("X", 0.0), values.get("Y", values.get("X", 0.0))
    return (x, y) if x > 0 and y > 0 else None


def _channel_names(metadata: dict, count: int) -> tuple[str, ...]:
    try:
        image = metadata["ImageDocument"]["Metadata"]["Information"]["Image"]
        channels = _listed(image["Dimensions"]["Channels"]["Channel"])
        names = [str(c.get("@Name") or "") for c in channels]
    except (KeyError, TypeError):
        names = []
    return tuple((names + [""] * count)[:count])


class CziSlide(Slide):
    """One CZI file (or one scene of it)."""

    def __init__(self, path: Path, reader, stack: contextlib.ExitStack, scene: int | None) -> None:
        self.path, self._reader, self._stack = path, reader, stack
        self.format = "czi"
        types = reader.pixel_types
        self._planes = sorted(types)
        kinds = {types[c] for c in self._planes}
        if len(kinds) != 1 or next(iter(kinds)) not in PIXEL_TYPES:
            raise InputError(f"CZI pixel types {sorted(kinds)} are not supported "
                             "(Gray8/16/32Float, Bgr24/48, one type for all channels)", path)
        self._kind = next(iter(kinds))
        per_plane, self._dtype = PIXEL_TYPES[self._kind]
        self._colour = per_plane == 3
        if self._colour and len(self._planes) > 1:
            raise InputError("CZI with several colour (Bgr) channels is not supported", path)
        self.bands = 3 if self._colour else len(self._planes)
        self.sample_format = FORMATS[np.dtype(self._dtype)]
        self.interpretation = ("rgb16" if self._dtype == np.uint16 else "srgb") if self._colour \
            else "multiband"
        metadata = reader.metadata
        self.pixel_size_um = _pixel_size(metadata)
        self.channels = ("",) * 3 if self._colour else _channel_names(metadata, self.bands)
        rects = reader.scenes_bounding_rectangle
        self.scenes = tuple(Scene(i, f"scene {i}", Size(r.w, r.h), (r.x, r.y))
                            for i, r in sorted(rects.items())) if len(rects) > 1 else ()
        check_scene(path, self.scenes, scene)
        self.scene = scene if self.scenes else None
        box = rects[scene] if self.scene is not None else reader.total_bounding_rectangle
        self._origin = (box.x, box.y)
        self.levels = (Level(Size(box.w, box.h), 1.0),)

    @classmethod
    def open(cls, path: Path, scene: int | None = None) -> "CziSlide":
        """Open the file and read its directory and metadata (no pixels)."""
        try:
            from pylibCZIrw import czi
        except (ImportError, OSError) as error:
            raise missing_library(path, "pylibCZIrw", error) from error
        stack = contextlib.ExitStack()
        try:
            options = czi.CacheOptions(type=czi.CacheType.Standard, max_memory_usage=CACHE_BYTES)
            reader = stack.enter_context(czi.open_czi(str(path), cache_options=options))
            return cls(path, reader, stack, scene)
        except InputError:
            stack.close()
            raise
        except Exception as error:  # libCZI raises RuntimeError and friends on damaged files
            stack.close()
            raise InputError(f"cannot read CZI: {_czi_reason(error)}", path) from error

    def _block(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        roi = (self._origin[0] + x, self._origin[1] + y, w, h)
        try:
            if self._colour:
                bgr = self._reader.read(roi=roi, plane={"C": self._planes[0]}, scene=self.scene,
                                        background_pixel=(1.0, 1.0, 1.0))
                return bgr[..., ::-1]
            planes = [self._reader.read(roi=roi, plane={"C": c}, scene=self.scene)[..., 0]
                      for c in self._planes]
            return np.stack(planes, axis=-1)
        except Exception as error:
            raise InputError(f"cannot read CZI pixels at {w}x{h}+{roi[0]}+{roi[1]}: "
                             f"{_czi_reason(error)}", self.path) from error

    def level_image(self, level: int = 0) -> pyvips.Image:
        """Level 0 (of the scene) as a lazy image whose tiles libCZI decodes on demand."""
        size = self.levels[level].size
        stream = TiffStream(size.width, size.height, self.bands, self._dtype, self._block,
                            description=ome_channels(self.channels) if not self._colour else "")
        stream.owner = self  # the reader stays open while any image made from it lives
        image = stream_image(stream)
        return image if self._colour else image.copy(interpretation="multiband")

    def close(self) -> None:
        """Close the CZI file."""
        self._stack.close()


def ome_channels(names: tuple[str, ...]) -> str:
    """A minimal OME-XML with channel names, so ``--channels NAME`` finds them as in OME-TIFF."""
    channels = "".join(f'<Channel ID="Channel:0:{i}" Name="{name}"/>' for i, name in enumerate(names))
    return f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image><Pixels>' \
           f'{channels}</Pixels></Image></OME>'
