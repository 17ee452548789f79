"""Series-consistent intensity windows (issue 8)."""

import json

import numpy as np
import pytest

from quint_prep.errors import UsageError
from quint_prep.downscale.normalise import (Window, parse_normalisation, plan_windows, window_from_histogram)
from quint_prep.series import read_info
from conftest import from_array, read_array, save

RNG = np.random.default_rng(7)


def section_12bit(brightness: float, size=(120, 160)) -> np.ndarray:
    """A 12-bit-in-16-bit section: background ~100, tissue at 1000*brightness, a bright spot."""
    image = np.full(size, 100, dtype=np.float64)
    image[20:100, 30:130] = 1000 * brightness
    image[50:60, 60:70] = 3000 * brightness
    image += RNG.normal(0, 5, size)
    return np.clip(image, 0, 4095).astype(np.uint16)


def write_series(folder, brightnesses):
    for index, brightness in enumerate(brightnesses, start=1):
        save(from_array(section_12bit(brightness)), folder / f"f_s{index:03d}.tif")


def test_window_from_histogram_percentiles():
    counts = np.zeros((1, 65536))
    counts[0, 100] = 10
    counts[0, 200:1200] = 1  # 1000 samples spread evenly
    counts[0, 4000] = 10
    window = window_from_histogram(counts, (0.5, 99.5))
    assert window.low == (100.0,) and window.high == (4000.0,)
    window = window_from_histogram(counts, (10, 90))
    assert 200 <= window.low[0] < 320 and 1080 < window.high[0] <= 1200


@pytest.mark.parametrize("text, mode", [("series", "series"), ("image", "image"), ("none", "none"),
                                        ("fixed:100,4095", "fixed")])
def test_parse_normalisation(text, mode):
    assert parse_normalisation(text).mode == mode


@pytest.mark.parametrize("text, percentiles", [("fixed:5,1", "0.1,99.9"), ("bright", "0.1,99.9"),
                                               ("series", "99,1"), ("series", "x")])
def test_parse_normalisation_rejects(text, percentiles):
    with pytest.raises(UsageError):
        parse_normalisation(text, percentiles)


def test_series_maps_same_tissue_value_to_same_8bit_value(tmp_path, cli):
    write_series(tmp_path / "src", [1.0, 0.7])
    # Same tissue value in both sections: a pixel of value 700 exists in s002 (tissue) only;
    # compare through the window instead: the series window is one, so value -> 8-bit is one map.
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "series", "--factor", "1",
                 "-q", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "series/quint-prep.json").read_text())
    window = manifest["settings"]["normalise"]["window"]
    low, high = window["low"][0], window["high"][0]
    assert 80 <= low <= 100 and 2900 <= high <= 3100
    first = read_array(tmp_path / "series/f_s001.png").astype(float)
    second = read_array(tmp_path / "series/f_s002.png").astype(float)
    expected = lambda v: np.clip((v - low) * 255 / (high - low), 0, 255)  # noqa: E731
    assert np.median(first[20:100, 30:130]) == pytest.approx(expected(1000), abs=2)
    assert np.median(second[20:100, 30:130]) == pytest.approx(expected(700), abs=2)
    # Background (same value 100 in both) maps to the same 8-bit value in both sections.
    assert np.median(first[:15]) == pytest.approx(np.median(second[:15]), abs=1)


def test_image_mode_stretches_each_section(tmp_path, cli):
    write_series(tmp_path / "src", [1.0, 0.7])
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "image", "--factor", "1",
                 "--normalise", "image", "-q")
    assert result.exit_code == 0, result.output
    first = read_array(tmp_path / "image/f_s001.png")
    second = read_array(tmp_path / "image/f_s002.png")
    # Each section's own bright spot goes to ~255: the tissue no longer compares across sections
    assert np.median(first[20:100, 30:130]) == pytest.approx(np.median(second[20:100, 30:130]), abs=3)
    records = json.loads((tmp_path / "image/quint-prep.json").read_text())["images"]
    assert records[0]["window"] != records[1]["window"]


def test_fixed_window_is_exact(tmp_path, cli):
    values = np.array([[0, 100, 1100, 2100, 4095]], dtype=np.uint16).repeat(4, axis=0)
    save(from_array(values), tmp_path / "src/x_s001.tif")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "1",
                 "--normalise", "fixed:100,2100", "-q")
    assert result.exit_code == 0, result.output
    assert read_array(tmp_path / "out/x_s001.png")[0].tolist() == [0, 0, 128, 255, 255]


def test_window_is_reused_from_another_manifest(tmp_path, cli):
    write_series(tmp_path / "a", [1.0])
    write_series(tmp_path / "b", [0.5])
    cli("downscale", tmp_path / "a", "-o", tmp_path / "out-a", "--factor", "1", "-q")
    result = cli("downscale", tmp_path / "b", "-o", tmp_path / "out-b", "--factor", "1", "-q",
                 "--normalise-from", tmp_path / "out-a/quint-prep.json")
    assert result.exit_code == 0, result.output
    a = json.loads((tmp_path / "out-a/quint-prep.json").read_text())["settings"]["normalise"]["window"]
    b = json.loads((tmp_path / "out-b/quint-prep.json").read_text())["settings"]["normalise"]["window"]
    assert a == b


def test_fast_estimate_from_pyramid_level_is_close_to_exact(tmp_path):
    """The window from a reduced pyramid level is within 2% of the range of the exact one."""
    big = np.tile(section_12bit(1.0, size=(600, 800)), (3, 3))
    path = save(from_array(big), tmp_path / "p_s001.tif", tile=True, pyramid=True)
    info = read_info(path)
    assert len(info.levels) > 1
    normalisation = parse_normalisation("series")
    from quint_prep.downscale import normalise as normalise

    exact = plan_windows([info], normalisation, min_pixels=10**12).series  # level 0
    fast = plan_windows([info], normalisation, min_pixels=100_000).series
    assert normalise.histogram_level(info, 100_000) > 0
    span = exact.high[0] - exact.low[0]
    assert abs(fast.low[0] - exact.low[0]) <= 0.02 * span
    assert abs(fast.high[0] - exact.high[0]) <= 0.02 * span


def test_channel_selection(tmp_path, cli):
    values = np.zeros((10, 10, 3), dtype=np.uint8)
    values[..., 0], values[..., 1], values[..., 2] = 10, 20, 30
    save(from_array(values), tmp_path / "src/c_s001.png")
    cli("downscale", tmp_path / "src", "-o", tmp_path / "one", "--factor", "1", "--channel", "2", "-q")
    assert np.unique(read_array(tmp_path / "one/c_s001.png")).tolist() == [30]
    cli("downscale", tmp_path / "src", "-o", tmp_path / "rgb", "--factor", "1", "--channels", "2,1,0", "-q")
    assert read_array(tmp_path / "rgb/c_s001.png")[0, 0].tolist() == [30, 20, 10]
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "bad", "--factor", "1", "--channel", "5")
    assert result.exit_code == 1 and "channel 5 does not exist" in result.stderr


def test_window_for_bands():
    assert Window((1.0,), (2.0,)).for_bands(3) == Window((1.0,) * 3, (2.0,) * 3)
    with pytest.raises(UsageError):
        Window((1.0, 2.0), (3.0, 4.0)).for_bands(3)


def test_factor_shows_intensity_and_flags_dim_section(tmp_path, cli):
    write_series(tmp_path / "src", [1.0, 0.9, 0.2])
    result = cli("factor", tmp_path / "src", "--max-size", "100x100")
    assert result.exit_code == 0, result.output
    assert "series window:" in result.stdout
    dim_line = next(line for line in result.stdout.splitlines()
                    if line.startswith("f_s003.tif") and "%" in line)
    assert "dim or empty" in dim_line
    document = json.loads(cli("factor", tmp_path / "src", "--max-size", "100x100", "--json").stdout)
    assert document["intensity"]["series_window"]["high"][0] > 0


def test_inspect_lists_ome_channel_names(tmp_path, cli):
    import pyvips

    ome = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           '<Image ID="Image:0"><Pixels SizeC="3"><Channel ID="Channel:0:0" Name="DAPI"/>'
           '<Channel ID="Channel:0:1" Name="GFP"/><Channel ID="Channel:0:2" Name="Cy5"/>'
           '</Pixels></Image></OME>')
    values = np.zeros((8, 8, 3), dtype=np.uint16)
    values[..., 1] = 500
    image = from_array(values).copy()
    image.set_type(pyvips.GValue.gstr_type, "image-description", ome)
    save(image, tmp_path / "src/o_s001.tif")
    result = cli("inspect", tmp_path / "src")
    assert "3 (DAPI, GFP, Cy5)" in result.stdout
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "1",
                 "--channel", "GFP", "--normalise", "fixed:0,1000", "-q")
    assert result.exit_code == 0, result.output
    assert np.unique(read_array(tmp_path / "out/o_s001.png")).tolist() == [128]
