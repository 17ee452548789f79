"""`run CONFIG --dry-run` shows the plan of every stage, writes nothing, and exits as the
run would: 0 when the plan is valid, 1 when files would fail, 2 for an invalid config
(issue 14, item 4). And `run` itself ends with a line that says what the exit code says."""

import json
from pathlib import Path

import numpy as np

from conftest import from_array, gradient, save, tree_hashes


def new_series(tmp_path: Path, sections=(1, 2, 3), extra: str = "") -> Path:
    """scans/m_s00N.png (200x100), Cellpose masks of the downscaled size (100x50) in seg/."""
    for n in sections:
        save(gradient(200, 100), tmp_path / f"scans/m_s00{n}.png")
        labels = np.zeros((50, 100), np.uint16)
        labels[5:20, 5:20] = 1
        labels[30:45, 50:80] = 2
        save(from_array(labels), tmp_path / f"seg/m_s00{n}_cp_masks.png")
    config = tmp_path / "configs/m.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text('name = "m"\nimages = "../scans"\nsegmentations = "../seg"\n'
                      'output = "../prepared"\nfactor = 0.5\n' + extra)
    return config


def everything(tmp_path: Path) -> dict[str, str]:
    return tree_hashes(tmp_path)


def test_dry_run_of_a_new_series_plans_every_stage(tmp_path, cli):
    config = new_series(tmp_path)
    before = everything(tmp_path)
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("== m: downscale (dry run)") < out.index("== m: masks (dry run)") \
        < out.index("== m: check (dry run)")
    prepared = tmp_path / "prepared"
    assert f"factor 0.5: would write to {prepared}: 3 new" in out
    assert (f"would read 3 segmentation(s) from {tmp_path / 'seg'}, matched by name and "
            f"proportions to the series the downscale stage above would leave in {prepared}"
            in out)
    assert "m_s002_cp_masks.png  m_s002.png  100x50  new     no output yet" in out
    assert (f"would write single-colour PNGs (objects 255,0,0 on 0,0,0) to "
            f"{prepared / 'segmentations'}: 3 new") in out
    assert (f"would check the 3 image(s) the downscale stage above would leave in {prepared} "
            f"and the masks in {prepared / 'segmentations'}") in out
    assert out.rstrip().endswith("dry run: nothing written; the plan is valid")
    assert result.stderr == ""
    assert everything(tmp_path) == before and not prepared.exists()


def test_dry_run_json_of_a_new_series(tmp_path, cli):
    config = new_series(tmp_path)
    result = cli("run", config, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["dry_run"] is True and document["ok"] is True
    stages = document["stages"]
    assert list(stages) == ["downscale", "masks", "check"]
    assert stages["downscale"]["counts"] == {"new": 3, "failed": 0}
    assert stages["masks"]["counts"] == {"new": 3, "failed": 0}
    assert [Path(m["output"]).name for m in stages["masks"]["masks"]] == [
        "m_s001.png", "m_s002.png", "m_s003.png"]


def test_dry_run_of_a_half_done_series(tmp_path, cli):
    """Two sections downscaled and masked; then a third section and its mask arrive, and one
    mask is re-exported."""
    config = new_series(tmp_path, sections=(1, 2))
    assert cli("run", config, "-q").exit_code == 0
    new_series(tmp_path, sections=(3,))
    mask = tmp_path / "seg/m_s002_cp_masks.png"
    labels = np.zeros((50, 100), np.uint16)
    labels[10:40, 10:40] = 1
    save(from_array(labels), mask)
    before = everything(tmp_path)
    result = cli("run", config, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["stages"]
    images = {Path(i["source"]).name: i["status"] for i in stages["downscale"]["images"]}
    assert images == {"m_s001.png": "up to date", "m_s002.png": "up to date", "m_s003.png": "new"}
    masks = {Path(m["source"]).name: (m["status"], m["reason"]) for m in stages["masks"]["masks"]}
    assert masks == {
        "m_s001_cp_masks.png": ("up to date", "same source, factor and settings"),
        "m_s002_cp_masks.png": ("changed", "source modified since (size or time differs)"),
        "m_s003_cp_masks.png": ("new", "no output yet"),
    }
    assert everything(tmp_path) == before
    text = cli("run", config, "--dry-run").stdout
    assert "would write to" in text and "1 new" in text and "dry run: nothing written" in text


def test_dry_run_lists_the_files_the_run_would_fail_and_exits_1(tmp_path, cli):
    config = new_series(tmp_path)
    (tmp_path / "scans/m_s009.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    save(from_array(np.ones((50, 100), np.uint16)), tmp_path / "seg/brainX_cp_masks.png")
    before = everything(tmp_path)
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr
    assert "m_s009.png" in errors[0]
    assert "brainX_cp_masks.png" in errors[1] and "no image of the series" in errors[1]
    assert "the run would fail 2 file(s) (see the errors above): exit 1" in result.stdout
    assert everything(tmp_path) == before


def test_dry_run_of_an_invalid_config_exits_2(tmp_path, cli):
    config = new_series(tmp_path, extra='rotate = 45\n')
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 2
    assert "rotate: rotation '45' is not 0, 90, 180 or 270" in result.stderr


def test_dry_run_of_the_masks_stage_alone_is_the_masks_stage(tmp_path, cli):
    """Alone, the masks stage runs on the manifest as it is: refused before a downscale."""
    config = new_series(tmp_path)
    result = cli("run", config, "--dry-run", "--stage", "masks")
    assert result.exit_code == 2
    assert "stage masks needs the downscaled series first" in result.stderr
    assert cli("run", config, "-q", "--stage", "downscale").exit_code == 0
    again = cli("run", config, "--dry-run", "--stage", "masks")
    assert again.exit_code == 0, again.output
    assert (f"to the downscaled series in {tmp_path / 'prepared'} (its manifest "
            "quint-prep.json)") in again.stdout


def test_dry_run_of_the_sweep_stage(tmp_path, cli):
    config = new_series(tmp_path, sections=(1, 2, 3, 4, 5))
    result = cli("run", config, "--dry-run", "--stage", "sweep")
    assert result.exit_code == 0, result.output
    assert ("would try factors 0.5, 0.25, 0.125, 0.0625 on 3 of 5 section(s) (m_s001.png, "
            "m_s003.png, m_s005.png), counting the objects of their segmentations in "
            f"{tmp_path / 'seg'}, into {tmp_path / 'prepared/sweep'}") in result.stdout
    assert not (tmp_path / "prepared").exists()


def test_dry_run_check_names_a_missing_registration(tmp_path, cli):
    config = new_series(tmp_path, extra='[check]\nregistration = "../quicknii.json"\n')
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 1
    assert (f"error: {tmp_path / 'quicknii.json'}: no such file ([check] registration): "
            "the check would fail") in result.stderr


def test_run_ends_with_the_stages_and_the_exit_code(tmp_path, cli):
    config = new_series(tmp_path)
    done = cli("run", config, "-q")
    assert done.exit_code == 0, done.output
    assert done.stdout.rstrip().splitlines()[-1] == "== m: downscale ok, masks ok, check ok"
    (tmp_path / "seg/m_s002_cp_masks.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    failed = cli("run", config, "-q")
    assert failed.exit_code == 1
    assert failed.stdout.rstrip().splitlines()[-1] == (
        "== m: downscale ok, masks failed, check ok: exit 1")  # the old mask is still there
    assert json.loads(cli("run", config, "--json").stdout)["ok"] is False


def test_dry_run_says_a_foreign_file_would_be_refused(tmp_path, cli):
    config = new_series(tmp_path)
    save(gradient(10, 10), tmp_path / "prepared/m_s001.png")  # not written by quint-prep
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 1
    assert ("m_s001.png  m_s001.png  100x50  refused  m_s001.png exists and was not written by "
            "quint-prep; pass --overwrite to replace it") in result.stdout
    assert f"error: {tmp_path / 'scans/m_s001.png'}: m_s001.png exists and was not" in result.stderr
    assert cli("run", config, "--dry-run", "--overwrite").exit_code == 0


def test_a_failing_verdict_of_the_downscale_stage_fails_the_run(tmp_path, cli):
    """Two sections with one number: downscale writes both, its check says FAIL: exit 1."""
    config = new_series(tmp_path, sections=(1,))
    save(gradient(200, 100), tmp_path / "scans/other_s001.png")
    result = cli("run", config, "-q", "--stage", "downscale")
    assert "check: FAIL" in result.stdout
    assert result.exit_code == 1
    assert result.stdout.rstrip().splitlines()[-1] == "== m: downscale failed: exit 1"
