"""Pure rules of check (no images), colour counting and the registration reader."""

import json
from pathlib import Path

import numpy as np
import pytest

from quint_prep.check.rules import (naming_findings, pairing_findings, proportion_findings,
                               registration_findings, segmentation_findings, size_findings)
from quint_prep.masks.colours import ColourCounts, PngHeader, count_colours, read_png_header
from quint_prep.errors import InputError
from quint_prep.check.findings import CheckReport, Severity
from quint_prep.registration.files import read_registration
from quint_prep.scale import Size, consistent_factor, factor_interval, interval_is_empty
from conftest import from_array, save


def ids(findings):
    return sorted((f.id, f.file.name if f.file else None) for f in findings)


# --- proportions -------------------------------------------------------------------------

def test_factor_interval_is_the_rounding_rule():
    low, high = factor_interval(Size(1001, 603), Size(250, 151))
    assert low == pytest.approx(max(249.5 / 1001, 150.5 / 603))
    assert high == pytest.approx(min(250.5 / 1001, 151.5 / 603))
    assert low <= 0.25 < high


def test_factor_interval_is_empty_for_other_proportions():
    assert interval_is_empty(factor_interval(Size(1000, 500), Size(100, 100)))
    assert not interval_is_empty(factor_interval(Size(1000, 500), Size(100, 50)))


def test_one_pixel_size_allows_every_small_factor():
    low, high = factor_interval(Size(10000, 3), Size(100, 1))
    assert low <= 0.01 < high


def test_consistent_factor_names_the_outlier():
    pairs = [(Size(800, 600), Size(200, 150)), (Size(1000, 700), Size(250, 175)),
             (Size(900, 600), Size(450, 300)), (Size(640, 480), Size(160, 120))]
    fit = consistent_factor(pairs)
    assert fit.outliers == (2,)
    assert fit.inliers == (0, 1, 3)
    assert fit.interval[0] <= 0.25 < fit.interval[1]


def test_consistent_factor_with_no_consistent_pair():
    fit = consistent_factor([(Size(100, 100), Size(10, 50))])
    assert fit.interval is None and fit.outliers == (0,)


def test_proportion_findings_separate_aspect_from_factor():
    a, b, c = Path("a_s001.tif"), Path("a_s002.tif"), Path("a_s003.tif")
    pairs = [(a, Size(800, 600), a.with_suffix(".png"), Size(200, 150)),
             (b, Size(800, 600), b.with_suffix(".png"), Size(200, 100)),   # squashed
             (c, Size(800, 600), c.with_suffix(".png"), Size(400, 300))]   # other factor
    findings, factor = proportion_findings(pairs)
    assert ids(findings) == [("prop.aspect", "a_s002.png"), ("prop.factor-mismatch", "a_s003.png")]
    assert all(f.severity is Severity.ERROR for f in findings)
    assert factor is not None


# --- names -------------------------------------------------------------------------------

def test_good_names_have_no_findings():
    assert naming_findings([Path("m_s001.tif"), Path("m_s002.tif"), Path("m_s010.tif")]) == []


@pytest.mark.parametrize("names, expected", [
    (["m_001.tif"], [("name.no-section", "m_001.tif")]),
    (["m_s001_s002.tif"], [("name.several-sections", "m_s001_s002.tif")]),
    (["m_ss_s001.tif"], [("name.early-s", "m_ss_s001.tif")]),
    (["m_s001_mask.png"], [("name.mask", "m_s001_mask.png")]),
    (["m.v2_s001.png"], [("name.dot", "m.v2_s001.png")]),
    (["m 1_s001.png"], [("name.unsafe-chars", "m 1_s001.png")]),
    (["a_s001.tif", "b_s001.tif"], [("name.duplicate-section", "a_s001.tif"),
                                    ("name.duplicate-section", "b_s001.tif")]),
    (["a_s001.tif", "a_s001.png"], [("name.duplicate-section", "a_s001.png"),
                                    ("name.duplicate-section", "a_s001.tif"),
                                    ("name.duplicate-stem", "a_s001.png"),
                                    ("name.duplicate-stem", "a_s001.tif")]),
    (["a_s001.tif", "a_s002.tif", "a_s3.tif"], [("name.padding", "a_s3.tif")]),
], ids=["no-section", "several", "early-s", "mask", "dot", "space", "duplicate", "same-stem",
        "padding"])
def test_name_rules(names, expected):
    assert ids(naming_findings([Path(n) for n in names])) == expected


def test_blocking_name_problems_are_errors_others_warnings():
    findings = naming_findings([Path("m_001.tif"), Path("m_s002_mask.tif")])
    severity = {f.id: f.severity for f in findings}
    assert severity == {"name.no-section": Severity.ERROR, "name.mask": Severity.WARNING}


def test_pairing_lists_missing_and_extra_with_a_hint():
    images = [Path("m_s001.tif"), Path("m_s002.tif")]
    segs = [Path("m_s001.png"), Path("m_s002_Simple Segmentation.png")]
    findings = pairing_findings(images, segs)
    assert ids(findings) == [("pair.extra-segmentation", "m_s002_Simple Segmentation.png"),
                             ("pair.missing-segmentation", "m_s002.tif")]
    extra = next(f for f in findings if f.id == "pair.extra-segmentation")
    assert "rename it m_s002.png" in extra.message


def test_size_warns_above_the_webnutil_box_in_either_orientation():
    assert ids(size_findings(Path("a.png"), Size(14001, 100))) == [("size.large", "a.png")]
    assert ids(size_findings(Path("a.png"), Size(10000, 14000))) == []
    assert ids(size_findings(Path("a.png"), Size(10001, 10001))) == [("size.large", "a.png")]


# --- segmentation format and colours (pure) ------------------------------------------------

RGB = PngHeader(20, 15, 8, 2, False)


@pytest.mark.parametrize("header, expected", [
    (PngHeader(20, 15, 16, 2, False), ["seg.16bit"]),
    (PngHeader(20, 15, 8, 0, False), ["seg.grey"]),
    (PngHeader(20, 15, 8, 3, False), ["seg.palette"]),
    (PngHeader(20, 15, 8, 6, False), ["seg.alpha"]),
    (PngHeader(20, 15, 8, 4, False), ["seg.alpha", "seg.grey"]),
    (None, ["seg.not-png"]),
], ids=["16bit", "grey", "palette", "rgba", "grey-alpha", "not-png"])
def test_segmentation_format_rules(header, expected):
    findings = segmentation_findings(Path("m_s001.png"), header, None, None)
    assert sorted(f.id for f in findings) == expected


def counts(mapping):
    return ColourCounts(mapping, len(mapping), True, sum(mapping.values()))


def test_two_colours_pass_and_extra_colours_warn():
    two = counts({(0, 0, 0): 90, (255, 0, 0): 10})
    assert segmentation_findings(Path("a.png"), RGB, two, (255, 0, 0)) == []
    three = counts({(0, 0, 0): 90, (255, 0, 0): 9, (128, 0, 0): 1})
    findings = segmentation_findings(Path("a.png"), RGB, three, (255, 0, 0))
    assert [f.id for f in findings] == ["seg.extra-colours"]
    assert findings[0].severity is Severity.WARNING and "1% of the pixels" in findings[0].message


def test_missing_object_colour_is_an_error():
    findings = segmentation_findings(Path("a.png"), RGB, counts({(0, 0, 0): 90, (0, 255, 0): 10}),
                                     (255, 0, 0))
    assert [f.id for f in findings] == ["seg.colour-missing"]
    assert "255,0,0 does not occur" in findings[0].message


# --- colour counting and the PNG header, on real files ------------------------------------

def test_png_header_is_read_from_the_file(tmp_path):
    path = save(from_array(np.zeros((5, 7, 3), np.uint8)), tmp_path / "a.png")
    assert read_png_header(path) == PngHeader(7, 5, 8, 2, False)
    save(from_array(np.zeros((5, 7, 3), np.uint8)), tmp_path / "a.png", palette=True)
    assert read_png_header(path).colour_type == 3
    (tmp_path / "b.png").write_bytes(b"\xff\xd8\xff" + bytes(40))
    assert read_png_header(tmp_path / "b.png") is None


def test_colour_counts_are_exact(tmp_path):
    rng = np.random.default_rng(1)
    array = np.zeros((40, 50, 3), np.uint8)
    array[rng.random((40, 50)) < 0.3] = [255, 0, 0]
    array[0, :7] = [255, 0, 3]     # same red and green, other blue: resolved in the second pass
    array[1, :2] = [10, 20, 30]
    path = save(from_array(array), tmp_path / "m.png")
    colours, numbers = np.unique(array.reshape(-1, 3), axis=0, return_counts=True)
    expected = {tuple(int(v) for v in c): int(n) for c, n in zip(colours, numbers)}
    result = count_colours(path)
    assert result.exact and result.counts == expected and result.total == 2000


def test_grey_counts(tmp_path):
    array = np.zeros((10, 10), np.uint8)
    array[:3] = 255
    result = count_colours(save(from_array(array), tmp_path / "g.png"))
    assert result.counts == {(0, 0, 0): 70, (255, 255, 255): 30}


def test_truncated_png_cannot_be_counted(tmp_path):
    array = np.random.default_rng(2).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    path = save(from_array(array), tmp_path / "t.png")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InputError):
        count_colours(path)


# --- registration -------------------------------------------------------------------------

def write_json(path, slices, key="slices"):
    path.write_text(json.dumps({"name": "x", key: slices}))
    return path


def test_reads_quicknii_json_waln_and_xml(tmp_path):
    js = read_registration(write_json(tmp_path / "r.json", [
        {"filename": "m_s001.png", "nr": 1, "width": 800, "height": 600, "anchoring": [0] * 9,
         "markers": [[1, 2, 3, 4]]}]))
    assert js.format == "json" and js.sections[0].size == Size(800, 600)
    assert js.sections[0].markers == 1 and js.sections[0].stem == "m_s001"
    waln = read_registration(write_json(tmp_path / "r.waln", [
        {"filename": "m_s007.tif", "width": 80, "height": 60, "ouv": [0] * 9}], key="sections"))
    assert waln.format == "waln" and waln.sections[0].nr == 7 and waln.sections[0].anchored
    (tmp_path / "r.xml").write_text(
        '<?xml version="1.0"?><series name="x"><slice filename="m_s002.png" nr="2" width="80" '
        'height="60" anchoring="ox=1&amp;oy=2"/></series>')
    xml = read_registration(tmp_path / "r.xml")
    assert xml.format == "xml" and xml.sections[0].nr == 2 and xml.sections[0].size == Size(80, 60)


@pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", "not json", "<series><slice/></series>"],
                         ids=["no-slices", "list", "garbage", "slice-without-filename"])
def test_bad_registration_is_an_input_error(tmp_path, text):
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(InputError):
        read_registration(tmp_path / "r.json")


def test_registration_rules(tmp_path):
    reg = read_registration(write_json(tmp_path / "r.json", [
        {"filename": "m_s001.png", "nr": 1, "width": 800, "height": 600},
        {"filename": "m_s002.png", "nr": 3, "width": 800, "height": 600},
        {"filename": "m_s004.png", "nr": 4, "width": 800, "height": 600}]))
    images = {"m_s001": (Path("m_s001.tif"), Size(1600, 1200)),
              "m_s002": (Path("m_s002.tif"), Size(1600, 900)),
              "m_s005": (Path("m_s005.tif"), Size(1600, 1200))}
    segs = {"m_s001": (Path("m_s001.png"), Size(400, 301))}
    found = ids(registration_findings(reg, images, segs))
    assert found == [("reg.missing-image", "r.json"), ("reg.missing-segmentation", "r.json"),
                     ("reg.missing-segmentation", "r.json"), ("reg.number-mismatch", "r.json"),
                     ("reg.proportions", "m_s002.tif"), ("reg.unregistered", "m_s005.tif")]


def test_report_counts_and_verdicts():
    from quint_prep.check.findings import error, warning
    a, b, c = Path("a"), Path("b"), Path("c")
    report = CheckReport((error("x.y", a, "m"), warning("x.z", a, "m"), warning("x.z", b, "m")),
                         ((a, "image"), (b, "image"), (c, "image")))
    assert [v.verdict for v in report.verdicts()] == ["error", "warning", "ok"]
    assert report.counts() == {"files": 3, "ok": 1, "warning": 1, "error": 1, "errors": 1,
                               "warnings": 2}
    assert not report.ok


def test_many_ambiguous_pairs_give_a_lower_bound_and_a_direct_colour_check(tmp_path):
    from quint_prep.masks.colours import with_colour_counted
    pixels = np.zeros((2, 300, 3), np.uint8)
    for i in range(300):
        pixels[:, i, 0], pixels[:, i, 1] = i % 256, i // 256
        pixels[1, i, 2] = 1           # every red/green pair holds two blues: 300 ambiguous pairs
    path = save(from_array(pixels), tmp_path / "many.png")
    result = count_colours(path)
    assert not result.exact and result.distinct >= 300
    present = with_colour_counted(path, result, (5, 0, 1))
    assert present.counts[(5, 0, 1)] == 1 and not present.lacks((5, 0, 1))
    absent = with_colour_counted(path, result, (5, 0, 7))
    assert absent.lacks((5, 0, 7))
    findings = segmentation_findings(path, RGB, absent, (5, 0, 7))
    assert sorted(f.id for f in findings) == ["seg.colour-missing", "seg.extra-colours"]
    assert "at least" in next(f.message for f in findings if f.id == "seg.extra-colours")


def _pairs_with_two_blues(pairs: int, alpha: bool) -> np.ndarray:
    """Two rows; pixel i of both rows has red i % 256 and green i // 256, blue 0 above and 1
    below: every red/green pair holds two colours (the case the second pass resolves)."""
    pixels = np.zeros((2, pairs, 4 if alpha else 3), np.uint8)
    for i in range(pairs):
        pixels[:, i, 0], pixels[:, i, 1] = i % 256, i // 256
        pixels[1, i, 2] = 1
    if alpha:
        pixels[..., 3] = 255
    return pixels


def test_one_colour_count_for_check_and_masks_resolves_up_to_255_mixed_pairs(tmp_path):
    """check (colours.count_colours) and masks (masks.sources.colour_counts) count with one
    implementation: 100 mixed pairs are all resolved (masks used to stop at 64), alpha is
    ignored by check and leaves transparent pixels out for masks."""
    from quint_prep.masks.sources import colour_counts, read_mask_file
    pixels = _pairs_with_two_blues(100, alpha=True)
    pixels[0, :10, 3] = 0  # ten transparent pixels: never objects for masks
    path = save(from_array(pixels), tmp_path / "rgba_s001.png")
    expected = {(i % 256, i // 256, b): 1 for i in range(100) for b in (0, 1)}
    checked = count_colours(path)
    assert checked.exact and checked.counts == expected and checked.mixed == 0
    assert (checked.total, checked.transparent) == (200, 0)
    masked = colour_counts(read_mask_file(path))
    opaque = {colour: n for colour, n in expected.items() if not (colour[2] == 0 and colour[0] < 10)}
    assert masked.exact and masked.counts == opaque and masked.mixed == 0
    assert (masked.total, masked.transparent) == (200, 10)


def test_pairs_beyond_255_are_left_unresolved_and_counted_as_mixed(tmp_path):
    path = save(from_array(_pairs_with_two_blues(300, alpha=False)), tmp_path / "many.png")
    result = count_colours(path)
    assert not result.exact
    pairs = sorted((i % 256) * 256 + i // 256 for i in range(300))  # the histogram's order
    first = {(key >> 8, key & 255, b): 1 for key in pairs[:255] for b in (0, 1)}
    assert result.counts == first and result.mixed == 2 * 45  # two pixels per pair left
    assert result.distinct == 2 * 255 + 2 * 45


def test_objects_covering_more_than_background_warn():
    findings = segmentation_findings(Path("a.png"), RGB, counts({(0, 0, 0): 10, (255, 0, 0): 90}),
                                     (255, 0, 0))
    assert [f.id for f in findings] == ["seg.objects-dominant"]


def test_reads_deepslice_xml_with_bare_ampersands_and_no_size(tmp_path):
    (tmp_path / "ds.xml").write_text(
        "<?xml version='1.0'?>\n<series name='x'>\n"
        "  <slice filename='m_s004.png' nr='4.0' width='-999' height='-999' "
        "anchoring='ox=1&oy=2&oz=3&ux=4&uy=5&uz=6&vx=7&vy=8&vz=9'/>\n</series>\n")
    section = read_registration(tmp_path / "ds.xml").sections[0]
    assert (section.nr, section.size, section.anchored) == (4, None, True)
    found = registration_findings(read_registration(tmp_path / "ds.xml"),
                                  {"m_s004": (Path("m_s004.tif"), Size(80, 60))}, None)
    assert ids(found) == [("reg.no-size", "ds.xml")]


def test_png_content_under_another_extension_is_flagged():
    findings = segmentation_findings(Path("m_s001.tif"), RGB, None, None)
    assert [f.id for f in findings] == ["seg.not-png"] and "rename it" in findings[0].message
