"""Series configs: one TOML file per series records every choice (see configs/example.toml).

Read with the standard library (``tomllib``) into a frozen ``SeriesConfig``. ``resolve()`` is
the one place where values are chosen: command-line options over the config file over the
defaults below. Every problem is reported at once, one ``key: message`` line each, in a single
UsageError naming the file. Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

import difflib
import glob
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .downscale import DownscaleSettings, OutputFormat
from .errors import QuintPrepError, UsageError
from .parallel import parse_memory
from .masks_labels import LabelsTable, label_rule, labels_table, read_labels_table
from .masks_select import MaskResample, parse_labels
from .masks_sources import SourceKind
from .resample import Method
from .scale import Size, parse_size
from .series import IMAGE_SUFFIXES, UNSUPPORTED_SUFFIXES

RGB = tuple[int, int, int]
# Names the masks command (issue 3) uses for its input kinds and label-safe resampling.
MASK_SOURCES = ("auto", *(kind.value for kind in SourceKind))
MASK_RESAMPLE = tuple(mode.value for mode in MaskResample)
MASKS_FOLDER = "segmentations"  # masks go to OUTPUT/segmentations

DEFAULTS: dict[str, Any] = {
    "format": "png", "quality": 90, "method": "area", "keep_depth": False, "keep_alpha": False,
    "colour": (255, 0, 0), "background": (0, 0, 0), "source": "auto", "labels": None,
    "object_colour": None, "resample": "area", "jobs": None, "memory": None,
    "segmentations": None, "factor": None, "max_size": None,
}


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
    jobs: int | None  # None: 1 locally, every worker thread on a Dask cluster
    memory: int | None  # bytes
    check: CheckConfig
    instance_ids: tuple[int, ...] | None = None  # instance ids kept in instance-label files
    labels_table: LabelsTable = LabelsTable()  # labels per file or tool ([labels] or labels_table)

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
                 and p.suffix.lower() in IMAGE_SUFFIXES | set(UNSUPPORTED_SUFFIXES)]
        if not found:
            raise UsageError(f"images: the pattern {self.images} matches no image", self.path)
        return found

    def downscale_settings(self, factor: float) -> DownscaleSettings:
        """The downscale settings of this series under its (computed) factor."""
        return DownscaleSettings(factor=factor, format=self.format, quality=self.quality,
                                 method=self.method, keep_depth=self.keep_depth,
                                 keep_alpha=self.keep_alpha)


class _Bad(Exception):
    """A value is wrong: the message says how (the key is added by the caller)."""


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be a string, not {_kind(value)}")
    if not value.strip():
        raise _Bad("must not be empty")
    return value


def _choice(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if _string(value) not in choices:
            raise _Bad(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)
    return check


def _integer(low: int, high: int | None = None) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"must be an integer, not {_kind(value)}")
        if value < low or (high is not None and value > high):
            raise _Bad(f"{value} is not between {low} and {high}" if high is not None
                       else f"{value} is less than {low}")
        return value
    return check


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, not {_kind(value)}")
    return value


def _factor(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"must be a number, not {_kind(value)}")
    if not math.isfinite(value) or not 0 < value <= 1:
        raise _Bad(f"{value} is not in (0, 1]: quint-prep only shrinks (0.25 = quarter size)")
    return float(value)


def _size(value: object) -> Size:
    try:
        return parse_size(_string(value))
    except QuintPrepError as error:
        raise _Bad(error.message) from None


def _memory(value: object) -> int:
    try:
        return parse_memory(_string(value))
    except QuintPrepError as error:
        raise _Bad(error.message) from None


def _numbers(value: object, what: str) -> list[int]:
    if isinstance(value, str):
        try:
            return [int(part) for part in value.split(",")]
        except ValueError:
            raise _Bad(f"{value!r} is not {what}") from None
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise _Bad(f"must be {what}, not {_kind(value)}")


def _colour(value: object) -> RGB:
    numbers = _numbers(value, 'an RGB colour: "255,0,0" or [255, 0, 0]')
    if len(numbers) != 3 or not all(0 <= n <= 255 for n in numbers):
        raise _Bad(f"{value!r} is not three numbers 0-255 (R, G, B)")
    return (numbers[0], numbers[1], numbers[2])


def _labels(value: object) -> tuple[int, ...]:
    numbers = _numbers(value, 'label values: [2, 3] or "2,3"')
    if not numbers or any(n < 0 for n in numbers) or len(set(numbers)) != len(numbers):
        raise _Bad(f"{value!r}: give one or more distinct label values >= 0")
    return tuple(numbers)


def _label_values(value: object) -> tuple[int, ...]:
    text = ",".join(map(str, value)) if isinstance(value, list) else value
    if not isinstance(text, (str, int)) or isinstance(text, bool):
        raise _Bad(f'must be label values: "2-5" or [2, 3], not {_kind(value)}')
    try:
        return parse_labels(str(text))
    except ValueError as error:
        raise _Bad(str(error)) from None


TOP_LEVEL: dict[str, Callable[[object], Any]] = {
    "name": _string, "images": _string, "segmentations": _string, "output": _string,
    "factor": _factor, "max_size": _size, "format": _choice(*(f.value for f in OutputFormat)),
    "quality": _integer(1, 100), "method": _choice(*(m.value for m in Method)),
    "keep_depth": _boolean, "keep_alpha": _boolean, "colour": _colour, "background": _colour,
    "source": _choice(*MASK_SOURCES), "labels": _labels, "object_colour": _colour,
    "resample": _choice(*MASK_RESAMPLE), "jobs": _integer(1), "memory": _memory,
    "instance_ids": _label_values, "labels_table": _string,
}
CHECK_KEYS: dict[str, Callable[[object], Any]] = {"registration": _string}
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
        except _Bad as error:
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
    if values.get("factor") is not None and values.get("max_size") is not None:
        problems.append("factor: give factor or max_size, not both")
    elif "factor" not in values and "max_size" not in values and not any(
            p.startswith(("factor:", "max_size:")) for p in problems):
        problems.append('factor: missing: give factor = 0.25 or max_size = "14000x10000"')
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


def _path_checks(config: dict[str, Any], problems: list[str]) -> None:
    images = config["images"]
    folder = images.parent if glob.has_magic(str(images)) else images
    output = config["output"]
    for key in ("images", "segmentations"):
        source = folder if key == "images" else config["segmentations"]
        if source is not None and (output == source or source in output.parents):
            problems.append(f"output: {output} is or lies inside the {key} folder {source}; "
                            "choose a folder outside it")


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
        problems.append(f"check: must be a table ([check]), not {_kind(table)}")
        table = {}
    check = _check_table(table, CHECK_KEYS, "check.", problems)
    given = {k: v for k, v in (cli or {}).items() if v is not None}
    values.update(_check_table(given, TOP_LEVEL, "--", problems))
    _cross_checks(values, problems)
    rows = _labels_rows(per_file, problems)
    if rows is not None and "labels_table" in values:
        problems.append("labels_table: give a [labels] table or labels_table = \"FILE.csv\", not both")
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise UsageError(f"invalid config ({count}):\n" + "\n".join(f"  {p}" for p in problems),
                         path)
    folder = path.parent.absolute()
    config = {**DEFAULTS, **values}
    for key in ("images", "output", "segmentations"):
        if config[key] is not None:
            config[key] = _absolute(config[key], folder)
    _path_checks(config, problems)
    if problems:
        raise UsageError("invalid config:\n" + "\n".join(f"  {p}" for p in problems), path)
    registration = check.get("registration")
    table = rows if rows is not None else _labels_csv(values.get("labels_table"), folder, path)
    return SeriesConfig(
        path=path, name=config["name"], images=config["images"], output=config["output"],
        factor=config["factor"], max_size=config["max_size"],
        format=OutputFormat(config["format"]), quality=config["quality"],
        method=Method(config["method"]), keep_depth=config["keep_depth"],
        keep_alpha=config["keep_alpha"], segmentations=config["segmentations"],
        colour=config["colour"], background=config["background"], source=config["source"],
        labels=config["labels"], object_colour=config["object_colour"],
        resample=config["resample"], jobs=config["jobs"], memory=config["memory"],
        check=CheckConfig(registration=_absolute(registration, folder) if registration else None),
        instance_ids=config.get("instance_ids"), labels_table=table)


def _labels_rows(table: dict | None, problems: list[str]) -> LabelsTable | None:
    """The ``[labels]`` table (``"name" = "2"`` rows, see masks_labels), problems listed."""
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
        raise UsageError(f"invalid config:\n  labels_table: {error}", config) from None
