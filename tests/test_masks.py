"""quint-prep masks: every input kind, names, colours, sizes and object fractions."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pyvips
import pytest

from conftest import from_array, read_array, save, tree_hashes
from quint_prep.errors import InputError
from quint_prep.masks.select import MaskResample, parse_labels, resample_selection
from quint_prep.masks.matching import SeriesImage, match_image
from quint_prep.masks.sources import (TOOL_SUFFIXES, SourceKind, png_palette, read_mask_file,
                                      strip_tool_suffix, tiff_min_is_white)
from quint_prep.scale import Size

RED = (255, 0, 0)
BLACK = (0, 0, 0)


def write_palette_png(path: Path, indices: np.ndarray, palette: list[tuple[int, ...]],
                      alpha: list[int] | None = None) -> Path:
    """An exact 8-bit indexed PNG (pyvips would quantise), written by hand with zlib."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = indices.shape
    raw = b"".join(b"\x00" + indices[row].astype(np.uint8).tobytes() for row in range(height))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
    data += chunk(b"PLTE", bytes(np.array(palette, dtype=np.uint8).ravel()))
    if alpha is not None:
        data += chunk(b"tRNS", bytes(alpha))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def labels_array(width: int = 40, height: int = 30, values: tuple[int, ...] = (1, 2, 3),
                 dtype=np.uint8, seed: int = 1) -> np.ndarray:
    """Blocks of label values (4x4 blocks, seeded)."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice(values, size=((height + 3) // 4, (width + 3) // 4))
    return np.kron(blocks, np.ones((4, 4), dtype=int))[:height, :width].astype(dtype)


def colours_of(array: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in array.reshape(-1, array.shape[-1])}


def check_output(path: Path, expected_objects: np.ndarray, colour=RED, background=BLACK) -> None:
    out = read_array(path)
    image = pyvips.Image.new_from_file(str(path))
    assert image.bands == 3 and image.format == "uchar"
    assert image.get_typeof("palette") == 0 or not image.get("palette")
    assert out.shape[:2] == expected_objects.shape
    expected = np.where(expected_objects[..., None], np.array(colour), np.array(background))
    assert np.array_equal(out, expected)
    wanted = {tuple(colour)} if expected_objects.all() else {tuple(background)} \
        if not expected_objects.any() else {tuple(colour), tuple(background)}
    assert colours_of(out) == wanted


def separated(ids: np.ndarray) -> np.ndarray:
    """Reference separation: 0 where the right or lower neighbour is another non-zero id."""
    right = np.zeros_like(ids)
    right[:, :-1] = ids[:, 1:]
    below = np.zeros_like(ids)
    below[:-1] = ids[1:]
    touching = ((right > 0) & (right != ids)) | ((below > 0) & (below != ids))
    return np.where(touching & (ids > 0), 0, ids)


def run_json(cli, *args):
    result = cli("masks", *args, "--json")
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


# --- pure decisions ---------------------------------------------------------------------------

@pytest.mark.parametrize("stem, expected, hint", [
    ("mouse_s001_Simple Segmentation", "mouse_s001", SourceKind.ILASTIK),
    ("mouse_s001_cp_masks", "mouse_s001", SourceKind.CELLPOSE),
    ("mouse_s001_masks", "mouse_s001", SourceKind.CELLPOSE),
    ("mouse_s001-labels", "mouse_s001", SourceKind.QUPATH),
    ("mouse_s001.tif-labels", "mouse_s001", SourceKind.QUPATH),
    ("mouse_s001_mask", "mouse_s001", SourceKind.BINARY),
    ("mouse_s001_seg", "mouse_s001", None),
    ("mouse_s001", "mouse_s001", None),
], ids=["ilastik", "cp_masks", "masks", "qupath", "inner-ext", "mask", "seg", "none"])
def test_strip_tool_suffix(stem, expected, hint):
    stripped = strip_tool_suffix(stem)
    assert (stripped.stem, stripped.hint) == (expected, hint)


def test_parse_labels():
    assert parse_labels("2,3") == (2, 3)
    assert parse_labels("3, 1-2") == (1, 2, 3)
    with pytest.raises(ValueError):
        parse_labels("a")
    with pytest.raises(ValueError):
        parse_labels("4-2")


def test_match_image_by_stem_then_section():
    series = [SeriesImage("m_s001.png", "m_s001", Size(10, 10), 1),
              SeriesImage("m_s002.png", "m_s002", Size(10, 10), 2),
              SeriesImage("n_s002.png", "n_s002", Size(10, 10), 2)]
    assert match_image("m_s001", series).stem == "m_s001"
    assert match_image("other_s1", series).stem == "m_s001"
    with pytest.raises(InputError, match="matches several images: m_s002.png, n_s002.png"):
        match_image("x_s002", series)
    with pytest.raises(InputError, match="no image of the series .* section number 7"):
        match_image("x_s007", series)


# --- every input kind through the CLI ---------------------------------------------------------

def test_ilastik_needs_labels_and_lists_counts(cli, tmp_path):
    array = labels_array()
    src = save(from_array(array), tmp_path / "seg" / "m_s001_Simple Segmentation.png")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 1
    counts = {v: int((array == v).sum()) for v in (1, 2, 3)}
    assert "say which label values are objects with --labels" in result.stderr
    assert f"3 ({counts[3] / array.size:.1%}, {counts[3]} px)" in result.stderr
    assert not (tmp_path / "out" / "m_s001.png").exists()


@pytest.mark.parametrize("labels", ["2", "2,3"], ids=["one", "two"])
def test_ilastik_uint8_labels(cli, tmp_path, labels):
    array = labels_array()
    src = save(from_array(array), tmp_path / "seg" / "m_s001_Simple Segmentation.png")
    before = tree_hashes(tmp_path / "seg")
    result, doc = run_json(cli, src, "-o", tmp_path / "out", "--labels", labels)
    assert result.exit_code == 0, result.stderr
    objects = np.isin(array, parse_labels(labels))
    check_output(tmp_path / "out" / "m_s001.png", objects)
    (entry,) = doc["masks"]
    assert entry["kind"] == "ilastik" and entry["labels"] == f"labels {labels}"
    assert entry["object_fraction"] == pytest.approx(objects.mean())
    assert tree_hashes(tmp_path / "seg") == before


def test_cellpose_uint16_instances_default_nonzero(cli, tmp_path):
    array = labels_array(values=(0, 0, 7, 300, 65535), dtype=np.uint16)
    src = save(from_array(array), tmp_path / "seg" / "m_s002_cp_masks.png")
    result, doc = run_json(cli, src, "-o", tmp_path / "out", "--keep-touching")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s002.png", array > 0)
    entry = doc["masks"][0]
    assert entry["kind"] == "cellpose"
    assert entry["labels"] == "non-zero, touching instances kept"
    assert entry["object_fraction"] == pytest.approx((array > 0).mean())


def test_cellpose_many_labels_use_lookup(cli, tmp_path):
    array = (np.arange(40 * 30).reshape(30, 40) % 500).astype(np.uint16)
    src = save(from_array(array), tmp_path / "seg" / "m_s003_masks.tif")
    result = cli("masks", src, "-o", tmp_path / "out", "--instance-ids", "10-99,300")
    assert result.exit_code == 0, result.stderr
    objects = ((array >= 10) & (array <= 99)) | (array == 300)
    check_output(tmp_path / "out" / "m_s003.png", separated(np.where(objects, array, 0)) > 0)


def test_qupath_palette_white_background(cli, tmp_path):
    indices = labels_array(values=(0, 1, 2))
    palette = [(255, 255, 255), (200, 0, 0), (0, 0, 180)]
    src = write_palette_png(tmp_path / "seg" / "m_s004-labels.png", indices, palette)
    assert png_palette(src) == palette
    result, doc = run_json(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s004.png", indices > 0)
    assert doc["masks"][0]["kind"] == "qupath"
    result = cli("masks", src, "-o", tmp_path / "out2", "--labels", "2")
    check_output(tmp_path / "out2" / "m_s004.png", indices == 2)


def test_palette_index_outside_palette(cli, tmp_path):
    src = write_palette_png(tmp_path / "seg" / "m_s004-labels.png", labels_array(values=(0, 1)),
                            [(255, 255, 255), (0, 0, 0)])
    result = cli("masks", src, "-o", tmp_path / "out", "--labels", "5")
    assert result.exit_code == 1
    assert "labels 5 are not in this file's palette (indices 0-1)" in result.stderr


@pytest.mark.parametrize("objects_value", [255, 1], ids=["0-255", "0-1"])
def test_fiji_binary_png(cli, tmp_path, objects_value):
    array = labels_array(values=(0, objects_value))
    src = save(from_array(array), tmp_path / "seg" / "m_s005_mask.png")
    result, doc = run_json(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s005.png", array > 0)
    assert doc["masks"][0]["kind"] == "binary"


def test_fiji_min_is_white_tiff_keeps_stored_objects(cli, tmp_path):
    stored = np.zeros((30, 40), np.uint8)
    stored[5:12, 5:20] = 255  # FIJI: objects 255, shown black through an inverting LUT
    # libvips inverts on miniswhite save, so save the inverse to store `stored`.
    src = save(from_array(255 - stored), tmp_path / "seg" / "m_s006.tif", miniswhite=True)
    assert tiff_min_is_white(src)
    assert pyvips.Image.new_from_file(str(src)).numpy()[6, 6] == 0  # libvips shows it inverted
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s006.png", stored > 0)
    assert "min-is-white" in result.stderr
    result = cli("masks", src, "-o", tmp_path / "inv", "--invert")
    check_output(tmp_path / "inv" / "m_s006.png", stored == 0)


def test_normal_tiff_is_not_min_is_white(tmp_path):
    src = save(from_array(labels_array(values=(0, 255))), tmp_path / "m_s001.tif")
    assert not tiff_min_is_white(src)


def test_mostly_objects_warns_about_swap(cli, tmp_path):
    array = np.full((30, 40), 255, np.uint8)
    array[:5, :5] = 0
    src = save(from_array(array), tmp_path / "seg" / "m_s007_mask.png")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "objects cover 97.9% of the section" in result.stderr and "--invert" in result.stderr


def test_no_objects_is_a_warning(cli, tmp_path):
    src = save(from_array(np.zeros((30, 40), np.uint8)), tmp_path / "seg" / "m_s008_mask.png")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "no objects: the output is all background" in result.stderr
    check_output(tmp_path / "out" / "m_s008.png", np.zeros((30, 40), bool))


def test_rgba_coloured_with_object_colour(cli, tmp_path):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[2:10, 2:10, :3] = (0, 255, 0)
    rgba[12:20, 2:10, :3] = (0, 0, 255)
    rgba[2:6, 20:30] = (0, 255, 0, 0)  # transparent: never objects
    src = save(from_array(rgba), tmp_path / "seg" / "m_s009.png")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "say which is the objects with --object-colour R,G,B" in result.stderr
    result = cli("masks", src, "-o", tmp_path / "out", "--object-colour", "0,255,0",
                 "--colour", "0,0,255", "--background", "255,255,255")
    assert result.exit_code == 0, result.stderr
    objects = np.all(rgba == (0, 255, 0, 255), axis=-1)
    check_output(tmp_path / "out" / "m_s009.png", objects, (0, 0, 255), (255, 255, 255))


def test_rgb_single_colour_on_white_is_automatic(cli, tmp_path):
    rgb = np.full((30, 40, 3), 255, np.uint8)
    rgb[3:9, 3:30] = (10, 200, 30)
    src = save(from_array(rgb), tmp_path / "seg" / "m_s010.png")
    result, doc = run_json(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s010.png", np.all(rgb == (10, 200, 30), axis=-1))
    assert doc["masks"][0]["labels"] == "colour 10,200,30"


def test_seg_npy_refused_never_loaded(cli, tmp_path):
    npy = tmp_path / "seg" / "m_s011_seg.npy"
    npy.parent.mkdir()
    npy.write_bytes(b"\x93NUMPY not really a pickle")
    result = cli("masks", npy, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "never loaded" in result.stderr and "--save_png" in result.stderr


def test_seg_npy_next_to_its_png_is_skipped(cli, tmp_path):
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "m_s011_seg.npy").write_bytes(b"pickle")
    save(from_array(labels_array(values=(0, 5), dtype=np.uint16)), tmp_path / "seg" / "m_s011_cp_masks.png")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "m_s011.png").exists()


# --- names, proportions and sizes against the image series ------------------------------------

def test_names_matched_by_section_and_sizes(cli, tmp_path, make_image):
    make_image("images/brainA_s001.png", 80, 60)
    make_image("images/brainA_s002.png", 80, 60)
    array = labels_array(40, 30, values=(0, 1))
    save(from_array(array), tmp_path / "seg" / "export_s001_mask.png")
    save(from_array(array), tmp_path / "seg" / "brainA_s002_cp_masks.png")
    result, doc = run_json(cli, tmp_path / "seg", "-o", tmp_path / "out",
                           "--images", tmp_path / "images", "--size", "image")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["brainA_s001.png", "brainA_s002.png"]
    enlarged = np.kron(array > 0, np.ones((2, 2), bool))
    check_output(tmp_path / "out" / "brainA_s001.png", enlarged)


def test_mismatched_proportions_error(cli, tmp_path, make_image):
    make_image("images/brainA_s001.png", 80, 60)
    src = save(from_array(labels_array(40, 35, values=(0, 1))), tmp_path / "seg" / "brainA_s001_mask.png")
    result = cli("masks", src, "-o", tmp_path / "out", "--images", tmp_path / "images")
    assert result.exit_code == 1
    assert "proportions differ from its image brainA_s001.png: mask 40x35" in result.stderr
    assert "image 80x60" in result.stderr
    assert not (tmp_path / "out" / "brainA_s001.png").exists()


def test_unmatched_lists_candidates(cli, tmp_path, make_image):
    make_image("images/brainA_s001.png", 80, 60)
    src = save(from_array(labels_array(40, 30, values=(0, 1))), tmp_path / "seg" / "other_mask.png")
    result = cli("masks", src, "-o", tmp_path / "out", "--images", tmp_path / "images")
    assert result.exit_code == 1
    assert "no image of the series is named 'other'" in result.stderr
    assert "images: brainA_s001.png" in result.stderr


def test_manifest_as_series(cli, tmp_path, make_image):
    make_image("scans/brainA_s001.png", 160, 120)
    assert cli("downscale", tmp_path / "scans", "-o", tmp_path / "small", "--factor", "0.5").exit_code == 0
    src = save(from_array(labels_array(40, 30, values=(0, 1))), tmp_path / "seg" / "brainA_s001_mask.png")
    result, doc = run_json(cli, src, "-o", tmp_path / "out", "--manifest",
                           tmp_path / "small" / "quint-prep.json", "--size", "image")
    assert result.exit_code == 0, result.stderr
    assert doc["masks"][0]["width"] == 80 and doc["masks"][0]["image"] == "brainA_s001.png"


def test_max_size_one_factor(cli, tmp_path):
    big = labels_array(80, 60, values=(0, 1))
    small = labels_array(40, 30, values=(0, 1), seed=2)
    save(from_array(big), tmp_path / "seg" / "m_s001_mask.png")
    save(from_array(small), tmp_path / "seg" / "m_s002_mask.png")
    result, doc = run_json(cli, tmp_path / "seg", "-o", tmp_path / "out", "--max-size", "40x40")
    assert result.exit_code == 0, result.stderr
    assert doc["factor"] == 0.5
    sizes = {Path(m["output"]).name: (m["width"], m["height"]) for m in doc["masks"]}
    assert sizes == {"m_s001.png": (40, 30), "m_s002.png": (20, 15)}
    blocks = (big > 0).reshape(30, 2, 40, 2).mean(axis=(1, 3)) >= 0.5
    check_output(tmp_path / "out" / "m_s001.png", blocks)


def test_rerun_skips_up_to_date_and_refuses_foreign_files(cli, tmp_path):
    src = save(from_array(labels_array(values=(0, 1))), tmp_path / "seg" / "m_s001_mask.png")
    other = save(from_array(labels_array(values=(0, 1))), tmp_path / "seg" / "m_s002_mask.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m_s002.png").write_bytes(b"someone else's file")
    result, doc = run_json(cli, src, other, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "m_s002.png exists and was not written by quint-prep; pass --overwrite" in result.stderr
    assert (tmp_path / "out" / "m_s002.png").read_bytes() == b"someone else's file"
    manifest = json.loads((tmp_path / "out" / "quint-prep.json").read_text())
    assert [f["name"] for f in manifest["masks"]["files"]] == ["m_s001.png"]
    assert manifest["masks"]["files"][0]["settings"]["resample"] == "area"
    assert manifest["masks"]["files"][0]["object_fraction"] == pytest.approx(doc["masks"][0]["object_fraction"])
    result, doc = run_json(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0 and doc["masks"][0]["status"] == "up-to-date"
    result = cli("masks", src, "-o", tmp_path / "out", "--resample", "nearest")
    assert result.exit_code == 2  # a folder holds one series of masks
    assert "holds 1 mask made with other settings (resample area -> nearest)" in result.stderr
    result, doc = run_json(cli, src, "-o", tmp_path / "out", "--resample", "nearest", "--overwrite")
    assert result.exit_code == 0 and doc["masks"][0]["status"] == "written"
    result, doc = run_json(cli, src, other, "-o", tmp_path / "out", "--overwrite")
    assert result.exit_code == 0 and doc["counts"] == {"written": 2, "up-to-date": 0, "failed": 0}


def test_usage_errors(cli, tmp_path):
    src = save(from_array(labels_array(values=(0, 1))), tmp_path / "seg" / "m_s001_mask.png")
    cases = [
        (["--colour", "255,0,0", "--background", "255,0,0"], "--colour and --background are the same"),
        (["--colour", "300,0,0"], "--colour: '300,0,0' is not R,G,B"),
        (["--size", "image"], "--size image needs the images"),
        (["--labels", "x"], "--labels:"),
    ]
    for args, message in cases:
        result = cli("masks", src, "-o", tmp_path / "out", *args)
        assert result.exit_code == 2, args
        assert message in result.stderr
    result = cli("masks", src, "-o", tmp_path / "seg" / "sub")
    assert result.exit_code == 2 and "lies inside the source folder" in result.stderr


# --- label-safe resampling --------------------------------------------------------------------

def _selection(array: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array((array > 0).astype(np.uint8) * 255)


def test_area_keeps_fraction_any_keeps_small_objects():
    array = np.zeros((40, 40), np.uint8)
    array[4:6, 4:6] = 1       # small object: a quarter of a 4x4 block
    array[16:32, 8:24] = 1    # large object
    target = Size(10, 10)
    area = resample_selection(_selection(array), target, MaskResample.AREA).numpy() > 0
    any_ = resample_selection(_selection(array), target, MaskResample.ANY).numpy() > 0
    near = resample_selection(_selection(array), target, MaskResample.NEAREST).numpy()
    blocks = array.reshape(10, 4, 10, 4).mean(axis=(1, 3))
    assert np.array_equal(area, blocks >= 0.5)
    assert np.array_equal(any_, blocks > 0)
    assert set(np.unique(near)) <= {0, 255} and near.shape == (10, 10)


def test_non_integer_factor_gives_exact_size():
    array = labels_array(37, 23, values=(0, 1))
    for method in MaskResample:
        out = resample_selection(_selection(array), Size(15, 9), method).numpy()
        assert out.shape == (9, 15) and set(np.unique(out)) <= {0, 255}, method


def test_read_mask_file_detects_kinds(tmp_path):
    cases = {
        "a.png": (labels_array(values=(1, 2, 3)), SourceKind.ILASTIK),
        "b.png": (labels_array(values=(0, 4, 9)), SourceKind.CELLPOSE),
        "c.png": (labels_array(values=(0, 255)), SourceKind.BINARY),
        "d.tif": (labels_array(values=(0, 70000), dtype=np.uint32), SourceKind.CELLPOSE),
    }
    for name, (array, kind) in cases.items():
        image = pyvips.Image.new_from_array(array)
        path = save(image, tmp_path / name)
        assert read_mask_file(path).kind is kind, name


@pytest.mark.parametrize("suffix, hint", TOOL_SUFFIXES, ids=[s for s, _ in TOOL_SUFFIXES])
def test_every_tool_suffix_is_stripped(cli, tmp_path, suffix, hint):
    array = labels_array(values=(0, 9))
    src = save(from_array(array), tmp_path / "seg" / f"brainB_s012{suffix}.png")
    result, doc = run_json(cli, src, "-o", tmp_path / "out", "--labels", "9")
    assert result.exit_code == 0, result.stderr
    assert Path(doc["masks"][0]["output"]).name == "brainB_s012.png"
    assert strip_tool_suffix(f"brainB_s012{suffix}").hint == hint
    check_output(tmp_path / "out" / "brainB_s012.png", array == 9)


def test_ilastik_uint16_without_zero_is_detected(tmp_path):
    path = save(from_array(labels_array(values=(1, 2, 300), dtype=np.uint16)), tmp_path / "x.tif")
    assert read_mask_file(path).kind is SourceKind.ILASTIK


def test_palette_with_transparency(cli, tmp_path):
    indices = labels_array(values=(0, 1, 2))
    src = write_palette_png(tmp_path / "seg" / "m_s013-labels.png", indices,
                            [(255, 255, 255), (200, 0, 0), (0, 0, 180)], alpha=[0, 255, 255])
    result = cli("masks", src, "-o", tmp_path / "out", "--labels", "1")
    assert result.exit_code == 0, result.stderr
    check_output(tmp_path / "out" / "m_s013.png", indices == 1)


def test_rgb_many_colours_lists_them(cli, tmp_path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:10] = (10, 20, 30)
    rgb[10:15] = (10, 20, 31)  # same red+green, other blue: told apart in a second pass
    src = save(from_array(rgb), tmp_path / "seg" / "m_s014.png")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "coloured segmentation with 3 colours" in result.stderr
    assert "0,0,0 (50.0%)" in result.stderr and "10,20,30 (33.3%)" in result.stderr
    assert "10,20,31 (16.7%)" in result.stderr


def test_labels_on_coloured_input_is_refused(cli, tmp_path):
    # --labels is for class-label files only (issue 14); a table row naming a coloured file is
    # still refused, with what to do.
    rgb = np.zeros((30, 40, 3), np.uint8)
    src = save(from_array(rgb), tmp_path / "seg" / "m_s015.png")
    table = tmp_path / "labels.csv"
    table.write_text("name,labels\nm_s015,1\n")
    result = cli("masks", src, "-o", tmp_path / "out", "--labels-table", table)
    assert result.exit_code == 1
    assert "choose the objects with --object-colour R,G,B" in result.stderr


@pytest.mark.parametrize("image, mask, same", [
    ((1000, 500), (100, 50), True),
    ((1000, 500), (100, 51), True),     # one-pixel rounding
    ((1000, 500), (100, 52), False),
    ((1001, 667), (250, 167), True),    # round(1001*0.25) x round(667*0.25)
    ((3, 4), (4, 3), False),            # rotated
    ((80, 60), (160, 120), True),       # a mask larger than its image
], ids=["exact", "rounding", "off", "downscaled", "rotated", "larger"])
def test_same_proportions(image, mask, same):
    from quint_prep.scale import same_proportions

    assert same_proportions(Size(*image), Size(*mask)) is same


def test_output_folder_may_not_be_the_images_folder(cli, tmp_path, make_image):
    make_image("images/brainA_s001.png", 80, 60)
    before = tree_hashes(tmp_path / "images")
    src = save(from_array(labels_array(40, 30, values=(0, 1))), tmp_path / "seg" / "brainA_s001_mask.png")
    result = cli("masks", src, "-o", tmp_path / "images", "--images", tmp_path / "images")
    assert result.exit_code == 2 and "is the images folder" in result.stderr
    assert tree_hashes(tmp_path / "images") == before


def test_qupath_single_band_labels_by_name(cli, tmp_path):
    array = labels_array(values=(0, 1, 2))
    src = save(from_array(array), tmp_path / "seg" / "m_s016-labels.tif")
    result, doc = run_json(cli, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert doc["masks"][0]["kind"] == "qupath"
    check_output(tmp_path / "out" / "m_s016.png", array > 0)  # 8-bit: classes, not instances
    wide = save(from_array(array.astype(np.uint16)), tmp_path / "seg2" / "m_s016-labels.tif")
    result, doc = run_json(cli, wide, "-o", tmp_path / "out2")
    assert doc["masks"][0]["labels"] == "non-zero, instances separated"
    check_output(tmp_path / "out2" / "m_s016.png", separated(array) > 0)


def test_ilastik_listing_is_capped(cli, tmp_path):
    array = (np.arange(40 * 30).reshape(30, 40) % 50 + 1).astype(np.uint16)
    src = save(from_array(array), tmp_path / "seg" / "m_s017_Simple Segmentation.tif")
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "and 30 more (instance labels? try --source cellpose)" in result.stderr


def test_cellpose_folder_with_images_and_by_products(cli, tmp_path, make_image):
    """Cellpose saves next to the images: the images, figures and pickles are set aside."""
    folder = tmp_path / "cellpose"
    make_image("cellpose/m_s001.png", 40, 30)
    array = labels_array(values=(0, 3, 4), dtype=np.uint16)
    save(from_array(array), folder / "m_s001_cp_masks.png")
    make_image("cellpose/m_s001_outlines_cp_masks.png", 40, 30)
    make_image("cellpose/m_s001_cp_output_cp_masks.png", 40, 30)
    (folder / "m_s001_seg.npy").write_bytes(b"pickle")
    before = tree_hashes(folder)
    result, doc = run_json(cli, folder, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert [Path(m["source"]).name for m in doc["masks"]] == ["m_s001_cp_masks.png"]
    assert "m_s001.png: skipped: the image segmented in m_s001_cp_masks.png" in result.stderr
    assert "m_s001_outlines_cp_masks.png: skipped: a Cellpose by-product" in result.stderr
    check_output(tmp_path / "out" / "m_s001.png", separated(array) > 0)
    assert tree_hashes(folder) == before


def test_empty_images_folder_is_a_usage_error(cli, tmp_path):
    (tmp_path / "images").mkdir()
    src = save(from_array(labels_array(values=(0, 1))), tmp_path / "seg" / "m_s001_mask.png")
    result = cli("masks", src, "-o", tmp_path / "out", "--images", tmp_path / "images")
    assert result.exit_code == 2 and "no images to name the masks after" in result.stderr


@pytest.mark.parametrize("dtype, values", [
    (np.uint8, [1, 2]), (np.uint16, list(range(5, 300, 7))),
    (np.uint32, [3, 70000, 70001, 131072] + list(range(10, 30))),
], ids=["uchar-equalities", "ushort-lut", "uint-high-low"])
def test_select_values_matches_numpy(dtype, values):
    from quint_prep.masks.select import select_values

    rng = np.random.default_rng(3)
    pool = np.array(values + [0, 4, 65536 + 3 if dtype == np.uint32 else 4], dtype=np.int64)
    array = rng.choice(pool, size=(20, 30)).astype(dtype)
    out = select_values(pyvips.Image.new_from_array(array), values).numpy()
    assert np.array_equal(out > 0, np.isin(array, values))
    assert set(np.unique(out)) <= {0, 255}


def test_resample_enlarges_one_axis_and_shrinks_the_other():
    array = labels_array(40, 31, values=(0, 1))
    out = resample_selection(_selection(array), Size(80, 30), MaskResample.AREA).numpy()
    assert out.shape == (30, 80) and set(np.unique(out)) <= {0, 255}


def test_masks_prints_the_upload_check_verdict(cli, tmp_path):
    images = tmp_path / "images"
    save(from_array(np.zeros((40, 60, 3), np.uint8)), images / "m_s001.png")
    save(from_array(np.zeros((40, 60, 3), np.uint8)), images / "m_s002.png")
    labels = np.zeros((40, 60), np.uint8)
    labels[10:20, 10:20] = 1
    save(from_array(labels), tmp_path / "seg" / "m_s001_cp_masks.png")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--images", images)
    assert result.exit_code == 1, result.output  # the printed verdict has an error
    # The verdict sees the missing segmentation of m_s002 (an error for upload).
    assert "pair.missing-segmentation" in result.stderr and "m_s002" in result.stderr
    assert "check: FAIL" in result.stdout
    document = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--images", images, "--json")
    assert json.loads(document.stdout)["check"]["ok"] is False
