"""Strip-wise 4-connected counting equals a whole-image count (issue 11, used by sweep)."""

import numpy as np
import pyvips
import pytest

from quint_prep.masks.components import count_components
from conftest import from_array, save


def reference_count(mask: np.ndarray) -> tuple[int, list[int]]:
    """4-connected components by a plain flood fill (small arrays only)."""
    seen = np.zeros(mask.shape, bool)
    sizes = []
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        stack, size = [(y, x)], 0
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            size += 1
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        sizes.append(size)
    return len(sizes), sorted(sizes)


@pytest.mark.parametrize("strip", [1, 2, 3, 7, 64], ids=lambda s: f"strip{s}")
def test_strips_count_like_a_whole_image(strip):
    rng = np.random.default_rng(3)
    mask = (rng.random((61, 47)) > 0.55)
    mask[10:40, 20] = True  # a long vertical object crossing many strip edges
    mask[5, 5:40] = True
    expected, sizes = reference_count(mask)
    stats = count_components(from_array(mask.astype(np.uint8) * 255), strip_height=strip)
    assert stats.objects == expected
    assert stats.object_pixels == sum(sizes) == int(mask.sum())
    assert stats.object_pixels == int(mask.sum())


def test_u_shape_joined_below_the_strip_edge():
    mask = np.zeros((10, 10), np.uint8)
    mask[0:8, 1] = mask[0:8, 8] = 255
    mask[7, 1:9] = 255  # the two arms join only at the bottom
    stats = count_components(from_array(mask), strip_height=3)
    assert stats.objects == 1


def test_diagonal_neighbours_are_two_objects():
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = mask[1, 1] = 255
    assert count_components(from_array(mask)).objects == 2


def test_sequential_png_is_counted_in_strips(tmp_path):
    mask = np.zeros((300, 200), np.uint8)
    mask[::10, :] = 255  # 30 horizontal lines
    path = save(from_array(mask), tmp_path / "m.png")
    image = pyvips.Image.new_from_file(str(path), access="sequential")
    stats = count_components(image, strip_height=16)
    assert stats.objects == 30 and stats.area_fraction == pytest.approx(0.1)
