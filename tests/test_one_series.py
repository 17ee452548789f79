"""A folder holds ONE series: other settings are refused, --overwrite replaces the series whole
(only files quint-prep wrote), and the check after a run covers the whole folder."""

from __future__ import annotations

import json

from conftest import from_array, save, tree_hashes
from test_masks import labels_array

from quint_prep.manifest import read_manifest
from quint_prep.one_series import settings_differences
from quint_prep.registration.quicknii import DESCRIPTOR_NAME


def twelve_sections(make_image) -> list:
    return [make_image(f"src/m_s{n:03d}.png", 40 + n, 30) for n in range(1, 13)]


def test_differences_name_each_setting_that_changed():
    old = {"factor": 0.5, "method": "area", "normalise": {"mode": "none", "window": None}}
    new = {"factor": 0.25, "method": "area", "normalise": {"mode": "series", "window": None}}
    assert settings_differences(old, new) == ["factor 0.5 -> 0.25", "normalise.mode none -> series"]
    assert settings_differences(old, old) == []


def test_another_factor_is_refused_then_replaced_whole(tmp_path, make_image, cli):
    sections = twelve_sections(make_image)
    out = tmp_path / "out"
    assert cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q").exit_code == 0
    (out / "notes.csv").write_text("lab notes\n")  # not quint-prep's: must stay
    before = tree_hashes(out)
    eleven = sections[:11]
    result = cli("downscale", *eleven, "-o", out, "--factor", "0.25", "-q")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {out}: holds 12 images made with other settings (factor 0.5 -> 0.25): pass "
        "--overwrite to replace that series, or choose another output folder")
    assert tree_hashes(out) == before  # nothing written, nothing removed
    result = cli("downscale", *eleven, "-o", out, "--factor", "0.25", "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    assert "check: PASS: 11 files checked: 11 ok" in result.stdout
    assert sorted(p.name for p in out.glob("*.png")) == [f"m_s{n:03d}.png" for n in range(1, 12)]
    assert (out / "notes.csv").read_text() == "lab notes\n"
    manifest = read_manifest(out)
    assert manifest.factor == 0.25 and len(manifest.images) == 11 and not manifest.stale


def test_same_settings_overwrite_of_some_sections_keeps_the_others(tmp_path, make_image, cli):
    sections = twelve_sections(make_image)[:3]
    out = tmp_path / "out"
    cli("downscale", *sections, "-o", out, "--factor", "0.5", "-q")
    result = cli("downscale", sections[0], "-o", out, "--factor", "0.5", "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == 3 and len(read_manifest(out).images) == 3
    assert "check: PASS: 3 files checked" in result.stdout  # the whole folder, not 1 file


def test_check_after_a_run_names_images_outside_the_series(tmp_path, make_image, cli):
    make_image("src/m_s001.png")
    out = tmp_path / "out"
    make_image("out/m_s002.png")  # another tool's image in the folder: kept, but named
    result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q")
    assert (out / "m_s002.png").exists()
    assert (f"check: error series.unrecorded: {out / 'm_s002.png'}: not part of the series "
            "quint-prep.json records") in result.stderr
    assert "check: FAIL: 2 files checked" in result.stdout


def test_a_stale_image_of_an_earlier_series_is_rewritten_and_named(tmp_path, make_image, cli):
    make_image("src/m_s001.png")
    make_image("src/m_s002.png")
    out = tmp_path / "out"
    cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q")
    document = json.loads((out / "quint-prep.json").read_text())
    document["images"] = [i for i in document["images"] if i["name"] != "m_s002.png"]
    document["stale"] = ["m_s002.png"]  # as a replacing run killed half-way leaves it
    (out / "quint-prep.json").write_text(json.dumps(document))
    result = cli("downscale", tmp_path / "src/m_s001.png", "-o", out, "--factor", "0.5", "-q")
    assert f"check: error series.stale: {out / 'm_s002.png'}: written for an earlier series" \
        in result.stderr
    result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q", "--json")
    assert json.loads(result.stdout)["counts"] == {"written": 1, "up-to-date": 1, "failed": 0}
    assert read_manifest(out).stale == set()


def test_masks_with_other_labels_are_refused_then_replaced(tmp_path, cli):
    for n in (1, 2, 3):
        save(from_array(labels_array(values=(0, 1, 2))), tmp_path / f"seg/m_s{n:03d}_mask.png")
    out = tmp_path / "out"
    assert cli("masks", tmp_path / "seg", "-o", out, "--labels", "1", "-q").exit_code == 0
    (out / "keep.csv").write_text("mine\n")
    two = [tmp_path / "seg/m_s001_mask.png", tmp_path / "seg/m_s002_mask.png"]
    result = cli("masks", *two, "-o", out, "--labels", "2", "-q")
    assert result.exit_code == 2
    assert "holds 3 masks made with other settings (labels [1] -> [2])" in result.stderr
    result = cli("masks", *two, "-o", out, "--labels", "2", "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["m_s001.png", "m_s002.png"]
    assert (out / "keep.csv").exists()
    files = json.loads((out / "quint-prep.json").read_text())["masks"]["files"]
    assert [(f["name"], f["settings"]["labels"]) for f in files] == [
        ("m_s001.png", [2]), ("m_s002.png", [2])]


def test_overwrite_removes_the_registration_images_of_dropped_sections(tmp_path, make_image, cli):
    sections = twelve_sections(make_image)[:4]
    out, reg = tmp_path / "out", tmp_path / "reg"
    args = ("-o", out, "--registration", reg, "-q")
    assert cli("downscale", *sections, "--factor", "0.5", *args).exit_code == 0
    assert len(list(reg.glob("*.png"))) == 4
    (reg / "notes.png").write_bytes(b"not quint-prep's")  # must stay
    result = cli("downscale", *sections[:3], "--factor", "0.25", *args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == [f"m_s{n:03d}.png" for n in (1, 2, 3)]
    assert sorted(p.name for p in reg.glob("m_s*.png")) == [f"m_s{n:03d}.png" for n in (1, 2, 3)]
    assert (reg / "notes.png").read_bytes() == b"not quint-prep's"
    registration = read_manifest(out).extra["registration"]
    assert sorted(registration["images"]) == [f"m_s{n:03d}.png" for n in (1, 2, 3)]
    xml = (reg / DESCRIPTOR_NAME).read_text()
    assert "m_s003" in xml and "m_s004" not in xml


def test_the_refusal_of_another_series_comes_before_per_file_errors(tmp_path, make_image, cli):
    sections = twelve_sections(make_image)[:2]
    out, masks = tmp_path / "out", tmp_path / "masks"
    assert cli("downscale", *sections, "-o", out, "--factor", "0.5", "-q").exit_code == 0
    broken = tmp_path / "src" / "m_s099.png"
    broken.write_bytes(b"not a png")
    result = cli("downscale", *sections, broken, "-o", out, "--factor", "0.25", "-q")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"error: {out}: holds 2 images made with "
                                                    "other settings (factor 0.5 -> 0.25)")
    save(from_array(labels_array(values=(0, 1))), tmp_path / "seg" / "m_s001_mask.png")
    assert cli("masks", tmp_path / "seg", "-o", masks, "-q").exit_code == 0
    (tmp_path / "seg" / "m_s002_mask.png").write_bytes(b"not a png")
    result = cli("masks", tmp_path / "seg", "-o", masks, "-q", "--resample", "nearest")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"error: {masks}: holds 1 mask made with "
                                                    "other settings (resample area -> nearest)")
