"""Write a mask PNG and count its objects in ONE pass over the selection.

The 0/255 selection is computed once, strip by strip (``components.strips``, in 512-column
blocks); each strip is labelled for the object count (``components.ComponentCounter``), its
instance ids counted when they come along (the census of ``instances.label_census``), and it
is handed to libvips' PNG encoder through a pipe, as an uncompressed grey PNG stream that
``pngload_source`` reads sequentially; libvips colours it and encodes the output PNG exactly
as ``masks.write_mask_png`` did (same pixels, resolution and options: byte-identical files).

Counting the selection is counting the written PNG: every object pixel is written in the
object colour and every other pixel in the background colour, which differs from it. So the
PNG is not read back and labelled a second time, and the decode that computes the selection
also gives the census. Memory: a few strips, whatever the image size.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyvips

from quint_prep.masks.components import ComponentCounter, ComponentStats, strips
from quint_prep.masks.instances import LabelCensus

Progress = Callable[[float], None]
Save = Callable[[pyvips.Image, Path], None]

STRIP_PIXELS = 1_000_000  # pixels per strip (as masks.counts: memory of long pipelines)
PIPE_BYTES = 1 << 20  # asked-for pipe buffer (Linux; the default 64 KB also works)


@dataclass(frozen=True)
class StreamedCounts:
    """What one pass over a selection counted."""

    objects: ComponentStats
    census: LabelCensus | None  # of the ids fetched with the selection (None: none given)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)))


class _Census:
    def __init__(self, bins: int) -> None:
        self.histogram = np.zeros(bins, np.int64)

    def add(self, strip: np.ndarray) -> None:
        """Count the ids in band 0 of a (height x width x bands) uint8/uint16 strip."""
        height, width, bands = strip.shape
        image = pyvips.Image.new_from_memory(np.ascontiguousarray(strip).data, width, height,
                                             bands, "uchar" if strip.dtype == np.uint8
                                             else "ushort")
        counts = image.hist_find(band=0).numpy().ravel()  # twice as fast as np.bincount
        self.histogram[:len(counts)] += counts

    def result(self) -> LabelCensus:
        found = self.histogram[1:]
        return LabelCensus(int(np.count_nonzero(found)), int(found.sum()))


def census_fits(ids: pyvips.Image | None) -> bool:
    """True when ids can be counted along with the selection (8- or 16-bit ids)."""
    return ids is not None and str(ids.format) in ("uchar", "ushort")


def count_pass(selection: pyvips.Image, ids: pyvips.Image | None = None,
               sink: Callable[[np.ndarray], None] | None = None) -> StreamedCounts:
    """Objects of ``selection`` (one-band 0/255) and, with ``ids`` (8/16-bit, same size, from
    the same decode), their census; every strip of the selection also goes to ``sink``."""
    image = selection if ids is None else ids.bandjoin(selection.cast(ids.format))
    counter = ComponentCounter(selection.width)
    census = _Census(256 if ids is not None and ids.format == "uchar" else 65536) \
        if ids is not None else None
    for strip in strips(image, max(8, STRIP_PIXELS // max(1, selection.width))):
        mask = strip[..., -1].astype(np.uint8, copy=False)
        counter.add(mask)
        if census is not None:
            census.add(strip)
        if sink is not None:
            sink(mask)
    return StreamedCounts(counter.stats(), census.result() if census is not None else None)


def write_counted(selection: pyvips.Image, output: Path, colour: list[int],
                  background: list[int], save: Save, ids: pyvips.Image | None = None,
                  on_progress: Progress | None = None) -> StreamedCounts:
    """Write ``selection`` as the two-colour PNG ``output`` with ``save`` and count it in the
    same pass (see the module docstring). Raises pyvips.Error when decoding or encoding fails."""
    width, height = selection.width, selection.height
    read_end, write_end = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass
    stop = threading.Event()
    outcome: dict[str, object] = {}

    def produce() -> None:
        try:
            with os.fdopen(write_end, "wb", buffering=0) as pipe:
                pipe.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(
                    ">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
                packer = zlib.compressobj(0)  # stored: the pipe needs no compression
                filtered = np.zeros((0, width + 1), np.uint8)

                def send(mask: np.ndarray) -> None:
                    nonlocal filtered
                    if stop.is_set():
                        raise _Stopped()
                    if filtered.shape[0] != mask.shape[0]:
                        filtered = np.zeros((mask.shape[0], width + 1), np.uint8)
                    filtered[:, 1:] = mask  # filter byte 0 (none) before every row
                    data = packer.compress(filtered.data)
                    if data:
                        pipe.write(_chunk(b"IDAT", data))

                outcome["counts"] = count_pass(selection, ids, send)
                pipe.write(_chunk(b"IDAT", packer.flush()) + _chunk(b"IEND", b""))
        except BaseException as error:  # raised by write_counted, after the encoder stopped
            outcome["error"] = error

    producer = threading.Thread(target=produce, name="mask-strips", daemon=True)
    producer.start()
    try:
        try:
            source = pyvips.Source.new_from_descriptor(read_end)
            streamed = pyvips.Image.new_from_source(source, "", access="sequential")
            image = streamed.copy(xres=selection.xres, yres=selection.yres)
            image = image.ifthenelse(colour, background).cast("uchar").copy(
                interpretation="srgb")
            if on_progress is not None:
                image.set_progress(True)
                image.signal_connect("eval", lambda _i, progress: on_progress(
                    progress.percent / 100))
            save(image, output)
        finally:
            stop.set()
            _drain(read_end)  # lets the producer finish its last write and close the pipe
            producer.join()
            os.close(read_end)
    except BaseException:
        error = outcome.get("error")
        if isinstance(error, BaseException) and not isinstance(error, (_Stopped, BrokenPipeError)):
            raise error from None  # the decode failed: say so, not "truncated PNG"
        raise
    error = outcome.get("error")
    if isinstance(error, BaseException):
        raise error
    counts = outcome["counts"]
    assert isinstance(counts, StreamedCounts)
    return counts


class _Stopped(Exception):
    """The encoder stopped reading (it failed or was interrupted)."""


def _drain(descriptor: int) -> None:
    while True:
        try:
            if not os.read(descriptor, 1 << 16):
                return
        except OSError:
            return
