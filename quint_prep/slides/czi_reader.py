"""Zeiss CZI through pylibCZIrw (Zeiss' own libCZI): brightfield B,G,R and fluorescence channels.

Pixels are read at full resolution in tiles (``CziReader.read`` with ``zoom`` left at 1: its
zoom subsamples, 5 grey levels off an area-correct reduction) and reduced by libvips.
Brightfield ``Bgr24``/``Bgr48`` is stored B,G,R and is turned into R,G,B tile by tile (numpy,
``bgr_to_rgb``), so the virtual TIFF is plain RGB; areas no tile
covers are white for brightfield and 0 for fluorescence.

A downscale by 1/k or more reads a box-shrunk level (``shrunk_image``): each virtual tile is
a k x k times larger region of level 0, box-averaged by libvips before it enters the virtual
TIFF, so 1/k^2 of the pixels go through libtiff and the pipeline, and two threads read ahead
(libCZI's ``read`` releases the GIL). The pixels are those of the whole-level box shrink. Stored pyramid layers (found in the
subblock directory) are levels, read at their own zoom (a copy, not a subsampling); the files
the tests can write have none, so that path rests on libCZI.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from quint_prep.errors import InputError
from quint_prep.scale import Size
from quint_prep.slides import Level, Scene, Slide, check_scene, missing_library
from quint_prep.slides.tiffstream import (FORMATS, READ_AHEAD, READ_THREADS, TiffStream,
                                         shrink_block, stream_image)

# libCZI's cache of decoded subblocks holds one row of subblocks across the image, so each is
# decoded once although the 256 px tile rows libvips asks for cut it several times; a
# box-shrunk level whose tile rows cut no subblock needs only the minimum.
MIN_CACHE, MAX_CACHE = 32 * 1024**2, 256 * 1024**2
PIXEL_TYPES = {"Gray8": (1, np.uint8), "Gray16": (1, np.uint16), "Gray32Float": (1, np.float32),
               "Bgr24": (3, np.uint8), "Bgr48": (3, np.uint16)}


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


def pyramid_zooms(zooms: list[float]) -> tuple[float, ...]:
    """The stored pyramid layers (zoom < 1, largest first) among the subblocks' zooms."""
    return tuple(sorted({round(z, 4) for z in zooms if 0 < z < 0.99}, reverse=True))


@dataclass(frozen=True)
class Survey:
    """What the subblock directory says (no pixels): the cache that holds one row of
    full-resolution subblocks across the file, the zooms of the stored pyramid layers, and
    the full-resolution subblocks' rows (y, h, bytes decoded) and most common side."""

    cache: int
    zooms: tuple[float, ...]
    rows: tuple[tuple[int, int, int], ...]
    side: int


def _survey(reader) -> Survey:
    """Read the subblock directory (no pixels)."""
    rows: list[tuple[int, int, int]] = []
    sides: Counter = Counter()
    zooms: list[float] = []

    def visit(_index: int, info) -> bool:
        zoom = float(info.get_zoom())
        if abs(zoom - 1.0) < 1e-3:
            rect = info.logicalRect
            rows.append((int(rect.y), int(rect.h), int(rect.w) * int(rect.h)))
            sides[int(rect.w)] += 1
            sides[int(rect.h)] += 1
        else:
            zooms.append(zoom)
        return True

    reader.enumerate_subblocks(visit)
    width = reader.total_bounding_rectangle.w
    per_pixel = max(PIXEL_TYPES.get(t, (1, np.uint16))[0] * np.dtype(PIXEL_TYPES.get(
        t, (1, np.uint16))[1]).itemsize for t in reader.pixel_types.values())
    tallest = max((h for _y, h, _n in rows), default=0)
    rows = [(y, h, n * per_pixel) for y, h, n in rows]
    return Survey(cache_size(width * tallest * per_pixel), pyramid_zooms(zooms), tuple(rows),
                  sides.most_common(1)[0][0] if sides else 0)


def shrunk_tile(side: int, kx: int, ky: int) -> int:
    """The tile of a box-shrunk virtual level: the first of 256, 512, 128 px whose source region
    (kx * tile by ky * tile) is a whole number of ``side`` px subblocks both ways, so each tile
    reads whole subblocks (256 first: 512 px tiles of 2048 px regions cost 60-80 MB more for
    no CPU measured), else ``CziSlide.tile``."""
    for tile in (256, 512, 128):
        if side > 0 and (kx * tile) % side == 0 and (ky * tile) % side == 0:
            return tile
    return CziSlide.tile


def cache_size(wanted: int) -> int:
    """libCZI's subblock cache for ``wanted`` bytes of decoded subblocks (+10%, clamped)."""
    return max(MIN_CACHE, min(MAX_CACHE, int(wanted * 1.1)))


def straddling_bytes(rows: tuple[tuple[int, int, int], ...], top: int, band: int) -> int:
    """The decoded bytes of the subblocks (y, h, bytes) that cross one boundary of the
    ``band`` px tall tile rows from ``top`` on, at the worst boundary: they are read by two
    tile rows, so libCZI's cache must keep them between the two (0: no subblock is cut)."""
    crossing: Counter = Counter()
    for y, h, size in rows:
        first, last = (y - top) // band, (y + h - 1 - top) // band
        for boundary in range(first, last):
            crossing[boundary] += size
    return max(crossing.values(), default=0)


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """A B,G,R block as R,G,B: one contiguous copy and two strided band copies (measured: a
    third of the cost of libvips' extract_band + bandjoin over the whole level, and a fifth of
    numpy's ``[..., ::-1]``)."""
    rgb = bgr.copy()
    rgb[..., 0] = bgr[..., 2]
    rgb[..., 2] = bgr[..., 0]
    return rgb


def _fit(block: np.ndarray, w: int, h: int, fill: float) -> np.ndarray:
    """Crop or pad (with ``fill``) a block read at a zoom to exactly h x w (rounding)."""
    if block.shape[0] == h and block.shape[1] == w:
        return block
    out = np.full((h, w) + block.shape[2:], fill, dtype=block.dtype)
    rows, columns = min(h, block.shape[0]), min(w, block.shape[1])
    out[:rows, :columns] = block[:rows, :columns]
    return out


class CziSlide(Slide):
    """One CZI file (or one scene of it)."""

    # libvips keeps two rows of the virtual TIFF's tiles, libCZI one row of subblocks: 256 px
    # tiles keep the first small across a 40000 px wide slide (62 MB, 124 MB with 512 px).
    tile = 256

    def __init__(self, path: Path, reader, stack: contextlib.ExitStack, scene: int | None,
                 survey: Survey | None = None) -> None:
        self.path, self._reader, self._stack = path, reader, stack
        self._survey = survey or Survey(MIN_CACHE, (), (), 0)
        zooms = self._survey.zooms
        self.format = "czi"
        types = reader.pixel_types
        self._plane_indices = sorted(types)
        kinds = {types[c] for c in self._plane_indices}
        if len(kinds) != 1 or next(iter(kinds)) not in PIXEL_TYPES:
            raise InputError(f"CZI pixel types {sorted(kinds)} are not supported "
                             "(Gray8/16/32Float, Bgr24/48, one type for all channels)", path)
        self._kind = next(iter(kinds))
        per_plane, self._dtype = PIXEL_TYPES[self._kind]
        self._colour = per_plane == 3
        if self._colour and len(self._plane_indices) > 1:
            raise InputError("CZI with several colour (Bgr) channels is not supported", path)
        self.bands = 3 if self._colour else len(self._plane_indices)
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
        # Stored pyramid layers are read with libCZI's zoom set to the layer's own zoom, so it
        # copies that layer's pixels instead of subsampling level 0.
        self._zooms = (1.0,) + zooms
        self.levels = tuple(Level(Size(max(1, round(box.w * z)), max(1, round(box.h * z))), 1 / z)
                            for z in self._zooms)

    @classmethod
    def open(cls, path: Path, scene: int | None = None) -> "CziSlide":
        """Open the file and read its directory and metadata (no pixels)."""
        try:
            from pylibCZIrw import czi
        except (ImportError, OSError) as error:
            raise missing_library(path, "pylibCZIrw", error) from error
        stack = contextlib.ExitStack()
        try:
            with czi.open_czi(str(path)) as probe:
                survey = _survey(probe)
            reader = stack.enter_context(_open_reader(path, survey.cache))
            return cls(path, reader, stack, scene, survey)
        except InputError:
            stack.close()
            raise
        except Exception as error:  # libCZI raises RuntimeError and friends on damaged files
            stack.close()
            raise InputError(f"cannot read CZI: {_czi_reason(error)}", path) from error

    def _planes(self, reader, level: int, x: int, y: int, w: int, h: int) -> list[np.ndarray]:
        """The pixels of a level region as libCZI gives them: one B,G,R block (brightfield) or
        one 2-D block per channel (fluorescence), each exactly h x w."""
        zoom = self._zooms[level]
        roi = (self._origin[0] + round(x / zoom), self._origin[1] + round(y / zoom),
               max(1, round(w / zoom)), max(1, round(h / zoom)))
        at = {} if level == 0 else {"zoom": zoom}
        try:
            if self._colour:
                bgr = reader.read(roi=roi, plane={"C": self._plane_indices[0]}, scene=self.scene,
                                  background_pixel=(1.0, 1.0, 1.0), **at)
                return [_fit(bgr, w, h, np.iinfo(self._dtype).max)]
            return [_fit(reader.read(roi=roi, plane={"C": c}, scene=self.scene, **at)[..., 0],
                         w, h, 0) for c in self._plane_indices]
        except Exception as error:
            raise InputError(f"cannot read CZI pixels at {w}x{h}+{roi[0]}+{roi[1]}: "
                             f"{_czi_reason(error)}", self.path) from error

    def _combined(self, planes: list[np.ndarray]) -> np.ndarray:
        return bgr_to_rgb(planes[0]) if self._colour else np.stack(planes, axis=-1)

    def _block(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        return self._combined(self._planes(self._reader, level, x, y, w, h))

    def level_image(self, level: int = 0) -> pyvips.Image:
        """A level (of the scene) as a lazy image whose tiles libCZI decodes on demand."""
        size = self.levels[level].size
        stream = TiffStream(size.width, size.height, self.bands, self._dtype,
                            lambda x, y, w, h: self._block(level, x, y, w, h),
                            description=ome_channels(self.channels) if not self._colour else "",
                            tile=self.tile)
        stream.owner = self  # the reader stays open while any image made from it lives
        image = stream_image(stream)
        return image.copy(interpretation=self.interpretation)

    def shrunk_image(self, level: int, kx: int, ky: int) -> pyvips.Image:
        """The level box-shrunk by kx x ky, made while it is read: each tile of the virtual
        TIFF is an aligned (kx * tile) x (ky * tile) region read from libCZI and box-averaged
        (libvips, the GIL released) before B,G,R becomes R,G,B on the small tile, and the next
        tiles are read ahead in two threads. The pixels are those of ``level_image(level)
        .shrinkh(kx, ceil=True).shrinkv(ky, ceil=True)``, bit for bit. Stored pyramid layers
        keep their own tiles (libCZI's zoomed reads of other regions could round otherwise;
        no file written here has layers to test it on)."""
        if level != 0 or (kx <= 1 and ky <= 1):
            return super().shrunk_image(level, kx, ky)
        size = self.levels[0].size
        tile = shrunk_tile(self._survey.side, kx, ky)
        # libCZI's cache keeps only the subblocks that two tile rows read (none when the rows
        # cut no subblock), at most a row of them (135 MB across a 40000 px Bgr24 slide).
        straddling = straddling_bytes(self._survey.rows, self._origin[1], ky * tile)
        reader = self._stack.enter_context(
            _open_reader(self.path, min(cache_size(straddling), self._survey.cache)))

        def block(x: int, y: int, w: int, h: int) -> np.ndarray:
            left, top = x * kx, y * ky
            planes = self._planes(reader, 0, left, top, min(w * kx, size.width - left),
                                  min(h * ky, size.height - top))
            return self._combined([shrink_block(plane, kx, ky) for plane in planes])

        stream = TiffStream(-(-size.width // kx), -(-size.height // ky), self.bands, self._dtype,
                            block, description=ome_channels(self.channels)
                            if not self._colour else "", tile=tile, read_ahead=READ_AHEAD,
                            workers=READ_THREADS)
        stream.owner = self
        return stream_image(stream).copy(interpretation=self.interpretation)

    def close(self) -> None:
        """Close the CZI file."""
        self._stack.close()


def _open_reader(path: Path, cache: int):
    """A libCZI reader (a context manager) whose subblock cache holds ``cache`` bytes."""
    from pylibCZIrw import czi
    options = czi.CacheOptions(type=czi.CacheType.Standard, max_memory_usage=cache)
    return czi.open_czi(str(path), cache_options=options)


def ome_channels(names: tuple[str, ...]) -> str:
    """A minimal OME-XML with channel names, so ``--channels NAME`` finds them as in OME-TIFF."""
    channels = "".join(f'<Channel ID="Channel:0:{i}" Name="{name}"/>' for i, name in enumerate(names))
    return f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image><Pixels>' \
           f'{channels}</Pixels></Image></OME>'
