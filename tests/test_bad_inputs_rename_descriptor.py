"""Bad inputs that apply to rename (names, links, junk, a failing log write) and descriptor
(bad images, links, junk, a failing XML write): clear lines, nothing lost or half-done."""

import errno
from pathlib import Path

import pytest

from badfiles import (BAD_KINDS, assert_one_error, failing_write_text, make_bad, make_junk,
                      symlink_loops, temporaries)
from conftest import gradient, save, tree_hashes


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_descriptor_bad_image_one_line_rest_described(tmp_path, cli, kind):
    folder = tmp_path / "reg"
    save(gradient(300, 200), folder / "a_s001.png")
    save(gradient(300, 200), folder / "a_s003.png")
    name, fragment = make_bad(kind, folder, stem="a_s002")
    if kind in ("float-tiff", "uint32-tiff"):  # a header is all descriptor reads: it is listed
        result = cli("descriptor", folder)
        assert result.exit_code == 0 and "3 sections" in result.stdout
        return
    before = tree_hashes(folder)
    result = cli("descriptor", folder)
    assert_one_error(result, name, fragment)
    xml = next(folder.glob("*.xml"))
    assert "a_s001.png" in xml.read_text() and "a_s003.png" in xml.read_text()
    assert "a_s002" not in xml.read_text()
    after = tree_hashes(folder)
    after.pop(xml.name)
    assert after == before


def test_descriptor_links_and_junk(tmp_path, cli):
    folder = tmp_path / "reg"
    save(gradient(300, 200), folder / "a_s001.png")
    junk = make_junk(folder)
    name = symlink_loops(folder)
    result = cli("descriptor", folder)
    assert_one_error(result, name, "broken or looping symbolic link")
    assert not any(j in result.output for j in junk)
    assert "wrote" in result.stdout and "(1 sections)" in result.stdout


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full-disk", "read-only"])
def test_descriptor_write_failing_leaves_nothing(tmp_path, cli, monkeypatch, code):
    folder = tmp_path / "reg"
    save(gradient(300, 200), folder / "a_s001.png")
    before = tree_hashes(folder)
    monkeypatch.setattr(Path, "write_text", failing_write_text(folder, code))
    result = cli("descriptor", folder)
    reason = "No space left on device" if code == errno.ENOSPC else "Read-only file system"
    assert_one_error(result, "quicknii-series.xml", reason)
    assert tree_hashes(folder) == before and not temporaries(folder)


def test_rename_odd_names_round_trip(tmp_path, cli):
    folder = tmp_path / "s"
    for name in ("my section ü 1.png", "slide two.tif", "brain_s001_s002.png", "c_s002.png",
                 "d_s002.png"):
        save(gradient(30, 20), folder / name)
    junk = make_junk(folder)
    contents = sorted(tree_hashes(folder).values())
    before = tree_hashes(folder)
    result = cli("rename", folder, "--pattern", "m_s{n:03d}")
    assert result.exit_code == 0, result.output
    renamed = sorted(p.name for p in folder.iterdir() if p.name not in junk and p.suffix != ".json")
    assert renamed == ["m_s001.png", "m_s002.png", "m_s003.png", "m_s004.png", "m_s005.tif"]
    assert all((folder / j).exists() for j in junk)  # junk is neither renamed nor numbered
    after = tree_hashes(folder)
    log = next(folder.glob("quint-prep-rename-*.json"))
    after.pop(log.name)
    assert sorted(after.values()) == contents  # every content kept, byte for byte
    assert cli("rename", "--undo", log).exit_code == 0
    after = tree_hashes(folder)
    after.pop(log.name)
    assert after == before


def test_rename_refuses_a_series_with_a_looping_link(tmp_path, cli):
    folder = tmp_path / "s"
    save(gradient(30, 20), folder / "a.png")
    name = symlink_loops(folder)
    before = sorted(p.name for p in folder.iterdir())
    result = cli("rename", folder)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{name}: broken or looping symbolic link" in result.stderr
    assert "nothing was renamed" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full-disk", "read-only"])
def test_rename_log_write_failing_renames_nothing(tmp_path, cli, monkeypatch, code):
    folder = tmp_path / "s"
    save(gradient(30, 20), folder / "a.png")
    save(gradient(30, 20), folder / "b.png")
    before = tree_hashes(folder)
    monkeypatch.setattr(Path, "write_text", failing_write_text(folder, code))
    result = cli("rename", folder)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "quint-prep-rename-" in result.stderr and "cannot write" in result.stderr
    assert tree_hashes(folder) == before and not temporaries(folder)
