"""Every kind of bad input for sweep: one clear line per file (not one per factor), the rest of
the sample still swept, sources untouched, no partial file left."""

import json
import os
from pathlib import Path

import pyvips
import pytest

from quint_prep.downscale import image as downscale_module
from quint_prep.sweep import page as sweep_page
from badfiles import (BAD_KINDS, DECODE_KINDS, UNUSUAL_KINDS, assert_one_error, failing_write_text,
                      full_disk, interrupted_at, make_bad, make_junk, make_unusual, symlink_loops,
                      temporaries)
from conftest import gradient, save, tree_hashes

FACTORS = ("--factors", "0.5,0.25")
# masks' reader refuses 3-band float/uint32 files as colour segmentations of the wrong depth.
SEGMENTATION_FRAGMENTS = {"float-tiff": "32-bit colour segmentations are not supported",
                          "uint32-tiff": "32-bit colour segmentations are not supported"}


def binary_mask(width=300, height=200) -> pyvips.Image:
    return (gradient(width, height, bands=1) > 128).ifthenelse(255, 0).cast("uchar").copy(
        interpretation="b-w")


def images(root: Path, sections=(1, 3)) -> Path:
    for n in sections:
        save(gradient(300, 200), root / f"img/a_s00{n}.png")
    return root / "img"


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


GOOD_OUTPUTS = ["a_s001_sweep.png", "a_s003_sweep.png", "f0.25/a_s001.png", "f0.25/a_s003.png",
                "f0.25/quint-prep.json", "f0.5/a_s001.png", "f0.5/a_s003.png",
                "f0.5/quint-prep.json", "index.html"]


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_image_one_line_rest_swept_sources_untouched(tmp_path, cli, kind):
    src = images(tmp_path)
    name, fragment = make_bad(kind, src, stem="a_s002")
    before = tree_hashes(src)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert_one_error(result, name, fragment)
    assert files(tmp_path / "out") == GOOD_OUTPUTS
    assert tree_hashes(src) == before and not temporaries(tmp_path / "out")


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_segmentation_one_line_rest_counted(tmp_path, cli, kind):
    src = images(tmp_path, sections=(1, 2, 3))
    seg = tmp_path / "seg"
    save(binary_mask(), seg / "a_s001_mask.png")
    save(binary_mask(), seg / "a_s003_mask.png")
    name, fragment = make_bad(kind, seg, stem="a_s002_mask", bands=1)
    before = {**tree_hashes(src), **tree_hashes(seg)}
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "--segmentations", seg, "-q",
                 "--json")
    assert_one_error(result, name, SEGMENTATION_FRAGMENTS.get(kind, fragment))
    document = json.loads(result.stdout)
    counted = {s["name"] for s in document["sections"] if s["objects"]}
    assert counted == {"a_s001.png", "a_s003.png"}
    assert (tmp_path / "out/objects.csv").exists()
    assert {**tree_hashes(src), **tree_hashes(seg)} == before
    assert not temporaries(tmp_path / "out")


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_unusual_images_are_swept(tmp_path, cli, kind):
    src = images(tmp_path)
    expect_warning = make_unusual(kind, src, gradient(300, 200), stem="a_s002")
    before = tree_hashes(src)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (section,) = [s for s in document["sections"] if s["name"].startswith("a_s002")]
    assert [(o["status"], o["width"], o["height"]) for o in section["outputs"]] == [
        ("written", 150, 100), ("written", 75, 50)]
    assert section["sheet"] and Path(section["sheet"]).exists()
    if expect_warning:  # shown once, not once per factor
        assert result.stderr.count(expect_warning) == 1, result.stderr
    assert tree_hashes(src) == before


def test_duplicate_section_numbers_warn(tmp_path, cli):
    save(gradient(300, 200), tmp_path / "img/a_s001.png")
    save(gradient(300, 200), tmp_path / "img/b_s001.png")
    result = cli("sweep", tmp_path / "img", "-o", tmp_path / "out", *FACTORS, "-q")
    assert result.exit_code == 0, result.output
    assert "section number 1 is used by a_s001.png, b_s001.png" in result.stderr


def test_odd_names_are_swept(tmp_path, cli):
    save(gradient(300, 200), tmp_path / "img/my section s1 ü.png")
    save(gradient(300, 200), tmp_path / "img/brain left.png")
    result = cli("sweep", tmp_path / "img", "-o", tmp_path / "out", *FACTORS)
    assert result.exit_code == 0, result.output
    assert "brain left.png: name: no section number" in result.stderr
    assert (tmp_path / "out/f0.5/my section s1 ü.png").exists()
    assert (tmp_path / "out/my section s1 ü_sweep.png").exists()


def test_symlink_loop_is_one_clear_line(tmp_path, cli):
    src = images(tmp_path)
    name = symlink_loops(src)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert_one_error(result, name, "broken or looping symbolic link")
    assert files(tmp_path / "out") == GOOD_OUTPUTS


def test_junk_files_are_skipped_quietly(tmp_path, cli):
    src = images(tmp_path)
    junk = make_junk(src)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert result.exit_code == 0, result.output
    assert not any(name in result.output for name in junk)
    assert files(tmp_path / "out") == GOOD_OUTPUTS


@pytest.mark.parametrize("inside", ["img", "seg"])
def test_output_inside_a_source_folder_is_refused(tmp_path, cli, inside):
    src = images(tmp_path)
    save(binary_mask(), tmp_path / "seg/a_s001_mask.png")
    before = tree_hashes(tmp_path)
    result = cli("sweep", src, "-o", tmp_path / inside / "out", *FACTORS,
                 "--segmentations", tmp_path / "seg")
    assert result.exit_code == 2, result.output
    assert "lies inside the source folder" in result.stderr and "Traceback" not in result.output
    assert tree_hashes(tmp_path) == before and not (tmp_path / inside / "out").exists()


def test_unwritable_output_folder(tmp_path, cli, monkeypatch):
    src = images(tmp_path)
    (tmp_path / "out").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if (
        Path(p) == tmp_path / "out" and mode == os.W_OK) else real_access(p, mode))
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS)
    assert_one_error(result, str(tmp_path / "out"), "the output folder is not writable")
    assert files(tmp_path / "out") == []


def test_outputs_failing_part_way_leave_nothing(tmp_path, cli, monkeypatch):
    """A full disk while the factors are written: one line per file, no partial output."""
    src = images(tmp_path)
    before = tree_hashes(src)
    monkeypatch.setattr(downscale_module, "_save", full_disk)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2 and all("No space left on device" in l for l in errors), result.stderr
    assert not temporaries(tmp_path / "out")
    assert not [f for f in files(tmp_path / "out") if f.endswith(".png")]
    assert tree_hashes(src) == before


def test_sheet_failing_part_way_leaves_nothing(tmp_path, cli, monkeypatch):
    """A full disk while a contact sheet is written: one clear line, no partial sheet."""
    src = images(tmp_path)
    monkeypatch.setattr(sweep_page, "_save", full_disk)
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert_one_error(result, "a_s001_sweep.png", "cannot write the sheet: No space left on device")
    assert not temporaries(tmp_path / "out")
    assert not [f for f in files(tmp_path / "out") if f.endswith("_sweep.png")]


def test_debug_shows_traceback(tmp_path, cli):
    src = images(tmp_path)
    plain = cli("sweep", src, "-o", src / "out", *FACTORS)
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = cli("--debug", "sweep", src, "-o", src / "out", *FACTORS)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr


@pytest.mark.parametrize("where", ["outputs", "sheets"])
def test_interrupted_sweep_leaves_no_partial_file(tmp_path, cli, monkeypatch, where):
    src = images(tmp_path)
    module = downscale_module if where == "outputs" else sweep_page
    monkeypatch.setattr(module, "_save", interrupted_at(2, module._save))
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert not temporaries(tmp_path / "out")
    kept = files(tmp_path / "out")
    assert ("f0.5/a_s001.png" in kept) and ("a_s001_sweep.png" in kept) == (where == "sheets")
    monkeypatch.undo()
    assert cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q").exit_code == 0
    assert files(tmp_path / "out") == GOOD_OUTPUTS


def test_temporaries_of_a_killed_run_are_removed(tmp_path, cli):
    """A run killed outright (no cleanup) leaves temporary files; the next run removes them."""
    src = images(tmp_path)
    stale = [tmp_path / "out/.a_s001_sweep.quint-prep-tmp-99999.png",
             tmp_path / "out/f0.5/.a_s001.quint-prep-tmp-99999.png"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG partial")
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert result.exit_code == 0, result.output
    assert files(tmp_path / "out") == GOOD_OUTPUTS


def test_page_failing_part_way_leaves_nothing(tmp_path, cli, monkeypatch):
    """A full disk while index.html is written: one clear line, no partial page."""
    src = images(tmp_path)
    monkeypatch.setattr(Path, "write_text", failing_write_text(tmp_path / "out"))
    result = cli("sweep", src, "-o", tmp_path / "out", *FACTORS, "-q")
    assert_one_error(result, "index.html", "cannot write: No space left on device")
    assert "index.html" not in files(tmp_path / "out") and not temporaries(tmp_path / "out")
