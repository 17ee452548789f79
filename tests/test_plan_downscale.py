"""downscale with a section plan as its sources: each row cut from its slide, named by the row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import read_array, tree_hashes
from slides import BRIGHTFIELD, nearest_section, write_slide


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slide(tmp_path_factory.mktemp("slides") / "mouse12_slide1.tif")


@pytest.fixture
def plan(cli, slide, tmp_path) -> Path:
    result = cli("sections", slide, "-o", tmp_path / "plan", "--prefix", "m12")
    assert result.exit_code == 0, result.output
    return tmp_path / "plan" / "sections.csv"


def centre_colour(path: Path) -> tuple[float, ...]:
    """Mean colour of a patch left of the centre (clear of a tear in the middle)."""
    array = read_array(path).astype(float)
    h, w = array.shape[:2]
    patch = array[h // 2 - h // 8:h // 2 + h // 8, w // 4:w // 2 - w // 16]
    return tuple(patch.reshape(-1, array.shape[2]).mean(axis=0))


def rows_of(plan: Path) -> list[dict]:
    with open(plan, newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(plan: Path, rows: list[dict]) -> None:
    with open(plan, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_each_row_cut_from_its_slide(cli, plan, slide, tmp_path):
    before = tree_hashes(slide.parent)
    result = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.25")
    assert result.exit_code == 0, result.output
    assert "factor 0.25: 6 written" in result.stdout
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == [f"m12_s{n:03d}.png" for n in range(1, 7)]
    rows = rows_of(plan)
    for index, row in enumerate(rows):
        output = tmp_path / "out" / f"{row['name']}.png"
        array = read_array(output)
        assert array.shape[:2] == (round(int(row["height"]) * 0.25), round(int(row["width"]) * 0.25))
        assert nearest_section(centre_colour(output)) == index
    manifest = json.loads((tmp_path / "out" / "quint-prep.json").read_text())
    record = manifest["images"][0]
    assert record["source"] == str(slide.resolve())
    assert record["box"] == {"x": int(rows[0]["x"]), "y": int(rows[0]["y"]),
                             "width": int(rows[0]["width"]), "height": int(rows[0]["height"]),
                             "scene": None}
    assert record["load"].startswith("pyramid level 2")  # the crop read from a reduced level
    assert tree_hashes(slide.parent) == before
    again = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.25")
    assert "0 written, 6 up to date" in again.stdout


def test_edited_plan_is_obeyed(cli, plan, tmp_path):
    rows = rows_of(plan)
    del rows[1]  # a damaged section
    rows[0].update(number="7", name="m12_s007", rotate="90")  # renumbered and turned
    third = BRIGHTFIELD[2].box  # row 3 gets section 3's box, moved a little and tightened
    rows[1].update(x=str(third.x + 100), y=str(third.y + 100), width="600", height="400")
    write_rows(plan, rows)
    result = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.5")
    assert result.exit_code == 0, result.output
    names = sorted(p.stem for p in (tmp_path / "out").glob("*.png"))
    assert names == ["m12_s003", "m12_s004", "m12_s005", "m12_s006", "m12_s007"]
    turned = read_array(tmp_path / "out" / "m12_s007.png")
    assert turned.shape[:2] == (round(int(rows[0]["width"]) / 2), round(int(rows[0]["height"]) / 2))
    moved = read_array(tmp_path / "out" / "m12_s003.png")
    assert moved.shape[:2] == (200, 300)
    assert nearest_section(moved.reshape(-1, 3).mean(axis=0)) == 2
    # a box moved in the plan is rewritten on the next run, the others are up to date
    rows[1].update(x=str(third.x + 120))
    write_rows(plan, rows)
    again = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.5")
    assert "1 written, 4 up to date" in again.stdout


def test_bad_row_refused_before_anything_is_written(cli, plan, tmp_path):
    rows = rows_of(plan)
    rows[2].update(x="4700")  # box outside the slide, on line 4
    rows[4].update(number="1", name="m12_s001")  # duplicate number, on line 6
    write_rows(plan, rows)
    result = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.25")
    assert result.exit_code == 2
    assert "the plan has bad rows (nothing was written)" in result.stderr
    assert "line 4: box 4700," in result.stderr and "lies outside the slide (4800x3000)" in result.stderr
    assert "line 6: number 1 is also on line 2" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_slide_refused(cli, plan, tmp_path):
    rows = rows_of(plan)
    rows[0].update(slide="../slides/gone.tif")
    write_rows(plan, rows)
    result = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.25")
    assert result.exit_code == 2
    assert "line 2: unknown slide" in result.stderr and "gone.tif (no such file)" in result.stderr


def test_registration_series_from_a_plan(cli, plan, tmp_path):
    result = cli("downscale", plan, "-o", tmp_path / "out", "--factor", "0.5",
                 "--registration", tmp_path / "reg", "--registration-size", "200x200")
    assert result.exit_code == 0, result.output
    pictures = sorted(p.name for p in (tmp_path / "reg").glob("*.png"))
    assert pictures == [f"m12_s{n:03d}.png" for n in range(1, 7)]
    xml = (tmp_path / "reg" / "quicknii-series.xml").read_text()
    assert 'filename="m12_s006.png"' in xml and 'nr="6"' in xml
    for index, name in enumerate(pictures):
        colour = read_array(tmp_path / "reg" / name).reshape(-1, 3)
        inside = colour[np.abs(colour.astype(int) - 238).max(axis=1) > 40]
        assert nearest_section(inside.mean(axis=0)) == index


def test_trim_cuts_each_image_to_its_tissue(cli, tmp_path):
    from quint_prep.sections.plan import Box
    from quint_prep.scale import Size
    from quint_prep.sections.synthetic import SlideSection, slide_image

    folder = tmp_path / "src"
    folder.mkdir()
    section = SlideSection(Box(300, 200, 500, 400), (200, 60, 60), tear=6)
    slide_image(Size(1200, 900), [section], dust=[(1100, 800, 3)]).write_to_file(
        str(folder / "m_s001.png"))
    slide_image(Size(1000, 800), [], seed=1).write_to_file(str(folder / "m_s002.png"))
    result = cli("downscale", folder, "-o", tmp_path / "out", "--factor", "0.5", "--trim")
    assert result.exit_code == 0, result.output
    trimmed = read_array(tmp_path / "out" / "m_s001.png")
    height, width = trimmed.shape[:2]
    assert 250 <= width <= 270 and 200 <= height <= 220  # 500x400 + 2% margin, halved
    assert nearest_section(centre_colour(tmp_path / "out" / "m_s001.png"), [section]) == 0
    # no tissue: the image stays whole, and one line says so, naming it (also with -q)
    assert read_array(tmp_path / "out" / "m_s002.png").shape[:2] == (400, 500)
    told = [line for line in result.stderr.splitlines() if "no tissue" in line]
    assert told == ["warning: m_s002.png: --trim found no tissue on this image; it is written "
                    "whole, untrimmed"]
    assert "m_s001" not in result.stderr
    quiet = cli("downscale", folder, "-o", tmp_path / "out2", "--factor", "0.5", "--trim", "-q")
    assert quiet.exit_code == 0 and "m_s002.png: --trim found no tissue" in quiet.stderr
    record = json.loads((tmp_path / "out" / "quint-prep.json").read_text())["images"][0]
    assert record["box"]["width"] >= 500 and record["source_width"] == record["box"]["width"]


def test_run_config_takes_a_plan_as_its_images(cli, plan, slide, tmp_path):
    config = tmp_path / "configs" / "m12.toml"
    config.parent.mkdir()
    config.write_text('name = "m12"\nimages = "../plan/sections.csv"\noutput = "../prepared"\n'
                      'factor = 0.25\n')
    result = cli("run", config, "-q")
    assert result.exit_code == 0, result.output
    assert "factor 0.25: 6 written" in result.stdout
    assert len(list((tmp_path / "prepared").glob("m12_s*.png"))) == 6
    deps = cli("run", config, "--make-deps", "stamp")
    assert deps.exit_code == 0, deps.output
    assert str(plan.absolute()) in deps.stdout and str(slide.absolute()) in deps.stdout


def test_sweep_takes_a_plan(cli, plan, tmp_path):
    result = cli("sweep", plan, "-o", tmp_path / "sweep", "--factors", "0.25,0.125", "-q")
    assert result.exit_code == 0, result.output
    sampled = sorted(p.stem for p in (tmp_path / "sweep" / "f0.25").glob("*.png"))
    assert len(sampled) == 3 and all(name.startswith("m12_s") for name in sampled)
    page = (tmp_path / "sweep" / "index.html").read_text()
    assert all(name in page for name in sampled)
