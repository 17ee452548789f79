import csv
import json
from collections import deque
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyvips
import pytest

from quint_prep.errors import UsageError
from quint_prep.scale import Size
from quint_prep.masks.components import ComponentStats
from quint_prep.sweep.decide import (Comparison, Region, choose_region, parse_factors, parse_picks,
                              parse_region, pick_sample, recommend, small_object_warnings,
                              spread_indices)
from quint_prep.sweep.sample import FactorOutput, detail_grid, find_region
from quint_prep.downscale.image import ImageResult
from quint_prep.series import read_info
from conftest import from_array, gradient, save, tree_hashes

W, H = 240, 160
# 12 discs of radius 9 and 12 of radius 2, well apart: known sizes, numpy is the reference.
DISCS = ([(20 + 40 * i, 20 + 40 * j, 9) for i in range(6) for j in range(2)]
         + [(23 + 40 * i, 101 + 40 * j, 2) for i in range(6) for j in range(2)])


def disc_mask(width: int, height: int, discs) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    mask = np.zeros((height, width), np.uint8)
    for cx, cy, r in discs:
        mask[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 255
    return mask


def count4(binary: np.ndarray) -> int:
    """4-connected components by breadth-first search (reference, small arrays only)."""
    seen = np.zeros(binary.shape, bool)
    height, width = binary.shape
    count = 0
    for y, x in zip(*np.nonzero(binary)):
        if seen[y, x]:
            continue
        count += 1
        queue = deque([(y, x)])
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < height and 0 <= nx < width and binary[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
    return count


def numpy_resample(mask: np.ndarray, k: int, mode: str) -> np.ndarray:
    blocks = mask.astype(float).reshape(mask.shape[0] // k, k, mask.shape[1] // k, k)
    if mode == "area":
        return blocks.mean(axis=(1, 3)) >= 127.5
    return blocks.max(axis=(1, 3)) > 0  # any


def make_series(root: Path, count: int = 3, microns: float | None = 0.5) -> tuple[Path, Path]:
    """Sections with discs drawn dark on a gradient, and their full-resolution 0/255 masks."""
    src, seg = root / "src", root / "seg"
    mask = disc_mask(W, H, DISCS)
    for n in range(1, count + 1):
        image = gradient(W, H) * 0.5 + 100
        image = (from_array(mask) > 0).ifthenelse([40, 0, 80], image).cast("uchar")
        options = {"xres": 1000 / microns, "yres": 1000 / microns} if microns else {}
        save(image.copy(interpretation="srgb"), src / f"brain_s{n:03d}.tif", tile=True, **options)
        save(from_array(mask), seg / f"brain_s{n:03d}_mask.png")
    return src, seg


# ---- pure decisions ---------------------------------------------------------------------------

def test_factors_are_sorted_largest_first_and_checked():
    assert parse_factors("0.125, 0.5,0.25,0.5") == (0.5, 0.25, 0.125)
    for bad in ("0.5,two", "", "0.5,1.5", "0,0.5"):
        with pytest.raises(UsageError):
            parse_factors(bad)


@pytest.mark.parametrize("total,count,expected", [
    (10, 3, [0, 4, 9]), (2, 3, [0, 1]), (7, 1, [3]), (5, 5, [0, 1, 2, 3, 4]), (100, 2, [0, 99]),
], ids=["spread", "fewer-than-asked", "one-middle", "all", "ends"])
def test_sample_spreads_over_the_series(total, count, expected):
    assert spread_indices(total, count) == expected


def test_pick_by_section_number_and_unknown_number_lists_the_numbers():
    numbers = [1, 3, 5, None, 9]
    assert parse_picks("s005,_s001,9") == (5, 1, 9)
    assert pick_sample(numbers, picks=(5, 1)) == [2, 0]
    with pytest.raises(UsageError, match=r"no section number 4 in the series \(section numbers: 1, 3, 5, 9\)"):
        pick_sample(numbers, picks=(4,))
    with pytest.raises(UsageError):
        parse_picks("s01a")


def test_region_parsing_scaling_and_choice():
    assert parse_region("10,20,30,40") == Region(10, 20, 30, 40)
    with pytest.raises(UsageError):
        parse_region("10,20,30")
    assert Region(100, 40, 200, 100).scaled(Size(1000, 500), Size(250, 125)) == Region(25, 10, 50, 25)
    grid = np.zeros((4, 5))  # cells of 200 x 100 px
    grid[1, 3] = 9.0  # cell centre: x = 3.5 * 200 = 700, y = 1.5 * 100 = 150
    assert choose_region(grid, Size(200, 100), Size(1000, 400)) == Region(600, 100, 200, 100)
    grid[1, 2] = grid[2, 2] = 5.0  # a 2 x 2-cell window takes the richest block
    assert choose_region(grid, Size(400, 200), Size(1000, 400)) == Region(400, 100, 400, 200)
    grid[:] = 0
    grid[3, 4] = 1.0  # the corner: the window is kept inside the image
    assert choose_region(grid, Size(300, 300), Size(1000, 400)) == Region(650, 100, 300, 300)
    assert choose_region(np.zeros((0, 0)), Size(300, 300), Size(1000, 400)) == Region(350, 50, 300, 300)


def test_detail_grid_is_a_cell_mean():
    pixels = np.arange(16, dtype=float).reshape(4, 4)
    assert detail_grid(pixels, 2, 2).tolist() == [[2.5, 4.5], [10.5, 12.5]]


def _comparison(factor: float, mode: str, objects: int, area: float) -> Comparison:
    full = ComponentStats(100, 1000, 100_000)
    size = Size(round(1000 * factor), round(100 * factor))
    pixels = round(area * size.width * size.height)
    return Comparison("s", factor, mode, size, ComponentStats(objects, pixels, size.width * size.height),
                      full, Size(1000, 100))


def test_recommendation_takes_the_smallest_factor_that_keeps_the_objects():
    sizes = [Size(20000, 12000)]
    rows = [_comparison(0.5, "area", 100, 0.01), _comparison(0.25, "area", 97, 0.0104),
            _comparison(0.125, "area", 80, 0.0099), _comparison(0.125, "nearest", 96, 0.0102)]
    rec = recommend([0.5, 0.25, 0.125], sizes, Size(14000, 10000), rows)
    assert (rec.factor, rec.mode) == (0.125, "nearest")
    rec = recommend([0.5, 0.25, 0.125], sizes, Size(14000, 10000), rows[:3])
    assert (rec.factor, rec.mode) == (0.25, "area")
    assert "worst 97.0%" in rec.reason
    # 0.5 keeps everything but 10000x6000 does not fit 8000x8000; 0.25 loses too many here.
    rows = [_comparison(0.5, "area", 100, 0.01), _comparison(0.25, "area", 90, 0.01)]
    rec = recommend([0.5, 0.25], sizes, Size(8000, 8000), rows)
    assert rec.factor is None and "no factor keeps at least 95%" in rec.reason


def test_images_only_recommendation_is_by_size_and_says_so():
    sizes = [Size(40000, 30000), Size(38000, 31000)]
    rec = recommend([0.5, 0.25, 0.125], sizes, Size(14000, 10000))
    assert rec.factor == 0.25 and "images only" in rec.reason
    rec = recommend([0.5], sizes, Size(14000, 10000))
    assert rec.factor is None and "no factor makes every image fit 14000x10000" in rec.reason


def test_small_objects_warn_under_three_pixels():
    notes = small_object_warnings(5.0, [0.5, None], [0.5, 0.25, 0.125])  # 5, 2.5, 1.25 px
    assert len(notes) == 2 and notes[0].startswith("at factor 0.25 (2 µm/px) objects of 5 µm are 2.5 px")
    assert "record no pixel size" in small_object_warnings(6.0, [None], [0.5])[0]


# ---- with images ------------------------------------------------------------------------------

def test_counts_and_area_fractions_match_numpy(tmp_path, cli):
    src, seg = make_series(tmp_path, count=3)
    before = tree_hashes(src), tree_hashes(seg)
    out = tmp_path / "sweep"
    result = cli("sweep", src, "-o", out, "--factors", "0.5,0.25,0.125", "--segmentations", seg,
                 "--sections", "2", "-q")
    assert result.exit_code == 0, result.output
    assert (tree_hashes(src), tree_hashes(seg)) == before
    rows = list(csv.DictReader((out / "objects.csv").open()))
    assert {r["section"] for r in rows} == {"brain_s001", "brain_s003"}
    mask = disc_mask(W, H, DISCS)
    full = [r for r in rows if r["mode"] == "full"]
    assert all(int(r["objects"]) == len(DISCS) == count4(mask > 0) for r in full)
    assert float(full[0]["area_fraction"]) == pytest.approx((mask > 0).mean(), abs=1e-6)
    for row in (r for r in rows if r["mode"] in ("area", "any")):
        k = round(1 / float(row["factor"]))
        expected = numpy_resample(mask, k, row["mode"])
        assert (int(row["width"]), int(row["height"])) == (W // k, H // k)
        assert int(row["objects"]) == count4(expected), row
        assert float(row["area_fraction"]) == pytest.approx(expected.mean(), abs=1e-6), row
        assert float(row["objects_ratio"]) == pytest.approx(count4(expected) / len(DISCS), abs=1e-4)
    nearest = [r for r in rows if r["mode"] == "nearest"]
    assert len(nearest) == 6 and all(int(r["objects"]) <= len(DISCS) for r in nearest)
    # numpy: 0.25 keeps all 24 discs, area 0.0800 vs 0.0831 (3.8% off); 0.125 keeps 12 of 24.
    assert "recommended factor 0.25 (masks --resample area)" in result.output


def test_page_and_sheets_reference_each_other(tmp_path, cli):
    src, _ = make_series(tmp_path, count=5)
    out = tmp_path / "sweep"
    result = cli("sweep", src, "-o", out, "--factors", "0.5,0.25", "-q")
    assert result.exit_code == 0, result.output
    sampled = ["brain_s001", "brain_s003", "brain_s005"]  # 3 spread over 5
    for factor in ("f0.5", "f0.25"):
        assert sorted(p.stem for p in (out / factor).glob("*.png")) == sampled
    small = pyvips.Image.new_from_file(str(out / "f0.25/brain_s003.png"))
    assert (small.width, small.height) == (60, 40)

    class Images(HTMLParser):
        sources: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.sources.append(dict(attrs)["src"])

    parser = Images()
    parser.sources = []
    page = (out / "index.html").read_text()
    parser.feed(page)
    assert parser.sources == [f"{stem}_sweep.png" for stem in sampled]
    for name in parser.sources:
        sheet = pyvips.Image.new_from_file(str(out / name))
        # overview + two panels of 400 x 267 (the whole 240 x 160 section) and their labels
        assert sheet.width >= 3 * 400 and sheet.height > 267 + 30
    assert "images only" in page and "objects.csv" not in page
    assert "recommended factor 0.5: the largest factor tried that fits 14000x10000" in result.output


def test_sheet_panels_are_nearest_neighbour_enlargements_of_the_outputs(tmp_path, cli):
    src, _ = make_series(tmp_path, count=1)
    out = tmp_path / "sweep"
    result = cli("sweep", src, "-o", out, "--factors", "0.25", "--region", "0,0,240,160", "-q")
    assert result.exit_code == 0, result.output
    output = pyvips.Image.new_from_file(str(out / "f0.25/brain_s001.png")).numpy()  # 60 x 40
    sheet = pyvips.Image.new_from_file(str(out / "brain_s001_sweep.png")).numpy()
    # The panel for 0.25 is 400 x 267 px: each output pixel became a block of ~6.67 px. Find it
    # as the last 400 px wide panel: its top-left block repeats output[0, 0] exactly.
    top, left = 12, sheet.shape[1] - 12 - 400
    panel = sheet[top:top + 267, left:left + 400]
    assert (panel[0:6, 0:6] == output[0, 0]).all()
    rows = ((np.arange(40) + 0.5) * 267 / 40).astype(int)  # block centres
    columns = ((np.arange(60) + 0.5) * 400 / 60).astype(int)
    assert (sheet[top + rows[:, None], left + columns[None, :]] == output).all()
    colours = {tuple(p) for p in output.reshape(-1, 3)}  # no value is invented
    assert {tuple(p) for p in panel.reshape(-1, 3)} <= colours


def test_region_is_found_where_the_texture_is(tmp_path):
    rng = np.random.default_rng(3)
    image = np.full((1000, 2000, 3), 230, np.uint8)
    image[300:700, 1300:1700] = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    path = save(from_array(image), tmp_path / "out/t_s001.png")
    info = read_info(path)
    output = FactorOutput(1.0, ImageResult(source=path, status="written", output=path,
                                           output_size=Size(2000, 1000)))
    region = find_region(info, [output], side=400)
    assert region.width == region.height == 400
    assert region.x <= 1500 <= region.x + 400 and region.y <= 500 <= region.y + 400


def test_unknown_pick_is_a_usage_error(tmp_path, cli):
    src, _ = make_series(tmp_path, count=2)
    result = cli("sweep", src, "-o", tmp_path / "out", "--pick", "s001,s050")
    assert result.exit_code == 2
    assert "error: --pick: no section number 50 in the series (section numbers: 1, 2)" in result.output
    assert not (tmp_path / "out" / "f0.5").exists()


def test_sections_and_pick_together_and_output_in_source_are_refused(tmp_path, cli):
    src, _ = make_series(tmp_path, count=2)
    result = cli("sweep", src, "-o", tmp_path / "out", "--pick", "s001", "--sections", "2")
    assert result.exit_code == 2 and "give --sections N or --pick s010,s050, not both" in result.output
    result = cli("sweep", src, "-o", src / "sweep")
    assert result.exit_code == 2 and "lies inside the source folder" in result.output


def test_json_summary_and_small_object_warning(tmp_path, cli):
    src, seg = make_series(tmp_path, count=2)
    result = cli("sweep", src, "-o", tmp_path / "out", "--factors", "0.5,0.125", "--pick", "s002",
                 "--segmentations", seg, "--min-object-um", "4", "--json", "-q")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["recommendation"] == {"factor": 0.5, "mode": "area",
                                          "reason": document["recommendation"]["reason"],
                                          "mask_scale": 1.0, "image_factor": 0.5, "left_out": []}
    (section,) = document["sections"]
    assert section["name"] == "brain_s002.tif" and section["segmentation"].endswith("brain_s002_mask.png")
    assert [o["microns_per_pixel"] for o in section["outputs"]] == pytest.approx([1.0, 4.0])
    assert any("at factor 0.125 (4 µm/px) objects of 4 µm are 1 px" in w for w in document["warnings"])
    assert Path(section["sheet"]).exists() and Path(document["objects_csv"]).exists()


def test_mask_that_does_not_fit_its_image_is_reported(tmp_path, cli):
    src, seg = make_series(tmp_path, count=1)
    save(from_array(disc_mask(200, 200, DISCS[:3])), seg / "brain_s001_mask.png")
    result = cli("sweep", src, "-o", tmp_path / "out", "--factors", "0.5", "--segmentations", seg, "-q")
    assert result.exit_code == 1
    assert "brain_s001_mask.png: proportions differ from its image brain_s001.tif" in result.output
    assert (tmp_path / "out/index.html").exists()


def test_sample_outputs_equal_downscale_of_the_whole_series(tmp_path, cli):
    """Same code path and the same series-wide 16-bit window as `downscale`, even though the
    brightest section is not in the sample."""
    for n, top in ((1, 4000), (2, 9000), (3, 60000)):
        ramp = (np.linspace(0, top, 120)[None, :] * np.ones((80, 1))).astype(np.uint16)
        save(from_array(ramp), tmp_path / f"src/s16_s{n:03d}.tif")
    result = cli("sweep", tmp_path / "src", "-o", tmp_path / "sweep", "--factors", "0.5",
                 "--pick", "s001", "-q")
    assert result.exit_code == 0, result.output
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "down", "--factor", "0.5", "-q")
    assert result.exit_code == 0, result.output
    swept = pyvips.Image.new_from_file(str(tmp_path / "sweep/f0.5/s16_s001.png")).numpy()
    downscaled = pyvips.Image.new_from_file(str(tmp_path / "down/s16_s001.png")).numpy()
    assert (swept == downscaled).all() and swept.max() < 40  # windowed by the 60000 section
    assert sorted(p.name for p in (tmp_path / "sweep/f0.5").glob("*.png")) == ["s16_s001.png"]


def test_sweep_has_help_and_a_readme_section(cli):
    result = cli("sweep", "--help")
    assert result.exit_code == 0 and "Example: quint-prep sweep" in result.stdout
    root = Path(__file__).parent.parent
    assert "### sweep:" in (root / "README.md").read_text()  # the short section ...
    assert (root / "docs/sweep.md").read_text().startswith("# sweep:")  # ... and the manual page


@pytest.mark.parametrize("option,value,message", [
    ("--keep-objects", "1.5", "--keep-objects 1.5: give a share between 0 and 1"),
    ("--area-tolerance", "-0.1", "--area-tolerance -0.1: give a share >= 0"),
    ("--factors", "0.5,2", "factor 2.0 is not in (0, 1]"),
    ("--region", "1,2,3", "--region '1,2,3' is not x,y,w,h"),
    ("--sections", "0", "--sections 0: give at least 1"),
], ids=["keep", "tolerance", "factor", "region", "sections"])
def test_bad_options_are_usage_errors(tmp_path, cli, option, value, message):
    src, _ = make_series(tmp_path, count=1)
    result = cli("sweep", src, "-o", tmp_path / "out", option, value)
    assert result.exit_code == 2 and message in result.output, result.output


def test_region_outside_and_missing_segmentations_are_reported(tmp_path, cli):
    src, seg = make_series(tmp_path, count=2)
    (seg / "brain_s002_mask.png").unlink()
    result = cli("sweep", src, "-o", tmp_path / "out", "--factors", "0.5", "--segmentations", seg,
                 "--region", "500,10,50,50", "-q")
    assert result.exit_code == 1
    assert "error: --region 500,10,50,50 lies outside brain_s001.tif (240x160)" in result.output
    assert "warning: no segmentation for brain_s002.tif: not counted" in result.output
    page = (tmp_path / "out/index.html").read_text()
    assert "<img" not in page and "lies outside" in page


def test_ilastik_labels_are_chosen_as_in_masks(tmp_path, cli):
    src, seg = make_series(tmp_path, count=1)
    (seg / "brain_s001_mask.png").unlink()
    labels = np.where(disc_mask(W, H, DISCS) > 0, 2, 1).astype(np.uint8)  # ilastik: 1..N, no 0
    save(from_array(labels), seg / "brain_s001_Simple Segmentation.png")
    result = cli("sweep", src, "-o", tmp_path / "out", "--factors", "0.5", "--segmentations", seg, "-q")
    assert result.exit_code == 1
    assert "say which label values are objects with --labels" in result.output
    result = cli("sweep", src, "-o", tmp_path / "out", "--factors", "0.5", "--segmentations", seg,
                 "--labels", "2", "-q")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out/objects.csv").open()))
    assert [int(r["objects"]) for r in rows if r["mode"] in ("full", "area")] == [24, 24]


def test_no_countable_segmentation_means_no_recommendation(tmp_path, cli):
    src, seg = make_series(tmp_path, count=2)
    out = tmp_path / "out"
    assert cli("sweep", src, "-o", out, "--factors", "0.5", "--segmentations", seg, "-q").exit_code == 0
    assert (out / "objects.csv").exists()
    for mask in seg.iterdir():
        mask.unlink()
    save(from_array(disc_mask(W, H, DISCS)), seg / "brain_s009_mask.png")  # no such section
    result = cli("sweep", src, "-o", out, "--factors", "0.5", "--segmentations", seg, "-q")
    assert result.exit_code == 1
    assert "no image of the series is named 'brain_s009'" in result.output
    assert ("no factor qualifies: segmentations were given but no sampled section's objects "
            "could be counted") in result.output
    assert not (out / "objects.csv").exists()
