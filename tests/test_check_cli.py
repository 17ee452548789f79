"""quint-prep check end to end: a good series passes, each broken property is caught by name."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import from_array, gradient, save, tree_hashes

SECTIONS = (1, 2, 3)


def seg_array(width=20, height=15, colour=(255, 0, 0)):
    array = np.zeros((height, width, 3), np.uint8)
    array[2:6, 3:9] = colour
    return array


@pytest.fixture
def series(tmp_path):
    """img/m_s00N.tif (80x60) and seg/m_s00N.png (20x15, red on black): a good series."""
    for n in SECTIONS:
        save(gradient(80, 60), tmp_path / f"img/m_s00{n}.tif", tile=True, tile_width=16, tile_height=16)
        save(from_array(seg_array()), tmp_path / f"seg/m_s00{n}.png")
    return tmp_path


def run(cli, series, *extra):
    return cli("check", series / "img", "-s", series / "seg", "--colour", "255,0,0", "-q", *extra)


def test_good_series_passes_and_inputs_are_untouched(cli, series):
    before = tree_hashes(series)
    result = run(cli, series)
    assert result.exit_code == 0, result.output
    assert "PASS: 6 files checked: 6 ok, 0 with warnings, 0 with errors" in result.stdout
    assert "segmentation factor of the series: 0.25" in result.stdout
    assert "pixel_id=[0, 0, 255]" in result.stdout
    assert tree_hashes(series) == before


def finding_line(output, finding, name):
    """The detail line of a finding on a file (``error  id  file: message``), or None."""
    return next((l for l in output.splitlines()
                 if l.split()[:3] in (["error", finding, f"{name}:"], ["warning", finding, f"{name}:"])),
                None)


def _rename(series, old, new):
    (series / old).rename(series / new)


def _put_seg(series, name, array, **options):
    path = series / "seg" / name
    path.unlink(missing_ok=True)
    save(from_array(array), path, **options)


BROKEN = {
    "name.no-section": (lambda s: (_rename(s, "img/m_s002.tif", "img/m_002.tif"),
                                   _rename(s, "seg/m_s002.png", "seg/m_002.png")), "m_002.tif"),
    "name.duplicate-section": (lambda s: (_rename(s, "img/m_s002.tif", "img/n_s001.tif"),
                                          _rename(s, "seg/m_s002.png", "seg/n_s001.png")), "n_s001.tif"),
    "pair.missing-segmentation": (lambda s: (s / "seg/m_s003.png").unlink(), "m_s003.tif"),
    "seg.not-png": (lambda s: ((s / "seg/m_s003.png").unlink(),
                               save(from_array(seg_array()), s / "seg/m_s003.jpg")), "m_s003.jpg"),
    "seg.16bit": (lambda s: _put_seg(s, "m_s002.png", seg_array().astype(np.uint16) * 257), "m_s002.png"),
    "seg.grey": (lambda s: _put_seg(s, "m_s002.png", seg_array()[:, :, 0]), "m_s002.png"),
    "seg.colour-missing": (lambda s: _put_seg(s, "m_s001.png", seg_array(colour=(0, 255, 0))), "m_s001.png"),
    "prop.aspect": (lambda s: _put_seg(s, "m_s002.png", seg_array(20, 10)), "m_s002.png"),
    "prop.factor-mismatch": (lambda s: _put_seg(s, "m_s003.png", seg_array(40, 30)), "m_s003.png"),
    "file.unreadable": (lambda s: (s / "seg/m_s001.png").write_bytes(
        (s / "seg/m_s001.png").read_bytes()[:60]), "m_s001.png"),
}


@pytest.mark.parametrize("finding", BROKEN, ids=list(BROKEN))
def test_each_error_is_caught_with_its_id_and_file(cli, series, finding):
    breaker, name = BROKEN[finding]
    breaker(series)
    result = run(cli, series)
    assert result.exit_code == 1, result.output
    line = finding_line(result.stdout, finding, name)
    assert line is not None and line.startswith("error") and f"{name}:" in line, result.stdout
    assert "FAIL:" in result.stdout


def _anti_alias(series):
    array = seg_array()
    array[6, 3:9] = (128, 0, 0)
    _put_seg(series, "m_s002.png", array)


WARNINGS = {
    "seg.extra-colours": (_anti_alias, "m_s002.png"),
    "seg.alpha": (lambda s: _put_seg(s, "m_s001.png", np.dstack([seg_array(), np.full((15, 20), 255, np.uint8)])),
                  "m_s001.png"),
    "seg.palette": (lambda s: _put_seg(s, "m_s001.png", seg_array(), palette=True), "m_s001.png"),
    "pair.extra-segmentation": (lambda s: save(from_array(seg_array()), s / "seg/m_s009.png"), "m_s009.png"),
    "name.padding": (lambda s: (_rename(s, "img/m_s003.tif", "img/m_s3.tif"),
                                _rename(s, "seg/m_s003.png", "seg/m_s3.png")), "m_s3.tif"),
}


@pytest.mark.parametrize("finding", WARNINGS, ids=list(WARNINGS))
def test_each_warning_is_reported_and_passes(cli, series, finding):
    breaker, name = WARNINGS[finding]
    breaker(series)
    result = run(cli, series)
    assert result.exit_code == 0, result.output
    line = finding_line(result.stdout, finding, name)
    assert line is not None and line.startswith("warning") and f"{name}:" in line, result.stdout


def test_large_image_warns_without_segmentations(cli, tmp_path):
    save(gradient(14001, 2), tmp_path / "img/m_s001.png")
    result = cli("check", tmp_path / "img", "-q")
    assert result.exit_code == 0
    assert "size.large" in result.stdout and "m_s001.png: 14001x2 is over 14000x10000" in result.stdout


def test_json_shape(cli, series):
    (series / "seg/m_s003.png").unlink()
    result = run(cli, series, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == {"ok", "factor", "counts", "files", "findings"}
    assert document["ok"] is False
    assert document["counts"] == {"files": 5, "ok": 4, "warning": 0, "error": 1, "errors": 1,
                                  "warnings": 0}
    assert document["findings"] == [{
        "id": "pair.missing-segmentation", "severity": "error",
        "file": str(series / "img/m_s003.tif"), "message": "no segmentation named m_s003.png"}]
    assert document["files"][2] == {"file": str(series / "img/m_s003.tif"), "role": "image",
                                    "verdict": "error", "findings": ["pair.missing-segmentation"]}


def registration(series, slices):
    path = series / "reg.json"
    path.write_text(json.dumps({"slices": slices}))
    return path


def slice_(n, width=800, height=600):
    return {"filename": f"m_s00{n}.png", "nr": n, "width": width, "height": height,
            "anchoring": [0.0] * 9}


def test_registration_matches(cli, series):
    reg = registration(series, [slice_(n) for n in SECTIONS])
    result = run(cli, series, "--registration", reg)
    assert result.exit_code == 0, result.output
    assert "reg.json" in result.stdout and "7 files checked: 7 ok" in result.stdout


@pytest.mark.parametrize("slices, finding, name", [
    ([slice_(1), slice_(2), slice_(3), slice_(4)], "reg.missing-image", "reg.json"),
    ([slice_(1), slice_(2), slice_(3, 800, 400)], "reg.proportions", "m_s003.tif"),
], ids=["missing-image", "proportions"])
def test_registration_errors(cli, series, slices, finding, name):
    result = run(cli, series, "--registration", registration(series, slices))
    assert result.exit_code == 1
    line = finding_line(result.stdout, finding, name)
    assert f"{name}:" in line


def test_unreadable_registration_is_an_error_finding(cli, series):
    (series / "reg.json").write_text("{}")
    result = run(cli, series, "--registration", series / "reg.json")
    assert result.exit_code == 1
    assert "reg.unreadable" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--colour", "red"], "--colour: 'red' is not R,G,B with three numbers 0-255"),
    (["--registration", "nothere.json"], "nothere.json: no such registration file"),
], ids=["colour", "registration"])
def test_usage_errors_exit_2(cli, series, args, message):
    result = cli("check", series / "img", "-s", series / "seg", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_source_is_a_usage_error(cli, tmp_path):
    result = cli("check", tmp_path / "nothing")
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


def test_downscale_prints_the_check_verdict(cli, series):
    result = cli("downscale", series / "img", "-o", series / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 0, result.output
    assert "check: PASS: 3 files checked: 3 ok" in result.stdout
    document = json.loads(cli("downscale", series / "img", "-o", series / "out", "--factor", "0.5",
                              "-q", "--json").stdout)
    assert document["check"]["ok"] is True and document["check"]["factor"] == 0.5


def test_check_downscaled_catches_a_resized_output(cli, series):
    from quint_prep.check.files import check_downscaled
    cli("downscale", series / "img", "-o", series / "out", "--factor", "0.5", "-q")
    save(gradient(41, 30), series / "out/m_s002.png")   # 40x30 expected
    save(gradient(40, 40), series / "out/m_s003.png")
    report = check_downscaled(series / "out")
    assert sorted((f.id, f.file.name) for f in report.findings) == [
        ("prop.aspect", "m_s003.png"), ("prop.factor-mismatch", "m_s002.png")]


@pytest.mark.parametrize("command", ["check", "rename"])
def test_command_has_help_and_a_readme_section(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Example: quint-prep" in result.stdout
    root = Path(__file__).parent.parent
    assert f"### {command}:" in (root / "README.md").read_text()  # the short section ...
    assert (root / f"docs/{command}.md").read_text().startswith(f"# {command}:")  # ... the page


def test_parallel_check_gives_the_same_report(cli, series):
    (series / "seg/m_s003.png").write_bytes((series / "seg/m_s003.png").read_bytes()[:60])
    _anti_alias(series)
    serial = run(cli, series, "--json")
    parallel = run(cli, series, "--json", "--jobs", "2")
    assert parallel.exit_code == serial.exit_code == 1
    assert json.loads(parallel.stdout) == json.loads(serial.stdout)
    assert {f["id"] for f in json.loads(serial.stdout)["findings"]} == {"file.unreadable",
                                                                        "seg.extra-colours"}


def test_downscale_check_accounts_for_a_quarter_turn(cli, series):
    result = cli("downscale", series / "img", "-o", series / "out", "--factor", "0.5",
                 "--rotate", "90", "-q")
    assert result.exit_code == 0, result.output
    assert "check: PASS: 3 files checked: 3 ok" in result.stdout
