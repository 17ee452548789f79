"""Sections on whole slides: tissue detection, order, numbering, the plan folder, the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import pyvips

from quint_prep.sections.plan import Box, Order
from quint_prep.scale import Size
from quint_prep.sections.detect import DetectSettings, find_on_slide
from quint_prep.series import read_info
from quint_prep.sections.synthetic import SlideSection, slide_image
from quint_prep.sections.tissue import Background, close, detect_tissue, otsu
from conftest import tree_hashes
from slides import BRIGHTFIELD, SLIDE, write_slide


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("slides")
    return {"bright": write_slide(folder / "mouse12_slide1.tif"),
            "dark": write_slide(folder / "mouse12_slide2.tif", dark=True, seed=3),
            "strips": write_slide(folder / "strips" / "slide3.tif", pyramid=False)}


def holds(outer: Box, inner: Box) -> bool:
    return (outer.x <= inner.x and outer.y <= inner.y and outer.right >= inner.right
            and outer.bottom >= inner.bottom)


def test_otsu_splits_two_populations():
    counts = np.zeros(256)
    counts[25], counts[180] = 1000, 500
    assert 25 < otsu(counts) <= 180


def test_closing_joins_close_fragments_only():
    mask = np.zeros((20, 40), np.uint8)
    mask[5:15, 2:10] = mask[5:15, 13:20] = mask[5:15, 30:38] = 255  # gaps of 3 and 10 px
    closed = close(pyvips.Image.new_from_array(mask), 2).numpy()
    assert closed[10, 11] and closed[10, 12]  # the 3 px gap is bridged
    assert not closed[10, 25]  # the 10 px gap is not


def test_detect_on_small_image_drops_dust_and_joins_tear():
    sections = [SlideSection(Box(20, 20, 200, 150), (180, 60, 60), tear=4),
                SlideSection(Box(260, 30, 180, 140), (60, 60, 180))]
    image = slide_image(Size(480, 220), sections, dust=[(460, 200, 3)])
    found = detect_tissue(image, join=8)
    assert found.background is Background.WHITE
    assert [r.box for r in found.regions] == [Box(20, 20, 200, 150), Box(260, 30, 180, 140)] or \
        all(holds(r.box, s.box) for r, s in zip(sorted(found.regions, key=lambda r: r.box.x), sections))
    assert len(found.regions) == 2


def test_nothing_on_an_empty_slide():
    image = slide_image(Size(300, 200), [])
    assert detect_tissue(image).regions == ()


@pytest.mark.parametrize("kind", ["bright", "dark", "strips"])
def test_sections_found_in_reading_order(slides, kind):
    found = find_on_slide(read_info(slides[kind]), DetectSettings())
    assert found.background is (Background.DARK if kind == "dark" else Background.WHITE)
    assert len(found.boxes) == len(BRIGHTFIELD)  # the torn one is one section, dust is gone
    for box, truth in zip(found.boxes, BRIGHTFIELD):
        assert holds(box, truth.box), (box, truth.box)
        assert box.width * box.height < 1.25 * truth.box.width * truth.box.height
    assert found.pixel_size_um == pytest.approx(2.0)
    expected = "pyramid level 1 (2400x1500)" if kind != "strips" else "full resolution"
    assert found.small.load == expected


def test_columns_and_reverse(slides):
    info = read_info(slides["bright"])
    by_columns = find_on_slide(info, DetectSettings(order=Order.COLUMNS)).boxes
    assert [b.x // 100 for b in by_columns] == [1, 2, 14, 14, 27, 25]  # C above F in the third column
    reverse = find_on_slide(info, DetectSettings(reverse=True)).boxes
    assert reverse == find_on_slide(info, DetectSettings()).boxes[::-1]


def test_join_and_min_area_in_micrometres(slides):
    info = read_info(slides["bright"])  # 2 um per pixel
    joined = find_on_slide(info, DetectSettings(join=300)).boxes  # 150 px: D and E become one
    assert len(joined) == 5
    torn = find_on_slide(info, DetectSettings(join=2)).boxes  # 1 px: the tear stays open
    assert len(torn) == 7
    # dust of radius 12 px is 450 um^2 of tissue; keep it with a tiny --min-area
    dusty = find_on_slide(info, DetectSettings(min_area=100)).boxes
    assert len(dusty) == 7


def test_exclude_area(slides):
    info = read_info(slides["bright"])
    found = find_on_slide(info, DetectSettings(exclude=(Box(2500, 1500, 2300, 1500),)))
    assert len(found.boxes) == 5


def _plan_rows(plan: Path) -> list[dict]:
    with open(plan, newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_numbers_across_slides(cli, slides, tmp_path):
    before = tree_hashes(slides["bright"].parent)
    result = cli("sections", slides["bright"], slides["dark"], "-o", tmp_path / "plan",
                 "--prefix", "m12", "--start", "2", "--step", "2")
    assert result.exit_code == 0, result.output
    assert "mouse12_slide1.tif: 6 sections (pyramid level 1 (2400x1500), white background)" in result.stdout
    assert "mouse12_slide2.tif: 6 sections (pyramid level 1 (2400x1500), dark background)" in result.stdout
    assert "12 sections on 2 slides" in result.stdout
    rows = _plan_rows(tmp_path / "plan" / "sections.csv")
    assert [r["number"] for r in rows] == [str(n) for n in range(2, 26, 2)]
    assert rows[0]["name"] == "m12_s002" and rows[-1]["name"] == "m12_s024"
    assert rows[6]["slide"].endswith("mouse12_slide2.tif")
    assert rows[0]["pixel_size_um"] == "2.0000" and float(rows[0]["tissue_mm2"]) > 0.4
    page = (tmp_path / "plan" / "index.html").read_text()
    assert page.count("<rect") == 12 and "overview-02.jpg" in page
    assert (tmp_path / "plan" / "overview-01.jpg").exists()
    assert tree_hashes(slides["bright"].parent) == before


def test_cli_keeps_an_edited_plan(cli, slides, tmp_path):
    assert cli("sections", slides["bright"], "-o", tmp_path / "plan").exit_code == 0
    result = cli("sections", slides["bright"], "-o", tmp_path / "plan")
    assert result.exit_code == 2
    assert "sections.csv exists (it may hold your edits); pass --overwrite" in result.stderr
    assert cli("sections", slides["bright"], "-o", tmp_path / "plan", "--overwrite").exit_code == 0


def test_cli_default_prefix_and_bad_options(cli, slides, tmp_path):
    result = cli("sections", slides["bright"], "-o", tmp_path / "plan")
    assert _plan_rows(tmp_path / "plan" / "sections.csv")[0]["name"] == "mouse12-slide_s001"
    bad = cli("sections", slides["bright"], "-o", tmp_path / "p2", "--prefix", "a_sb")
    assert bad.exit_code == 2 and "--prefix 'a_sb' gives unsafe names" in bad.stderr
    bad = cli("sections", slides["bright"], "-o", tmp_path / "p3", "--exclude", "1,2,3")
    assert bad.exit_code == 2 and "--exclude '1,2,3' is not X,Y,WIDTH,HEIGHT" in bad.stderr
    assert result.exit_code == 0


def test_cli_bad_slide_among_good(cli, slides, tmp_path):
    broken = tmp_path / "bad" / "broken.tif"
    broken.parent.mkdir()
    broken.write_bytes(b"II*\x00garbage")
    result = cli("sections", broken, slides["bright"], "-o", tmp_path / "plan")
    assert result.exit_code == 1
    assert f"error: {broken}:" in result.stderr
    assert len(_plan_rows(tmp_path / "plan" / "sections.csv")) == 6


def test_a_printed_label_at_the_slide_end_is_not_a_section(tmp_path, cli):
    """A paper label with text and a barcode at the left end is set aside and reported; the
    stained sections (one of them dark, one at the other end) are kept."""
    sections = [SlideSection(Box(420, 60, 300, 220), (190, 90, 140)),
                SlideSection(Box(800, 50, 280, 240), (70, 40, 90)),  # a dark violet stain
                SlideSection(Box(1200, 70, 260, 200), (150, 110, 60))]
    label = Box(20, 30, 300, 280)
    image = slide_image(Size(1500, 340), sections, label=label)
    found = detect_tissue(image, join=10)
    assert len(found.regions) == 3
    assert all(holds(r.box, s.box) for r, s in zip(sorted(found.regions, key=lambda r: r.box.x),
                                                   sections))
    assert found.labels and all(holds(label, area.box) for area in found.labels)  # text, barcode
    (tmp_path / "slides").mkdir()
    path = tmp_path / "slides/slide.tif"
    image.tiffsave(str(path))
    result = cli("sections", path, "-o", tmp_path / "plan", "--prefix", "m1")
    assert result.exit_code == 0, result.output
    assert "3 sections" in result.output and "label area " in result.output
    rows = list(csv.DictReader((tmp_path / "plan/sections.csv").open()))
    assert [int(r["x"]) > 350 for r in rows] == [True, True, True]


def test_print_in_the_middle_of_the_slide_stays_a_section():
    """Only a label at one end of the slide is set aside: ink in the middle is kept."""
    image = slide_image(Size(1500, 340), [], label=Box(600, 30, 300, 280))
    found = detect_tissue(image, join=10)
    assert found.regions and found.labels == ()


def test_an_output_folder_beside_a_source_file_names_the_folder(tmp_path, cli):
    image = slide_image(Size(300, 200), [SlideSection(Box(50, 40, 150, 120), (190, 90, 140))])
    image.tiffsave(str(tmp_path / "slide.tif"))
    result = cli("sections", tmp_path / "slide.tif", "-o", tmp_path / "plan")
    assert result.exit_code == 2
    assert f"lies inside the source folder {tmp_path} (of slide.tif)" in " ".join(result.output.split())
