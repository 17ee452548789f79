"""Instance labels: separation of touching cells, label-safe resampling, counts (issue 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pyvips

from conftest import from_array, read_array, save, tree_hashes
from quint_prep.masks.consumers import CONSUMERS_FILE, consumer_settings, pynutil_section
from quint_prep.masks.instances import label_census, resample_instances, separate_instances
from quint_prep.masks.select import MaskResample
from quint_prep.scale import Size
from test_components import reference_count
from test_masks import separated


def squares(*cells: tuple[int, int, int, int, int], shape=(12, 16), dtype=np.uint16) -> np.ndarray:
    """Label image with rectangles (id, top, left, height, width)."""
    array = np.zeros(shape, dtype)
    for cell_id, top, left, height, width in cells:
        array[top:top + height, left:left + width] = cell_id
    return array


def shared_edge_pixels(ids: np.ndarray) -> int:
    """Pixels that are the left/upper side of a pair of different non-zero 4-neighbours."""
    return int(((ids > 0) & (separated(ids) == 0)).sum())


CASES = {
    "touching-squares": (squares((1, 2, 2, 4, 4), (2, 2, 6, 4, 4)), 2, 4),
    "row-of-three": (squares((1, 1, 1, 3, 3), (2, 1, 4, 3, 3), (3, 1, 7, 3, 3)), 3, 6),
    "stacked": (squares((1, 1, 1, 3, 5), (2, 4, 1, 3, 5)), 2, 5),
    "two-by-two": (squares((1, 0, 0, 3, 3), (2, 0, 3, 3, 3), (3, 3, 0, 3, 3), (4, 3, 3, 3, 3)),
                   4, 3 + 3 + 3 + 3 - 1),
    "diagonal-only": (squares((1, 0, 0, 2, 2), (2, 2, 2, 2, 2), (3, 4, 4, 2, 2)), 3, 0),
    "isolated": (squares((1, 1, 1, 2, 2), (7, 5, 5, 3, 3), (65535, 9, 12, 2, 3)), 3, 0),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_separation_one_object_per_instance(case):
    ids, instances, removed = CASES[case]
    out = separate_instances(from_array(ids)).numpy()
    assert np.array_equal(out, separated(ids))
    assert int((ids > 0).sum() - (out > 0).sum()) == removed == shared_edge_pixels(ids)
    assert reference_count(out > 0)[0] == instances
    assert len(np.unique(ids[ids > 0])) == instances


def test_separation_of_random_cells_leaves_no_touching_instances():
    rng = np.random.default_rng(5)
    ids = np.kron(rng.integers(0, 40, size=(12, 15)), np.ones((3, 3), int)).astype(np.uint16)
    out = separate_instances(from_array(ids)).numpy()
    assert np.array_equal(out, separated(ids))
    horizontal = (out[:, :-1] > 0) & (out[:, 1:] > 0) & (out[:, :-1] != out[:, 1:])
    vertical = (out[:-1] > 0) & (out[1:] > 0) & (out[:-1] != out[1:])
    assert not horizontal.any() and not vertical.any()
    kept = (ids > 0) & (out == 0)
    assert kept.sum() == shared_edge_pixels(ids)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32], ids=["u8", "u16", "u32"])
def test_label_census_counts_distinct_ids(dtype):
    rng = np.random.default_rng(2)
    values = [0, 3, 200] if dtype == np.uint8 else [0, 3, 200, 65535]
    if dtype == np.uint32:
        values += [65536, 70000, 2**31 + 5, 4_000_000_000]
    ids = rng.choice(values, size=(30, 50)).astype(dtype)
    census = label_census(lambda: from_array(ids) if dtype != np.uint32 else
                          pyvips.Image.new_from_array(ids))
    assert census.instances == len(set(np.unique(ids)) - {0})
    assert census.pixels == int((ids > 0).sum())


def test_32bit_striped_tiff_is_counted_in_several_sequential_passes(cli, tmp_path):
    ids = np.zeros((3000, 60), np.uint32)  # tall: a second pass cannot come from a cache
    ids[2:10, 2:10], ids[2:10, 10:18] = 70_000, 3_000_000_000  # touching, 32-bit
    ids[2980:2990, 30:40] = 5
    src = save(pyvips.Image.new_from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.tif")
    assert pyvips.Image.new_from_file(str(src)).get("format") == "uint"
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--max-size", "30x1500")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert (counts["instances"], counts["objects"], counts["objects_before"]) == (3, 3, 3)


@pytest.mark.parametrize("offset", [70000, 4_000_000_000], ids=["17bit", "32bit"])
@pytest.mark.parametrize("method", list(MaskResample), ids=[m.value for m in MaskResample])
def test_resampled_ids_are_ids_of_the_source(method, offset):
    rng = np.random.default_rng(9)
    ids = np.kron(rng.integers(0, 30, size=(10, 12)), np.ones((8, 8), int)).astype(np.uint32)
    ids[ids > 0] += offset  # 32-bit ids must survive exactly
    image = pyvips.Image.new_from_array(ids)
    out = resample_instances(image, Size(24, 20), method).numpy()
    assert out.shape == (20, 24) and out.dtype == np.uint32
    assert set(np.unique(out)) <= set(np.unique(ids))
    # 8x8 cells shrunk 4x (area/any): every 2x2 block of output pixels is one cell's id
    if method is not MaskResample.NEAREST:
        assert np.array_equal(out[::2, ::2], ids[::8, ::8])


def test_rim_pixel_takes_its_instance_id():
    ids = np.zeros((8, 8), np.uint16)
    ids[0:4, 0:3] = 9  # the 4x4 box at the top left is 75% id 9, its centre pixel (2, 2) too
    ids[2, 2] = 0  # ... but now the centre is background
    out = resample_instances(from_array(ids), Size(2, 2), MaskResample.AREA).numpy()
    assert out[0, 0] == 9 and out[1, 1] == 0


# --- through the CLI --------------------------------------------------------------------------

def run_masks(cli, *args):
    result = cli("masks", *args, "--json")
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_cli_objects_equal_instances(cli, tmp_path, case):
    ids, instances, removed = CASES[case]
    src = save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.png")
    before = tree_hashes(tmp_path / "seg")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert counts["instances"] == counts["objects"] == instances
    assert counts["separated_pixels"] == removed
    assert counts["object_pixels"] == int((ids > 0).sum()) - removed
    assert counts["objects_before"] is None  # not resampled
    out = read_array(tmp_path / "out" / "m_s001.png")
    assert np.array_equal(out[..., 0] == 255, separated(ids) > 0)
    assert tree_hashes(tmp_path / "seg") == before


def test_keep_touching_counts_touching_cells_as_one(cli, tmp_path):
    ids, _, _ = CASES["row-of-three"]
    src = save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.png")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--keep-touching")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert (counts["instances"], counts["objects"], counts["separated_pixels"]) == (3, 1, 0)
    assert "3 instances read but 1 objects: touching cells are counted as one" in result.stderr


def test_downscale_does_not_rejoin_instances(cli, tmp_path):
    """Eight 8x8 cells touching in a row, shrunk 4x: still eight objects, one px line between."""
    ids = np.zeros((16, 72), np.uint16)
    for cell in range(8):
        ids[4:12, 4 + 8 * cell:12 + 8 * cell] = cell + 1
    src = save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.tif")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--max-size", "18x4")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert doc["masks"][0]["width"] == 18
    assert counts["instances"] == counts["objects"] == counts["objects_before"] == 8
    assert (counts["lost"], counts["merged"], counts["split"]) == (0, 0, 0)
    result, doc = run_masks(cli, src, "-o", tmp_path / "joined", "--max-size", "18x4",
                            "--keep-touching")
    assert doc["masks"][0]["counts"]["objects"] == 1


def test_downscale_merges_and_loses_binary_objects(cli, tmp_path):
    """Binary mask: two bars 1 px apart merge when shrunk 4x; a 1 px dot is lost."""
    mask = np.zeros((16, 32), np.uint8)
    mask[0:16, 4:7] = 255
    mask[0:16, 8:11] = 255  # 1 px gap from the first bar
    mask[13, 25] = 255  # a dot: under 50% of any output pixel
    src = save(from_array(mask), tmp_path / "seg" / "m_s001_mask.png")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--max-size", "8x4")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert (counts["objects_before"], counts["objects"]) == (3, 1)
    assert counts["lost"] is None and counts["merged"] == 2 and counts["split"] == 0
    assert counts["instances"] is None
    assert "resampling changed the objects: 3 before, 1 after (merged 2, split 0)" in result.stderr


def test_downscale_loses_a_small_instance(cli, tmp_path):
    ids = np.zeros((16, 16), np.uint16)
    ids[0:8, 0:8] = 1
    ids[12, 12] = 2  # one pixel: no output pixel is half covered by it
    src = save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.png")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--max-size", "4x4")
    counts = doc["masks"][0]["counts"]
    assert (counts["instances"], counts["objects_before"], counts["objects"]) == (2, 2, 1)
    assert (counts["lost"], counts["merged"], counts["split"]) == (1, 0, 0)


def test_instances_flag_on_ilastik_like_labels(cli, tmp_path):
    ids, instances, removed = CASES["two-by-two"]
    src = save(from_array(ids.astype(np.uint8)), tmp_path / "seg" / "m_s001_labels.png")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--source", "ilastik",
                            "--instances", "--instance-ids", "1-4")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert counts["instances"] == counts["objects"] == 4 and counts["separated_pixels"] == removed


def test_instances_flag_refuses_colour_images(cli, tmp_path, make_image):
    src = make_image("seg/m_s001.png", 20, 10)
    result = cli("masks", src, "-o", tmp_path / "out", "--instances", "--object-colour", "1,2,3")
    assert result.exit_code == 2
    assert "--instances reads one id per cell: it does not go with --invert or --object-colour" \
        in result.stderr


def test_printed_counts_totals_and_consumer_file(cli, tmp_path):
    a = squares((1, 2, 2, 4, 4), (2, 2, 6, 4, 4))
    b = squares((1, 1, 1, 3, 3), (2, 1, 4, 3, 3), (3, 1, 7, 3, 3))
    save(from_array(a), tmp_path / "seg" / "m_s001_cp_masks.png")
    save(from_array(b), tmp_path / "seg" / "m_s002_cp_masks.png")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["file", "source", "labels", "instances", "objects", "object",
                                "px", "fraction", "size", "output"]
    row = next(line for line in lines if line.startswith("m_s002_cp_masks.png"))
    assert row.split()[-6:] == ["3", "3", "21", f"{21 / 192:.2%}", "16x12", "m_s002.png"]
    assert ("series: 5 objects, 49 object pixels in 2 masks; 5 instances read, 10 px removed "
            "to separate touching instances") in result.stdout
    assert "  WebNutil / Nutil: object colour 255,0,0 (RGB)" in result.stdout
    assert "  PyNutil: pixel_id=[0, 0, 255] (it compares BGR" in result.stdout
    settings = json.loads((tmp_path / "out" / CONSUMERS_FILE).read_text())
    assert settings["pynutil"]["pixel_id"] == [0, 0, 255]
    assert settings["nutil"]["object_colour"] == "255,0,0"
    assert settings["pynutil"]["call"] == \
        f"read_segmentation_dir({str(tmp_path / 'out')!r}, pixel_id=[0, 0, 255])"
    manifest = json.loads((tmp_path / "out" / "quint-prep.json").read_text())
    totals = manifest["masks"]["totals"]
    assert (totals["masks"], totals["objects"], totals["instances"]) == (2, 5, 5)
    rerun = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--json")
    doc = json.loads(rerun.stdout)
    assert doc["counts"]["up-to-date"] == 2 and doc["totals"] == totals


def test_registration_warnings_for_pynutil(cli, tmp_path):
    ids = squares((1, 2, 2, 4, 4))
    save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.png")
    save(from_array(ids), tmp_path / "seg" / "m_s003_cp_masks.png")
    registration = tmp_path / "reg.json"
    registration.write_text(json.dumps({"slices": [
        {"filename": "m_s001.png", "nr": 1, "width": 16, "height": 12},
        {"filename": "m_s002.png", "nr": 2, "width": 16, "height": 12}]}))
    result, doc = run_masks(cli, tmp_path / "seg", "-o", tmp_path / "out", "--colour", "0,255,0",
                            "--registration", registration)
    assert result.exit_code == 0, result.stderr
    consumers = doc["consumers"]
    assert consumers["pynutil"]["pixel_id"] == [0, 255, 0]
    assert consumers["warnings"] == [
        "m_s003.png: section 3 is not in reg.json: PyNutil skips it",
        "m_s002.png: registered section 2 has no mask: PyNutil quantifies nothing for it"]
    bad = cli("masks", tmp_path / "seg", "-o", tmp_path / "out2", "--registration",
              tmp_path / "seg" / "m_s001_cp_masks.png")
    assert bad.exit_code == 2 and "--registration:" in bad.stderr


def test_consumer_warnings_for_names():
    settings = consumer_settings(["a_mask_s001.png", "b_s002.png", "c_s002.png", "plain.png"],
                                 (255, 0, 0), (0, 0, 0))
    assert settings.nutil_colour == "255,0,0" and settings.pynutil_pixel_id == [0, 0, 255]
    assert settings.warnings == (
        "a_mask_s001.png: 'mask' in the name: Nutil skips this file",
        "plain.png: no _sNNN (or _NNN) number: PyNutil stops with an error",
        "b_s002.png, c_s002.png: section number 2 twice: PyNutil stops with an error")


@pytest.mark.parametrize("name, number", [("m_s001", 1), ("m_s001_s7", 7), ("m_12", 12),
                                          ("m_s3_7", 3), ("plain", None)],
                         ids=["s", "last-s", "fallback", "s-wins", "none"])
def test_pynutil_section_rule(name, number):
    assert pynutil_section(name) == number


def test_pixel_over_two_instances_becomes_background():
    ids = np.zeros((4, 8), np.uint16)
    ids[:, 0:3], ids[:, 3:8] = 5, 6  # the middle 4x4 box holds columns of both
    out = resample_instances(from_array(ids), Size(2, 1), MaskResample.AREA).numpy()
    assert out.tolist() == [[0, 6]]


def test_streamed_png_downscale_and_separation(cli, tmp_path):
    """A PNG is read sequentially: resampling, separation and counting in one ordered pass each."""
    rng = np.random.default_rng(11)
    cells = rng.integers(1, 60000, size=(50, 64))
    ids = np.kron(cells, np.ones((36, 36), int))[:1800, :2300].astype(np.uint16)
    src = save(from_array(ids), tmp_path / "seg" / "m_s001_cp_masks.png")
    result, doc = run_masks(cli, src, "-o", tmp_path / "out", "--max-size", "600x600")
    assert result.exit_code == 0, result.stderr
    counts = doc["masks"][0]["counts"]
    assert doc["masks"][0]["width"] == 600
    assert counts["instances"] == len(np.unique(cells[:50, :64]))
    assert counts["objects_before"] == counts["objects"] == 50 * 64
