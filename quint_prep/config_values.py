"""One validator per kind of config value: each takes the TOML value and returns the parsed
value or raises ``Bad`` with a message that ``config`` prefixes with the key (``quality: 101
is not between 1 and 100``). Parsing reuses the command line's parsers, so a config accepts
exactly what the matching option accepts."""

from __future__ import annotations

import math
from typing import Any, Callable

from quint_prep.masks.colours import parse_rgb
from quint_prep.errors import QuintPrepError
from quint_prep.masks.select import parse_labels
from quint_prep.downscale.normalise import parse_channels, parse_normalisation
from quint_prep.orientation import FLIPS, ROTATIONS, parse_flip, parse_rotate
from quint_prep.parallel import parse_memory
from quint_prep.scale import Size, parse_size

RGB = tuple[int, int, int]
Validator = Callable[[object], Any]


class Bad(Exception):
    """A value is wrong: the message says how (the key is added by the caller)."""


def kind(value: object) -> str:
    """How a TOML value is called in messages: 'a string', 'an integer', ..."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def string(value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise Bad(f"must be a string, not {kind(value)}")
    if not value.strip():
        raise Bad("must not be empty")
    return value


def choice(*choices: str) -> Validator:
    """One of these strings."""
    def check(value: object) -> str:
        if string(value) not in choices:
            raise Bad(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)
    return check


def integer(low: int, high: int | None = None) -> Validator:
    """An integer in [low, high]."""
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(f"must be an integer, not {kind(value)}")
        if value < low or (high is not None and value > high):
            raise Bad(f"{value} is not between {low} and {high}" if high is not None
                      else f"{value} is less than {low}")
        return value
    return check


def boolean(value: object) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise Bad(f"must be true or false, not {kind(value)}")
    return value


def factor(value: object) -> float:
    """A downscale factor 0 < F <= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(f"must be a number, not {kind(value)}")
    if not math.isfinite(value) or not 0 < value <= 1:
        raise Bad(f"{value} is not in (0, 1]: quint-prep only shrinks (0.25 = quarter size)")
    return float(value)


def _parsed(parse: Callable[[str], Any], text: str, flag: str = "") -> Any:
    """Run a command-line parser; its message loses the flag name (the caller names the key)."""
    try:
        return parse(text)
    except QuintPrepError as error:
        message = error.message
        for prefix in (f"{flag}: ", f"{flag} "):
            if flag and message.startswith(prefix):
                message = message[len(prefix):]
        raise Bad(message) from None


def size(value: object) -> Size:
    """A box WIDTHxHEIGHT such as "14000x10000"."""
    return _parsed(parse_size, string(value))


def memory(value: object) -> int:
    """A memory size such as "8G", in bytes."""
    return _parsed(parse_memory, string(value))


def colour(value: object) -> RGB:
    """An RGB colour: "255,0,0" or [255, 0, 0], read as the command line reads it."""
    if not isinstance(value, str) and not (isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise Bad(f'must be an RGB colour: "255,0,0" or [255, 0, 0], not {kind(value)}')
    try:
        return parse_rgb(value)  # type: ignore[arg-type]
    except ValueError as error:
        raise Bad(str(error)) from None


def labels(value: object) -> tuple[int, ...]:
    """Label values >= 0 in the one syntax of --labels: "2,3", "2-5", 2 or [2, 3]."""
    if isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        text = ",".join(map(str, value))
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
    else:
        raise Bad(f'must be label values: "2,3", "2-5" or [2, 3], not {kind(value)}')
    try:
        return parse_labels(text)
    except ValueError as error:
        raise Bad(str(error)) from None


def normalise(value: object) -> str:
    """An intensity mode as ``--normalise`` takes it: auto, series, image, none, fixed:LO,HI."""
    text = string(value).strip()
    _parsed(parse_normalisation, text, "--normalise")
    return text


def percentiles(value: object) -> tuple[float, float]:
    """Two percentiles LOW,HIGH: [0.1, 99.9] or "0.1,99.9"."""
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in value):
            raise Bad(f"{value!r} is not two numbers [LOW, HIGH], e.g. [0.1, 99.9]")
        text = f"{value[0]},{value[1]}"
    else:
        text = string(value)
    parsed = _parsed(lambda t: parse_normalisation("auto", t), text, "--percentiles")
    return parsed.percentiles


def channel(value: object) -> tuple[str]:
    """One channel: its 0-based index or its OME channel name."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise Bad(f"{value} is less than 0 (channels are numbered from 0)")
        return (str(value),)
    if "," in string(value):
        raise Bad(f"{value!r} is not one channel; for three give channels = [2, 1, 0]")
    return (_parsed(parse_channels, str(value), "channels")[0],)


def channels(value: object) -> tuple[str, str, str]:
    """Three channels mapped to red, green, blue: [2, 1, 0], "2,1,0" or names."""
    if isinstance(value, list):
        if not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value):
            raise Bad(f"{value!r}: give channel indices (from 0) or OME channel names")
        value = ",".join(str(v) for v in value)
    if len(string(value).split(",")) != 3:
        raise Bad(f"{value!r} is not three channels (red, green, blue), e.g. [2, 1, 0]; "
                  "for one channel give channel = N")
    picked = _parsed(parse_channels, str(value), "channels")
    return (picked[0], picked[1], picked[2])


def rotate(value: object) -> int:
    """A clockwise rotation in degrees: 0, 90, 180 or 270."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Bad(f"must be one of {', '.join(map(str, ROTATIONS))}, not {kind(value)}")
    return _parsed(parse_rotate, str(value), "--rotate")


def flip(value: object) -> str | None:
    """A mirror: horizontal, vertical or none."""
    if string(value).strip().lower() not in (*FLIPS, "none"):
        raise Bad(f"{value!r} is not one of {', '.join(FLIPS)}, none")
    return _parsed(parse_flip, str(value), "--flip")
