"""masks.block_ids gives exactly the ids of instances.resample_instances (libvips, float)."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from quint_prep.masks.block_ids import BlockShrink, block_shrink, shrink_ids
from quint_prep.masks.instances import resample_instances
from quint_prep.masks.select import MaskResample
from quint_prep.scale import Size

METHODS = list(MaskResample)


def _libvips(ids: np.ndarray, kx: int, ky: int, method: MaskResample) -> np.ndarray:
    height, width = ids.shape
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(ids).data, width, height, 1,
                                         "ushort" if ids.dtype == np.uint16 else "uchar")
    shrunk = resample_instances(image, Size(width // kx, height // ky), method)
    return shrunk.numpy().reshape(height // ky, width // kx)


def _random_ids(rng: np.random.Generator, kind: int, height: int, width: int,
                dtype: type) -> np.ndarray:
    top = np.iinfo(dtype).max
    if kind == 0:  # a few ids, everywhere touching
        return (rng.integers(0, 4, (height, width)) * int(rng.integers(1, top // 4))).astype(dtype)
    if kind == 1:  # one id with scattered neighbours one value off (near the variance limit)
        base = int(rng.integers(1, top - 1))
        ids = np.full((height, width), base, dtype)
        ids[rng.random((height, width)) < 0.07] = base + 1
        ids[rng.random((height, width)) < 0.1] = 0
        return ids
    cells = rng.integers(0, top + 1, (height // 3 + 1, width // 3 + 1)).astype(dtype)
    cells[rng.random(cells.shape) < 0.4] = 0
    return np.repeat(np.repeat(cells, 3, 0), 3, 1)[:height, :width]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("method", METHODS)
def test_random_ids_shrink_as_libvips_does(dtype, method):
    rng = np.random.default_rng(7)
    for trial in range(120):
        kx, ky = (int(v) for v in rng.choice([1, 2, 4, 8], 2))
        if kx == ky == 1:
            continue
        height, width = ky * int(rng.integers(1, 24)), kx * int(rng.integers(1, 24))
        ids = _random_ids(rng, trial % 3, height, width, dtype)
        expected = _libvips(ids, kx, ky, method)
        assert np.array_equal(shrink_ids(ids, BlockShrink(kx, ky, method)), expected), \
            (trial, kx, ky)


@pytest.mark.parametrize("side", [4, 8])
@pytest.mark.parametrize("method", [MaskResample.AREA, MaskResample.ANY])
def test_blocks_at_the_variance_limit_shrink_as_libvips_does(side, method):
    """One block per case: an id with 1-5 pixels of another id 1, 2, 3 or 256 apart, and
    background: the variance lands on both sides of MIXED_VARIANCE (float32 rounding)."""
    rng = np.random.default_rng(3)
    for odd in range(1, 6):
        for step in (1, 2, 3, 255, 256, 257):
            blocks = []
            for base in rng.integers(1, 65000, 64):
                block = np.full((side, side), base, np.uint16)
                block.flat[rng.choice(side * side, odd, replace=False)] = base + step
                if rng.random() < 0.5:
                    block.flat[rng.choice(side * side, int(rng.integers(0, side * side // 2)),
                                          replace=False)] = 0
                blocks.append(block)
            ids = np.block([blocks[row * 8:(row + 1) * 8] for row in range(8)])
            assert np.array_equal(shrink_ids(ids, BlockShrink(side, side, method)),
                                  _libvips(ids, side, side, method)), (odd, step)


def test_only_exact_power_of_two_shrinks_are_taken():
    area = MaskResample.AREA
    assert block_shrink(Size(15000, 10000), Size(7500, 5000), area) == BlockShrink(2, 2, area)
    assert block_shrink(Size(1600, 800), Size(200, 400), area) == BlockShrink(8, 2, area)
    assert block_shrink(Size(15001, 10000), Size(7500, 5000), area) is None  # does not divide
    assert block_shrink(Size(900, 900), Size(300, 300), area) is None  # 3: not a power of two
    assert block_shrink(Size(3200, 3200), Size(200, 200), area) is None  # 16: float sums inexact
    assert block_shrink(Size(100, 100), Size(100, 100), area) is None  # nothing to shrink
    assert block_shrink(Size(100, 100), Size(200, 50), area) is None  # an enlargement


@pytest.mark.parametrize("rows", [1, 2, 5, 64])
def test_strips_separate_as_libvips_separates(rows):
    """masks.stream.separated_objects on strips (with the row below) = separate_instances."""
    from quint_prep.masks.instances import separate_instances
    from quint_prep.masks.stream import separated_objects

    rng = np.random.default_rng(rows)
    ids = np.ascontiguousarray(_random_ids(rng, 2, 61, 47, np.uint16))
    ids[rng.random(ids.shape) < 0.05] = 9  # single pixels of one id everywhere
    image = pyvips.Image.new_from_memory(ids.data, 47, 61, 1, "ushort")
    expected = (separate_instances(image) > 0).numpy() > 0
    strips = [separated_objects(ids[top:top + rows],
                                ids[top + rows] if top + rows < len(ids) else None, True)
              for top in range(0, len(ids), rows)]
    assert np.array_equal(np.vstack(strips), expected)
    assert np.array_equal(separated_objects(ids, None, False), ids != 0)
