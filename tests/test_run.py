import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from quint_prep.parallel import Workers
from conftest import gradient, save, tree_hashes


def series(tmp_path: Path, make_image, count: int = 3, extra: str = "") -> Path:
    for index in range(1, count + 1):
        make_image(f"scans/m_s{index:03d}.png", 80 + 10 * index, 60)
    config = tmp_path / "configs" / "m.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text('name = "m"\nimages = "../scans"\noutput = "../prepared"\nfactor = 0.5\n'
                      + extra)
    return config


def test_run_downscales_the_series_from_its_config(tmp_path, make_image, cli):
    config = series(tmp_path, make_image)
    before = tree_hashes(tmp_path / "scans")
    result = cli("run", config, "-q")
    assert result.exit_code == 0, result.output
    assert "factor 0.5: 3 written, 0 up to date, 0 failed" in result.stdout
    assert "PASS" in result.stdout  # the check stage ran on the downscaled series
    out = tmp_path / "prepared"
    assert sorted(p.name for p in out.iterdir()) == [
        "m_s001.png", "m_s002.png", "m_s003.png", "quint-prep.json"]
    manifest = json.loads((out / "quint-prep.json").read_text())
    assert [(i["width"], i["height"]) for i in manifest["images"]] == [(45, 30), (50, 30), (55, 30)]
    assert tree_hashes(tmp_path / "scans") == before
    again = json.loads(cli("run", config, "--json").stdout)
    assert again["stages"]["downscale"]["counts"] == {"written": 0, "up-to-date": 3, "failed": 0}
    assert again["stages"]["check"]["ok"] is True


def test_dry_run_says_new_changed_up_to_date_and_writes_nothing(tmp_path, make_image, cli):
    config = series(tmp_path, make_image)
    result = cli("run", config, "--dry-run", "--stage", "downscale")
    assert result.exit_code == 0, result.output
    assert "m_s001.png  45x30  new     no output yet" in result.stdout
    assert "would write to" in result.stdout and "3 new" in result.stdout
    assert not (tmp_path / "prepared").exists()
    cli("run", config, "-q")
    save(gradient(100, 60).invert(), tmp_path / "scans/m_s002.png")
    make_image("scans/m_s004.png", 40, 20)
    document = json.loads(cli("run", config, "--dry-run", "--json").stdout)
    statuses = {Path(i["source"]).name: (i["status"], i["reason"])
                for i in document["stages"]["downscale"]["images"]}
    assert statuses == {
        "m_s001.png": ("up to date", "same source, factor and settings"),
        "m_s002.png": ("changed", "source modified since (size or time differs)"),
        "m_s003.png": ("up to date", "same source, factor and settings"),
        "m_s004.png": ("new", "no output yet"),
    }
    other = config.read_text().replace("0.5", "0.25")
    config.write_text(other)
    document = json.loads(cli("run", config, "--dry-run", "--json").stdout)
    assert document["stages"]["downscale"]["counts"]["refused"] == 4  # another series
    assert "factor 0.5 -> 0.25" in document["stages"]["downscale"]["images"][0]["reason"]
    document = json.loads(cli("run", config, "--dry-run", "--json", "--overwrite").stdout)
    assert document["stages"]["downscale"]["counts"] == {"changed": 3, "new": 1, "failed": 0}


def test_touching_one_input_rewrites_only_its_output(tmp_path, make_image, cli):
    config = series(tmp_path, make_image, count=4)
    assert cli("run", config, "-q").exit_code == 0
    out = tmp_path / "prepared"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.glob("*.png")}
    source = tmp_path / "scans/m_s003.png"
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # `touch`
    result = cli("run", config, "--json")
    assert json.loads(result.stdout)["stages"]["downscale"]["counts"]["written"] == 1
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.glob("*.png")}
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ["m_s003.png"]


def test_masks_stage_needs_the_downscaled_series_first(tmp_path, make_image, cli):
    config = series(tmp_path, make_image, extra='segmentations = "../seg"\n')
    (tmp_path / "seg").mkdir()
    result = cli("run", config, "--stage", "masks")
    assert result.exit_code == 2
    assert "stage masks needs the downscaled series first" in result.stderr
    assert not (tmp_path / "prepared").exists()


def test_masks_stage_needs_segmentations(tmp_path, make_image, cli):
    result = cli("run", series(tmp_path, make_image), "--stage", "masks")
    assert result.exit_code == 2
    assert "stage masks: the config names no segmentations folder" in result.stderr


def test_bad_config_lists_every_problem_and_exits_2(tmp_path, cli):
    config = tmp_path / "bad.toml"
    config.write_text('name = "x"\nimages = "a"\noutput = "b"\nfactor = 3\njobs = "many"\n')
    result = cli("run", config)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {config}: invalid config (2 problems):",
        "  factor: 3 is not in (0, 1]: quint-prep only shrinks (0.25 = quarter size)",
        "  jobs: must be an integer, not a string",
    ]


def test_bad_image_fails_the_run_but_not_the_series(tmp_path, make_image, cli):
    config = series(tmp_path, make_image)
    (tmp_path / "scans/m_s009.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = cli("run", config, "-q")
    assert result.exit_code == 1
    assert "m_s009.png" in result.stderr
    assert "3 written, 0 up to date, 1 failed" in result.stdout


def test_make_dependencies_drive_make(tmp_path, make_image, cli):
    config = series(tmp_path, make_image, count=2)
    spaced = make_image("scans/m b_s003.png")
    deps = cli("run", config, "--make-deps", "stamp")
    assert deps.exit_code == 0, deps.output
    assert deps.stdout.startswith("stamp: \\\n")
    assert f"  {str(spaced).replace(' ', chr(92) + ' ')} \\" in deps.stdout
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "deps.mk").write_text(deps.stdout)
    (tmp_path / "Makefile").write_text("stamp:\n\ttouch stamp\ninclude deps.mk\n")
    subprocess.run(["make", "-s", "stamp"], cwd=tmp_path, check=True)
    question = ["make", "-q", "stamp"]
    assert subprocess.run(question, cwd=tmp_path).returncode == 0  # up to date
    stat = spaced.stat()
    os.utime(spaced, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 * 10**9))
    assert subprocess.run(question, cwd=tmp_path).returncode == 1  # an input changed
    subprocess.run(["make", "-s", "stamp"], cwd=tmp_path, check=True)
    spaced.unlink()  # a deleted input must not break make (empty rule per input)
    assert subprocess.run(["make", "-s", "stamp"], cwd=tmp_path).returncode == 0


def test_config_jobs_and_memory_are_local_settings(tmp_path, make_image):
    from quint_prep.config import resolve
    from quint_prep.runner import workers_for

    config = resolve(series(tmp_path, make_image, count=1, extra='jobs = 3\nmemory = "2G"\n'))
    assert workers_for(config) == Workers(jobs=3, memory=2 * 1024**3)
    on_cluster = workers_for(config, "tcp://h:8786")
    assert (on_cluster.jobs, on_cluster.memory) == (None, None)
    assert workers_for(config, "tcp://h:8786", cli_jobs=5).jobs == 5


def test_all_stages_downscale_masks_check(tmp_path, make_image, cli):
    """A full run: the series downscaled, Cellpose-style masks named after it, then checked."""
    import numpy as np

    from conftest import from_array

    config = series(tmp_path, make_image, count=2, extra='segmentations = "../seg"\n')
    for index, width in ((1, 45), (2, 50)):  # masks made on the downscaled images
        labels = np.zeros((30, width), np.uint16)
        labels[5:15, 5:15] = 1
        labels[18:25, 20:30] = 2
        save(from_array(labels), tmp_path / "seg" / f"m_s{index:03d}_cp_masks.png")
    before = tree_hashes(tmp_path / "seg")
    result = cli("run", config, "--json")
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["stages"]
    assert list(stages) == ["downscale", "masks", "check"]
    assert stages["downscale"]["counts"]["written"] == 2
    assert stages["masks"]["counts"]["written"] == 2
    assert stages["check"]["ok"] is True, stages["check"]["findings"]
    masks = tmp_path / "prepared" / "segmentations"
    assert sorted(p.name for p in masks.glob("*.png")) == ["m_s001.png", "m_s002.png"]
    assert tree_hashes(tmp_path / "seg") == before
    again = json.loads(cli("run", config, "--json").stdout)["stages"]
    assert again["masks"]["counts"]["up-to-date"] == 2
    dry = cli("run", config, "--dry-run", "--stage", "masks")
    assert dry.exit_code == 0 and "would read 2 segmentation(s)" in dry.stdout
    assert "segmentations: 2 up to date" in dry.stdout


def test_sweep_stage_runs_sweep_with_the_config(tmp_path, make_image, cli):
    config = series(tmp_path, make_image, count=2)
    result = cli("run", config, "--stage", "sweep", "--json")
    assert result.exit_code == 0, result.output
    sweep = tmp_path / "prepared" / "sweep"
    assert (sweep / "index.html").exists()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir())[:1] == ["f0.0625"]
    document = json.loads(result.stdout)  # ONE document: the sweep's summary nested in its stage
    stage = document["stages"]["sweep"]
    assert stage["counts"]["failed"] == 0
    assert stage["sweep"]["page"] == str(sweep / "index.html") and "factor" in stage["sweep"]["recommendation"]
