"""Our masks quantified by the real PyNutil 0.6.2 (``make test-integration``; skipped without it).

A tiny custom atlas (40 x 10 x 40 voxels: region 1 "left" where the first index is below 20,
region 2 "right" elsewhere), one section registered across its middle plane (QuickNII JSON,
anchoring o=(0,5,0), u=(40,0,0), v=(0,0,40)), so the left half of every image is region 1.
The Cellpose-style drawing holds, on the left, a row of three touching cells and one isolated
cell; on the right, two cells touching vertically and two touching only at a corner.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import from_array, save

pytestmark = pytest.mark.pynutil
PyNutil = pytest.importorskip("PyNutil")
nrrd = pytest.importorskip("nrrd")

SIZE = 200


def drawing() -> np.ndarray:
    """Instance ids: 4 cells in the left half, 4 in the right half."""
    ids = np.zeros((SIZE, SIZE), np.uint16)
    ids[20:40, 20:40], ids[20:40, 40:60], ids[20:40, 60:80] = 1, 2, 3  # row of three
    ids[120:140, 30:50] = 4  # isolated
    ids[20:40, 130:150], ids[40:60, 130:150] = 5, 6  # touching vertically
    ids[120:130, 120:130], ids[130:140, 130:140] = 7, 8  # corner only: two objects anyway
    return ids


@pytest.fixture
def series(tmp_path: Path) -> dict[str, Path]:
    volume = np.zeros((40, 10, 40), np.uint32)
    volume[:20], volume[20:] = 1, 2
    nrrd.write(str(tmp_path / "atlas.nrrd"), volume)
    (tmp_path / "labels.csv").write_text(
        "idx,name,r,g,b\n0,Clear Label,0,0,0\n1,left,255,0,0\n2,right,0,0,255\n")
    (tmp_path / "reg.json").write_text(json.dumps({"name": "synthetic", "target": "custom",
        "slices": [{"filename": "m_s001.png", "nr": 1, "width": SIZE, "height": SIZE,
                    "anchoring": [0, 5, 0, 40, 0, 0, 0, 0, 40]}]}))
    save(from_array(drawing()), tmp_path / "seg" / "m_s001_cp_masks.png")
    return {"root": tmp_path, "seg": tmp_path / "seg", "reg": tmp_path / "reg.json"}


def quantify(series: dict[str, Path], masks: Path, pixel_id: list[int]) -> dict[str, tuple]:
    root = series["root"]
    atlas = PyNutil.load_custom_atlas(str(root / "atlas.nrrd"), None, str(root / "labels.csv"))
    registration = PyNutil.read_alignment(str(series["reg"]))
    segmentations = PyNutil.read_segmentation_dir(str(masks), pixel_id=pixel_id)
    table = PyNutil.quantify_coords(PyNutil.seg_to_coords(segmentations, registration, atlas), atlas)
    return {row["name"]: (int(row["object_count"]), int(row["pixel_count"]))
            for _, row in table.iterrows()}


def run_masks(cli, series, out: Path, *options: str) -> dict:
    result = cli("masks", series["seg"], "-o", out, "--registration", series["reg"], "--json",
                 *options)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("size", [None, "100x100"], ids=["full-size", "half-size"])
def test_pynutil_counts_one_object_per_cell(cli, series, size):
    out = series["root"] / "out"
    doc = run_masks(cli, series, out, *(["--max-size", size] if size else []))
    settings = json.loads((out / "quint-prep-consumers.json").read_text())
    assert settings["pynutil"]["pixel_id"] == [0, 0, 255] and settings["warnings"] == []
    counts = quantify(series, out, settings["pynutil"]["pixel_id"])
    assert (counts["left"][0], counts["right"][0]) == (4, 4)
    assert counts["left"][1] + counts["right"][1] == doc["totals"]["object_pixels"]
    assert doc["totals"]["objects"] == doc["totals"]["instances"] == 8


def test_pynutil_counts_touching_cells_as_one_without_separation(cli, series):
    out = series["root"] / "out"
    doc = run_masks(cli, series, out, "--keep-touching")
    counts = quantify(series, out, [0, 0, 255])
    assert (counts["left"][0], counts["right"][0]) == (2, 3)
    assert doc["totals"]["objects"] == 5  # our count predicts PyNutil's


def test_pynutil_counts_nothing_with_the_rgb_colour(cli, series):
    out = series["root"] / "out"
    run_masks(cli, series, out)
    counts = quantify(series, out, [255, 0, 0])
    assert (counts["left"][0], counts["right"][0]) == (0, 0)
