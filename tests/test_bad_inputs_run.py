"""Bad images and segmentations in a configured series (quint-prep run): one clear line per
file, the rest of the series goes through every stage, sources untouched, nothing partial.
Bad config values, and real SIGINT/SIGTERM, are tested in test_run.py and test_jobs.py."""

import json
from pathlib import Path

import numpy as np
import pytest

from quint_prep.downscale import image as downscale_module
from quint_prep.masks import convert as masks_module
from badfiles import (BAD_KINDS, DECODE_KINDS, assert_one_error, full_disk, make_bad, make_junk,
                      symlink_loops, temporaries)
from conftest import from_array, gradient, save, tree_hashes


def configured(tmp_path: Path, extra: str = "", sections=(1, 3)) -> Path:
    """scans/a_s00N.png (300x200) and configs/m.toml downscaling them by 0.5 into prepared/."""
    for n in sections:
        save(gradient(300, 200), tmp_path / f"scans/a_s00{n}.png")
    config = tmp_path / "configs/m.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text('name = "m"\nimages = "../scans"\noutput = "../prepared"\nfactor = 0.5\n'
                      + extra)
    return config


def cellpose_masks(folder: Path, sections=(1, 3)) -> None:
    """Cellpose-style labels made on the downscaled images (150x100)."""
    for n in sections:
        labels = np.zeros((100, 150), np.uint16)
        labels[10:30, 10:30] = 1
        labels[50:70, 80:120] = 2
        save(from_array(labels), folder / f"a_s00{n}_cp_masks.png")


def pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_image_one_line_rest_downscaled_and_checked(tmp_path, cli, kind):
    config = configured(tmp_path)
    name, fragment = make_bad(kind, tmp_path / "scans", stem="a_s002")
    before = tree_hashes(tmp_path / "scans")
    result = cli("run", config, "-q")
    assert_one_error(result, name, fragment)
    assert "2 written, 0 up to date, 1 failed" in result.stdout
    assert "PASS: 2 files checked" in result.stdout  # the check stage saw the two outputs
    assert pngs(tmp_path / "prepared") == ["a_s001.png", "a_s003.png"]
    assert tree_hashes(tmp_path / "scans") == before and not temporaries(tmp_path / "prepared")


@pytest.mark.parametrize("kind", ["zero-bytes", "half-jpeg", "huge-interlaced-png", "corrupt-lzw"])
def test_bad_image_in_worker_processes(tmp_path, cli, kind):
    config = configured(tmp_path, "jobs = 2\n")
    name, fragment = make_bad(kind, tmp_path / "scans", stem="a_s002")
    before = tree_hashes(tmp_path / "scans")
    result = cli("run", config, "-q", "--stage", "downscale")
    assert_one_error(result, name, fragment)
    assert pngs(tmp_path / "prepared") == ["a_s001.png", "a_s003.png"]
    assert tree_hashes(tmp_path / "scans") == before and not temporaries(tmp_path / "prepared")


@pytest.mark.parametrize("kind", BAD_KINDS + DECODE_KINDS)
def test_bad_segmentation_one_line_rest_masked(tmp_path, cli, kind):
    config = configured(tmp_path, 'segmentations = "../seg"\n', sections=(1, 2, 3))
    cellpose_masks(tmp_path / "seg")
    name, fragment = make_bad(kind, tmp_path / "seg", stem="a_s002_cp_masks", bands=1)
    fragment = {"float-tiff": "32-bit colour segmentations are not supported",
                "uint32-tiff": "32-bit colour segmentations are not supported"}.get(kind, fragment)
    before = tree_hashes(tmp_path / "seg")
    result = cli("run", config, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and fragment in errors[0], result.stderr
    stages = json.loads(result.stdout)["stages"]
    assert stages["downscale"]["counts"]["written"] == 3
    assert stages["masks"]["counts"] == {"written": 2, "up-to-date": 0, "failed": 1}
    missing = [f for f in stages["check"]["findings"] if f["id"] == "pair.missing-segmentation"]
    assert [Path(f["file"]).name for f in missing] == ["a_s002.png"]
    assert pngs(tmp_path / "prepared/segmentations") == ["a_s001.png", "a_s003.png"]
    assert tree_hashes(tmp_path / "seg") == before
    assert not temporaries(tmp_path / "prepared")


def test_every_image_bad_is_exit_1_not_a_usage_error(tmp_path, cli):
    config = configured(tmp_path, sections=())
    make_bad("zero-bytes", tmp_path / "scans", stem="a_s001")
    make_bad("half-png", tmp_path / "scans", stem="a_s002")
    result = cli("run", config, "-q")
    assert result.exit_code == 1, result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2 and "a_s001.tif" in errors[0] and "a_s002.png" in errors[1], result.stderr
    assert "the downscale stage produced no image: the later stages are skipped" in result.stderr


def test_junk_and_looping_links_in_the_image_folder(tmp_path, cli):
    config = configured(tmp_path)
    junk = make_junk(tmp_path / "scans")
    name = symlink_loops(tmp_path / "scans")
    result = cli("run", config, "-q")
    assert_one_error(result, name, "broken or looping symbolic link")
    assert not any(j in result.output for j in junk)
    assert pngs(tmp_path / "prepared") == ["a_s001.png", "a_s003.png"]


def test_full_disk_in_the_downscale_stage(tmp_path, cli, monkeypatch):
    config = configured(tmp_path)
    before = tree_hashes(tmp_path / "scans")
    monkeypatch.setattr(downscale_module, "_save", full_disk)
    result = cli("run", config, "-q", "--stage", "downscale")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2 and all("No space left on device" in l for l in errors), result.stderr
    assert pngs(tmp_path / "prepared") == [] and not temporaries(tmp_path / "prepared")
    assert tree_hashes(tmp_path / "scans") == before


def test_full_disk_in_the_masks_stage(tmp_path, cli, monkeypatch):
    config = configured(tmp_path, 'segmentations = "../seg"\n')
    cellpose_masks(tmp_path / "seg")
    monkeypatch.setattr(masks_module, "_save", full_disk)
    result = cli("run", config, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2 and all("No space left on device" in l for l in errors), result.stderr
    assert pngs(tmp_path / "prepared") == ["a_s001.png", "a_s003.png"]
    assert pngs(tmp_path / "prepared/segmentations") == []
    assert not temporaries(tmp_path / "prepared")
