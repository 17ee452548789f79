"""sections and downscale from a plan on real scanner files: a two-scene CZI, an SVS with label
and macro pages (made with the vendors' own writers)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import read_array
from scanner_files import write_czi_rgb, write_svs
from slides import nearest_section
from quint_prep.sections.plan import Box
from quint_prep.scale import Size
from quint_prep.sections.synthetic import SlideSection, slide_image

pytest.importorskip("pylibCZIrw")
pytest.importorskip("tifffile")

SECTIONS = [SlideSection(Box(100, 150, 600, 500), (200, 60, 60), tear=8),
            SlideSection(Box(900, 200, 550, 450), (60, 60, 200))]


def slide_pixels():
    return slide_image(Size(1600, 900), SECTIONS, dust=[(1500, 820, 4)]).numpy()


def rows_of(plan: Path) -> list[dict]:
    with open(plan, newline="") as handle:
        return list(csv.DictReader(handle))


def holds(row: dict, box: Box) -> bool:
    x, y, w, h = (int(row[k]) for k in ("x", "y", "width", "height"))
    return x <= box.x and y <= box.y and x + w >= box.right and y + h >= box.bottom \
        and w * h < 1.25 * box.width * box.height


def section_in(path: Path) -> int:
    """Which section a cut image holds, by the colour of a patch left of its centre."""
    array = read_array(path)
    h, w = array.shape[:2]
    return nearest_section(array[h // 3:2 * h // 3, w // 5:2 * w // 5].reshape(-1, 3).mean(axis=0),
                           SECTIONS)


def test_two_scene_czi(cli, tmp_path):
    (tmp_path / "slides").mkdir()
    czi = write_czi_rgb(tmp_path / "slides" / "brain.czi", slide_pixels(), mpp=1.0,
                        scenes=((0, 0), (2000, 0)))
    result = cli("sections", czi, "-o", tmp_path / "plan", "--prefix", "b")
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "plan" / "sections.csv")
    assert [(r["name"], r["scene"]) for r in rows] == [
        ("b_s001", "0"), ("b_s002", "0"), ("b_s003", "1"), ("b_s004", "1")]
    for row, section in zip(rows, SECTIONS * 2):
        assert holds(row, section.box), row
    assert rows[0]["pixel_size_um"] == "1.0000"
    page = (tmp_path / "plan" / "index.html").read_text()
    assert "brain.czi, scene 0" in page and "brain.czi, scene 1" in page
    out = cli("downscale", tmp_path / "plan" / "sections.csv", "-o", tmp_path / "out",
              "--factor", "0.5")
    assert out.exit_code == 0, out.output
    assert [section_in(tmp_path / "out" / f"{r['name']}.png") for r in rows] == [0, 1, 0, 1]


def test_svs_label_and_macro_are_not_sections(cli, tmp_path):
    (tmp_path / "slides").mkdir()
    svs = write_svs(tmp_path / "slides" / "brain.svs", slide_pixels(), mpp=0.5)
    result = cli("sections", svs, "-o", tmp_path / "plan", "--prefix", "b")
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "plan" / "sections.csv")
    assert len(rows) == 2
    for row, section in zip(rows, SECTIONS):
        assert holds(row, section.box), row
    out = cli("downscale", tmp_path / "plan" / "sections.csv", "-o", tmp_path / "out",
              "--factor", "0.25")
    assert out.exit_code == 0, out.output
    assert [section_in(tmp_path / "out" / f"{r['name']}.png") for r in rows] == [0, 1]
