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
from typing import Callable, Iterator

import numpy as np
import pyvips

from quint_prep.masks.components import ComponentCounter, ComponentStats, run_ahead, strips
from quint_prep.masks.block_ids import BlockShrink, shrink_ids
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
    before: StreamedCounts | None = None  # at the source's size, when the pass shrank the ids


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


@dataclass(frozen=True)
class PassInput:
    """What one pass reads: the 0/255 ``selection`` (lazy), or, when ``ids`` (8/16-bit, the
    ids the selection is made of) are given, those ids, from which each strip's objects are
    computed in numpy: non-zero ids, ``separate``d as ``instances.separate_instances`` does.
    With ``shrink``, ``ids`` are the source's ids: each strip is counted at the source's size
    (the counts before resampling) and shrunk (``block_ids.shrink_ids``) to the selection's."""

    selection: pyvips.Image
    ids: pyvips.Image | None = None
    separate: bool = False
    shrink: BlockShrink | None = None  # ids are the source's, shrunk per strip (block_ids)


def separated_objects(ids: np.ndarray, below: np.ndarray | None, separate: bool) -> np.ndarray:
    """The objects (bool) of a strip of ids (height x width): non-zero ids, less, when
    ``separate``, every pixel whose right or lower 4-neighbour is another non-zero id (the
    rule of ``instances.separate_instances``); ``below`` is the row under the strip (None at
    the bottom of the image)."""
    objects = ids != 0
    if not separate:
        return objects
    touching = np.empty(ids.shape, bool)
    right, left = ids[:, 1:], ids[:, :-1]
    np.not_equal(right, left, out=touching[:, :-1])
    touching[:, :-1] &= objects[:, 1:]
    touching[:, -1] = False
    vertical = np.not_equal(ids[1:], ids[:-1])
    vertical &= objects[1:]
    touching[:-1] |= vertical
    if below is not None:
        touching[-1] |= (below != 0) & (below != ids[-1])
    objects &= ~touching
    return objects


def _with_row_below(strip_iterator: Iterator[np.ndarray],
                    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    previous = None
    for strip in strip_iterator:
        if previous is not None:
            yield previous, strip[0]
        previous = strip
    if previous is not None:
        yield previous, None


def count_pass(source: PassInput,
               sink: Callable[[np.ndarray], None] | None = None) -> StreamedCounts:
    """Objects of the selection and, with ids, their census, in one pass; every strip of
    objects (height x width, 0 = background, non-zero = object) also goes to ``sink``."""
    selection, ids = source.selection, source.ids
    counter = ComponentCounter(selection.width)
    rows = max(8, STRIP_PIXELS // max(1, (ids if ids is not None else selection).width))
    if ids is None:
        for strip in strips(selection, rows):
            mask = strip[..., 0]
            counter.add(mask)
            if sink is not None:
                sink(mask)
        return StreamedCounts(counter.stats(), None)
    bins = 256 if ids.format == "uchar" else 65536
    census = _Census(bins)
    shrink = source.shrink
    if shrink is None:
        def prepared() -> Iterator[np.ndarray]:  # in a thread of its own, one strip ahead
            for strip, below in _with_row_below(strips(ids, rows)):
                census.add(strip)
                yield _objects_of(strip, below, source.separate)

        for objects in run_ahead(prepared()):
            counter.add(objects)
            if sink is not None:
                sink(objects)
        return StreamedCounts(counter.stats(), census.result())
    before = ComponentCounter(ids.width)
    read = _Census(bins)
    rows = -(-rows // shrink.ky) * shrink.ky  # whole blocks per strip

    def shrunk() -> Iterator[np.ndarray]:  # in a thread of its own, one strip ahead
        for strip, below in _with_row_below(strips(ids, rows)):
            read.add(strip)
            before.add(_objects_of(strip, below, source.separate))
            yield shrink_ids(strip[..., 0], shrink)[..., None]

    for strip, below in _with_row_below(run_ahead(shrunk())):
        census.add(strip)
        objects = _objects_of(strip, below, source.separate)
        counter.add(objects)
        if sink is not None:
            sink(objects)
    return StreamedCounts(counter.stats(), census.result(),
                          StreamedCounts(before.stats(), read.result()))


def _objects_of(strip: np.ndarray, below: np.ndarray | None, separate: bool) -> np.ndarray:
    return separated_objects(strip[..., 0], below[..., 0] if below is not None else None,
                             separate)


def write_counted(source: PassInput, output: Path, colour: list[int],
                  background: list[int], save: Save,
                  on_progress: Progress | None = None) -> StreamedCounts:
    """Write the selection of ``source`` as the two-colour PNG ``output`` with ``save`` and
    count it in the same pass (see the module docstring). Raises pyvips.Error when decoding or
    encoding fails."""
    selection = source.selection
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

                outcome["counts"] = count_pass(source, send)
                pipe.write(_chunk(b"IDAT", packer.flush()) + _chunk(b"IEND", b""))
        except BaseException as error:  # raised by write_counted, after the encoder stopped
            outcome["error"] = error

    producer = threading.Thread(target=produce, name="mask-strips", daemon=True)
    producer.start()
    try:
        try:
            piped = pyvips.Source.new_from_descriptor(read_end)
            streamed = pyvips.Image.new_from_source(piped, "", access="sequential")
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
