"""Every kind of bad input for masks: one clear line, the other masks written, sources untouched."""

import os
import re
import tracemalloc
from pathlib import Path

import pyvips
import pytest

from quint_prep.masks import convert as masks_module
from quint_prep.masks.sources import png_palette
from badfiles import (BAD_KINDS, DECODE_KINDS, UNUSUAL_KINDS, assert_one_error, full_disk,
                      interrupted_at, make_bad, make_junk, make_unusual, symlink_loops, temporaries)
from conftest import gradient, read_array, save, tree_hashes

# masks reads 3-band float/uint32 files as colour segmentations, refused for their depth.
FRAGMENTS = {"float-tiff": "32-bit colour segmentations are not supported",
             "uint32-tiff": "32-bit colour segmentations are not supported"}


def binary_mask(width: int = 300, height: int = 200) -> pyvips.Image:
    """A 0/255 single-band mask: the right half is objects."""
    return (gradient(width, height, bands=1) > 128).ifthenelse(255, 0).cast("uchar").copy(
        interpretation="b-w")


def red_mask(width: int = 300, height: int = 200) -> pyvips.Image:
    """An RGB mask: red objects on black."""
    grey = binary_mask(width, height)
    return grey.bandjoin([grey * 0, grey * 0]).cast("uchar").copy(interpretation="srgb")


def good_series(seg: Path) -> None:
    save(binary_mask(), seg / "a_s001_mask.png")
    save(binary_mask(), seg / "a_s003_mask.png")


def outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_segmentation_one_line_rest_written_sources_untouched(tmp_path, cli, kind):
    seg = tmp_path / "seg"
    good_series(seg)
    name, fragment = make_bad(kind, seg, stem="a_s002_mask", bands=1)
    before = tree_hashes(seg)
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert_one_error(result, name, FRAGMENTS.get(kind, fragment))
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]
    assert tree_hashes(seg) == before
    assert not temporaries(tmp_path / "out")


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_unusual_but_valid_segmentations_are_converted(tmp_path, cli, kind):
    seg = tmp_path / "seg"
    good_series(seg)
    # JPEG's lossy edges would add colours to a red mask: JPEG kinds get a grey 0/255 mask.
    image = binary_mask() if "jpeg" in kind else red_mask()
    expect_warning = make_unusual(kind, seg, image, stem="a_s002_mask")
    before = tree_hashes(seg)
    result = cli("masks", seg, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s002.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]
    written = pyvips.Image.new_from_file(str(tmp_path / "out/a_s002.png"))
    assert (written.width, written.height, written.bands, written.format) == (300, 200, 3, "uchar")
    colours = {tuple(c) for c in read_array(tmp_path / "out/a_s002.png").reshape(-1, 3)}
    assert colours <= {(255, 0, 0), (0, 0, 0)} and len(colours) == 2
    if expect_warning:
        assert expect_warning in result.stderr
    assert tree_hashes(seg) == before


def test_cmyk_segmentation_colours_are_read_as_rgb(tmp_path, cli):
    """CMYK bands are not R, G, B (and K is not alpha): the colours are converted first."""
    seg = tmp_path / "seg"
    seg.mkdir()
    red_mask().colourspace("cmyk").tiffsave(str(seg / "a_s001.tif"))
    asked = cli("masks", seg, "-o", tmp_path / "out")
    # Two RGB colours (through the CMYK profile): red stays reddish, black dark grey.
    match = re.search(r"2 colours: .* colours here: (\d+),(\d+),(\d+) \(50.7%\), "
                      r"(\d+),(\d+),(\d+) \(49.3%\)", asked.stderr)
    assert asked.exit_code == 1 and match, asked.stderr
    dark, red = [int(v) for v in match.groups()[:3]], [int(v) for v in match.groups()[3:]]
    assert max(dark) < 64 and red[0] > 200 and max(red[1:]) < 64
    result = cli("masks", seg, "-o", tmp_path / "out", "--object-colour", ",".join(map(str, red)))
    assert result.exit_code == 0, result.output
    array = read_array(tmp_path / "out/a_s001.png")
    assert (array[:, 160:] == (255, 0, 0)).all() and (array[:, :140] == 0).all()


def test_odd_names_keep_their_names_and_warn(tmp_path, cli):
    seg = tmp_path / "seg"
    save(binary_mask(), seg / "my section s1 ü_mask.png")
    save(binary_mask(), seg / "brain left_mask.png")
    before = tree_hashes(seg)
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "out") == ["brain left.png", "my section s1 ü.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]
    assert "brain left_mask.png: name: no section number" in result.stderr
    assert tree_hashes(seg) == before


def test_duplicate_section_numbers_in_the_images(tmp_path, cli):
    images, seg = tmp_path / "img", tmp_path / "seg"
    save(gradient(300, 200), images / "a_s001.png")
    save(gradient(300, 200), images / "b_s001.png")
    save(gradient(300, 200), images / "c_s002.png")
    save(binary_mask(), seg / "x_s001_mask.png")
    save(binary_mask(), seg / "c_s002_mask.png")
    result = cli("masks", seg, "-o", tmp_path / "out", "--images", images, "-q")
    assert_one_error(result, "x_s001_mask.png",
                     "section number 1 of 'x_s001' matches several images: a_s001.png, b_s001.png")
    assert (tmp_path / "out/c_s002.png").exists()


def test_duplicate_outputs_are_refused_not_overwritten(tmp_path, cli):
    seg = tmp_path / "seg"
    save(binary_mask(), seg / "a_s001_mask.png")
    save(binary_mask(), seg / "a_s001_cp_masks.png")
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert len([l for l in result.stderr.splitlines() if "would also come from" in l]) == 2
    assert outputs(tmp_path / "out") == ["quint-prep.json"]


def test_unreadable_image_of_the_series(tmp_path, cli):
    images, seg = tmp_path / "img", tmp_path / "seg"
    save(gradient(300, 200), images / "a_s001.png")
    make_bad("half-png", images, stem="a_s002")
    save(binary_mask(), seg / "a_s001_mask.png")
    before = tree_hashes(images)
    result = cli("masks", seg, "-o", tmp_path / "out", "--images", images, "-q")
    # The mask is written; the verdict on the series has the unreadable image as an error.
    assert result.exit_code == 1 and "check: FAIL" in result.stdout, result.output
    assert "warning: image not usable for matching:" in result.stderr
    assert "a_s002.png: truncated PNG file" in result.stderr
    assert (tmp_path / "out/a_s001.png").exists() and tree_hashes(images) == before


def test_symlink_loop_is_one_clear_line(tmp_path, cli):
    seg = tmp_path / "seg"
    good_series(seg)
    name = symlink_loops(seg)
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert_one_error(result, name, "broken or looping symbolic link")
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]


def test_junk_files_are_skipped_quietly(tmp_path, cli):
    seg = tmp_path / "seg"
    good_series(seg)
    junk = make_junk(seg)
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert not any(name in result.output for name in junk), result.output
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]


@pytest.mark.parametrize("inside", ["seg", "img"])
def test_output_inside_a_source_folder_is_refused(tmp_path, cli, inside):
    images, seg = tmp_path / "img", tmp_path / "seg"
    save(gradient(300, 200), images / "a_s001.png")
    save(binary_mask(), seg / "a_s001_mask.png")
    before = tree_hashes(tmp_path)
    result = cli("masks", seg, "-o", tmp_path / inside / "out", "--images", images)
    assert result.exit_code == 2, result.output
    assert "lies inside the source folder" in result.stderr and "Traceback" not in result.output
    assert tree_hashes(tmp_path) == before and not (tmp_path / inside / "out").exists()


def test_unwritable_output_folder(tmp_path, cli, monkeypatch):
    seg = tmp_path / "seg"
    good_series(seg)
    (tmp_path / "out").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if (
        Path(p) == tmp_path / "out" and mode == os.W_OK) else real_access(p, mode))
    result = cli("masks", seg, "-o", tmp_path / "out")
    assert_one_error(result, str(tmp_path / "out"), "the output folder is not writable")
    assert outputs(tmp_path / "out") == []


def test_write_failing_part_way_leaves_nothing(tmp_path, cli, monkeypatch):
    seg = tmp_path / "seg"
    good_series(seg)
    before = tree_hashes(seg)
    monkeypatch.setattr(masks_module, "_save", full_disk)
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2 and all("No space left on device" in l for l in errors), result.stderr
    assert outputs(tmp_path / "out") == ["quint-prep.json"] and not temporaries(tmp_path / "out")
    assert tree_hashes(seg) == before
    # The next run, with space again, writes everything.
    monkeypatch.undo()
    assert cli("masks", seg, "-o", tmp_path / "out", "-q").exit_code == 0
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]


def test_debug_shows_traceback(tmp_path, cli):
    seg = tmp_path / "seg"
    good_series(seg)
    plain = cli("masks", seg, "-o", seg / "out")
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = cli("--debug", "masks", seg, "-o", seg / "out")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr


def test_huge_header_is_refused_before_any_pixel(tmp_path, cli, monkeypatch):
    """Memory stays bounded: the claimed size is refused from the header, never decoded."""
    seg = tmp_path / "seg"
    name, fragment = make_bad("huge-header", seg, stem="a_s001_mask")
    decoded = []
    real = pyvips.Image.hist_find
    monkeypatch.setattr(pyvips.Image, "hist_find", lambda self, **k: decoded.append(1) or real(self, **k))
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert_one_error(result, name, fragment)
    assert not decoded


def test_interrupted_run_keeps_finished_masks_and_no_partial_file(tmp_path, cli, monkeypatch):
    seg = tmp_path / "seg"
    good_series(seg)
    monkeypatch.setattr(masks_module, "_save", interrupted_at(2, masks_module._save))
    result = cli("masks", seg, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert outputs(tmp_path / "out") == ["a_s001.png", "quint-prep.json"]
    assert not temporaries(tmp_path / "out")
    monkeypatch.undo()
    rerun = cli("masks", seg, "-o", tmp_path / "out", "--json")
    assert rerun.exit_code == 0
    assert '"up-to-date": 1' in rerun.stdout and '"written": 1' in rerun.stdout


def test_temporaries_of_a_killed_run_are_removed(tmp_path, cli):
    seg = tmp_path / "seg"
    good_series(seg)
    stale = tmp_path / "out/.a_s001.quint-prep-tmp-99999.png"
    stale.parent.mkdir()
    stale.write_bytes(b"\x89PNG partial")
    assert cli("masks", seg, "-o", tmp_path / "out", "-q").exit_code == 0
    assert outputs(tmp_path / "out") == ["a_s001.png", "a_s003.png", "quint-prep-consumers.json",
                                         "quint-prep.json"]


def test_output_path_that_is_a_file(tmp_path, cli):
    seg = tmp_path / "seg"
    good_series(seg)
    (tmp_path / "out").write_text("mine")
    result = cli("masks", seg, "-o", tmp_path / "out")
    assert_one_error(result, str(tmp_path / "out"), "cannot create the output folder")
    assert (tmp_path / "out").read_text() == "mine"


def test_palette_reader_allocates_nothing_for_a_damaged_chunk(tmp_path):
    """A chunk length of 2 GB before the pixels is skipped, never read into memory."""
    name, _ = make_bad("damaged-png-chunk", tmp_path, stem="a_s001")
    tracemalloc.start()
    try:
        assert png_palette(tmp_path / name) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
