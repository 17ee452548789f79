import json

import pytest

from quint_prep.series import discover, read_info
from quint_prep.errors import InputError, UsageError
from conftest import gradient, save


def test_discover_skips_junk_quietly(tmp_path, make_image):
    make_image("src/b_s002.png")
    make_image("src/a_s001.png")
    make_image("src/a_s010.png")
    (tmp_path / "src/.DS_Store").write_bytes(b"\0\1")
    (tmp_path / "src/Thumbs.db").write_bytes(b"\0")
    (tmp_path / "src/._a_s001.png").write_bytes(b"junk")
    (tmp_path / "src/notes.txt").write_text("x")
    (tmp_path / "src/sub").mkdir()
    found = discover([tmp_path / "src"])
    assert [p.name for p in found.images] == ["a_s001.png", "a_s010.png", "b_s002.png"]
    assert found.problems == []


def test_discover_reports_unsupported_formats(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a_s001.jp2").write_bytes(b"x")  # CZI is read since issue 16
    found = discover([tmp_path / "src"])
    assert found.images == []
    assert "export the section to TIFF" in str(found.problems[0])


def test_missing_source_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        discover([tmp_path / "nope"])


@pytest.mark.parametrize("name, options, fmt, tiled, levels", [
    ("a_s001.tif", {"tile": True, "pyramid": True, "compression": "jpeg"}, "tiff", True, 4),
    ("a_s001.tif", {"compression": "lzw"}, "tiff", False, 1),
    ("a_s001.tif", {"tile": True, "bigtiff": True, "compression": "deflate"}, "bigtiff", True, 1),
    ("a_s001.tif", {"tile": True, "pyramid": True, "subifd": True}, "tiff", True, 4),
    ("a_s001.jpg", {}, "jpeg", False, 1),
    ("a_s001.png", {}, "png", False, 1),
], ids=["pyramid-pages-jpeg", "striped-lzw", "bigtiff", "pyramid-subifd", "jpeg", "png"])
def test_read_info_from_headers(tmp_path, name, options, fmt, tiled, levels):
    path = save(gradient(1000, 600), tmp_path / name, **options)
    info = read_info(path)
    assert (info.format, info.tiled, len(info.levels)) == (fmt, tiled, levels)
    assert (info.size.width, info.size.height, info.bands, info.bit_depth) == (1000, 600, 3, 8)
    assert info.section.value == 1


def test_read_info_refuses_empty_and_garbage(tmp_path):
    empty = tmp_path / "a_s001.tif"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_info(empty)
    garbage = tmp_path / "a_s002.png"
    garbage.write_bytes(b"this is not a png at all")
    with pytest.raises(InputError, match="not an image"):
        read_info(garbage)


def test_inspect_table_and_json(tmp_path, make_image, cli):
    make_image("src/m_s001.tif", 300, 200, tile=True, pyramid=True)
    make_image("src/m_s002.png", 200, 100, bands=1)
    result = cli("inspect", tmp_path / "src")
    assert result.exit_code == 0, result.output
    assert "m_s001.tif" in result.stdout and "tiled" in result.stdout and "2 images" in result.stdout
    result = cli("inspect", tmp_path / "src", "--json")
    rows = json.loads(result.stdout)["images"]
    assert [(r["name"], r["section"], r["width"], r["height"], r["bands"]) for r in rows] == [
        ("m_s001.tif", 1, 300, 200, 3), ("m_s002.png", 2, 200, 100, 1)]


def test_inspect_bad_file_exit_1_and_one_line(tmp_path, make_image, cli):
    make_image("src/m_s001.png")
    (tmp_path / "src/m_s002.png").write_bytes(b"\x89PNG broken")
    result = cli("inspect", tmp_path / "src")
    assert result.exit_code == 1
    assert "m_s001.png" in result.stdout
    assert "error:" in result.stderr and "m_s002.png" in result.stderr
    assert "Traceback" not in result.output
