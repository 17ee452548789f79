"""Every kind of bad input for check: one finding line naming the file and the reason, every
other file still checked, nothing written or changed."""

import json
from pathlib import Path

import numpy as np
import pytest

from quint_prep.check import files as series_check
from quint_prep.masks.colours import count_colours
from quint_prep.errors import InputError
from badfiles import (BAD_KINDS, UNUSUAL_KINDS, make_bad, make_junk, make_unusual, symlink_loops)
from conftest import from_array, gradient, save, tree_hashes

# check reads image headers only: float and 32-bit images have valid headers (downscale is what
# needs a window for them), so they are bad segmentations only.
IMAGE_KINDS = [k for k in BAD_KINDS if k not in ("float-tiff", "uint32-tiff")]
SEGMENTATION_KINDS = BAD_KINDS
SEGMENTATION_FINDINGS = {"float-tiff": ("seg.not-png", "not a PNG file"),
                         "uint32-tiff": ("seg.not-png", "not a PNG file")}


def red_mask(width=300, height=200) -> np.ndarray:
    array = np.zeros((height, width, 3), np.uint8)
    array[50:150, 100:200] = (255, 0, 0)
    return array


def series(root, sections=(1, 2, 3), segmentations=(1, 3)):
    for n in sections:
        save(gradient(300, 200), root / f"img/a_s00{n}.png")
    for n in segmentations:
        save(from_array(red_mask()), root / f"seg/a_s00{n}.png")


def check_json(cli, *args):
    result = cli("check", *args, "-q", "--json")
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


def only_finding(document, name):
    """The findings of the report; asserts that they all concern the one file ``name``."""
    findings = document["findings"]
    assert findings and all(f["file"].endswith(name) for f in findings), findings
    return findings


def text_lines(cli, *args, name):
    """The report lines (text form) that name the file."""
    result = cli("check", *args, "-q")
    assert "Traceback" not in result.output
    return [l for l in result.stdout.splitlines() if f"{name}:" in l]


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_bad_image_one_finding_others_checked(tmp_path, cli, kind):
    series(tmp_path, sections=(1, 3), segmentations=())
    name, fragment = make_bad(kind, tmp_path / "img", stem="a_s002")
    before = tree_hashes(tmp_path)
    result, document = check_json(cli, tmp_path / "img")
    assert result.exit_code == 1, result.output
    (finding,) = only_finding(document, name)
    assert finding["id"] == "file.unreadable" and fragment in finding["message"]
    assert [f["verdict"] for f in document["files"]] == ["ok", "error", "ok"]
    lines = text_lines(cli, tmp_path / "img", name=name)
    assert len(lines) == 1 and "file.unreadable" in lines[0] and fragment in lines[0]
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("kind", SEGMENTATION_KINDS)
def test_bad_segmentation_one_finding_others_checked(tmp_path, cli, kind):
    series(tmp_path)
    name, fragment = make_bad(kind, tmp_path / "seg", stem="a_s002")
    finding_id, fragment = SEGMENTATION_FINDINGS.get(kind, ("file.unreadable", fragment))
    before = tree_hashes(tmp_path)
    result, document = check_json(cli, tmp_path / "img", "-s", tmp_path / "seg", "--colour", "255,0,0")
    assert result.exit_code == 1, result.output
    (finding,) = only_finding(document, name)
    assert finding["id"] == finding_id and fragment in finding["message"], finding
    verdicts = {f["file"].rsplit("/", 1)[1]: f["verdict"] for f in document["files"]
                if f["role"] == "segmentation"}
    assert verdicts == {"a_s001.png": "ok", name: "error", "a_s003.png": "ok"}
    assert document["factor"] == 1.0  # the readable pairs still give the series factor
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("kind", IMAGE_KINDS[:4])
def test_bad_segmentations_in_worker_processes(tmp_path, cli, kind):
    series(tmp_path)
    name, fragment = make_bad(kind, tmp_path / "seg", stem="a_s002")
    result, document = check_json(cli, tmp_path / "img", "-s", tmp_path / "seg", "-j", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (finding,) = only_finding(document, name)
    assert finding["id"] == "file.unreadable" and fragment in finding["message"]


# What check says about odd but readable segmentations (the QUINT tools' rules).
UNUSUAL_FINDINGS = {"png-named-tif": {"seg.not-png"}, "cmyk-jpeg": {"seg.not-png"},
                    "progressive-jpeg": {"seg.not-png"}, "palette-png": {"seg.palette"},
                    "1bit-png": {"seg.grey", "seg.colour-missing"},
                    "16bit-png": {"seg.16bit", "seg.grey", "seg.colour-missing"},
                    "multipage-tiff": {"seg.not-png"}, "rgba-png": {"seg.alpha"}}


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_unusual_segmentation_findings(tmp_path, cli, kind):
    series(tmp_path)
    make_unusual(kind, tmp_path / "seg", from_array(red_mask()), stem="a_s002")
    before = tree_hashes(tmp_path)
    result, document = check_json(cli, tmp_path / "img", "-s", tmp_path / "seg", "--colour", "255,0,0")
    assert "Traceback" not in result.output
    ids = {f["id"] for f in document["findings"] if "a_s002." in f["file"]}
    assert ids == UNUSUAL_FINDINGS[kind], document["findings"]
    assert result.exit_code == (0 if all(f["severity"] == "warning" for f in document["findings"]) else 1)
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_unusual_images_are_read(tmp_path, cli, kind):
    series(tmp_path, sections=(1, 3), segmentations=())
    make_unusual(kind, tmp_path / "img", gradient(300, 200), stem="a_s002")
    result, document = check_json(cli, tmp_path / "img")
    assert len(document["files"]) == 3
    errors = [f for f in document["findings"] if f["severity"] == "error"]
    # Read without trouble; the only possible error is the odd file's colour model (another
    # band count or bit depth than the rest of the series), and it names that file alone.
    assert {f["id"] for f in errors} <= {"series.mixed-bands", "series.mixed-depth"}, errors
    assert all(Path(f["file"]).stem == "a_s002" for f in errors)
    assert result.exit_code == (1 if errors else 0), result.output


def test_odd_names_and_duplicate_numbers(tmp_path, cli):
    save(gradient(300, 200), tmp_path / "img/my section s1 ü.png")
    save(gradient(300, 200), tmp_path / "img/a_s002.png")
    save(gradient(300, 200), tmp_path / "img/b_s002.png")
    result, document = check_json(cli, tmp_path / "img")
    assert result.exit_code == 1
    by_file = {}
    for f in document["findings"]:
        by_file.setdefault(f["file"].rsplit("/", 1)[1], set()).add(f["id"])
    assert "name.no-section" in by_file["my section s1 ü.png"]
    assert by_file["a_s002.png"] == by_file["b_s002.png"] == {"name.duplicate-section"}


def test_symlink_loop_is_one_finding(tmp_path, cli):
    series(tmp_path, sections=(1, 3), segmentations=())
    name = symlink_loops(tmp_path / "img")
    result, document = check_json(cli, tmp_path / "img")
    assert result.exit_code == 1
    (finding,) = only_finding(document, name)
    assert finding["id"] == "file.unreadable" and "broken or looping symbolic link" in finding["message"]


def test_junk_files_are_skipped_quietly(tmp_path, cli):
    series(tmp_path)
    junk = [*make_junk(tmp_path / "img"), *make_junk(tmp_path / "seg")]
    result, document = check_json(cli, tmp_path / "img", "-s", tmp_path / "seg", "--colour", "255,0,0")
    assert not any(name in result.output for name in junk), result.output
    assert len(document["files"]) == 5


@pytest.mark.parametrize("kind", ["huge-png-header", "huge-interlaced-png"])
def test_huge_header_is_refused_before_any_pixel(tmp_path, cli, monkeypatch, kind):
    """Memory stays bounded: a segmentation claiming 10^12 pixels (or an interlaced one that
    would be decoded whole, 30 GB) is never decoded."""
    series(tmp_path)
    name, fragment = make_bad(kind, tmp_path / "seg", stem="a_s002")
    counted = []
    real = series_check.count_colours
    monkeypatch.setattr(series_check, "count_colours", lambda path: counted.append(path) or real(path))
    result, document = check_json(cli, tmp_path / "img", "-s", tmp_path / "seg")
    (finding,) = only_finding(document, name)
    assert fragment in finding["message"]
    assert sorted(p.name for p in counted) == ["a_s001.png", "a_s003.png"]


def test_debug_shows_traceback(tmp_path, cli):
    plain = cli("check", tmp_path / "missing")
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = cli("--debug", "check", tmp_path / "missing")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr


@pytest.mark.parametrize("kind", ["huge-png-header", "huge-interlaced-png"])
def test_colour_counter_guards_its_own_reads(tmp_path, kind):
    """count_colours refuses the claimed size itself, whoever calls it."""
    name, fragment = make_bad(kind, tmp_path, stem="a_s001")
    with pytest.raises(InputError, match=fragment.split(":")[0]):
        count_colours(tmp_path / name)
