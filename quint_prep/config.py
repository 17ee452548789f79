"""Series configs: one TOML file per series records every choice (see configs/example.toml).

Read with the standard library (``tomllib``) into a frozen ``SeriesConfig``. ``resolve()`` is
the one place where values are chosen: command-line options over the config file over the
defaults below. Every problem is reported at once, one ``key: message`` line each, in a single
UsageError naming the file. Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

import difflib
import glob
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from quint_prep import config_values as v
from quint_prep.config_values import RGB, Bad
from quint_prep.downscale.colour_model import ColourModel
from quint_prep.downscale.image import DownscaleSettings, OutputFormat
from quint_prep.errors import QuintPrepError, UsageError
from quint_prep.masks.labels import LabelsTable, label_rule, labels_table, read_labels_table
from quint_prep.masks.select import MaskResample
from quint_prep.masks.sources import SourceKind
from quint_prep.downscale.normalise import DEFAULT_PERCENTILES, Normalisation, parse_normalisation
from quint_prep.orientation import Orientation, OrientationPlan
from quint_prep.registration.series import DEFAULT_REGISTRATION_BOX, RegistrationFormat, RegistrationSettings
from quint_prep.downscale.resample import Method
from quint_prep.scale import FACTOR_KEYS, Size, one_factor_problem
from quint_prep.series import IMAGE_SUFFIXES, UNSUPPORTED_SUFFIXES
from quint_prep.slides import SLIDE_SUFFIXES

# Names the masks command (issue 3) uses for its input kinds and label-safe resampling.
MASK_SOURCES = ("auto", *(kind.value for kind in SourceKind))
MASK_RESAMPLE = tuple(mode.value for mode in MaskResample)
MASKS_FOLDER = "segmentations"  # masks go to OUTPUT/segmentations

DEFAULTS: dict[str, Any] = {
    "format": "png", "quality": 90, "method": "area", "keep_depth": False, "keep_alpha": False, "trim": False,
    "colour": (255, 0, 0), "background": (0, 0, 0), "source": "auto", "labels": None,
    "object_colour": None, "resample": "area", "jobs": None, "memory": None,
    "segmentations": None, "factor": None, "max_size": None,
    # the rest of `downscale`'s options (issue 14): intensity, channels, registration, orientation
    "normalise": "auto", "percentiles": DEFAULT_PERCENTILES, "normalise_from": None, "channel": None,
    "channels": None, "registration": None, "registration_size": DEFAULT_REGISTRATION_BOX,
    "registration_format": "png", "rotate": 0, "flip": None, "orientation": None,
    "colour_model": "auto", "scene": None,
}
# Keys that name files or folders: relative paths are taken from the config file's folder.
PATH_KEYS = ("images", "output", "segmentations", "normalise_from", "registration", "orientation")


@dataclass(frozen=True)
class CheckConfig:
    """The ``[check]`` table: options of the check stage."""

    registration: Path | None = None  # QuickNII / VisuAlign / DeepSlice JSON or QuickNII XML


@dataclass(frozen=True)
class SeriesConfig:
    """One series: where its images are, where results go, and every setting (all resolved)."""

    path: Path  # the config file
    name: str
    images: Path  # a folder, or a glob pattern (absolute)
    output: Path
    factor: float | None
    max_size: Size | None
    format: OutputFormat
    quality: int
    method: Method
    keep_depth: bool
    keep_alpha: bool
    segmentations: Path | None
    colour: RGB
    background: RGB
    source: str
    labels: tuple[int, ...] | None
    object_colour: RGB | None
    resample: str
    jobs: int | None  # None: the stage's default locally, every worker thread on a Dask cluster
    memory: int | None  # bytes
    check: CheckConfig
    normalise: str  # as --normalise: auto, series, image, none, fixed:LO,HI
    percentiles: tuple[float, float]
    normalise_from: Path | None  # a quint-prep.json whose intensity window is reused
    channels: tuple[str, ...] | None  # `channel` (one) or `channels` (three: R, G, B)
    registration: Path | None  # where the registration series (and its XML) goes
    registration_size: Size
    registration_format: RegistrationFormat
    rotate: int  # clockwise degrees, after flip
    flip: str | None  # horizontal or vertical, before rotate
    orientation: Path | None  # per-section CSV: name,rotate,flip
    colour_model: ColourModel = ColourModel.AUTO  # as --colour-model: one model per series
    instance_ids: tuple[int, ...] | None = None  # instance ids kept in instance-label files
    labels_table: LabelsTable = LabelsTable()  # labels per file or tool ([labels] or labels_table)
    trim: bool = False  # cut each image to its tissue box first (downscale --trim)
    scene: int | None = None  # the scene of multi-scene files (CZI) to use (downscale --scene)

    @property
    def masks_output(self) -> Path:
        """Where the masks stage writes the segmentations: OUTPUT/segmentations."""
        return self.output / MASKS_FOLDER

    @property
    def sweep_output(self) -> Path:
        """Where the sweep stage (``make sweep``) writes its trial factors: OUTPUT/sweep."""
        return self.output / "sweep"

    @property
    def images_is_glob(self) -> bool:
        """True when ``images`` is a pattern such as ``scans/mouse12_*.tif``."""
        return glob.has_magic(str(self.images))

    def image_sources(self) -> list[Path]:
        """The sources to read: the images folder, or the image files the pattern matches."""
        if not self.images_is_glob:
            return [self.images]
        matches = [Path(p) for p in sorted(glob.glob(str(self.images)))]
        found = [p for p in matches if p.is_file() and not p.name.startswith(".")
                 and p.suffix.lower() in IMAGE_SUFFIXES | SLIDE_SUFFIXES | set(UNSUPPORTED_SUFFIXES)]
        if not found:
            raise UsageError(f"images: the pattern {self.images} matches no image", self.path)
        return found

    @property
    def normalisation(self) -> Normalisation:
        """How samples become 8 bits (``normalise`` and ``percentiles``)."""
        return parse_normalisation(self.normalise, ",".join(map(str, self.percentiles)))

    @property
    def series_orientation(self) -> Orientation:
        """The orientation of every section not listed in the ``orientation`` CSV."""
        return Orientation(self.rotate, self.flip)

    @property
    def registration_settings(self) -> RegistrationSettings | None:
        """The registration series to make alongside the downscale (None: none asked for)."""
        if self.registration is None:
            return None
        return RegistrationSettings(self.registration, self.registration_size,
                                    self.registration_format, self.quality)

    def downscale_settings(self, factor: float,
                           orientations: OrientationPlan = OrientationPlan()) -> DownscaleSettings:
        """The downscale settings of this series under its (computed) factor and orientations."""
        return DownscaleSettings(factor=factor, format=self.format, quality=self.quality,
                                 method=self.method, keep_depth=self.keep_depth,
                                 keep_alpha=self.keep_alpha, normalisation=self.normalisation,
                                 channels=self.channels, orientations=orientations,
                                 colour_model=self.colour_model)


TOP_LEVEL: dict[str, Callable[[object], Any]] = {
    "name": v.string, "images": v.string, "segmentations": v.string, "output": v.string,
    "factor": v.factor, "max_size": v.size, "format": v.choice(*(f.value for f in OutputFormat)),
    "quality": v.integer(1, 100), "method": v.choice(*(m.value for m in Method)),
    "keep_depth": v.boolean, "keep_alpha": v.boolean, "trim": v.boolean, "colour": v.colour, "background": v.colour,
    "source": v.choice(*MASK_SOURCES), "labels": v.labels, "object_colour": v.colour,
    "resample": v.choice(*MASK_RESAMPLE), "jobs": v.integer(1), "memory": v.memory,
    "normalise": v.normalise, "percentiles": v.percentiles, "normalise_from": v.string,
    "channel": v.channel, "channels": v.channels, "registration": v.string,
    "registration_size": v.size, "registration_format": v.choice(*(f.value for f in RegistrationFormat)),
    "rotate": v.rotate, "flip": v.flip, "orientation": v.string,
    "colour_model": v.choice(*(m.value for m in ColourModel)),
    "instance_ids": v.labels, "labels_table": v.string, "scene": v.integer(0),
}
CHECK_KEYS: dict[str, Callable[[object], Any]] = {"registration": v.string}
REQUIRED = ("name", "images", "output")


def _suggest(key: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else f" (known keys: {', '.join(known)})"


def _check_table(raw: Mapping[str, object], validators: Mapping[str, Callable[[object], Any]],
                 prefix: str, problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in validators:
            problems.append(f"{prefix}{key}: unknown key{_suggest(key, validators)}")
            continue
        try:
            values[key] = validators[key](value)
        except Bad as error:
            problems.append(f"{prefix}{key}: {error}")
    return values


def read_toml(path: Path) -> dict[str, Any]:
    """The config file's content; UsageError when it is missing or not valid TOML."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError("no such config file", path) from None
    except OSError as error:
        raise UsageError(f"cannot read the config: {error.strerror}", path) from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"not valid TOML: {error}", path) from None


def _absolute(text: str, folder: Path) -> Path:
    path = Path(text).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else folder / path))


def _cross_checks(values: dict[str, Any], problems: list[str]) -> None:
    """Problems that involve several keys (each value alone is valid)."""
    for key in REQUIRED:
        if key not in values and not any(p.startswith(f"{key}:") for p in problems):
            problems.append(f"{key}: missing (required)")
    one_factor = one_factor_problem(values.get("factor"), values.get("max_size"), FACTOR_KEYS)
    if one_factor and not any(p.startswith(("factor:", "max_size:")) for p in problems):
        problems.append(f"factor: {one_factor}")
    if values.get("format") == "jpg":
        for key in ("keep_depth", "keep_alpha"):
            if values.get(key):
                problems.append(f"{key}: JPEG holds neither 16 bits nor alpha: "
                                "set it to false or choose format png or tif")
    if values.get("labels") is not None and values.get("object_colour") is not None:
        problems.append("labels: give labels or object_colour, not both")
    colour = values.get("colour", DEFAULTS["colour"])
    if colour == values.get("background", DEFAULTS["background"]):
        key = "colour" if "colour" in values else "background"
        problems.append(f"{key}: objects and background would both be {colour}")
    if values.get("channel") is not None and values.get("channels") is not None:
        problems.append("channel: give channel (one) or channels (three), not both")
    for key in ("registration_size", "registration_format"):
        if key in values and values.get("registration") is None:
            problems.append(f'{key}: only used with registration = "DIR" (the folder the '
                            "registration series is written to)")


def _path_checks(config: dict[str, Any], problems: list[str]) -> None:
    images = config["images"]
    folder = images.parent if glob.has_magic(str(images)) else images
    for target in ("output", "registration"):
        written = config[target]
        for key in ("images", "segmentations"):
            source = folder if key == "images" else config["segmentations"]
            if written is not None and source is not None and (
                    written == source or source in written.parents):
                problems.append(f"{target}: {written} is or lies inside the {key} folder "
                                f"{source}; choose a folder outside it")
    if config["registration"] is not None and config["registration"] == config["output"]:
        problems.append("registration: must differ from output (both series keep the same "
                        "file names): e.g. registration = \"../registration\"")
    for key in ("orientation", "normalise_from"):
        if config[key] is not None and not config[key].is_file():
            problems.append(f"{key}: no such file {config[key]}")


def _refuse(problems: list[str], path: Path) -> None:
    """One UsageError that lists every problem (none: nothing to refuse)."""
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise UsageError(f"invalid config ({count}):\n" + "\n".join(f"  {p}" for p in problems),
                         path)


def resolve(path: Path, cli: Mapping[str, object] | None = None) -> SeriesConfig:
    """Read a series config and choose every value: CLI options (``cli``, None = not given)
    over the file over DEFAULTS. Raises one UsageError listing every problem."""
    path = Path(path)
    document = read_toml(path)
    problems: list[str] = []
    table = document.pop("check", {})
    per_file = document.pop("labels") if isinstance(document.get("labels"), dict) else None
    values = _check_table(document, TOP_LEVEL, "", problems)
    if not isinstance(table, dict):
        problems.append(f"check: must be a table ([check]), not {v.kind(table)}")
        table = {}
    check = _check_table(table, CHECK_KEYS, "check.", problems)
    given = {key: value for key, value in (cli or {}).items() if value is not None}
    values.update(_check_table(given, TOP_LEVEL, "--", problems))
    _cross_checks(values, problems)
    rows = _labels_rows(per_file, problems)
    if rows is not None and "labels_table" in values:
        problems.append("labels_table: give a [labels] table or labels_table = \"FILE.csv\", not both")
    _refuse(problems, path)
    folder = path.parent.absolute()
    config = {**DEFAULTS, **values}
    for key in PATH_KEYS:
        if config[key] is not None:
            config[key] = _absolute(config[key], folder)
    _path_checks(config, problems)
    _refuse(problems, path)
    registration = check.get("registration")
    table = rows if rows is not None else _labels_csv(values.get("labels_table"), folder, path)
    return _series_config(path, config, CheckConfig(
        registration=_absolute(registration, folder) if registration else None), table)


def _series_config(path: Path, config: dict[str, Any], check: CheckConfig,
                   table: LabelsTable) -> SeriesConfig:
    """The frozen config from the checked values (with DEFAULTS filled in)."""
    return SeriesConfig(
        path=path, name=config["name"], images=config["images"], output=config["output"],
        factor=config["factor"], max_size=config["max_size"],
        format=OutputFormat(config["format"]), quality=config["quality"],
        method=Method(config["method"]), keep_depth=config["keep_depth"],
        keep_alpha=config["keep_alpha"], segmentations=config["segmentations"],
        colour=config["colour"], background=config["background"], source=config["source"],
        labels=config["labels"], object_colour=config["object_colour"],
        resample=config["resample"], jobs=config["jobs"], memory=config["memory"], check=check,
        normalise=config["normalise"], percentiles=config["percentiles"],
        normalise_from=config["normalise_from"],
        channels=config["channel"] or config["channels"], registration=config["registration"],
        registration_size=config["registration_size"],
        registration_format=RegistrationFormat(config["registration_format"]),
        rotate=config["rotate"], flip=config["flip"], orientation=config["orientation"],
        colour_model=ColourModel(config["colour_model"]),
        instance_ids=config.get("instance_ids"), labels_table=table, trim=config["trim"],
        scene=config["scene"])


def _labels_rows(table: dict | None, problems: list[str]) -> LabelsTable | None:
    """The ``[labels]`` table (``"name" = "2"`` rows, see masks.labels), problems listed."""
    if table is None:
        return None
    rows = []
    for name, value in table.items():
        try:
            rows.append(label_rule(name, value, f"labels.{name}"))
        except QuintPrepError as error:
            problems.append(error.message)
    try:
        return labels_table(rows)
    except QuintPrepError as error:
        problems.append(error.message)
        return None


def _labels_csv(text: str | None, folder: Path, config: Path) -> LabelsTable:
    """The ``labels_table = "FILE.csv"`` CSV (relative to the config's folder)."""
    if text is None:
        return LabelsTable()
    try:
        return read_labels_table(_absolute(text, folder))
    except QuintPrepError as error:
        _refuse([f"labels_table: {error}"], config)
        raise
