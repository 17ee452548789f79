"""A vendor library's pixels as a lazy libvips image: a virtual uncompressed tiled BigTIFF.

pyvips cannot call Python to fill a region, but it can read a TIFF from a ``SourceCustom``
whose ``read`` and ``seek`` are Python. So a slide level is presented as a BigTIFF that never
exists on disk: the header and tile tables are built here, and when libtiff asks for the bytes
of tile ``i`` the tile is read from the vendor library (``read_block``) at that moment. libvips
then streams it like any tiled TIFF (random access, tile by tile): memory stays a few tiles,
and every libvips operation (crop, shrink, reduce, histograms) works unchanged.

A failure inside ``read_block`` is kept (``TiffStream.error``) and the read ends, so libvips
raises; the caller re-raises the kept error, which names the file and the reason.

With ``read_ahead`` > 0 the next tiles (in row order, the order libvips asks for them) are read
in worker threads while libvips works on the current ones; that pays only when ``read_block``
releases the GIL (libCZI's ``read`` and pyvips calls do: two threads read a CZI 1.9x faster).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np
import pyvips

from quint_prep.slides import TILE_SIZE as TILE

_TYPES = {"SHORT": 3, "LONG8": 16, "ASCII": 2}
KEPT_TILES = 4  # the last tiles read, for libtiff asking for a tile's bytes in several reads
BlockReader = Callable[[int, int, int, int], np.ndarray]  # (x, y, w, h) -> h x w x bands array


def _entry(tag: int, kind: str, values: list[int] | bytes, external: dict, cursor: list[int]) -> bytes:
    """One 20-byte BigTIFF IFD entry; values over 8 bytes go to ``external`` at ``cursor``."""
    if kind == "ASCII":
        payload, count = bytes(values), len(values)
    else:
        fmt = "<" + ("H" if kind == "SHORT" else "Q") * len(values)
        payload, count = struct.pack(fmt, *values), len(values)
    if len(payload) <= 8:
        field = payload.ljust(8, b"\0")
    else:
        offset = cursor[0]
        external[offset] = payload
        cursor[0] += len(payload) + (len(payload) & 1)
        field = struct.pack("<Q", offset)
    return struct.pack("<HHQ", tag, _TYPES[kind], count) + field


class TiffStream:
    """The bytes of a virtual tiled BigTIFF of a ``width`` x ``height`` level."""

    def __init__(self, width: int, height: int, bands: int, dtype: np.dtype,
                 read_block: BlockReader, description: str = "", tile: int = TILE,
                 read_ahead: int = 0, workers: int = 2) -> None:
        self.width, self.height, self.bands = width, height, bands
        self.dtype = np.dtype(dtype)
        self.read_block = read_block
        self.tile = tile
        self.across = -(-width // tile)
        self.down = -(-height // tile)
        self.tile_bytes = tile * tile * bands * self.dtype.itemsize
        self.header = self._header(description)
        self.size = len(self.header) + self.across * self.down * self.tile_bytes
        self.position = 0
        self.error: BaseException | None = None
        self.owner: object = None  # the vendor handle the reads need, kept alive with the image
        self._cache: OrderedDict[int, memoryview] = OrderedDict()
        self.read_ahead, self.workers = read_ahead, workers
        self._pending: OrderedDict[int, Future] = OrderedDict()  # tiles being read ahead
        self._pool: ThreadPoolExecutor | None = None

    def _header(self, description: str) -> bytes:
        """Header, IFD and tables; built twice, since the tile offsets follow the header."""
        first = self._layout(description, 0)
        data_start = len(first) + (-len(first)) % 16
        header = self._layout(description, data_start)
        return header + b"\0" * (data_start - len(header))

    def _layout(self, description: str, data_start: int) -> bytes:
        count = self.across * self.down
        colour = self.bands >= 3
        extra = self.bands - (3 if colour else 1)
        text = list(description.encode("ascii", "replace") + b"\0") if description else []
        tags: list[tuple[int, str, list[int]]] = [
            (256, "LONG8", [self.width]), (257, "LONG8", [self.height]),
            (258, "SHORT", [8 * self.dtype.itemsize] * self.bands), (259, "SHORT", [1]),
            (262, "SHORT", [2 if colour else 1])]
        if text:
            tags.append((270, "ASCII", text))
        tags += [(277, "SHORT", [self.bands]), (284, "SHORT", [1]),
                 (322, "SHORT", [self.tile]), (323, "SHORT", [self.tile]),
                 (324, "LONG8", [data_start + i * self.tile_bytes for i in range(count)]),
                 (325, "LONG8", [self.tile_bytes] * count)]
        if extra > 0:  # ExtraSamples "unspecified": libvips keeps them as plain bands
            tags.append((338, "SHORT", [0] * extra))
        tags.append((339, "SHORT", [1] * self.bands))
        cursor = [16 + 8 + 20 * len(tags) + 8]
        external: dict[int, bytes] = {}
        entries = b"".join(_entry(tag, kind, values, external, cursor) for tag, kind, values in tags)
        blob = bytearray(b"II" + struct.pack("<HHHQ", 43, 8, 0, 16))
        blob += struct.pack("<Q", len(tags)) + entries + struct.pack("<Q", 0)
        for offset in sorted(external):
            blob += b"\0" * (offset - len(blob)) + external[offset]
        return bytes(blob)

    def _tile(self, index: int) -> memoryview:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        pending = self._pending.pop(index, None)
        self._read_ahead_from(index + 1)
        data = pending.result() if pending is not None else self._make_tile(index)
        self._cache[index] = data
        if len(self._cache) > KEPT_TILES:  # libvips keeps the tiles it has read itself
            self._cache.popitem(last=False)
        return data

    def _read_ahead_from(self, first: int) -> None:
        """Start reading the ``read_ahead`` tiles from ``first`` on in the worker threads."""
        if self.read_ahead <= 0:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="quint-prep-read")
        for index in range(first, min(first + self.read_ahead, self.across * self.down)):
            if index not in self._pending and index not in self._cache:
                self._pending[index] = self._pool.submit(self._make_tile, index)
        while len(self._pending) > 2 * self.read_ahead:  # read ahead but never asked for (a crop)
            self._pending.popitem(last=False)[1].cancel()

    def _make_tile(self, index: int) -> memoryview:
        """Tile ``index`` as the bytes of a full tile (edge tiles padded with zeros)."""
        row, column = divmod(index, self.across)
        x, y = column * self.tile, row * self.tile
        w, h = min(self.tile, self.width - x), min(self.tile, self.height - y)
        block = np.asarray(self.read_block(x, y, w, h), dtype=self.dtype)
        block = block.reshape(h, w, self.bands)
        if (w, h) != (self.tile, self.tile):
            full = np.zeros((self.tile, self.tile, self.bands), dtype=self.dtype)
            full[:h, :w] = block
            block = full
        return memoryview(np.ascontiguousarray(block.astype(self.dtype.newbyteorder("<"), copy=False))
                          ).cast("B")

    def read(self, length: int) -> bytes | memoryview:
        """Up to ``length`` bytes from the current position (b"" at the end or after an error)."""
        if self.error is not None or self.position >= self.size:
            return b""
        start = self.position
        if start < len(self.header):
            chunk = self.header[start:start + length]
        else:
            index, within = divmod(start - len(self.header), self.tile_bytes)
            try:
                chunk = self._tile(index)[within:within + length]
            except Exception as error:  # noqa: BLE001 - kept and re-raised by the caller
                self.error = error
                return b""
        self.position += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int) -> int:
        """Move like ``io.IOBase.seek``; return the new position."""
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position


def stream_image(stream: TiffStream) -> pyvips.Image:
    """Open the virtual TIFF as a lazy libvips image (random access; tiles read on demand).

    The returned image keeps the stream (and so the vendor handle) alive while it exists.
    """
    source = pyvips.SourceCustom()
    source.on_read(stream.read)
    source.on_seek(stream.seek)
    image = pyvips.Image.new_from_source(source, "", access="random", fail_on="error")
    image._references.append(stream)  # pyvips passes references on to derived images
    return image


def stream_error(image: pyvips.Image) -> BaseException | None:
    """The error a vendor read raised while libvips computed ``image`` (or an image it was
    made from), or None: libvips itself only reports a TIFF read error."""
    for reference in getattr(image, "_references", ()):
        if isinstance(reference, TiffStream) and reference.error is not None:
            return reference.error
    return None
