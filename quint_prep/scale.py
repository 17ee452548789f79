"""The one factor of a series and the output-size rule.

Rule: an image of w x h pixels downscaled by the series factor F becomes
round(w*F) x round(h*F) pixels (round half up, at least 1). Both sides are rounded from the
same F, so every output keeps its source's proportions to within one pixel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from quint_prep.errors import UsageError

DEFAULT_MAX_SIZE = "14000x10000"
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


@dataclass(frozen=True)
class Size:
    """A width x height in pixels."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def megapixels(self) -> float:
        """Pixel count in millions."""
        return self.width * self.height / 1e6


FACTOR_OPTIONS = ("--factor F", "--max-size WxH")  # how the command line names the two ways
FACTOR_KEYS = ("factor = 0.25", 'max_size = "14000x10000"')  # how a config names them


def one_factor_problem(factor: float | None, max_size: object | None,
                       names: tuple[str, str] = FACTOR_OPTIONS) -> str | None:
    """The one check that a series gets its factor one way, given or computed to fit a box:
    the message (naming the two ``names``) when it gets none or both, else None."""
    if (factor is None) == (max_size is None):
        return f"give exactly one of {names[0]} or {names[1]}"
    return None


def parse_size(text: str) -> Size:
    """Parse ``WxH`` (e.g. ``14000x10000``) into a Size; raise UsageError when it is not one."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise UsageError(f"size {text!r} is not WIDTHxHEIGHT in whole pixels, e.g. 14000x10000")
    return Size(int(match.group(1)), int(match.group(2)))


def check_factor(factor: float) -> float:
    """Return the factor when it is a valid downscale factor (0 < F <= 1), else raise UsageError."""
    if not math.isfinite(factor) or factor <= 0 or factor > 1:
        raise UsageError(
            f"factor {factor} is not in (0, 1]: quint-prep only shrinks (0.25 makes a quarter size)"
        )
    return factor


def scaled_length(length: int, factor: float) -> int:
    """round(length * factor), rounding halves up, never below 1 pixel."""
    return max(1, math.floor(length * factor + 0.5))


def scaled_size(size: Size, factor: float) -> Size:
    """The output size of an image under the series factor (the rule in this module's doc)."""
    return Size(scaled_length(size.width, factor), scaled_length(size.height, factor))


def fit_factor(box: Size, size: Size) -> float:
    """The largest factor (<= 1) that makes one image fit in the box, sides as they are."""
    return min(1.0, needed_factor(box, size))


def needed_factor(box: Size, size: Size) -> float:
    """The factor that makes one image just fit the box, not capped at 1 (above 1: it fits
    with room to spare). The image with the smallest one limits the series factor."""
    return min(box.width / size.width, box.height / size.height)


def series_factor(box: Size, sizes: Iterable[Size]) -> float:
    """The one factor (<= 1) that makes every image of the series fit in the box.

    It is the smallest per-image fit factor, i.e. the one of the image that needs most shrinking.
    Raises UsageError when the series is empty.
    """
    factors = [fit_factor(box, size) for size in sizes]
    if not factors:
        raise UsageError("no images to compute a factor from")
    # w * (box/w) is within one ulp of box, so round(w*F) never exceeds the box.
    return min(factors)


def factor_for_display(factor: float, digits: int = 6) -> float:
    """The factor rounded DOWN to ``digits`` significant digits, so it still fits the box."""
    if factor <= 0:
        return factor
    exponent = digits - 1 - math.floor(math.log10(factor))
    scale = 10 ** exponent
    return math.floor(factor * scale) / scale


@dataclass(frozen=True)
class FactorFit:
    """The factor interval most sizes of a series agree on, and the pairs that disagree.

    ``interval`` is [low, high): every factor in it reproduces every inlier's size by the size
    rule. ``outliers`` are the indices (into the pairs given) whose size implies another factor,
    or whose two sides imply no common factor at all.
    """

    interval: tuple[float, float] | None
    inliers: tuple[int, ...]
    outliers: tuple[int, ...]

    @property
    def factor(self) -> float | None:
        """A representative factor: the middle of the agreed interval."""
        if self.interval is None:
            return None
        return (self.interval[0] + self.interval[1]) / 2


def _side_interval(source: int, output: int, slack: float) -> tuple[float, float]:
    low = 0.0 if output <= 1 else (output - slack) / source
    return max(0.0, low), (output + slack) / source


def factor_interval(source: Size, output: Size, slack: float = 0.5) -> tuple[float, float]:
    """The factors F with round(w*F) == output width and round(h*F) == output height: [low, high).

    With the default slack 0.5 this is the size rule exactly; a slack of 1.0 allows one more
    pixel (for sizes rounded twice, e.g. a registration image and a segmentation both made from
    the original). The interval is empty (low >= high) when no single factor gives both sides:
    the output does not have its source's proportions.
    """
    wl, wh = _side_interval(source.width, output.width, slack)
    hl, hh = _side_interval(source.height, output.height, slack)
    return max(wl, hl), min(wh, hh)


def interval_is_empty(interval: tuple[float, float]) -> bool:
    """True when no factor lies in [low, high) (allowing for float round-off)."""
    low, high = interval
    return low >= high * (1 + 1e-12)


def consistent_factor(pairs: Iterable[tuple[Size, Size]], slack: float = 0.5) -> FactorFit:
    """The one factor of a series of (source, output) sizes, and the outputs that disagree.

    Each pair allows an interval of factors (``factor_interval``). The series factor is the point
    covered by the most intervals (a sweep over the interval ends); pairs whose interval misses
    it are outliers. With every pair consistent the interval is the intersection of them all.
    """
    intervals = [factor_interval(source, output, slack) for source, output in pairs]
    valid = [i for i, interval in enumerate(intervals) if not interval_is_empty(interval)]
    if not valid:
        return FactorFit(None, (), tuple(range(len(intervals))))
    events = sorted([(intervals[i][0], 1) for i in valid] + [(intervals[i][1], -1) for i in valid],
                    key=lambda e: (e[0], e[1]))
    best, depth, best_at = 0, 0, intervals[valid[0]][0]
    for position, step in events:
        depth += step
        if depth > best:
            best, best_at = depth, position
    inliers = tuple(i for i in valid if intervals[i][0] <= best_at < intervals[i][1] * (1 + 1e-12))
    low = max(intervals[i][0] for i in inliers)
    high = min(intervals[i][1] for i in inliers)
    outliers = tuple(i for i in range(len(intervals)) if i not in inliers)
    return FactorFit((low, high), inliers, outliers)


def same_proportions(first: Size, second: Size, tolerance: float = 1.0) -> bool:
    """True when one size is the other scaled by one factor, up to ``tolerance`` px per side.

    Order does not matter: the smaller size is taken as the one rounded from the larger. The
    default tolerance of one pixel allows both to have been rounded from a common original.
    """
    larger, smaller = sorted((first, second), key=lambda s: s.width * s.height, reverse=True)
    low, high = factor_interval(larger, smaller, slack=tolerance)
    return high - low > 1e-12 * high
