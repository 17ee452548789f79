"""A printed verdict with errors exits 1 (issue 14, item 4): downscale and masks print the
check of what they wrote, and a Makefile or a SLURM script must see a FAIL in the exit code."""

from __future__ import annotations

import json

import numpy as np

from conftest import from_array, gradient, save


def test_downscale_exits_1_when_its_check_fails(tmp_path, cli):
    save(gradient(40, 30), tmp_path / "src" / "brainA_s001.png")
    save(gradient(40, 30), tmp_path / "src" / "brainA_s001_s002.png")  # two numbers: an error
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert "check: FAIL" in result.stdout
    assert result.exit_code == 1, result.output
    assert "brainA_s001_s002.png: name: 2 section numbers" in result.stderr
    # Everything was written: the exit code reports the verdict, not a write failure.
    assert "2 written, 0 up to date, 0 failed" in result.stdout
    document = json.loads(cli("downscale", tmp_path / "src", "-o", tmp_path / "out",
                              "--factor", "0.5", "--json").stdout)
    assert document["check"]["ok"] is False and document["counts"]["failed"] == 0


def test_downscale_with_warnings_only_exits_0(tmp_path, cli):
    save(gradient(40, 30), tmp_path / "src" / "brainA_s001.png")
    save(gradient(40, 30), tmp_path / "src" / "brainA_s0002.png")  # padding: a warning
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert result.exit_code == 0, result.output
    assert "check: PASS" in result.stdout and "with warnings" in result.stdout


def _masks_series(tmp_path, sections: int) -> None:
    for number in range(1, sections + 1):
        save(from_array(np.zeros((30, 40, 3), np.uint8)), tmp_path / "img" / f"m_s00{number}.png")
    labels = np.zeros((30, 40), np.uint8)
    labels[5:15, 5:15] = 255
    save(from_array(labels), tmp_path / "seg" / "m_s001_mask.png")


def test_masks_exits_1_when_its_check_fails(tmp_path, cli):
    _masks_series(tmp_path, sections=2)  # m_s002 has no segmentation: an upload error
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--images", tmp_path / "img")
    assert "check: FAIL" in result.stdout
    assert result.exit_code == 1, result.output
    assert "1 written, 0 up to date, 0 failed" in result.stdout
    assert (tmp_path / "out" / "m_s001.png").exists()


def test_masks_with_a_passing_check_exits_0(tmp_path, cli):
    _masks_series(tmp_path, sections=1)
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--images", tmp_path / "img")
    assert result.exit_code == 0, result.output
    assert "check: PASS" in result.stdout
