"""Every kind of bad input for downscale: one clear line, the rest goes on, sources untouched."""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pyvips
import pytest

from quint_prep import downscale as downscale_module
from quint_prep.outputs import TEMP_MARKER
from conftest import from_array, gradient, save, tree_hashes


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def huge_tiff_header(path: Path) -> None:
    """A tiny TIFF whose header claims 1,000,000 x 1,000,000 pixels."""
    entries = [(256, 4, 1, 1_000_000), (257, 4, 1, 1_000_000), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, 1_000_000),
               (279, 4, 1, 10**12 % 2**32)]
    ifd_offset = 8 + 16
    body = b"II*\x00" + struct.pack("<I", ifd_offset) + b"\x00" * 16
    body += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, count) + packed
    body += struct.pack("<I", 0)
    path.write_bytes(body)


def make_bad(kind: str, folder: Path) -> tuple[str, str]:
    """Write one bad file; return (file name, fragment of the expected error or warning)."""
    image = gradient(300, 200)
    if kind == "zero-bytes":
        (folder / "z_s002.tif").write_bytes(b"")
        return "z_s002.tif", "empty file (0 bytes)"
    if kind in ("half-tiff", "half-bigtiff", "half-png", "half-jpeg", "half-striped"):
        name, options = {
            "half-tiff": ("h_s002.tif", {"tile": True, "compression": "deflate"}),
            "half-bigtiff": ("h_s002.tif", {"tile": True, "bigtiff": True}),
            "half-striped": ("h_s002.tif", {"compression": "lzw"}),
            "half-png": ("h_s002.png", {}),
            "half-jpeg": ("h_s002.jpg", {}),
        }[kind]
        noisy = pyvips.Image.gaussnoise(300, 200).cast("uchar")
        path = save(noisy.bandjoin([noisy, noisy]).copy(interpretation="srgb"), folder / name, **options)
        truncated(path)
        return name, "h_s002"
    if kind == "random-bytes":
        (folder / "r_s002.tif").write_bytes(np.random.default_rng(1).bytes(5000))
        return "r_s002.tif", "not an image"
    if kind == "text-as-png":
        (folder / "t_s002.png").write_text("hello, I am a text file\n")
        return "t_s002.png", "not an image"
    if kind == "float-tiff":
        save(image.cast("float"), folder / "f_s002.tif")
        return "f_s002.tif", "need an intensity window"
    if kind == "uint32-tiff":
        save(image.cast("uint"), folder / "u_s002.tif")
        return "u_s002.tif", "need an intensity window"
    if kind == "huge-header":
        huge_tiff_header(folder / "x_s002.tif")
        return "x_s002.tif", "the header claims 1000000x1000000 pixels"
    raise AssertionError(kind)


BAD_KINDS = ["zero-bytes", "half-tiff", "half-bigtiff", "half-striped", "half-png", "half-jpeg",
             "random-bytes", "text-as-png", "float-tiff", "uint32-tiff", "huge-header"]


@pytest.mark.parametrize("kind", BAD_KINDS)
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
    image = gradient(300, 200)
    expect_warning = None
    if kind == "png-named-tif":
        save(image, src / "p_s001.png")
        os.rename(src / "p_s001.png", src / "p_s001.tif")
        expect_warning = "the content is PNG although the name ends in .tif"
    elif kind == "cmyk-jpeg":
        image.colourspace("cmyk").jpegsave(str(src / "c_s001.jpg")) if src.mkdir() is None else None
    elif kind == "progressive-jpeg":
        save(image, src / "p_s001.jpg", interlace=True)
        expect_warning = "interlaced/progressive"
    elif kind == "palette-png":
        save(image, src / "p_s001.png", palette=True)
    elif kind == "1bit-png":
        save((gradient(300, 200, bands=1) > 128).ifthenelse(255, 0).cast("uchar"), src / "p_s001.png", bitdepth=1)
    elif kind == "16bit-png":
        save(from_array((np.indices((200, 300))[1] * 200).astype(np.uint16)), src / "p_s001.png")
    elif kind == "multipage-tiff":
        pages = gradient(300, 200).join(gradient(300, 200).invert(), "vertical")
        save(pages.copy(), src / "m_s001.tif", page_height=200)
        expect_warning = "2 pages and no pyramid"
    elif kind == "rgba-png":
        save(image.bandjoin(128), src / "a_s001.png")
    elif kind == "odd-names":
        save(image, src / "my section s1 ü.png")
        save(image, src / "brain_s001_s002.png")
        expect_warning = "no section number"
    before = tree_hashes(src)
    result = cli("downscale", src, "-o", tmp_path / "out", "--factor", "0.5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
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
    assert result.exit_code == 0
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
