import json
from pathlib import Path

import numpy as np
import pyvips
import pytest

from quint_prep.downscale import image as downscale_module
from quint_prep.manifest import read_manifest
from quint_prep.outputs import TEMP_MARKER
from conftest import from_array, gradient, read_array, save, tree_hashes

KINDS = {
    "tiled-jpeg-pyramid": ("a_s001.tif", {"tile": True, "pyramid": True, "compression": "jpeg", "Q": 95}),
    "striped-lzw": ("a_s001.tif", {"compression": "lzw"}),
    "striped-deflate": ("a_s001.tif", {"compression": "deflate"}),
    "bigtiff-tiled": ("a_s001.tif", {"tile": True, "bigtiff": True}),
    "pyramid-subifd": ("a_s001.tif", {"tile": True, "pyramid": True, "subifd": True}),
    "jpeg": ("a_s001.jpg", {"Q": 95}),
    "png": ("a_s001.png", {}),
}


@pytest.mark.parametrize("kind", KINDS, ids=list(KINDS))
def test_every_input_kind_gives_named_sized_8bit_png(tmp_path, cli, kind):
    name, options = KINDS[kind]
    source = save(gradient(1001, 603), tmp_path / "src" / name, **options)
    before = tree_hashes(tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.25", "-q")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / (source.stem + ".png")
    image = pyvips.Image.new_from_file(str(out))
    assert (image.width, image.height) == (250, 151)  # round(250.25), round(150.75)
    assert (image.bands, image.format) == (3, "uchar")
    # The gradient's mean survives resampling (a shift or a wrong scale would move it).
    assert image.avg() == pytest.approx(127.5, abs=2.5)
    assert tree_hashes(tmp_path / "src") == before


def test_fine_checkerboard_averages_to_grey_without_aliasing(tmp_path, cli):
    checker = (np.indices((400, 400)).sum(axis=0) % 2 * 255).astype(np.uint8)
    save(from_array(checker), tmp_path / "src/c_s001.png")
    for method in ("area", "lanczos3"):
        out = tmp_path / f"out-{method}"
        result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.25",
                     "--method", method, "-q")
        assert result.exit_code == 0, result.output
        pixels = read_array(out / "c_s001.png")
        assert pixels.shape == (100, 100)
        assert abs(pixels.astype(float) - 127.5).max() <= 3  # no moire, no stripes


def test_box_average_is_exact_for_integer_factor(tmp_path, cli):
    values = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    save(from_array(values), tmp_path / "src/b_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 0
    expected = values.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    assert np.abs(read_array(tmp_path / "out/b_s001.png") - expected).max() <= 1


def test_16bit_is_scaled_not_clipped(tmp_path, cli):
    values = np.full((40, 40, 3), 25700, dtype=np.uint16)
    values[:, 20:] = 65535
    save(from_array(values), tmp_path / "src/d_s001.tif")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q",
                 "--normalise", "none")
    assert result.exit_code == 0, result.output
    pixels = read_array(tmp_path / "out/d_s001.png")
    assert pixels.dtype == np.uint8
    assert set(np.unique(pixels)) == {100, 255}
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out16", "--factor", "0.5",
                 "--keep-depth", "-q")
    assert read_array(tmp_path / "out16/d_s001.png").dtype == np.uint16


def test_alpha_is_flattened_onto_white_or_kept(tmp_path, cli):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:, 10:, 3] = 255  # left half transparent
    save(from_array(rgba), tmp_path / "src/r_s001.png")
    cli("downscale", tmp_path / "src", "-o", tmp_path / "flat", "--factor", "0.5", "-q")
    flat = read_array(tmp_path / "flat/r_s001.png")
    assert flat.shape == (10, 10, 3)
    assert tuple(flat[0, 0]) == (255, 255, 255) and tuple(flat[0, 9]) == (200, 0, 0)
    cli("downscale", tmp_path / "src", "-o", tmp_path / "keep", "--factor", "0.5", "--keep-alpha", "-q")
    assert read_array(tmp_path / "keep/r_s001.png").shape == (10, 10, 4)


def test_greyscale_stays_grey(tmp_path, make_image, cli):
    make_image("src/g_s001.tif", 100, 80, bands=1)
    cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert read_array(tmp_path / "out/g_s001.png").shape == (40, 50)


def test_pyramid_level_and_jpeg_shrink_on_load_are_used(tmp_path, cli):
    save(gradient(2048, 1024), tmp_path / "src/p_s001.tif", tile=True, pyramid=True)
    save(gradient(2048, 1024), tmp_path / "src/p_s002.jpg", Q=95)
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.25",
                 "-q", "--json")
    loads = {i["source"].rsplit("/", 1)[-1]: i["load"] for i in json.loads(result.stdout)["images"]}
    assert loads["p_s001.tif"].startswith("pyramid level 2")
    assert loads["p_s002.jpg"] == "JPEG shrink-on-load 1/4"
    for name in ("p_s001.png", "p_s002.png"):
        assert read_array(tmp_path / "out" / name).mean() == pytest.approx(127.5, abs=2)


@pytest.mark.parametrize("fmt, loader", [("jpg", "jpegload"), ("tif", "tiffload")])
def test_other_output_formats(tmp_path, make_image, cli, fmt, loader):
    make_image("src/f_s001.png", 100, 50)
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--format", fmt, "-q")
    assert result.exit_code == 0, result.output
    image = pyvips.Image.new_from_file(str(tmp_path / "out" / f"f_s001.{fmt}"))
    assert (image.width, image.height, image.get("vips-loader")) == (50, 25, loader)


def test_max_size_gives_one_factor_and_manifest(tmp_path, cli):
    save(gradient(3000, 1000), tmp_path / "src/m_s001.png")
    save(gradient(1000, 2000), tmp_path / "src/m_s002.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--max-size", "600x600", "-q")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "out")
    assert manifest.factor == pytest.approx(0.2)
    sizes = {r.name: (r.width, r.height, r.source_width, r.section) for r in manifest.images.values()}
    assert sizes == {"m_s001.png": (600, 200, 3000, 1), "m_s002.png": (200, 400, 1000, 2)}
    assert "factor 0.2: 2 written" in result.stdout


def test_rerun_skips_up_to_date_and_redoes_changed(tmp_path, make_image, cli):
    make_image("src/u_s001.png")
    second = make_image("src/u_s002.png")
    args = ("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q", "--json")
    first = json.loads(cli(*args).stdout)
    assert first["counts"] == {"written": 2, "up-to-date": 0, "failed": 0}
    again = json.loads(cli(*args).stdout)
    assert again["counts"] == {"written": 0, "up-to-date": 2, "failed": 0}
    save(gradient(64, 48).invert(), second)
    third = json.loads(cli(*args).stdout)
    assert third["counts"] == {"written": 1, "up-to-date": 1, "failed": 0}
    other = ("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.25", "-q")
    refused = cli(*other)  # a folder holds one series: another factor is refused ...
    assert refused.exit_code == 2 and "factor 0.5 -> 0.25" in refused.stderr
    changed = json.loads(cli(*other, "--json", "--overwrite").stdout)
    assert changed["counts"]["written"] == 2  # ... or, with --overwrite, redoes the series


def test_foreign_file_in_output_is_not_overwritten(tmp_path, make_image, cli):
    make_image("src/x_s001.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/x_s001.png").write_bytes(b"precious")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1
    assert "was not written by quint-prep; pass --overwrite" in result.stderr
    assert (tmp_path / "out/x_s001.png").read_bytes() == b"precious"
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q",
                 "--overwrite")
    assert result.exit_code == 0


@pytest.mark.parametrize("relative, message", [(".", "is the images folder"),
                                               ("inner", "lies inside the source folder")],
                         ids=["same", "inside"])
def test_output_in_source_folder_is_refused(tmp_path, make_image, cli, relative, message):
    make_image("src/s_s001.png")
    before = tree_hashes(tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "src" / relative, "--factor", "0.5")
    assert result.exit_code == 2
    assert message in result.stderr
    assert tree_hashes(tmp_path / "src") == before


def test_bad_file_does_not_stop_the_series(tmp_path, make_image, cli):
    make_image("src/ok_s001.png")
    make_image("src/ok_s003.tif")
    (tmp_path / "src/bad_s002.tif").write_bytes(b"II*\x00garbage")
    (tmp_path / "src/.DS_Store").write_bytes(b"\0")
    half = make_image("src/cut_s004.png", 400, 300)
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    before = tree_hashes(tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ok_s001.png", "ok_s003.png", "quint-prep.json"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert any("bad_s002.tif" in line for line in errors)
    assert any("cut_s004.png" in line for line in errors)
    assert "Traceback" not in result.output
    assert tree_hashes(tmp_path / "src") == before


@pytest.mark.parametrize("args", [[], ["--factor", "0.5", "--max-size", "10x10"], ["--factor", "2"],
                                  ["--max-size", "huge"]],
                         ids=["neither", "both", "enlarge", "bad-size"])
def test_usage_errors_exit_2(tmp_path, make_image, cli, args):
    make_image("src/a_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", *args)
    assert result.exit_code == 2


def test_same_stem_twice_is_refused(tmp_path, make_image, cli):
    make_image("src/a_s001.png")
    make_image("src/a_s001.tif")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert result.exit_code == 1
    assert "would also come from" in result.stderr


def test_interrupt_leaves_no_partial_file(tmp_path, make_image, cli, monkeypatch):
    make_image("src/i_s001.png")
    make_image("src/i_s002.png")
    real_save = downscale_module._save
    calls = []

    def save_then_interrupt(image, path, settings):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"half a png")
            raise KeyboardInterrupt
        real_save(image, path, settings)

    monkeypatch.setattr(downscale_module, "_save", save_then_interrupt)
    # One at a time, so the second save is the one interrupted (the default runs small images
    # two at once; real signals in every mode: test_jobs.test_interrupted_run_...).
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q",
                 "--jobs", "1")
    assert result.exit_code == 130
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["i_s001.png", "quint-prep.json"]
    assert not any(TEMP_MARKER in n for n in names)
    monkeypatch.setattr(downscale_module, "_save", real_save)
    resumed = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q", "--json")
    assert json.loads(resumed.stdout)["counts"] == {"written": 1, "up-to-date": 1, "failed": 0}


def test_stale_temporary_files_are_cleaned(tmp_path, make_image, cli):
    make_image("src/t_s001.png")
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / f".t_s001{TEMP_MARKER}99999.png"
    stale.write_bytes(b"left by a killed run")
    cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", "-q")
    assert not stale.exists()


def test_name_warnings_are_shown(tmp_path, make_image, cli):
    make_image("src/no_number.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5")
    assert result.exit_code == 1 and "check: FAIL" in result.stdout  # no number is an error
    assert "no_number.png: name: no section number" in result.stderr
