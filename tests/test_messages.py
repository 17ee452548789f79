"""Messages that point the right way (issue 14, item 7), each from the user's side."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np

from conftest import from_array, gradient, save
from quint_prep.registration.quicknii import series_name


def test_factor_capped_at_1_says_so_and_names_the_largest(tmp_path, cli):
    save(gradient(60, 40), tmp_path / "src" / "brainA_s001.png")  # listed first, but smaller
    save(gradient(80, 60), tmp_path / "src" / "brainA_s002.png")
    result = cli("factor", tmp_path / "src", "--max-size", "14000x10000")
    assert result.exit_code == 0, result.output
    assert ("factor 1: every image already fits in 14000x10000, none needs shrinking "
            "(the largest, brainA_s002.png, is 80x60)") in result.stdout
    assert "limited by" not in result.stdout
    document = json.loads(cli("factor", tmp_path / "src", "--max-size", "14000x10000",
                              "--json").stdout)
    assert document["limited_by"] is None and document["largest"] == "brainA_s002.png"


def test_factor_names_the_image_that_limits_it(tmp_path, cli):
    save(gradient(60, 40), tmp_path / "src" / "brainA_s001.png")
    save(gradient(80, 60), tmp_path / "src" / "brainA_s002.png")  # 50/80 < 50/60: it limits
    result = cli("factor", tmp_path / "src", "--max-size", "50x50")
    assert result.exit_code == 0, result.output
    assert "factor 0.625 fits every image in 50x50 (limited by brainA_s002.png, 80x60)" in result.stdout


def _section_12bit(brightness: float) -> np.ndarray:
    image = np.full((60, 80), 100, dtype=np.uint16)
    image[10:50, 15:65] = int(1000 * brightness)
    image[25:30, 30:35] = int(3000 * brightness)
    return image


def test_intensity_notes_judge_8bit_sections_against_their_own_range(tmp_path, cli):
    src = tmp_path / "src"
    save(from_array(_section_12bit(1.0)), src / "brainA_s001.tif")
    save(from_array(_section_12bit(0.9)), src / "brainA_s002.tif")
    save(from_array(_section_12bit(0.2)), src / "brainA_s003.tif")  # really dim among 16-bit
    normal = (gradient(80, 60) * 0.8).cast("uchar")  # a normal 8-bit RGB section, 0-204
    save(normal, src / "brainA_s004.png")
    save(normal, src / "brainA_s005.jpg")
    result = cli("factor", src, "--max-size", "100x100")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if line.startswith("brainA_s") and "%" in line}
    assert rows["brainA_s004.png"].rstrip().endswith("ok"), rows["brainA_s004.png"]
    assert rows["brainA_s005.jpg"].rstrip().endswith("ok"), rows["brainA_s005.jpg"]
    assert "dim or empty" in rows["brainA_s003.tif"]
    assert "dim" not in rows["brainA_s001.tif"]


def test_consumers_file_records_the_series_factor(tmp_path, cli):
    for number in (1, 2):
        save(gradient(80, 60), tmp_path / "src" / f"brainA_s00{number}.png")
    assert cli("downscale", tmp_path / "src", "-o", tmp_path / "prepared", "--factor", "0.5",
               "-q").exit_code == 0
    for number in (1, 2):
        labels = np.zeros((30, 40), np.uint8)
        labels[5:15, 5:15] = 255
        save(from_array(labels), tmp_path / "seg" / f"brainA_s00{number}_mask.png")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "masks", "--images",
                 tmp_path / "prepared")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "masks" / "quint-prep-consumers.json").read_text())
    assert document["factor"] == 0.5 and document["masks_factor"] is None
    assert "series factor 0.5 (original sections -> images" in result.stdout


def test_quicknii_series_name_comes_from_the_sections(tmp_path, cli):
    for number in (1, 2, 3):
        save(gradient(80, 60), tmp_path / "src" / f"brainA_s00{number}.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "prepared-v2", "--factor", "0.5",
                 "--registration", tmp_path / "reg", "-q")
    assert result.exit_code == 0, result.output
    root = ET.parse(tmp_path / "reg" / "quicknii-series.xml").getroot()
    assert root.get("name") == "brainA"
    # The descriptor command takes the same default.
    result = cli("descriptor", tmp_path / "reg", "--filename", "again.xml")
    assert result.exit_code == 0, result.output
    assert ET.parse(tmp_path / "reg" / "again.xml").getroot().get("name") == "brainA"


def test_series_name_rule():
    assert series_name(["tg2345_MMSH_s001", "tg2345_MMSH_s002"], "folder") == "tg2345_MMSH"
    assert series_name(["brainA_s001", "brainB_s002"], "folder") == "brain"
    assert series_name(["x_s001", "y_s002"], "folder") == "folder"
    assert series_name(["unnumbered"], "folder") == "folder"
