"""Scanner files straight in: CZI (pylibCZIrw), SVS (OpenSlide), OME-TIFF, made with the vendors'
own writers in tmp_path. MRXS, NDPI and VSI cannot be written here (see docs/scanner-files.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvips
import pytest

from scanner_files import (damage_svs_tile, textured_section, write_czi_fluorescence,
                           write_czi_rgb, write_ome_tiff, write_svs)
from quint_prep.series import read_info
from quint_prep.slides import open_slide

pytest.importorskip("tifffile")


def _png(path: Path) -> np.ndarray:
    return pyvips.Image.new_from_file(str(path)).numpy()


def _manifest_image(folder: Path, name: str) -> dict:
    document = json.loads((folder / "quint-prep.json").read_text())
    return next(entry for entry in document["images"] if entry["name"] == name)


def test_czi_brightfield_stays_red_and_matches_the_same_pixels_as_tiff(tmp_path, cli):
    rgb = textured_section(1536, 1024)
    (tmp_path / "czi").mkdir()
    write_czi_rgb(tmp_path / "czi" / "m_s001.czi", rgb)
    tiff = tmp_path / "tif" / "m_s001.tif"
    tiff.parent.mkdir()
    pyvips.Image.new_from_array(rgb).copy(interpretation="srgb").tiffsave(str(tiff), tile=True)
    for kind in ("czi", "tif"):
        result = cli("downscale", tmp_path / kind, "-o", tmp_path / f"out-{kind}", "-f", "0.25", "-q")
        assert result.exit_code == 0, result.output
    from_czi, from_tiff = _png(tmp_path / "out-czi/m_s001.png"), _png(tmp_path / "out-tif/m_s001.png")
    assert from_czi.shape == (256, 384, 3)
    red = from_czi[100:150, 150:230].reshape(-1, 3).mean(axis=0)
    assert red[0] > 170 and red[1] < 80 and red[2] < 80, red  # B,G,R stored, R,G,B out
    assert np.abs(from_czi.astype(int) - from_tiff.astype(int)).mean() < 3
    record = _manifest_image(tmp_path / "out-czi", "m_s001.png")
    assert record["source_um_per_px"] == [0.5, 0.5] and record["um_per_px"] == [2.0, 2.0]


def test_czi_fluorescence_channels_by_name(tmp_path, cli):
    rng = np.random.default_rng(3)
    planes = [rng.integers(100 * (c + 1), 4000 * (c + 1), (600, 800)).astype(np.uint16)
              for c in range(3)]
    src = tmp_path / "src"
    src.mkdir()
    write_czi_fluorescence(src / "f_s002.czi", planes, ["DAPI", "GFP", "Cy5"])
    result = cli("inspect", src, "--json")
    assert result.exit_code == 0, result.output
    image = json.loads(result.stdout)["images"][0]
    assert image["channel_names"] == ["DAPI", "GFP", "Cy5"]
    assert (image["bands"], image["bit_depth"], image["format"]) == (3, 16, "czi")
    assert image["pixel_size_um"] == pytest.approx([0.325, 0.325])
    result = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.5", "--channel", "GFP", "-q")
    assert result.exit_code == 0, result.output
    out = pyvips.Image.new_from_file(str(tmp_path / "out/f_s002.png"))
    assert (out.width, out.height, out.bands, out.format) == (400, 300, 1, "uchar")
    assert 40 < out.avg() < 215  # windowed from the series histogram, not v/257 (about 8)


def test_czi_scenes_listed_refused_without_scene_and_cut_with_it(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    rgb = textured_section(512, 384)
    write_czi_rgb(src / "slide_s001.czi", rgb, scenes=((0, 0), (2000, 100)))
    listed = cli("inspect", src)
    assert listed.exit_code == 0, listed.output
    assert "slide_s001.czi: scene 1: 512x384 at 2000,100" in listed.stdout
    refused = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.5", "-q")
    assert refused.exit_code == 1
    assert "2 scenes" in refused.stderr and "--scene N" in refused.stderr
    assert "quint-prep sections" in refused.stderr
    assert "Traceback" not in refused.output
    done = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.5", "--scene", "1", "-q")
    assert done.exit_code == 0, done.output
    assert _png(tmp_path / "out/slide_s001.png").shape == (192, 256, 3)
    assert _manifest_image(tmp_path / "out", "slide_s001.png")["scene"] == 1
    wrong = cli("downscale", src, "-o", tmp_path / "out2", "-f", "0.5", "--scene", "5", "-q")
    assert wrong.exit_code == 1 and "no scene 5: the file has scene(s) 0, 1" in wrong.stderr


def test_svs_levels_mpp_and_never_the_label_or_macro(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    write_svs(src / "b_s003.svs", textured_section(2048, 1536), mpp=0.5)
    info = read_info(src / "b_s003.svs")
    assert info.format == "aperio" and info.levels[1].width == 512
    assert info.pixel_size == (0.5, 0.5) and info.associated == ("label", "macro")
    listed = cli("inspect", src)
    assert "b_s003.svs: also holds label, macro" in listed.stdout
    result = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.25", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"][0]["load"].startswith("pyramid level 1")
    out = _png(tmp_path / "out/b_s003.png")
    assert out.shape == (384, 512, 3)
    corners = out[:40, :40].reshape(-1, 3).mean(axis=0)
    assert corners.min() > 200  # glass, not the green label or the blue macro
    assert _manifest_image(tmp_path / "out", "b_s003.png")["um_per_px"] == [2.0, 2.0]


def test_slide_region_reads_are_level_crops(tmp_path):
    path = write_svs(tmp_path / "c.svs", textured_section(1024, 768))
    slide = open_slide(path)
    region = slide.read_region(0, 256, 192, 100, 50)
    assert (region.width, region.height, region.bands) == (100, 50, 3)
    assert slide.levels[1].downsample == pytest.approx(4.0)


def test_pixel_size_from_ome_and_tiff_tags_or_unknown(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    rgb = textured_section(300, 200)
    write_ome_tiff(src / "o_s001.ome.tif", rgb, 0.65, 0.7)
    image = pyvips.Image.new_from_array(rgb).copy(interpretation="srgb")
    image.tiffsave(str(src / "t_s002.tif"), xres=1000 / 1.25, yres=1000 / 1.25)
    image.pngsave(str(src / "p_s003.png"))
    result = cli("inspect", src, "--json")
    sizes = {i["name"]: i["pixel_size_um"] for i in json.loads(result.stdout)["images"]}
    assert sizes["o_s001.ome.tif"] == pytest.approx([0.65, 0.7])
    assert sizes["t_s002.tif"] == pytest.approx([1.25, 1.25])
    assert sizes["p_s003.png"] is None
    table = cli("inspect", src).stdout
    assert "0.65x0.7" in table and "unknown" in table


def test_truncated_czi_and_damaged_svs_tile_one_clear_line_each(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    czi = write_czi_rgb(src / "t_s001.czi", textured_section(1024, 768))
    with open(czi, "r+b") as handle:
        handle.truncate(czi.stat().st_size // 2)
    svs = write_svs(src / "d_s002.svs", textured_section(2048, 1536))
    damage_svs_tile(svs, 20)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    result = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.5", "-q")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 2, result.stderr
    assert any("t_s001.czi: cannot read CZI" in line for line in lines)
    assert any("d_s002.svs: cannot read slide pixels" in line and "JPEG" in line for line in lines)
    assert "Traceback" not in result.output
    assert not (tmp_path / "out/d_s002.png").exists()
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_czi_pyramid_layers_from_subblock_zooms():
    from quint_prep.slides.czi_reader import pyramid_zooms
    assert pyramid_zooms([1.0, 0.5, 0.50001, 0.25, 1.0, 0.125]) == (0.5, 0.25, 0.125)
    assert pyramid_zooms([1.0, 1.0]) == ()


def test_sweep_table_shows_the_czi_pixel_size(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    write_czi_rgb(src / "w_s001.czi", textured_section(1024, 768), mpp=0.5)
    result = cli("sweep", src, "-o", tmp_path / "sweep", "--factors", "0.5,0.25", "-q")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("w_s001.czi")]
    assert [row[4] for row in rows] == ["1", "2"]  # um/px at 0.5 and 0.25 of 0.5 um/px


def test_a_missing_vendor_library_names_the_package(tmp_path, cli, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    write_czi_rgb(src / "x_s001.czi", textured_section(256, 256))
    monkeypatch.setitem(__import__("sys").modules, "pylibCZIrw", None)  # import fails
    result = cli("inspect", src)
    assert result.exit_code == 1
    assert "x_s001.czi: cannot load pylibCZIrw" in result.stderr
    assert "pip install pylibCZIrw" in result.stderr


def test_libvips_files_opened_as_slides_keep_their_pixel_size(tmp_path):
    rgb = textured_section(300, 200)
    write_ome_tiff(tmp_path / "o_s001.ome.tif", rgb, 0.65, 0.7)
    image = pyvips.Image.new_from_array(rgb).copy(interpretation="srgb")
    image.tiffsave(str(tmp_path / "t_s002.tif"), xres=1000 / 1.25, yres=1000 / 1.25)
    image.pngsave(str(tmp_path / "p_s003.png"))
    assert open_slide(tmp_path / "o_s001.ome.tif").pixel_size_um == pytest.approx((0.65, 0.7))
    assert open_slide(tmp_path / "t_s002.tif").pixel_size_um == pytest.approx((1.25, 1.25))
    assert open_slide(tmp_path / "p_s003.png").pixel_size_um is None


def test_registration_series_of_a_slide_is_read_from_its_small_level(tmp_path, cli, monkeypatch):
    """The registration image comes from the SVS's stored 1/4 level, not from level 0."""
    from quint_prep.slides import info as slide_info
    src = tmp_path / "src"
    src.mkdir()
    write_svs(src / "a_s001.svs", textured_section(2048, 1536))
    opened = []
    real = slide_info.open_slide_level

    def spy(info, level=0, box_shrink=None):
        opened.append(level)
        return real(info, level, box_shrink)

    monkeypatch.setattr(slide_info, "open_slide_level", spy)
    result = cli("downscale", src, "-o", tmp_path / "out", "--factor", "0.5",
                 "--registration", tmp_path / "reg", "--registration-size", "300x300")
    assert result.exit_code == 0, result.output
    assert 1 in opened  # the 512 x 384 level made the 300 x 225 registration image
    reg = _png(tmp_path / "reg/a_s001.png")
    seg = pyvips.Image.new_from_file(str(tmp_path / "out/a_s001.png")).resize(300 / 1024)
    assert reg.shape == (225, 300, 3)
    assert np.abs(reg.astype(float) - seg.numpy()[:225, :300].astype(float)).mean() < 6


def test_a_czi_downscale_reads_each_region_once_and_keeps_red_red(tmp_path, cli, monkeypatch):
    """At 0.25 every tile of the box-shrunk virtual level is a 1024 px region of level 0 read
    from libCZI once (read ahead in threads, kept until libvips has it); R,G,B comes out."""
    from quint_prep.slides import czi_reader

    src = tmp_path / "src"
    src.mkdir()
    write_czi_rgb(src / "r_s001.czi", textured_section(1500, 1000), tile=700)
    reads: list[tuple[int, int, int, int, int]] = []
    original = czi_reader.CziSlide._planes

    def spy(self, reader, level, x, y, w, h):
        reads.append((level, x, y, w, h))
        return original(self, reader, level, x, y, w, h)

    monkeypatch.setattr(czi_reader.CziSlide, "_planes", spy)
    result = cli("downscale", src, "-o", tmp_path / "out", "-f", "0.25", "-q")
    assert result.exit_code == 0, result.output
    side = 4 * czi_reader.CziSlide.tile  # 700 px subblocks: no whole number of them per tile
    regions = {(0, x, y, min(side, 1500 - x), min(side, 1000 - y))
               for x in range(0, 1500, side) for y in range(0, 1000, side)}
    assert set(reads) == regions
    assert len(reads) <= len(regions) + len(range(0, 1500, side))
    out = _png(tmp_path / "out/r_s001.png").astype(float)
    red, green, blue = out[125, 187]
    assert red > 150 and green < 100 and blue < 100


def _vips_shrunk(array: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """The box shrink the area method applies to the whole level (libvips, ceil)."""
    image = pyvips.Image.new_from_array(array)
    image = image.shrinkh(kx, ceil=True) if kx > 1 else image
    return (image.shrinkv(ky, ceil=True) if ky > 1 else image).numpy()


@pytest.mark.parametrize("size, kx, ky", [((1037, 771), 4, 4), ((1037, 771), 3, 2),
                                          ((2048, 1024), 4, 4), ((901, 700), 1, 5)],
                         ids=["odd-4x4", "odd-3x2", "subblock-aligned-4x4", "rows-only-1x5"])
def test_czi_shrunk_while_read_is_libvips_shrink_of_the_same_pixels(tmp_path, size, kx, ky):
    """Bgr24 (R,G,B out), odd sizes and edge tiles: bit for bit the whole-level shrink."""
    from quint_prep.slides.czi_reader import CziSlide
    rgb = textured_section(*size)
    write_czi_rgb(tmp_path / "a.czi", rgb, tile=512 if size[0] == 2048 else 300)
    slide = open_slide(tmp_path / "a.czi")
    assert isinstance(slide, CziSlide)
    shrunk = slide.shrunk_image(0, kx, ky)
    assert (shrunk.width, shrunk.height) == (-(-size[0] // kx), -(-size[1] // ky))
    assert np.array_equal(shrunk.numpy(), _vips_shrunk(rgb, kx, ky))


def test_czi_shrunk_scene_fluorescence_and_16_bit_colour(tmp_path):
    """A scene at an offset, Gray16 and Gray8 channels, Bgr48: the same pixels as a libvips
    shrink of what was written."""
    from pylibCZIrw import czi
    rgb = textured_section(650, 410, seed=4)
    write_czi_rgb(tmp_path / "s.czi", rgb, tile=256, scenes=((0, 0), (3001, 517)))
    scene = open_slide(tmp_path / "s.czi", scene=1).shrunk_image(0, 4, 3)
    assert np.array_equal(scene.numpy(), _vips_shrunk(rgb, 4, 3))
    rng = np.random.default_rng(5)
    for dtype, top in ((np.uint16, 60000), (np.uint8, 255)):
        planes = [rng.integers(0, top, (333, 517)).astype(dtype) for _ in range(2)]
        write_czi_fluorescence(tmp_path / "f.czi", planes, ["DAPI", "GFP"])
        shrunk = open_slide(tmp_path / "f.czi").shrunk_image(0, 3, 3)
        assert shrunk.format == ("ushort" if dtype == np.uint16 else "uchar")
        assert np.array_equal(shrunk.numpy(), _vips_shrunk(np.stack(planes, axis=-1), 3, 3))
    rgb48 = (rgb.astype(np.uint16) * 257 + rng.integers(0, 257, rgb.shape)).astype(np.uint16)
    with czi.create_czi(str(tmp_path / "h.czi"), exist_ok=True) as writer:
        writer.write(data=np.ascontiguousarray(rgb48[..., ::-1]), plane={"C": 0}, location=(0, 0))
    shrunk = open_slide(tmp_path / "h.czi").shrunk_image(0, 4, 4)
    assert shrunk.format == "ushort"
    assert np.array_equal(shrunk.numpy(), _vips_shrunk(rgb48, 4, 4))


@pytest.mark.parametrize("factor", ["0.2", "0.25", "0.3"])
def test_czi_downscale_is_the_tiff_downscale_of_the_same_pixels(tmp_path, cli, factor):
    """Shrinking while reading changes no pixel: the CZI's output equals the output of the
    same pixels saved as TIFF (integer box shrink, then lanczos3 for the rest at 0.3); the
    registration series (another size) and ``inspect`` (level 0, pixel size) too."""
    rgb = textured_section(1037, 771, seed=2)
    for kind in ("czi", "tif"):
        (tmp_path / kind).mkdir()
    write_czi_rgb(tmp_path / "czi/m_s001.czi", rgb, tile=300)
    pyvips.Image.new_from_array(rgb).copy(interpretation="srgb").tiffsave(
        str(tmp_path / "tif/m_s001.tif"), tile=True, xres=2000.0, yres=2000.0)
    for kind in ("czi", "tif"):
        result = cli("downscale", tmp_path / kind, "-o", tmp_path / f"out-{kind}", "-f", factor,
                     "--registration", tmp_path / f"reg-{kind}", "--registration-size", "200x200",
                     "-q")
        assert result.exit_code == 0, result.output
    for folder in ("out", "reg"):
        from_czi = _png(tmp_path / f"{folder}-czi/m_s001.png")
        assert np.array_equal(from_czi, _png(tmp_path / f"{folder}-tif/m_s001.png")), folder
    height, width = _png(tmp_path / "out-czi/m_s001.png").shape[:2]
    kx, ky = 1037 // width, 771 // height  # 0.25: 4x3 (771 / 193)
    assert _manifest_image(tmp_path / "out-czi", "m_s001.png")["load"] == \
        f"full resolution, box shrink {kx}x{ky} while read"
    listed = json.loads(cli("inspect", tmp_path / "czi", "--json").stdout)["images"][0]
    assert (listed["width"], listed["height"]) == (1037, 771)
    assert listed["pixel_size_um"] == pytest.approx([0.5, 0.5])


def test_config_scene_key_cuts_the_scene_as_scene_does(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    write_czi_rgb(src / "slide_s001.czi", textured_section(512, 384), scenes=((0, 0), (2000, 100)))
    config = tmp_path / "slide.toml"
    config.write_text('name = "slide"\nimages = "src"\noutput = "out"\nfactor = 0.5\nscene = 1\n')
    result = cli("run", config, "-q")
    assert result.exit_code == 0, result.output
    assert _png(tmp_path / "out/slide_s001.png").shape == (192, 256, 3)
    assert _manifest_image(tmp_path / "out", "slide_s001.png")["scene"] == 1
    by_flag = cli("downscale", src, "-o", tmp_path / "flag", "-f", "0.5", "--scene", "1", "-q")
    assert by_flag.exit_code == 0, by_flag.output
    assert (tmp_path / "out/slide_s001.png").read_bytes() == (tmp_path / "flag/slide_s001.png").read_bytes()
    config.write_text('name = "slide"\nimages = "src"\noutput = "out"\nfactor = 0.5\nscene = -1\n')
    bad = cli("run", config, "-q")
    assert bad.exit_code == 2 and "scene: -1 is less than 0" in bad.stderr
