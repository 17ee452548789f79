"""Instance ids shrunk by a power of two in numpy, strip by strip: the same ids as libvips.

``instances.resample_instances`` reduces ids label-safely with libvips: the box means of the
object weight and of every id byte and its square, in float (``_box_ids``), or the nearest
pixel. For the most common reductions (a factor of 1/2, 1/4 or 1/8 on each axis that divides
the size exactly) this module computes the SAME ids on strips of the decoded source, so that
one decode gives the resampled ids, the counts before resampling and the census of both
(masks.stream.count_pass): about three times less work than the float bands at the source's
resolution plus a scratch file.

Why the ids are the same: with a power-of-two block of K = kx * ky <= 256 pixels every sum of
bytes (at most 256 * 255^2 < 2^24) and every division by K is exact in float32, so the box means
libvips computes are exact; where all object pixels of a block hold one id its mean is that id
and its variance 0 (no float rounding at all), and the few blocks with several ids are
computed with libvips' own float32 operations in its order (``_mixed_blocks``).
``tests/test_masks_block_ids.py`` holds this against ``resample_instances`` on random and
adversarial blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quint_prep.masks.select import MaskResample
from quint_prep.scale import Size

POWERS = (1, 2, 4, 8)
MIXED_VARIANCE = np.float32(0.05)  # instances.MIXED_VARIANCE, as libvips compares it (float)


@dataclass(frozen=True)
class BlockShrink:
    """Shrink ids by ``kx`` x ``ky`` (powers of two) with ``method``."""

    kx: int
    ky: int
    method: MaskResample


def block_shrink(source: Size, target: Size, method: MaskResample) -> BlockShrink | None:
    """The power-of-two block shrink that gives ``target`` from ``source`` exactly, or None
    (then libvips resamples: another factor, a size that does not divide, or an enlargement)."""
    if target.width <= 0 or target.height <= 0:
        return None
    if source.width % target.width or source.height % target.height:
        return None
    kx, ky = source.width // target.width, source.height // target.height
    if kx not in POWERS or ky not in POWERS or kx * ky == 1:
        return None
    return BlockShrink(kx, ky, method)


def shrink_ids(ids: np.ndarray, shrink: BlockShrink) -> np.ndarray:
    """The ids of a strip (height x width, uint8/uint16, height a multiple of ``ky``, width of
    ``kx``) shrunk as ``instances.resample_instances`` shrinks them."""
    kx, ky = shrink.kx, shrink.ky
    if shrink.method is MaskResample.NEAREST:
        return np.ascontiguousarray(ids[ky // 2::ky, kx // 2::kx])
    count = _reduce(ids != 0, kx, ky, np.add, np.uint8)  # at most 64
    highest = _reduce(ids, kx, ky, np.maximum)
    # The lowest non-zero id: 0 wraps to the largest value, so it never is the lowest.
    one = np.array(1, ids.dtype)
    lowest = _reduce(ids - one, kx, ky, np.minimum) + one
    if shrink.method is MaskResample.AREA:
        objects = 2 * count >= kx * ky  # covered = count / K >= 0.5, exact
    else:
        objects = count > 0
    result = np.where(objects & (lowest == highest), highest, 0).astype(ids.dtype)
    mixed_rows, mixed_columns = np.nonzero(objects & (lowest != highest) & (count > 0))
    if len(mixed_rows):
        height, width = ids.shape
        blocks = ids.reshape(height // ky, ky, width // kx, kx)
        mixed = blocks[mixed_rows, :, mixed_columns, :]  # (n, ky, kx)
        result[mixed_rows, mixed_columns] = _mixed_blocks(mixed, kx * ky, ids.dtype)
    return result


def _reduce(values: np.ndarray, kx: int, ky: int, combine: np.ufunc,
            dtype: type | None = None) -> np.ndarray:
    """``combine`` over every kx x ky block, by halving the rows, then the columns, in pairs
    (strided views: far faster than a reduction over the axes of a 4-d view; rows first, as
    they are whole contiguous rows)."""
    while ky > 1:
        values = combine(values[0::2], values[1::2], dtype=dtype)
        ky //= 2
    while kx > 1:
        values = combine(values[:, 0::2], values[:, 1::2], dtype=dtype)
        kx //= 2
    return values if dtype is None else values.astype(dtype, copy=False)


def _mixed_blocks(blocks: np.ndarray, pixels: int, dtype: np.dtype) -> np.ndarray:
    """The id libvips gives each block holding several ids (0 where they count as mixed):
    ``instances._box_ids`` in float32, operation by operation."""
    flat = blocks.reshape(len(blocks), -1)
    scale = np.float32(pixels)
    covered = (np.count_nonzero(flat, axis=1).astype(np.float32) / scale)
    ids = np.zeros(len(blocks), np.float32)
    mixed = np.zeros(len(blocks), bool)
    for j in range(np.dtype(dtype).itemsize):
        byte = ((flat >> (8 * j)) & 255).astype(np.float64)
        first = (byte.sum(axis=1) / pixels).astype(np.float32)  # exact: see the module docstring
        second = ((byte * byte).sum(axis=1) / pixels).astype(np.float32)
        mean = first / covered
        variance = second / covered - mean * mean
        ids = ids + np.rint(mean).astype(np.float32) * np.float32(256 ** j)
        mixed |= variance >= MIXED_VARIANCE
    return np.where(mixed, 0, ids).astype(dtype)
