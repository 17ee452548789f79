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

from .errors import UsageError

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
    return min(1.0, box.width / size.width, box.height / size.height)


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


def common_factor_range(source: Size, target: Size, tolerance: float = 1.0) -> tuple[float, float] | None:
    """The factors F for which both sides of ``target`` are within ``tolerance`` px of source*F.

    None when no single factor fits both sides, i.e. the proportions differ by more than the
    rounding of one consistent factor (one pixel per side by default: either size may have been
    rounded from a common original).
    """
    low = max((target.width - tolerance) / source.width, (target.height - tolerance) / source.height)
    high = min((target.width + tolerance) / source.width, (target.height + tolerance) / source.height)
    if high <= low or high <= 0:
        return None
    return max(low, 0.0), high


def same_proportions(source: Size, target: Size, tolerance: float = 1.0) -> bool:
    """True when ``target`` is ``source`` scaled by one factor, up to the rounding tolerance."""
    return common_factor_range(source, target, tolerance) is not None
