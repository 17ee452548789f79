"""Series-consistent intensity windows: 16-bit (and float) sections to 8 bits on ONE scale.

A window maps each channel's [low, high] linearly onto [0, 255] with clipping. ``series`` takes
the low/high percentiles of the summed histograms of every image of the series (so the same
tissue value gives the same 8-bit value in every section); ``image`` takes them per image;
``fixed`` takes them from the user; a window can also be read back from a manifest.

Histograms are computed by libvips (``hist_find``, streamed) from the smallest stored pyramid
level with at least ``HISTOGRAM_MIN_PIXELS`` pixels, or from full resolution when there is no
pyramid; numpy only sees the histograms (at most 65536 bins per channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyvips

from quint_prep.choices import DEFAULT_PERCENTILES, DEFAULT_PERCENTILES_TEXT  # light: for --help
from quint_prep.errors import InputError, UsageError
from quint_prep.manifest import read_manifest
from quint_prep.slides.tiffstream import stream_error
from quint_prep.series import ImageInfo, channel_names, level_options, open_source, vips_reason

HISTOGRAM_MIN_PIXELS = 2_000_000
MODES = ("auto", "series", "image", "none", "fixed")


@dataclass(frozen=True)
class Window:
    """Per-channel intensity window: ``low[i]`` maps to 0 and ``high[i]`` to 255."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def to_json(self) -> dict:
        """JSON form, as recorded in the manifest."""
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_json(cls, document: dict) -> "Window":
        """Read the JSON form back; raise UsageError when it is malformed."""
        try:
            low = tuple(float(v) for v in document["low"])
            high = tuple(float(v) for v in document["high"])
        except (KeyError, TypeError, ValueError) as error:
            raise UsageError(f"malformed intensity window {document!r}") from error
        return cls(low, high)

    def for_bands(self, bands: int) -> "Window":
        """The window stretched to ``bands`` channels (a one-channel window applies to all)."""
        if len(self.low) == bands:
            return self
        if len(self.low) == 1:
            return Window(self.low * bands, self.high * bands)
        raise UsageError(f"the intensity window has {len(self.low)} channels, the image {bands}")


@dataclass(frozen=True)
class Normalisation:
    """How samples become 8 bits: mode, percentiles, and the window for ``fixed``."""

    mode: str = "auto"
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    fixed: Window | None = None

    def applies_to(self, info: ImageInfo) -> bool:
        """True when this image's samples are windowed (auto: only deeper than 8 bits)."""
        if self.mode == "none":
            return False
        if self.mode == "auto":
            return info.sample_format != "uchar"
        return True


_FIXED = re.compile(r"^fixed:\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)$")


def parse_normalisation(text: str, percentiles: str = DEFAULT_PERCENTILES_TEXT) -> Normalisation:
    """Parse ``--normalise`` (auto|series|image|none|fixed:LO,HI) and ``--percentiles LO,HI``."""
    try:
        low_p, high_p = (float(p) for p in percentiles.split(","))
    except ValueError:
        raise UsageError(f"--percentiles {percentiles!r} is not LOW,HIGH, e.g. 0.1,99.9") from None
    if not 0 <= low_p < high_p <= 100:
        raise UsageError(f"--percentiles {percentiles!r}: need 0 <= LOW < HIGH <= 100")
    match = _FIXED.match(text.strip())
    if match:
        low, high = float(match.group(1)), float(match.group(2))
        if not low < high:
            raise UsageError(f"--normalise {text!r}: LO must be below HI")
        return Normalisation("fixed", (low_p, high_p), Window((low,), (high,)))
    if text not in MODES or text == "fixed":
        raise UsageError(f"--normalise {text!r} is not one of series, image, none, fixed:LO,HI")
    return Normalisation(text, (low_p, high_p))


def histogram_level(info: ImageInfo, min_pixels: int = HISTOGRAM_MIN_PIXELS) -> int:
    """Index of the smallest stored level with at least ``min_pixels`` pixels (0 if none)."""
    chosen = 0
    for index, level in enumerate(info.levels):
        if level.width * level.height >= min_pixels:
            chosen = index
    return chosen


def image_histogram(info: ImageInfo, channels: Sequence[str] | None = None,
                    min_pixels: int = HISTOGRAM_MIN_PIXELS) -> np.ndarray:
    """Per-channel histogram (channels x bins) of one image, streamed by libvips.

    Read from a reduced pyramid level when the file has one (see ``histogram_level``).
    """
    if info.sample_format not in ("uchar", "ushort"):
        raise InputError(
            f"{info.sample_format} samples: percentile windows need 8- or 16-bit integer data; "
            "give the window yourself with --normalise fixed:LO,HI",
            info.path,
        )
    level = histogram_level(info, min_pixels)
    image = open_source(info, **level_options(info, level))
    if info.crop is not None:  # a plan row: the histogram of its box only
        image = info.crop.on(image)
    image = select_channels(image, channels, info.path)
    if image.hasalpha() and image.bands in (2, 4):
        image = image.extract_band(0, n=image.bands - 1)
    try:
        found = image.hist_find()
        counts = np.asarray(found.numpy(), dtype=np.float64)
        failed = stream_error(image)  # a vendor read failed: libvips went on with zeros
        if failed is not None:
            raise failed
    except pyvips.Error as error:
        raise stream_error(image) or InputError(
            f"cannot read pixels for the histogram: {vips_reason(error)}", info.path) from error
    return counts.reshape(found.width, found.bands).T  # channels x bins


@dataclass(frozen=True)
class IntensityRange:
    """One image's intensity statistics: its own percentile window and its saturated share."""

    path: Path
    window: Window
    saturated: float  # fraction of samples at the format's maximum value
    source: str  # which level the histogram came from
    bit_depth: int = 8  # of the image's samples: its window is judged among the same depth


@dataclass(frozen=True)
class WindowPlan:
    """The windows of a series: one for the series and, for ``image`` mode, one per image."""

    series: Window | None
    per_image: dict[str, Window]
    ranges: list[IntensityRange]
    problems: list[InputError]
    by_depth: dict[int, Window] = field(default_factory=dict)  # the series window per bit depth

    def reference_for(self, intensity: IntensityRange) -> Window | None:
        """The window an image's own is judged against: that of the series' images of the same
        bit depth (an 8-bit section is not dim next to 16-bit ones: it has another range)."""
        return self.by_depth.get(intensity.bit_depth, self.series)

    def window_for(self, info: ImageInfo, normalisation: Normalisation) -> Window | None:
        """The window applied to this image, or None when its samples are not windowed."""
        if not normalisation.applies_to(info):
            return None
        if normalisation.mode == "image":
            return self.per_image.get(str(info.path.absolute()))
        return self.series


def plan_windows(infos: Sequence[ImageInfo], normalisation: Normalisation,
                 channels: Sequence[str] | None = None, *, given: Window | None = None,
                 min_pixels: int = HISTOGRAM_MIN_PIXELS) -> WindowPlan:
    """Compute the series window (and per-image windows) for the images the mode applies to.

    ``given`` is a window from the user (``fixed``) or from another manifest; it wins.
    """
    if given is not None or normalisation.mode == "fixed":
        return WindowPlan(given or normalisation.fixed, {}, [], [])
    targets = [info for info in infos if normalisation.applies_to(info)]
    histograms: list[np.ndarray] = []
    depths: dict[int, list[np.ndarray]] = {}
    per_image: dict[str, Window] = {}
    ranges: list[IntensityRange] = []
    problems: list[InputError] = []
    for info in targets:
        try:
            histogram = image_histogram(info, channels, min_pixels)
        except InputError as error:
            problems.append(error)
            continue
        window = window_from_histogram(histogram, normalisation.percentiles)
        top = histogram[:, -1].sum() if histogram.shape[1] in (256, 65536) else 0.0
        ranges.append(IntensityRange(info.path, window, float(top / max(histogram.sum(), 1)),
                                     f"level {histogram_level(info, min_pixels)}", info.bit_depth))
        per_image[str(info.path.absolute())] = window  # workers get absolute paths
        histograms.append(histogram)
        depths.setdefault(info.bit_depth, []).append(histogram)
    series = (window_from_histogram(sum_histograms(histograms), normalisation.percentiles)
              if histograms else None)
    by_depth = {depth: window_from_histogram(sum_histograms(group), normalisation.percentiles)
                for depth, group in depths.items()}
    return WindowPlan(series, per_image, ranges, problems, by_depth)


def sum_histograms(histograms: Iterable[np.ndarray]) -> np.ndarray:
    """Add per-channel histograms of different lengths (zero-padded to the longest)."""
    histograms = list(histograms)
    channels = max(h.shape[0] for h in histograms)
    bins = max(h.shape[1] for h in histograms)
    total = np.zeros((channels, bins))
    for histogram in histograms:
        total[: histogram.shape[0], : histogram.shape[1]] += histogram
    return total


def window_from_histogram(histogram: np.ndarray, percentiles: tuple[float, float]) -> Window:
    """The low/high percentile sample values of each channel (high > low always)."""
    lows, highs = [], []
    for counts in histogram:
        cumulative = np.cumsum(counts)
        total = cumulative[-1]
        if total <= 0:
            lows.append(0.0)
            highs.append(1.0)
            continue
        low = float(np.searchsorted(cumulative, total * percentiles[0] / 100.0, side="left"))
        high = float(np.searchsorted(cumulative, total * percentiles[1] / 100.0, side="left"))
        lows.append(low)
        highs.append(max(high, low + 1.0))
    return Window(tuple(lows), tuple(highs))


def apply_window(image: pyvips.Image, window: Window) -> pyvips.Image:
    """Map each channel's [low, high] to [0, 255] linearly, clip, round to 8 bits."""
    window = window.for_bands(image.bands)
    scale = [255.0 / (h - l) for l, h in zip(window.low, window.high)]
    offset = [-l * s + 0.5 for l, s in zip(window.low, scale)]
    mapped = image.linear(scale, offset)
    mapped = (mapped < 0).ifthenelse(0, mapped)
    mapped = (mapped > 255.5).ifthenelse(255.5, mapped)
    interpretation = "b-w" if image.bands <= 2 else "srgb"
    return mapped.cast("uchar").copy(interpretation=interpretation)


def parse_channels(text: str | None) -> tuple[str, ...] | None:
    """Parse ``--channel N|NAME`` or ``--channels 2,1,0`` into a tuple of indices or names."""
    if text is None or text == "":
        return None
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) not in (1, 3) or any(p == "" for p in parts):
        raise UsageError(f"channels {text!r}: give one channel (N or a name) or three (R,G,B order)")
    return parts


def select_channels(image: pyvips.Image, channels: Sequence[str | int] | None,
                    path: Path) -> pyvips.Image:
    """Pick one channel, or three mapped to R, G, B, by index (0-based) or OME channel name."""
    if not channels:
        return image
    names = channel_names(image)
    indices = []
    for channel in channels:
        text = str(channel)
        if text.isdigit():
            index = int(text)
        elif text in names:
            index = names.index(text)
        else:
            known = ", ".join(names) if names else "none recorded in the file"
            raise InputError(f"no channel {text!r} (channel names: {known})", path)
        if index >= image.bands:
            raise InputError(f"channel {index} does not exist: the image has {image.bands} "
                             "channels, numbered from 0", path)
        indices.append(index)
    picked = [image.extract_band(i) for i in indices]
    result = picked[0] if len(picked) == 1 else picked[0].bandjoin(picked[1:])
    interpretation = ("grey16" if image.format == "ushort" else "b-w") if len(picked) == 1 else (
        "rgb16" if image.format == "ushort" else "srgb")
    return result.copy(interpretation=interpretation)


def describe_window(window: Window) -> str:
    """``0-4095`` for one channel, ``R 10-4000, G 12-3900, B ...`` for three."""
    spans = [f"{low:g}-{high:g}" for low, high in zip(window.low, window.high)]
    if len(spans) == 1:
        return spans[0]
    labels = "RGB" if len(spans) == 3 else "".join(str(i) for i in range(len(spans)))
    return ", ".join(f"{label} {span}" for label, span in zip(labels, spans))


def window_from_manifest(path: Path) -> Window:
    """The series intensity window recorded in a quint-prep manifest (for ``--normalise-from``)."""
    settings = read_manifest(path).settings
    recorded = (settings.get("normalise") or {}).get("window")
    if not recorded:
        raise UsageError("this manifest records no series intensity window (was the series "
                         "8-bit, or normalised per image?)", path)
    return Window.from_json(recorded)


def intensity_note(intensity: IntensityRange, series: Window | None) -> str:
    """Why a section stands out from its series ('' when it does not): saturated, dim, bright.

    ``series`` is the reference window: ``WindowPlan.reference_for`` (the sections of the
    same bit depth)."""
    notes = []
    if intensity.saturated > 0.01:
        notes.append(f"saturated ({intensity.saturated:.1%} at maximum)")
    if series is not None:
        own = max(intensity.window.high)
        reference = max(series.high)
        if own < 0.5 * reference:
            notes.append("dim or empty compared with the series")
        elif own > 2.0 * reference:
            notes.append("much brighter than the series")
    return "; ".join(notes)
