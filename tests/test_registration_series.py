"""Registration and segmentation series from one pass, orientation, QuickNII XML (issue 10)."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pyvips
import pytest

from quint_prep.scale import Size, scaled_size
from conftest import from_array, read_array, save


def asymmetric(width, height, seed):
    """An image whose every rotation/mirror differs (random noise plus a corner mark)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    values[: height // 4, : width // 4] = 255
    return from_array(values)


@pytest.fixture
def series(tmp_path):
    sizes = {"b_s001.tif": (800, 400), "b_s002.png": (600, 500), "b_s004.jpg": (1000, 300)}
    for index, (name, (w, h)) in enumerate(sizes.items()):
        save(asymmetric(w, h, index), tmp_path / "src" / name)
    return sizes


def test_both_series_one_run_one_factor_each(tmp_path, cli, series):
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "seg", "--factor", "0.5",
                 "--registration", tmp_path / "reg", "--registration-size", "200x200", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "seg/quint-prep.json").read_text())
    reg_factor = manifest["registration"]["factor"]
    assert reg_factor == pytest.approx(200 / 500)  # widest segmentation image: 1000*0.5 = 500
    for name, (w, h) in series.items():
        stem = name.rsplit(".", 1)[0]
        seg = pyvips.Image.new_from_file(str(tmp_path / "seg" / f"{stem}.png"))
        reg = pyvips.Image.new_from_file(str(tmp_path / "reg" / f"{stem}.png"))
        assert (seg.width, seg.height) == (round(w * 0.5), round(h * 0.5))
        assert Size(reg.width, reg.height) == scaled_size(Size(seg.width, seg.height), reg_factor)
        assert reg.width <= 200 and reg.height <= 200 and reg.bands == 3
    # The XML parses back and describes exactly the registration files.
    root = ET.parse(tmp_path / "reg/quicknii-series.xml").getroot()
    assert root.tag == "series" and (root.get("first"), root.get("last")) == ("1", "4")
    slices = [(s.get("filename"), s.get("nr"), s.get("width"), s.get("height")) for s in root]
    files = []
    for path in sorted((tmp_path / "reg").glob("*.png")):
        image = pyvips.Image.new_from_file(str(path))
        files.append((path.name, str(int(path.stem.split("_s")[1])), str(image.width), str(image.height)))
    assert slices == files


def test_rerun_keeps_both_series_up_to_date(tmp_path, cli, series):
    args = ("downscale", tmp_path / "src", "-o", tmp_path / "seg", "--factor", "0.5",
            "--registration", tmp_path / "reg", "-q", "--json")
    cli(*args)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "reg").iterdir()}
    again = json.loads(cli(*args).stdout)
    assert again["counts"]["up-to-date"] == 3
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "reg").iterdir() if p.suffix == ".png"}
    assert all(before[name] == mtime for name, mtime in after.items())


@pytest.mark.parametrize("rotate, flip", [("90", None), ("180", None), ("270", None),
                                          (None, "horizontal"), (None, "vertical"),
                                          ("90", "horizontal")],
                         ids=["r90", "r180", "r270", "fh", "fv", "fh-r90"])
def test_orientation_matches_pyvips_rot_and_flip(tmp_path, cli, series, rotate, flip):
    plain = cli("downscale", tmp_path / "src", "-o", tmp_path / "plain", "--factor", "0.5", "-q")
    assert plain.exit_code == 0
    args = ["--rotate", rotate] if rotate else []
    args += ["--flip", flip] if flip else []
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "turned", "--factor", "0.5",
                 "--registration", tmp_path / "reg", *args, "-q")
    assert result.exit_code == 0, result.output
    for path in (tmp_path / "plain").glob("*.png"):
        expected = pyvips.Image.new_from_file(str(path))
        if flip:
            expected = expected.flip(flip)
        if rotate:
            expected = expected.rot(f"d{rotate}")
        turned = read_array(tmp_path / "turned" / path.name)
        assert np.array_equal(turned, expected.numpy())
        reg = pyvips.Image.new_from_file(str(tmp_path / "reg" / path.name))
        # Same orientation in both series: proportions agree within the rounding.
        assert abs(reg.width / reg.height - turned.shape[1] / turned.shape[0]) < 0.02
    assert not [p for p in (tmp_path / "turned").iterdir() if p.name.startswith(".")]


def test_rotation_box_applies_to_oriented_sections(tmp_path, cli):
    save(asymmetric(1000, 200, 1), tmp_path / "src/w_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "seg", "--max-size", "500x500",
                 "--rotate", "90", "-q")
    assert result.exit_code == 0
    assert read_array(tmp_path / "seg/w_s001.png").shape[:2] == (500, 100)


def test_orientation_csv_per_section(tmp_path, cli, series):
    (tmp_path / "o.csv").write_text("name,rotate,flip\nb_s002,180,\nb_s004.jpg,0,horizontal\n")
    cli("downscale", tmp_path / "src", "-o", tmp_path / "plain", "--factor", "0.5", "-q")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "csv", "--factor", "0.5",
                 "--rotate", "90", "--orientation", tmp_path / "o.csv", "-q")
    assert result.exit_code == 0, result.output
    plain = {p.name: pyvips.Image.new_from_file(str(p)) for p in (tmp_path / "plain").glob("*.png")}
    expected = {"b_s001.png": plain["b_s001.png"].rot("d90"),
                "b_s002.png": plain["b_s002.png"].rot("d180"),
                "b_s004.png": plain["b_s004.png"].flip("horizontal")}
    for name, image in expected.items():
        assert np.array_equal(read_array(tmp_path / "csv" / name), image.numpy())


@pytest.mark.parametrize("row, message", [
    ("nope_s009,90,", "no image with the stem 'nope_s009'"),
    ("b_s001,45,", "rotation '45' is not 0, 90, 180 or 270"),
    ("b_s001,90,diagonal", "flip 'diagonal' is not horizontal, vertical or none"),
], ids=["unknown-name", "angle-45", "unknown-flip"])
def test_bad_orientation_rows_are_clear_errors(tmp_path, cli, series, row, message):
    (tmp_path / "o.csv").write_text(f"name,rotate,flip\n{row}\n")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--orientation", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert "line 2" in result.stderr and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_series_rotation_is_usage_error(tmp_path, cli, series):
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "--rotate", "45")
    assert result.exit_code == 2 and "rotation '45'" in result.stderr


def test_registration_refuses_unnumbered_sections(tmp_path, cli):
    save(asymmetric(100, 100, 1), tmp_path / "src/section_one.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "seg", "--factor", "0.5",
                 "--registration", tmp_path / "reg")
    assert result.exit_code == 2
    assert "quint-prep rename" in result.stderr


def test_descriptor_command(tmp_path, cli):
    save(asymmetric(120, 80, 1), tmp_path / "reg/m_s010.png")
    save(asymmetric(90, 60, 2), tmp_path / "reg/m_s002.jpg")
    (tmp_path / "reg/notes.txt").write_text("x")
    result = cli("descriptor", tmp_path / "reg", "--name", "mouse")
    assert result.exit_code == 0, result.output
    root = ET.parse(tmp_path / "reg/quicknii-series.xml").getroot()
    assert root.get("name") == "mouse"
    assert [(s.get("filename"), s.get("nr"), s.get("width"), s.get("height")) for s in root] == [
        ("m_s002.jpg", "2", "90", "60"), ("m_s010.png", "10", "120", "80")]
    save(asymmetric(10, 10, 3), tmp_path / "reg/unnumbered.png")
    result = cli("descriptor", tmp_path / "reg")
    assert result.exit_code == 2 and "rename" in result.stderr


def test_check_confirms_both_series_agree_with_the_xml(tmp_path, cli, series):
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "seg", "--factor", "0.37",
                 "--registration", tmp_path / "reg", "--registration-size", "211x157",
                 "--rotate", "90", "-q")
    assert result.exit_code == 0, result.output
    xml = tmp_path / "reg/quicknii-series.xml"
    for folder in ("reg", "seg"):
        checked = cli("check", tmp_path / folder, "--registration", xml, "-q")
        assert checked.exit_code == 0, checked.output
        assert "reg.proportions" not in checked.stdout


def test_pyramidal_source_registration_from_a_stored_level(tmp_path, cli, monkeypatch):
    """A pyramidal source gives its registration image from a small stored level, through the
    same pipeline and orientation; it matches the one derived from the segmentation output."""
    from quint_prep.downscale import series as downscale_batch

    rng = np.random.default_rng(5)
    coarse = pyvips.Image.new_from_array(rng.integers(0, 256, (15, 20), dtype=np.uint8))
    smooth = coarse.resize(100, kernel="linear")  # features much larger than a registration pixel
    big = smooth.bandjoin([smooth, smooth])
    save(big.copy(interpretation="srgb"), tmp_path / "src/p_s001.tif", tile=True, pyramid=True)
    args = ("downscale", tmp_path / "src", "--factor", "0.5", "--rotate", "90",
            "--registration-size", "150x150", "-q")
    result = cli(*args, "-o", tmp_path / "seg", "--registration", tmp_path / "reg")
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(downscale_batch.RegistrationCompanion, "_from_pyramid",
                        lambda self, info, target, size: False)
    result = cli(*args, "-o", tmp_path / "seg2", "--registration", tmp_path / "reg2")
    assert result.exit_code == 0, result.output
    from_level = read_array(tmp_path / "reg/p_s001.png").astype(float)
    from_output = read_array(tmp_path / "reg2/p_s001.png").astype(float)
    assert from_level.shape == from_output.shape == (150, 113, 3)  # rotated: 1000x750 -> 150x113
    # Different routes (stored level + lanczos vs box over the output) agree on smooth content.
    assert np.abs(from_level - from_output).mean() < 3  # filter differences only (measured 2.0)
