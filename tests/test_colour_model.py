"""One colour model per series (issue 14, item 1): the outputs of one downscale share their
bands and bit depth, decided from the headers before writing; check names the odd files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyvips

from conftest import from_array, gradient, read_array, save, tree_hashes
from quint_prep.downscale.colour_model import ColourModel
from quint_prep.config import resolve
from quint_prep.downscale.image import DownscaleSettings
from quint_prep.manifest import read_manifest


def _mixed_series(folder: Path) -> None:
    """Five sections in four formats: 8-bit RGB TIFF, JPEG, RGB PNG, 16-bit grey TIFF, grey PNG."""
    save(gradient(80, 60), folder / "brainA_s001.tif", compression="lzw")
    save(gradient(80, 60), folder / "brainA_s002.jpg", Q=90)
    save(gradient(80, 60), folder / "brainA_s003.png")
    deep = (np.arange(80 * 60, dtype=np.uint16).reshape(60, 80) * 13) % 4000
    save(from_array(deep.astype(np.uint16)), folder / "brainA_s004.tif")
    save(gradient(80, 60, bands=1), folder / "brainA_s005.png")


def _bands_and_depths(folder: Path) -> set[tuple[int, str]]:
    found = set()
    for path in sorted(folder.glob("*.png")):
        image = pyvips.Image.new_from_file(str(path))
        found.add((image.bands, image.format))
    return found


def test_mixed_series_comes_out_rgb_with_auto(tmp_path, cli):
    _mixed_series(tmp_path / "src")
    before = tree_hashes(tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--registration", tmp_path / "reg")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 5
    assert _bands_and_depths(tmp_path / "out") == {(3, "uchar")}
    assert "colour model rgb for the whole series: 2 grey section(s) written as RGB" in result.stdout
    assert "check: PASS" in result.stdout
    settings = read_manifest(tmp_path / "out").settings
    assert settings["colour_model"] == "rgb" and settings["bit_depth"] == 8
    # The grey section's three bands are its one grey band repeated.
    grey = read_array(tmp_path / "out" / "brainA_s005.png")
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    assert _bands_and_depths(tmp_path / "reg") == {(3, "uchar")}
    assert tree_hashes(tmp_path / "src") == before


def test_colour_model_grey_gives_one_band_everywhere(tmp_path, cli):
    _mixed_series(tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--colour-model", "grey", "--registration", tmp_path / "reg")
    assert result.exit_code == 0, result.output
    assert _bands_and_depths(tmp_path / "out") == {(1, "uchar")}
    assert "3 colour section(s) written as grey" in result.stdout
    assert read_manifest(tmp_path / "out").settings["colour_model"] == "grey"
    # QuickNII wants 24-bit RGB: the registration series stays RGB whatever the model.
    assert _bands_and_depths(tmp_path / "reg") == {(3, "uchar")}
    # Another model is another setting: a folder holds one series, so a rerun with auto is
    # refused, and with --overwrite rewrites every output as RGB.
    refused = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert refused.exit_code == 2 and "other settings" in refused.output
    again = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "--json",
                "--overwrite")
    assert json.loads(again.stdout)["counts"]["written"] == 5
    assert _bands_and_depths(tmp_path / "out") == {(3, "uchar")}


def test_grey_series_stays_grey_with_auto(tmp_path, cli):
    save(gradient(40, 30, bands=1), tmp_path / "src" / "m_s001.png")
    save(gradient(40, 30, bands=1), tmp_path / "src" / "m_s002.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert result.exit_code == 0, result.output
    assert _bands_and_depths(tmp_path / "out") == {(1, "uchar")}
    assert "colour model" not in result.stdout  # nothing converted: nothing to say


def test_keep_depth_gives_a_mixed_series_one_depth(tmp_path, cli):
    _mixed_series(tmp_path / "src")
    (tmp_path / "src" / "brainA_s002.jpg").unlink()  # JPEG holds 8 bits only; PNG out anyway
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--keep-depth")
    assert result.exit_code == 0, result.output
    assert _bands_and_depths(tmp_path / "out") == {(3, "ushort")}
    rgb = read_array(tmp_path / "out" / "brainA_s003.png")
    assert rgb.max() > 255 and not (rgb % 257).any()  # each 8-bit value v becomes v * 257


def test_check_names_the_odd_file_of_a_mixed_folder(tmp_path, cli):
    folder = tmp_path / "prepared"
    for number in (1, 2, 3):
        save(gradient(40, 30), folder / f"brainA_s00{number}.png")
    save(gradient(40, 30, bands=1), folder / "brainA_s004.png")  # put in by hand
    result = cli("check", folder)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if "series.mixed-bands" in line]
    assert len(lines) == 2  # the table row and the finding, both of the odd file only
    assert all("brainA_s004.png" in line for line in lines)
    assert "1 band where the series has 3 (3 of 4 images)" in result.stdout


def test_check_names_the_odd_bit_depth(tmp_path, cli):
    folder = tmp_path / "prepared"
    for number in (1, 2):
        save(gradient(40, 30, bands=1), folder / f"brainA_s00{number}.png")
    deep = np.full((30, 40), 1000, np.uint16)
    save(from_array(deep), folder / "brainA_s003.png")
    document = json.loads(cli("check", folder, "--json").stdout)
    odd = [f for f in document["findings"] if f["id"] == "series.mixed-depth"]
    assert [Path(f["file"]).name for f in odd] == ["brainA_s003.png"]
    assert "16-bit samples where the series has 8-bit" in odd[0]["message"]
    assert document["ok"] is False


@pytest.mark.parametrize("value, model", [("grey", ColourModel.GREY), ("rgb", ColourModel.RGB)],
                         ids=["grey", "rgb"])
def test_config_key_colour_model(tmp_path, value, model):
    (tmp_path / "img").mkdir()
    config = tmp_path / "series.toml"
    config.write_text(f'name = "a"\nimages = "img"\noutput = "out"\nfactor = 0.5\n'
                      f'colour_model = "{value}"\n')
    settings = resolve(config).downscale_settings(0.5)
    assert isinstance(settings, DownscaleSettings) and settings.colour_model is model


def test_config_key_colour_model_refuses_other_values(tmp_path, cli):
    (tmp_path / "img").mkdir()
    config = tmp_path / "series.toml"
    config.write_text('name = "a"\nimages = "img"\noutput = "out"\nfactor = 0.5\n'
                      'colour_model = "cmyk"\n')
    result = cli("run", config)
    assert result.exit_code == 2 and "colour_model" in result.stderr


def test_sweep_sample_follows_the_whole_series_model(tmp_path, cli):
    save(gradient(80, 60), tmp_path / "src" / "brainA_s001.png")  # the one colour section
    save(gradient(80, 60, bands=1), tmp_path / "src" / "brainA_s002.png")
    result = cli("sweep", tmp_path / "src", "-o", tmp_path / "sweep", "--factors", "0.5",
                 "--pick", "s002", "-q")
    assert result.exit_code == 0, result.output
    assert _bands_and_depths(tmp_path / "sweep" / "f0.5") == {(3, "uchar")}
