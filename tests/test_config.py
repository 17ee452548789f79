from pathlib import Path

import pytest

from quint_prep.config import resolve
from quint_prep.downscale.image import OutputFormat
from quint_prep.errors import UsageError
from quint_prep.downscale.resample import Method
from quint_prep.scale import Size

EXAMPLE = Path(__file__).resolve().parent.parent / "configs" / "example.toml"
MINIMAL = 'name = "m12"\nimages = "scans"\noutput = "prepared"\nfactor = 0.25\n'


def write(tmp_path: Path, text: str, name: str = "series.toml") -> Path:
    path = tmp_path / "configs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_example_config_is_valid_and_documents_every_key():
    config = resolve(EXAMPLE)
    assert config.name == "demo"
    assert config.max_size == Size(1500, 1000) and config.factor is None
    assert config.images == EXAMPLE.parent.parent / "demo" / "series"
    text = EXAMPLE.read_text()
    from quint_prep.config import CHECK_KEYS, TOP_LEVEL
    for key in [*TOP_LEVEL, *CHECK_KEYS]:
        assert f"\n{key} =" in text or f"\n# {key} =" in text, key


def test_minimal_config_gets_defaults_and_paths_from_its_folder(tmp_path):
    config = resolve(write(tmp_path, MINIMAL))
    assert config.images == tmp_path / "configs" / "scans"
    assert config.output == tmp_path / "configs" / "prepared"
    assert config.masks_output == tmp_path / "configs" / "prepared" / "segmentations"
    assert (config.format, config.method, config.quality) == (OutputFormat.PNG, Method.AREA, 90)
    assert (config.colour, config.background, config.source, config.resample) == (
        (255, 0, 0), (0, 0, 0), "auto", "area")
    assert config.jobs is None and config.memory is None and config.segmentations is None
    assert config.check.registration is None


def test_every_key_is_read(tmp_path):
    config = resolve(write(tmp_path, """
name = "m12"
images = "/data/scans/m12_*.tif"
segmentations = "../ilastik"
output = "~/prepared"
max_size = "14000x10000"
format = "tif"
quality = 80
method = "lanczos3"
keep_depth = true
keep_alpha = true
colour = "0,255,0"
background = [255, 255, 255]
source = "ilastik"
labels = "2,3"
resample = "any"
jobs = 3
memory = "1.5G"
[check]
registration = "reg.json"
"""))
    assert config.images == Path("/data/scans/m12_*.tif") and config.images_is_glob
    assert config.segmentations == tmp_path / "ilastik"
    assert config.output == Path.home() / "prepared"
    assert (config.max_size, config.format, config.quality, config.method) == (
        Size(14000, 10000), OutputFormat.TIF, 80, Method.LANCZOS3)
    assert (config.keep_depth, config.keep_alpha) == (True, True)
    assert (config.colour, config.background) == ((0, 255, 0), (255, 255, 255))
    assert (config.source, config.labels, config.resample) == ("ilastik", (2, 3), "any")
    assert (config.jobs, config.memory) == (3, int(1.5 * 1024**3))
    assert config.check.registration == tmp_path / "configs" / "reg.json"
    settings = config.downscale_settings(0.5)
    assert (settings.factor, settings.format, settings.keep_depth) == (0.5, OutputFormat.TIF, True)


def test_command_line_overrides_config_overrides_defaults(tmp_path):
    path = write(tmp_path, MINIMAL + "jobs = 2\n")
    assert resolve(path).jobs == 2
    assert resolve(path, {"jobs": 4, "memory": None}).jobs == 4
    assert resolve(path, {"memory": "512M"}).memory == 512 * 1024**2
    assert resolve(write(tmp_path, MINIMAL, "other.toml")).jobs is None


BAD = {
    "unknown-key": ('maxsize = "10x10"', "maxsize: unknown key (did you mean max_size?)"),
    "unknown-key-far": ("zzz = 1", "zzz: unknown key (known keys: name, images"),
    "wrong-type": ("jobs = \"two\"", "jobs: must be an integer, not a string"),
    "bool-is-not-number": ("quality = true", "quality: must be an integer, not a boolean"),
    "quality-range": ("quality = 101", "quality: 101 is not between 1 and 100"),
    "jobs-zero": ("jobs = 0", "jobs: 0 is less than 1"),
    "format": ('format = "gif"', "format: 'gif' is not one of png, jpg, tif"),
    "method": ('method = "cubic"', "method: 'cubic' is not one of area, lanczos3"),
    "source": ('source = "photoshop"', "source: 'photoshop' is not one of auto, ilastik"),
    "resample": ('resample = "bilinear"', "resample: 'bilinear' is not one of area, any, nearest"),
    "colour-range": ("colour = [256, 0, 0]", "colour: [256, 0, 0] is not R,G,B with three numbers 0-255"),
    "colour-text": ('colour = "red"', "colour: 'red' is not R,G,B with three numbers 0-255"),
    "colour-same": ("background = [255, 0, 0]", "background: objects and background would both be"),
    "labels-empty": ("labels = []", "labels: '' is not a list of label values like 2,3 or 2-4"),
    "labels-both": ('labels = [1]\nobject_colour = "0,0,255"', "labels: give labels or object_colour, not both"),
    "memory": ('memory = "lots"', "memory: memory 'lots' is not a size such as 8G"),
    "keep-alpha-jpg": ('format = "jpg"\nkeep_alpha = true', "keep_alpha: JPEG holds neither"),
    "empty-string": ('segmentations = " "', "segmentations: must not be empty"),
    "check-not-table": ("check = 3", "check: must be a table ([check]), not an integer"),
    "check-unknown": ("[check]\nregistratoin = 'r.json'", "check.registratoin: unknown key (did you mean registration?)"),
}
BAD.update({  # the keys of the other downscale options (issue 14)
    "normalise": ('normalise = "loud"', "normalise: 'loud' is not one of series, image, none, fixed:LO,HI"),
    "normalise-fixed": ('normalise = "fixed:9,1"', "normalise: 'fixed:9,1': LO must be below HI"),
    "percentiles": ("percentiles = [99, 1]", "percentiles: '99,1': need 0 <= LOW < HIGH <= 100"),
    "percentiles-three": ("percentiles = [1, 2, 3]", "percentiles: [1, 2, 3] is not two numbers"),
    "channel-three": ('channel = "2,1,0"', "channel: '2,1,0' is not one channel; for three give channels"),
    "channel-negative": ("channel = -1", "channel: -1 is less than 0"),
    "channels-two": ("channels = [1, 0]", "channels: '1,0' is not three channels (red, green, blue)"),
    "channel-and-channels": ("channel = 1\nchannels = [2, 1, 0]", "channel: give channel (one) or channels (three), not both"),
    "rotate": ("rotate = 45", "rotate: rotation '45' is not 0, 90, 180 or 270 (degrees clockwise)"),
    "rotate-type": ("rotate = 9.0", "rotate: must be one of 0, 90, 180, 270, not a number"),
    "flip": ('flip = "diagonal"', "flip: 'diagonal' is not one of horizontal, vertical, none"),
    "registration-size": ('registration = "../reg"\nregistration_size = "big"', "registration_size: size 'big' is not WIDTHxHEIGHT"),
    "registration-format": ('registration = "../reg"\nregistration_format = "tif"', "registration_format: 'tif' is not one of png, jpg"),
    "registration-size-alone": ('registration_size = "800x600"', 'registration_size: only used with registration = "DIR"'),
    "registration-is-output": ('registration = "prepared"', "registration: must differ from output"),
    "registration-in-images": ('registration = "scans/reg"', "scans/reg is or lies inside the images folder"),
    "orientation-missing": ('orientation = "turns.csv"', "orientation: no such file "),
    "normalise-from-missing": ('normalise_from = "x/quint-prep.json"', "normalise_from: no such file "),
})


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_value_names_key_and_file(tmp_path, case):
    extra, message = BAD[case]
    path = write(tmp_path, MINIMAL + extra + "\n")
    with pytest.raises(UsageError) as caught:
        resolve(path)
    assert caught.value.path == path
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: invalid config (1 problem):\n  ")


@pytest.mark.parametrize("text, message", [
    ('name = "x"\nimages = "a"\noutput = "b"\n',
     'factor: give exactly one of factor = 0.25 or max_size = "14000x10000"'),
    (MINIMAL + 'max_size = "10x10"\n',
     'factor: give exactly one of factor = 0.25 or max_size = "14000x10000"'),
    (MINIMAL.replace("0.25", "1.5"), "factor: 1.5 is not in (0, 1]"),
    (MINIMAL.replace("0.25", '"0.25"'), "factor: must be a number, not a string"),
    (MINIMAL.replace("factor = 0.25", 'max_size = "big"'), "max_size: size 'big' is not WIDTHxHEIGHT"),
    ('images = "a"\noutput = "b"\nfactor = 0.5\n', "name: missing (required)"),
], ids=["no-factor", "both", "enlarge", "factor-text", "max-size", "no-name"])
def test_factor_and_required_keys(tmp_path, text, message):
    with pytest.raises(UsageError, match="invalid config") as caught:
        resolve(write(tmp_path, text))
    assert message in str(caught.value)


def test_every_problem_is_listed_at_once(tmp_path):
    path = write(tmp_path, 'images = 3\nfactor = 2\nformat = "bmp"\njobs = -1\ncolor = "1,2,3"\n')
    with pytest.raises(UsageError) as caught:
        resolve(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: invalid config (7 problems):"
    assert sorted(line.strip().split(":")[0] for line in lines[1:]) == [
        "color", "factor", "format", "images", "jobs", "name", "output"]


def test_command_line_problems_name_the_option(tmp_path):
    with pytest.raises(UsageError, match="--memory: memory 'x' is not a size"):
        resolve(write(tmp_path, MINIMAL), {"memory": "x"})


def test_output_inside_the_images_folder_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace('"prepared"', '"scans/out"'))
    with pytest.raises(UsageError, match=r"output: .*scans/out is or lies inside the images folder"):
        resolve(path)


@pytest.mark.parametrize("text, message", [(None, "no such config file"),
                                           ("name = \n", "not valid TOML")], ids=["missing", "syntax"])
def test_unreadable_config(tmp_path, text, message):
    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=message):
        resolve(path)


def test_glob_matches_images_only(tmp_path, make_image):
    make_image("scans/a_s001.png")
    make_image("scans/b_s002.tif")
    (tmp_path / "scans/notes.txt").write_text("x")
    (tmp_path / "scans/.a_s003.png").write_bytes(b"")
    path = write(tmp_path, MINIMAL.replace('"scans"', '"../scans/*_s00*"'))
    assert [p.name for p in resolve(path).image_sources()] == ["a_s001.png", "b_s002.tif"]
    empty = write(tmp_path, MINIMAL.replace('"scans"', '"../scans/*.jpg"'), "empty.toml")
    with pytest.raises(UsageError, match="images: the pattern .* matches no image"):
        resolve(empty).image_sources()


# --- every downscale option has its config key (issue 14) ----------------------------------

# Options of `downscale` that are deliberately not config keys, and why.
CLI_ONLY = {
    "--overwrite": "an action of one run, not a setting of the series: `run --overwrite`",
    "--scheduler": "a cluster address of one run; the config's jobs/memory describe this machine",
    "--quiet": "terminal output of one run",
    "--json": "terminal output of one run",
    "--wait": "how one run meets another in its folder: `run --wait`",
}
# Options whose config key is not simply the flag with `_` for `-`.
RENAMED = {"sources": "images"}  # the positional SOURCES are the config's `images`


def test_every_downscale_option_has_a_config_key():
    import typer.main

    from quint_prep.cli import app
    from quint_prep.config import TOP_LEVEL

    command = typer.main.get_command(app).commands["downscale"]  # type: ignore[attr-defined]
    missing = []
    for param in command.params:
        longest = max(param.opts, key=len)
        if longest in CLI_ONLY:
            continue
        key = RENAMED.get(param.name) or longest.lstrip("-").replace("-", "_")
        if key not in TOP_LEVEL:
            missing.append(f"{longest} (config key {key})")
    assert not missing, "downscale options without a config key: " + ", ".join(missing)
    assert set(CLI_ONLY) <= {opt for p in command.params for opt in p.opts}, "stale CLI_ONLY"


def test_downscale_keys_are_read(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "turns.csv").write_text("name,rotate,flip\n")
    (tmp_path / "other.json").write_text("{}")
    config = resolve(write(tmp_path, MINIMAL + """
normalise = "fixed:0,4095"
percentiles = "1,99"
normalise_from = "../other.json"
channels = ["Cy5", 1, 0]
registration = "../registration"
registration_size = "1000x800"
registration_format = "jpg"
quality = 75
rotate = "270"
flip = "Vertical"
orientation = "turns.csv"
"""))
    assert (config.normalise, config.percentiles) == ("fixed:0,4095", (1.0, 99.0))
    assert config.normalisation.fixed is not None and config.normalisation.percentiles == (1, 99)
    assert config.normalise_from == tmp_path / "other.json"
    assert config.channels == ("Cy5", "1", "0")
    assert config.registration_settings.to_json() == {
        "folder": str(tmp_path / "registration"), "max_size": "1000x800", "format": "jpg"}
    assert config.registration_settings.quality == 75
    assert (config.rotate, config.flip) == (270, "vertical")
    assert config.orientation == tmp_path / "configs" / "turns.csv"
    settings = config.downscale_settings(0.5)
    assert settings.channels == ("Cy5", "1", "0") and settings.normalisation.mode == "fixed"
    plain = resolve(write(tmp_path, MINIMAL + "channel = 2\nflip = 'none'\n", "plain.toml"))
    assert (plain.channels, plain.flip, plain.rotate, plain.registration_settings) == (
        ("2",), None, 0, None)
    assert (plain.normalise, plain.percentiles, plain.orientation) == ("auto", (0.1, 99.9), None)


@pytest.mark.parametrize("value", ['"2-4"', '"2,3,4"', "[2, 3, 4]"], ids=["range", "text", "array"])
def test_labels_take_the_syntax_of_the_command_line(tmp_path, value):
    """One label syntax: the config takes what --labels takes, ranges included."""
    config = resolve(write(tmp_path, f'name = "m"\nimages = "scans"\noutput = "out"\nfactor = 0.5\n'
                                     f'labels = {value}\ninstance_ids = {value}\n'))
    assert config.labels == config.instance_ids == (2, 3, 4)
