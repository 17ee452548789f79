"""Every kind of bad input for downscale: one clear line, the rest goes on, sources untouched."""

import json
import os
from pathlib import Path

import pyvips
import pytest

from quint_prep.downscale import image as downscale_module
from quint_prep.outputs import TEMP_MARKER
from badfiles import BAD_KINDS, DECODE_KINDS, make_bad, make_unusual
from conftest import gradient, save, tree_hashes


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_file_one_line_rest_processed_sources_untouched(tmp_path, cli, kind):
    src = tmp_path / "src"
    save(gradient(300, 200), src / "good_s001.png")
    save(gradient(300, 200), src / "good_s003.tif", tile=True)
    name, fragment = make_bad(kind, src)
    before = tree_hashes(src)
    result = cli("downscale", src, "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and fragment in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good_s001.png", "good_s003.png", "quint-prep.json"]
    assert tree_hashes(src) == before


@pytest.mark.parametrize("kind", ["png-named-tif", "cmyk-jpeg", "progressive-jpeg", "palette-png",
                                  "1bit-png", "16bit-png", "multipage-tiff", "rgba-png",
                                  "odd-names"])
def test_unusual_but_valid_files_are_processed(tmp_path, cli, kind):
    src = tmp_path / "src"
    if kind == "odd-names":
        save(gradient(300, 200), src / "my section s1 ü.png")
        save(gradient(300, 200), src / "brain_s001_s002.png")
        expect_warning = "no section number"
    else:
        expect_warning = make_unusual(kind, src, gradient(300, 200))
    before = tree_hashes(src)
    result = cli("downscale", src, "-o", tmp_path / "out", "--factor", "0.5", "--json")
    document = json.loads(result.stdout)
    # Names QUINT cannot use are written, but the verdict on them is an error: exit 1.
    assert result.exit_code == (1 if kind == "odd-names" else 0), result.output
    assert document["check"]["ok"] is (kind != "odd-names")
    assert document["counts"]["failed"] == 0 and document["counts"]["written"] >= 1
    for entry in document["images"]:
        out = pyvips.Image.new_from_file(entry["output"])
        assert out.format == "uchar" and (out.width, out.height) == (150, 100)
    if expect_warning:
        assert expect_warning in result.stderr
    assert tree_hashes(src) == before


def test_duplicate_section_numbers_warn(tmp_path, cli):
    save(gradient(40, 30), tmp_path / "src/a_s001.png")
    save(gradient(40, 30), tmp_path / "src/b_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert result.exit_code == 1 and "check: FAIL" in result.stdout  # the verdict's error
    assert "section number 1 is used by a_s001.png, b_s001.png" in result.stderr


def test_symlink_loop_is_one_clear_line(tmp_path, cli):
    save(gradient(40, 30), tmp_path / "src/a_s001.png")
    os.symlink(tmp_path / "src/loop_s002.png", tmp_path / "src/loop_s002.png")
    os.symlink(tmp_path / "src", tmp_path / "src/parent")  # a folder loop: not followed
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1
    assert "loop_s002.png: broken or looping symbolic link" in result.stderr
    assert (tmp_path / "out/a_s001.png").exists()


def test_write_failing_part_way_leaves_nothing(tmp_path, cli, monkeypatch):
    """A full disk: the write fails after some bytes; no partial file, the error names it."""
    save(gradient(40, 30), tmp_path / "src/a_s001.png")
    save(gradient(40, 30), tmp_path / "src/a_s002.png")

    def full_disk(image, path, settings):
        Path(path).write_bytes(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(downscale_module, "_save", full_disk)
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["quint-prep.json"]


def test_unwritable_output_folder(tmp_path, cli, monkeypatch):
    save(gradient(40, 30), tmp_path / "src/a_s001.png")
    (tmp_path / "out").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if (
        Path(p) == tmp_path / "out" and mode == os.W_OK) else real_access(p, mode))
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert "the output folder is not writable" in result.stderr, result.output
    assert result.exit_code == 1


def test_debug_shows_traceback(tmp_path, cli):
    save(gradient(40, 30), tmp_path / "src/a_s001.png")
    plain = cli("downscale", tmp_path / "src", "-o", tmp_path / "src", "--factor", "0.5")
    assert "Traceback" not in plain.output
    debug = cli("--debug", "downscale", tmp_path / "src", "-o", tmp_path / "src", "--factor", "0.5")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr


def test_no_temporary_files_after_failures(tmp_path, cli):
    src = tmp_path / "src"
    save(gradient(300, 200), src / "good_s001.png")
    make_bad("half-jpeg", src)
    cli("downscale", src, "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert not [p for p in (tmp_path / "out").iterdir() if TEMP_MARKER in p.name]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_data_after_the_end_marker_is_not_truncation(tmp_path, cli, suffix):
    """Cameras and tools append data after a JPEG's end marker (or a PNG's IEND): still whole."""
    path = save(gradient(300, 200), tmp_path / f"src/a_s001{suffix}")
    path.write_bytes(path.read_bytes() + bytes(range(256)) * 40)
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/a_s001.png").exists()
