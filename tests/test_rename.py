"""quint-prep rename: numbering plan, refusals, swaps, the log and an exact undo."""

import json
import os
from pathlib import Path

import pytest

from quint_prep import rename as rename_module
from quint_prep.errors import InputError, OutputError, UsageError
from quint_prep.rename import (RenameStep, _refuse_conflicts, order_files, plan_renames,
                               render_name, undo_log)
from conftest import tree_hashes


def files(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(f"content of {name}".encode())
    return [folder / n for n in names]


def contents(folder: Path) -> dict[str, str]:
    """File name -> content, for the image files (the log is left out)."""
    return {p.name: p.read_text() for p in folder.iterdir() if p.suffix != ".json"}


@pytest.mark.parametrize("pattern, stem, n, prefix, expected", [
    ("{prefix}_s{n:03d}", "mouse12_s7_right", 4, None, "mouse12_right_s004"),
    ("{prefix}_s{n:03d}", "slide 3", 12, "mouse12", "mouse12_s012"),
    ("{stem}_s{n:04d}", "scan-1", 3, None, "scan-1_s0003"),
], ids=["strips-old-number", "prefix-option", "stem"])
def test_render_name(pattern, stem, n, prefix, expected):
    assert render_name(pattern, stem, n, prefix) == expected


@pytest.mark.parametrize("pattern, fragment", [
    ("{prefix}_{n:03d}", "does not carry the section number"),
    ("{prefix}_s{nr}", "is not usable"),
    ("{prefix}_s{n:03d}_s1", "does not carry the section number"),
    ("sub/{prefix}_s{n}", "renames stay in the same folder"),
], ids=["no-s", "unknown-field", "two-numbers", "folder"])
def test_bad_patterns_are_usage_errors(pattern, fragment):
    with pytest.raises(UsageError, match=fragment):
        render_name(pattern, "a", 1)


def test_natural_order_and_order_file(tmp_path):
    paths = files(tmp_path, "b10.png", "b2.png", "a1.png")
    assert [p.name for p in order_files(paths)] == ["a1.png", "b2.png", "b10.png"]
    assert [p.name for p in order_files(paths, ["b10", "a1.png", "b2"])] == ["b10.png", "a1.png", "b2.png"]
    with pytest.raises(UsageError, match="not among the files: zz.png.*not in the order file: b2.png"):
        order_files(paths, ["b10.png", "a1.png", "zz.png"])
    with pytest.raises(UsageError, match="listed twice: a1.png"):
        order_files(paths, ["b10.png", "a1.png", "a1", "b2.png"])


def test_two_sources_one_target_is_refused(tmp_path):
    steps = [RenameStep(tmp_path / "a.png", tmp_path / "x_s001.png", tmp_path / "t1"),
             RenameStep(tmp_path / "b.png", tmp_path / "x_s001.png", tmp_path / "t2")]
    with pytest.raises(UsageError, match="a.png, b.png would all become x_s001.png"):
        _refuse_conflicts(steps)


def test_existing_foreign_target_refuses_the_whole_plan(tmp_path, cli):
    files(tmp_path / "s", "a.png", "b.png", "m_s002.png")
    before = tree_hashes(tmp_path / "s")
    result = cli("rename", tmp_path / "s/a.png", tmp_path / "s/b.png", "--pattern", "m_s{n:03d}")
    assert result.exit_code == 2
    assert "rename refused, nothing was renamed: m_s002.png already exists" in result.stderr
    assert tree_hashes(tmp_path / "s") == before


def test_chain_and_swap_keep_every_content(tmp_path):
    folder = tmp_path / "s"
    paths = files(folder, "m_s001.png", "m_s002.png", "m_s003.png")
    plan = plan_renames(order_files(paths), "{prefix}_s{n:03d}", start=2)  # 1->2, 2->3, 3->4
    rename_module.apply_plan(plan, folder / "log.json", "{prefix}_s{n:03d}")
    assert contents(folder) == {"m_s002.png": "content of m_s001.png", "m_s003.png": "content of m_s002.png",
                                "m_s004.png": "content of m_s003.png"}
    swap = plan_renames(order_files(list(folder.glob("m_s00[23].png")), ["m_s003.png", "m_s002.png"]),
                        "{prefix}_s{n:03d}", start=2)
    rename_module.apply_plan(swap, folder / "log2.json", "x")
    assert contents(folder)["m_s002.png"] == "content of m_s002.png"
    assert contents(folder)["m_s003.png"] == "content of m_s001.png"


def test_rename_and_undo_round_trip_exactly(tmp_path, cli):
    folder = tmp_path / "s"
    files(folder, "slide 1.tif", "slide 2.tif", "slide 10.tif", "slide_s9.tif", "notes.txt")
    before = tree_hashes(folder)
    result = cli("rename", folder, "--pattern", "mouse12_s{n:03d}", "--start", "3", "--step", "2")
    assert result.exit_code == 0, result.output
    assert "slide 10.tif  ->  mouse12_s007.tif" in result.stdout
    logs = list(folder.glob("quint-prep-rename-*.json"))
    assert len(logs) == 1 and f"undo with: quint-prep rename --undo {logs[0]}" in result.stdout
    assert sorted(contents(folder)) == ["mouse12_s003.tif", "mouse12_s005.tif", "mouse12_s007.tif",
                                        "mouse12_s009.tif", "notes.txt"]
    assert contents(folder)["mouse12_s009.tif"] == "content of slide_s9.tif"
    undone = cli("rename", "--undo", logs[0])
    assert undone.exit_code == 0, undone.output
    assert "restored 4 original names" in undone.stdout
    after = tree_hashes(folder)
    after.pop(logs[0].name)
    assert after == before


def test_dry_run_changes_nothing_and_writes_no_log(tmp_path, cli):
    folder = tmp_path / "s"
    files(folder, "a.png", "b.png")
    before = tree_hashes(folder)
    result = cli("rename", folder, "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"dry_run": True, "log": None, "renames": [
        {"from": "a.png", "to": "a_s001.png"}, {"from": "b.png", "to": "b_s002.png"}]}
    assert tree_hashes(folder) == before


@pytest.mark.parametrize("fail_at", [1, 3, 5], ids=["phase1-start", "phase1-end", "phase2"])
def test_interrupted_rename_is_undone_from_the_log(tmp_path, monkeypatch, fail_at):
    folder = tmp_path / "s"
    paths = files(folder, "m_s001.png", "m_s002.png", "m_s003.png")
    before = tree_hashes(folder)
    plan = plan_renames(paths, "{prefix}_s{n:03d}", start=2)
    real_rename, calls = os.rename, []

    def crashing(source, target):
        calls.append(source)
        if len(calls) == fail_at:
            raise OSError(5, "Input/output error")
        real_rename(source, target)

    monkeypatch.setattr(rename_module.os, "rename", crashing)
    with pytest.raises(OutputError):
        rename_module.apply_plan(plan, folder / "log.json", "p")
    monkeypatch.setattr(rename_module.os, "rename", real_rename)
    undo_log(folder / "log.json")
    after = tree_hashes(folder)
    after.pop("log.json")
    assert after == before


def test_undo_refuses_when_a_file_is_gone(tmp_path):
    folder = tmp_path / "s"
    paths = files(folder, "a.png", "b.png")
    plan = plan_renames(paths, "{prefix}_s{n:03d}")
    rename_module.apply_plan(plan, folder / "log.json", "p")
    (folder / "b_s002.png").unlink()
    with pytest.raises(InputError, match="no file found for b.png"):
        undo_log(folder / "log.json")
    assert (folder / "a_s001.png").exists()  # nothing was moved back


def test_undo_twice_is_harmless(tmp_path):
    folder = tmp_path / "s"
    rename_module.apply_plan(plan_renames(files(folder, "a.png"), "{prefix}_s{n:03d}"),
                             folder / "log.json", "p")
    assert len(undo_log(folder / "log.json")) == 1
    assert undo_log(folder / "log.json") == []
    assert sorted(contents(folder)) == ["a.png"]


def test_usage_errors(tmp_path, cli):
    files(tmp_path / "s", "a.png")
    (tmp_path / "x.json").write_text("{}")
    assert cli("rename").exit_code == 2
    result = cli("rename", "--undo", tmp_path / "x.json")
    assert result.exit_code == 2 and "not a quint-prep rename log" in result.stderr
    result = cli("rename", tmp_path / "s", "--undo", tmp_path / "x.json")
    assert result.exit_code == 2 and "--undo LOG takes no files" in result.stderr
