"""`run` does what `downscale` does with the same options given as config keys (issue 14):
the registration series and its QuickNII XML, orientation, channels, intensity."""

import json
from pathlib import Path

import numpy as np
import pyvips

from conftest import gradient, save, tree_hashes


def turned_series(tmp_path: Path, extra: str = "") -> Path:
    for index, width in ((1, 90), (2, 100), (3, 110)):
        save(gradient(width, 60), tmp_path / f"scans/m_s{index:03d}.png")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/turns.csv").write_text("name,rotate,flip\nm_s002,0,horizontal\n")
    config = tmp_path / "configs/m.toml"
    config.write_text('name = "m"\nimages = "../scans"\noutput = "../prepared"\nfactor = 0.5\n'
                      'rotate = 90\norientation = "turns.csv"\nregistration = "../reg"\n'
                      'registration_size = "40x40"\n' + extra)
    return config


def test_run_makes_the_registration_series_and_orients_like_downscale(tmp_path, cli):
    config = turned_series(tmp_path, "channel = 1\n")
    before = tree_hashes(tmp_path / "scans")
    dry = cli("run", config, "--dry-run", "--stage", "downscale")
    assert dry.exit_code == 0, dry.output
    assert "m_s001.png  30x45  new" in dry.stdout  # 45x30, turned a quarter
    assert "m_s002.png  50x30  new" in dry.stdout  # the CSV row: mirrored, not turned
    assert (f"registration series: 3 image(s) at factor 0.727273 of these (box 40x40) into "
            f"{tmp_path / 'reg'}, QuickNII series file {tmp_path / 'reg/quicknii-series.xml'}"
            in dry.stdout)
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "reg").exists()

    result = cli("run", config, "-q")
    assert result.exit_code == 0, result.output
    assert f"registration series: {tmp_path / 'reg'}" in result.stdout
    sizes = {p.name: (pyvips.Image.new_from_file(str(p)).width,
                      pyvips.Image.new_from_file(str(p)).height)
             for p in sorted((tmp_path / "prepared").glob("*.png"))}
    assert sizes == {"m_s001.png": (30, 45), "m_s002.png": (50, 30), "m_s003.png": (30, 55)}
    mirrored = np.asarray(pyvips.Image.new_from_file(str(tmp_path / "prepared/m_s002.png")).numpy())
    assert mirrored[0, 0].max() > mirrored[0, -1].max()  # the gradient runs right to left now
    settings = json.loads((tmp_path / "prepared/quint-prep.json").read_text())["settings"]
    assert settings["channels"] == ["1"]
    assert settings["orientation"] == {
        "default": {"rotate": 90, "flip": None},
        "sections": {"m_s002": {"rotate": 0, "flip": "horizontal"}}}
    registration = sorted(p.name for p in (tmp_path / "reg").iterdir())
    assert registration == ["m_s001.png", "m_s002.png", "m_s003.png", "quicknii-series.xml"]
    xml = (tmp_path / "reg/quicknii-series.xml").read_text()
    assert xml.count("<slice ") == 3 and 'filename="m_s002.png"' in xml
    assert tree_hashes(tmp_path / "scans") == before
    again = json.loads(cli("run", config, "--json").stdout)["stages"]["downscale"]
    assert again["counts"] == {"written": 0, "up-to-date": 3, "failed": 0}


def test_make_deps_lists_the_orientation_csv_and_the_window_manifest(tmp_path, cli):
    (tmp_path / "other").mkdir()
    window = tmp_path / "other/quint-prep.json"
    window.write_text("{}")
    config = turned_series(tmp_path, 'normalise_from = "../other/quint-prep.json"\n')
    deps = cli("run", config, "--make-deps", "stamp")
    assert deps.exit_code == 0, deps.output
    inputs = [line.strip(" \\") for line in deps.stdout.split("\n\n")[0].splitlines()[1:]]
    assert str(tmp_path / "configs/turns.csv") in inputs and str(window) in inputs
    assert str(tmp_path / "reg") not in deps.stdout  # an output, not an input


def test_run_rejects_bad_downscale_keys_before_anything_runs(tmp_path, cli):
    config = turned_series(tmp_path, 'flip = "sideways"\nregistration_format = "gif"\n')
    result = cli("run", config)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {config}: invalid config (2 problems):",
        "  flip: 'sideways' is not one of horizontal, vertical, none",
        "  registration_format: 'gif' is not one of png, jpg",
    ]
    assert not (tmp_path / "prepared").exists()


def test_orientation_csv_problems_name_the_csv(tmp_path, cli):
    config = turned_series(tmp_path)
    (tmp_path / "configs/turns.csv").write_text("name,rotate,flip\nm_s009,45,\n")
    result = cli("run", config, "--dry-run")
    assert result.exit_code == 2
    assert f"{tmp_path / 'configs/turns.csv'}: orientation CSV problems:" in result.stderr
    assert "line 2: no image with the stem 'm_s009' in the series" in result.stderr
