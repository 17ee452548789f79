"""A mixed segmentation folder: one section per tool, as a real series exports them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import from_array, save
from test_masks import write_palette_png as palette_png

W, H = 60, 40
CELLS = 20


def blobs(value_in: int, value_out: int, dtype=np.uint8, spots: int = 6) -> np.ndarray:
    """``spots`` 4x4 blobs of ``value_in`` on ``value_out`` (objects cover 6*16/2400 = 4%)."""
    array = np.full((H, W), value_out, dtype)
    for i in range(spots):
        y, x = 3 + (i // 3) * 10, 3 + (i % 3) * 12
        array[y:y + 4, x:x + 4] = value_in
    return array


def cells(count: int = CELLS) -> np.ndarray:
    """``count`` separate 3x3 cells with ids 1..count (uint16, 0 = background)."""
    array = np.zeros((H, W), np.uint16)
    for i in range(count):
        y, x = 2 + (i // 10) * 6, 2 + (i % 10) * 6
        array[y:y + 3, x:x + 3] = i + 1
    return array


def mixed_folder(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Six sections in six exports; returns, per output stem, the file and its true objects."""
    qupath = blobs(2, 0)
    qupath[30:34, 40:50] = 1  # a second class, not the objects
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[blobs(1, 0) == 1] = (0, 200, 0)
    files = {
        "m_s001": (save(from_array(blobs(1, 2)), folder / "m_s001_Simple Segmentation.png"),
                   blobs(1, 2) == 1),
        "m_s002": (save(from_array(blobs(2, 1)), folder / "m_s002_Simple Segmentation.tif"),
                   blobs(2, 1) == 2),
        "m_s003": (save(from_array(cells()), folder / "m_s003_cp_masks.tif"), cells() > 0),
        "m_s004": (save(from_array(blobs(255, 0)), folder / "m_s004_mask.png"), blobs(255, 0) > 0),
        "m_s005": (palette_png(folder / "m_s005-labels.png", qupath,
                               [(255, 255, 255), (0, 0, 200), (200, 0, 0)]), qupath == 2),
        "m_s006": (save(from_array(rgb), folder / "m_s006.png"), rgb[..., 1] == 200),
    }
    return files
