"""A sweep that knows what it measured (issue 14): masks that are empty or mostly objects are
left out of the recommendation with the reason; ratios of sections without objects are n/a;
masks at another scale than the images get the factor for the images too."""

from __future__ import annotations

import csv
import json

import numpy as np

from conftest import from_array, save
from test_sweep import DISCS, H, W, disc_mask, make_series


def ilastik_series(tmp_path, background_is_2: set[int], count: int = 3):
    """Images with discs and ilastik exports (no 0): discs are label 2 except in the sections
    of ``background_is_2``, where the user's project made the discs label 1."""
    src, seg = make_series(tmp_path, count=count)
    discs = disc_mask(W, H, DISCS) > 0
    for n in range(1, count + 1):
        (seg / f"brain_s{n:03d}_mask.png").unlink()
        labels = np.where(discs, 1, 2) if n in background_is_2 else np.where(discs, 2, 1)
        save(from_array(labels.astype(np.uint8)), seg / f"brain_s{n:03d}_Simple Segmentation.png")
    return src, seg


def sweep(cli, src, out, seg, *extra):
    return cli("sweep", src, "-o", out, "--factors", "0.5,0.25", "--segmentations", seg, *extra)


def test_background_as_objects_is_left_out_and_the_others_recommend(tmp_path, cli):
    src, seg = ilastik_series(tmp_path, background_is_2={2})
    out = tmp_path / "out"
    result = sweep(cli, src, out, seg, "--labels", "2", "-q")
    assert result.exit_code == 0, result.output
    reason = ("left out of the recommendation: brain_s002.tif: brain_s002_Simple Segmentation.png: "
              "objects cover ")
    assert reason in result.stdout
    assert "--labels 2 is probably this file's background" in result.stdout
    assert "recommended factor 0.25 (masks --resample area)" in result.stdout
    assert "1 section left out (see above)" in result.stdout
    page = (out / "index.html").read_text()
    assert page.count("left out of the recommendation: ") == 2  # at the top and in its section
    document = json.loads(sweep(cli, src, out, seg, "--labels", "2", "-q", "--json").stdout)
    recommendation = document["recommendation"]
    assert recommendation["factor"] == 0.25 and len(recommendation["left_out"]) == 1
    left = {s["name"]: s["left_out"] for s in document["sections"]}
    assert left["brain_s001.tif"] is None and "objects cover" in left["brain_s002.tif"]


def test_a_table_row_puts_the_section_back(tmp_path, cli):
    src, seg = ilastik_series(tmp_path, background_is_2={2})
    table = tmp_path / "labels.csv"
    table.write_text("name,labels\nbrain_s002,1\n")
    result = sweep(cli, src, tmp_path / "out", seg, "--labels", "2", "--labels-table", table, "-q")
    assert result.exit_code == 0, result.output
    assert "left out" not in result.stdout and "section left out" not in result.stdout


def test_every_section_bad_means_no_recommendation(tmp_path, cli):
    src, seg = ilastik_series(tmp_path, background_is_2={1, 2, 3})
    out = tmp_path / "out"
    result = sweep(cli, src, out, seg, "--labels", "2", "-q")
    assert result.stdout.count("left out of the recommendation:") == 3
    assert ("no factor qualifies: no recommendation: the mask of every sampled section that has "
            "one is left out (3: no objects, or objects over most of the section, see above)"
            in result.stdout)
    assert "fix the objects' choice (--labels, --instance-ids, --labels-table, --invert)" in result.stdout
    assert "recommended factor" not in (out / "index.html").read_text()


def test_a_section_without_objects_has_no_ratio_of_one(tmp_path, cli):
    src, seg = make_series(tmp_path, count=2)
    save(from_array(np.zeros((H, W), np.uint8)), seg / "brain_s002_mask.png")
    out = tmp_path / "out"
    result = sweep(cli, src, out, seg, "-q")
    assert result.exit_code == 0, result.output
    rows = [r for r in csv.DictReader((out / "objects.csv").open()) if r["section"] == "brain_s002"]
    assert rows and all(r["objects_ratio"] == "n/a" and r["area_fraction_ratio"] == "n/a"
                        for r in rows)
    assert ("n/a: the section has no objects at full resolution, so there is nothing to keep or "
            "lose") in result.stdout
    assert ("left out of the recommendation: brain_s002.tif: brain_s002_mask.png: no objects: "
            "the output is all background") in result.stdout
    assert "recommended factor 0.25" in result.stdout
    assert "n/a: the section has no objects" in (out / "index.html").read_text()


def test_masks_at_half_the_image_size_state_the_factor_for_the_images(tmp_path, cli):
    src, seg = make_series(tmp_path, count=2)
    half = disc_mask(W // 2, H // 2, [(x // 2, y // 2, max(1, r // 2) + 3) for x, y, r in DISCS])
    for n in (1, 2):
        save(from_array(half), seg / f"brain_s{n:03d}_mask.png")
    result = sweep(cli, src, tmp_path / "out", seg, "-q")
    assert result.exit_code == 0, result.output
    assert ("The segmentations are 0.5 x the size of their images and the factor applies to "
            "their own size: for the images (downscale --factor) it is 0.125") in result.stdout
    document = json.loads(sweep(cli, src, tmp_path / "out", seg, "-q", "--json").stdout)
    recommendation = document["recommendation"]
    assert recommendation["mask_scale"] == 0.5
    assert recommendation["image_factor"] == recommendation["factor"] * 0.5


def test_instance_ids_that_lose_most_cells_warn_in_sweep(tmp_path, cli):
    src, seg = make_series(tmp_path, count=1)
    (seg / "brain_s001_mask.png").unlink()
    yy, xx = np.mgrid[:H, :W]
    ids = np.zeros((H, W), np.uint16)
    for number, (cx, cy, r) in enumerate(DISCS, start=1):
        ids[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = number
    save(from_array(ids), seg / "brain_s001_cp_masks.png")
    result = sweep(cli, src, tmp_path / "out", seg, "--labels", "2", "--instance-ids", "1-3", "-q")
    assert result.exit_code == 0, result.output
    assert ("warning: brain_s001_cp_masks.png: kept 3 of the 24 instances in the file "
            "(--instance-ids 1,2,3)") in result.output
    rows = list(csv.DictReader((tmp_path / "out" / "objects.csv").open()))
    assert [int(r["objects"]) for r in rows if r["mode"] == "full"] == [3]
