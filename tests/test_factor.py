import json

from conftest import gradient, save


def test_factor_fits_largest_image(tmp_path, cli):
    save(gradient(4000, 1000), tmp_path / "src/a_s001.png")
    save(gradient(2000, 3000), tmp_path / "src/a_s002.png")
    result = cli("factor", tmp_path / "src", "--max-size", "1000x1000", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["factor"] == 0.25
    assert document["limited_by"] == "a_s001.png"
    assert [(i["width"], i["height"]) for i in document["images"]] == [(1000, 250), (500, 750)]


def test_factor_text_output(tmp_path, cli):
    save(gradient(3360, 2240), tmp_path / "src/a_s001.png")
    result = cli("factor", tmp_path / "src", "--max-size", "1000x1000")
    assert result.exit_code == 0
    assert "factor 0.297619 fits every image in 1000x1000" in result.stdout


def test_factor_bad_box_is_usage_error(tmp_path, cli):
    save(gradient(10, 10), tmp_path / "src/a_s001.png")
    result = cli("factor", tmp_path / "src", "--max-size", "big")
    assert result.exit_code == 2
