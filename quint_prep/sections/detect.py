"""Find the sections on whole slides and make the section plan (``sections.csv``).

Per slide: a small image is read (the smallest pyramid level at least DETECT_SIDE px on its
longer side, or JPEG shrink-on-load, then a box shrink; a non-pyramidal slide is decoded once,
streamed), tissue is detected on it (``tissue.detect_tissue``), each region's box is mapped
back to level-0 pixels with a margin. Then the sections of all slides are put in order and
numbered across the series (``plan.reading_order``, ``plan.section_numbers``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import pyvips

from quint_prep.errors import InputError, QuintPrepError, UsageError
from quint_prep.orientation import Orientation
from quint_prep.sections.plan import (Box, Order, PlanRow, number_width, reading_order, section_name,
                   section_numbers)
from quint_prep.sections.sources import crop_info
from quint_prep.downscale.resample import plan_load
from quint_prep.scale import Size
from quint_prep.series import DECODE_FAIL_ON, ImageInfo, discover, open_source, read_info, vips_reason
from quint_prep.slides.tiffstream import stream_error
from quint_prep.sections.tissue import Background, Detection, detect_tissue

DETECT_SIDE = 2048  # px: longer side of the image tissue is detected on
DEFAULT_JOIN = 0.005  # of the slide's longer side: fragments closer than this are one section
DEFAULT_MARGIN = 0.02  # of a section's longer side, added around its box
EDGE_BAND = 0.01  # of the small image's shorter side: tissue mostly in this band is an edge


@dataclass(frozen=True)
class DetectSettings:
    """How sections are found on a slide. Lengths are in micrometres when the slide records its
    pixel size, else in level-0 pixels (areas squared); None means the default rule."""

    background: Background = Background.AUTO
    join: float | None = None
    min_area: float | None = None
    margin: float | None = None
    order: Order = Order.ROWS
    reverse: bool = False
    exclude: tuple[Box, ...] = ()  # level-0 px: a label area, a ruler

    def __post_init__(self) -> None:
        for name in ("join", "min_area", "margin"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise UsageError(f"--{name.replace('_', '-')} {value:g} must be 0 or more")


@dataclass(frozen=True)
class SmallImage:
    """The small image of one slide that detection reads, and how it maps to level 0."""

    image: pyvips.Image  # in memory
    scale: tuple[float, float]  # level-0 pixels per small-image pixel (x, y)
    load: str


@dataclass(frozen=True)
class SlideSections:
    """The sections found on one slide (or scene), in reading order, boxes in level-0 px."""

    slide: Path
    scene: int | None
    size: Size
    pixel_size_um: float | None
    boxes: tuple[Box, ...]
    tissue_px: tuple[int, ...]
    small: SmallImage
    background: Background
    notes: tuple[str, ...] = field(default_factory=tuple)


def small_image(info: ImageInfo, side: int = DETECT_SIDE) -> SmallImage:
    """Read a slide at about ``side`` px on its longer side, never decoding more than needed:
    a stored pyramid level or JPEG shrink-on-load when there is one, then a box shrink."""
    ratio = max(1.0, max(info.size.width, info.size.height) / side)
    target = Size(max(1, math.ceil(info.size.width / ratio)), max(1, math.ceil(info.size.height / ratio)))
    load = plan_load(info, target)
    opened = None
    try:
        image = opened = open_source(info, fail_on=DECODE_FAIL_ON, **load.options)
        step = max(1, int(min(image.width / target.width, image.height / target.height)))
        if step > 1:
            image = image.shrink(step, step)
        image = image.copy_memory()
    except pyvips.Error as error:
        raise (stream_error(opened) if opened is not None else None) or InputError(f"cannot read the slide: {vips_reason(error)}",
                                                 info.path) from error
    scale = (info.size.width / image.width, info.size.height / image.height)
    return SmallImage(image, scale, load.description)


def _level0_length(value: float | None, default: float, info: ImageInfo) -> float:
    if value is None:
        return default
    mpp = info.microns_per_pixel
    return value / mpp if mpp else value


def _level0_box(box: Box, scale: tuple[float, float], margin: float, size: Size) -> Box:
    left = max(0, math.floor(box.x * scale[0] - margin))
    top = max(0, math.floor(box.y * scale[1] - margin))
    right = min(size.width, math.ceil(box.right * scale[0] + margin))
    bottom = min(size.height, math.ceil(box.bottom * scale[1] + margin))
    return Box(left, top, right - left, bottom - top)


def _small_box(box: Box, scale: tuple[float, float]) -> Box:
    left, top = math.floor(box.x / scale[0]), math.floor(box.y / scale[1])
    return Box(left, top, math.ceil(box.right / scale[0]) - left, math.ceil(box.bottom / scale[1]) - top)


def detect_on(info: ImageInfo, settings: DetectSettings, small: SmallImage) -> Detection:
    """Run tissue detection on a slide's small image with the settings turned into its pixels."""
    sx, sy = small.scale
    join = _level0_length(settings.join, DEFAULT_JOIN * max(info.size.width, info.size.height), info)
    min_area = None
    if settings.min_area is not None:
        mpp = info.microns_per_pixel
        min_area = round(settings.min_area / (mpp * mpp if mpp else 1.0) / (sx * sy))
    edge = max(1, round(EDGE_BAND * min(small.image.width, small.image.height)))
    return detect_tissue(small.image, background=settings.background,
                         join=max(1, round(join / max(sx, sy))), min_area=min_area, edge=edge,
                         exclude=[_small_box(b, small.scale) for b in settings.exclude])


def find_on_slide(info: ImageInfo, settings: DetectSettings) -> SlideSections:
    """The sections of one slide, in reading order, boxes in level-0 px with their margin."""
    small = small_image(info)
    found = detect_on(info, settings, small)
    boxes, tissue = [], []
    for region in found.regions:
        longest = max(region.box.width * small.scale[0], region.box.height * small.scale[1])
        margin = (_level0_length(settings.margin, 0.0, info) if settings.margin is not None
                  else max(DEFAULT_MARGIN * longest, 2 * max(small.scale)))
        boxes.append(_level0_box(region.box, small.scale, margin, info.size))
        tissue.append(round(region.tissue * small.scale[0] * small.scale[1]))
    order = reading_order(boxes, settings.order, settings.reverse)
    notes = () if boxes else ("no tissue found (try --background, --min-area)",)
    for label in found.labels:
        area = _level0_box(label.box, small.scale, 0, info.size)
        notes += (f"label area {area.x},{area.y},{area.width},{area.height} ignored (printed ink "
                  "at the slide's end; add a row to the plan if it is a section)",)
    return SlideSections(info.path, info.scene, info.size, info.microns_per_pixel,
                         tuple(boxes[i] for i in order), tuple(tissue[i] for i in order), small,
                         found.background, notes)


def find_sections(slides: Sequence[Path], settings: DetectSettings
                  ) -> Iterator[SlideSections | QuintPrepError]:
    """Find the sections of every slide in the order given (folders in natural name order);
    a slide that cannot be read is yielded as its error and the others go on."""
    found = discover(slides)
    yield from found.problems
    if not found.images and not found.problems:
        raise UsageError("no slides found (TIFF, SVS, NDPI, JPEG or PNG) in the given sources")
    for path in found.images:
        try:
            info = read_info(path)
            scenes = [read_info(path, scene.index) for scene in info.scenes] or [info]
        except QuintPrepError as error:
            yield error
            continue
        for scene in scenes:  # scenes in scene order, boxes in each scene's pixels
            try:
                yield find_on_slide(scene, settings)
            except QuintPrepError as error:
                yield error


def plan_rows(slides: Sequence[SlideSections], prefix: str, start: int = 1,
              step: int = 1) -> list[PlanRow]:
    """Number the sections of all slides in series order and name them ``prefix_sNNN``."""
    count = sum(len(s.boxes) for s in slides)
    numbers = section_numbers(count, start, step)
    digits = number_width(numbers)
    rows: list[PlanRow] = []
    for found in slides:
        for box, tissue in zip(found.boxes, found.tissue_px):
            number = numbers[len(rows)]
            mm2 = tissue * found.pixel_size_um ** 2 / 1e6 if found.pixel_size_um else None
            rows.append(PlanRow(number, section_name(prefix, number, digits), found.slide,
                                found.scene, box, tissue, mm2, found.pixel_size_um, Orientation()))
    return rows


def tissue_box(info: ImageInfo, settings: DetectSettings) -> Box | None:
    """The box around all the tissue of one image (a single section), with the margin, in
    level-0 pixels; None when no tissue is found."""
    found = find_on_slide(info, settings)
    if not found.boxes:
        return None
    left = min(b.x for b in found.boxes)
    top = min(b.y for b in found.boxes)
    return Box(left, top, max(b.right for b in found.boxes) - left,
               max(b.bottom for b in found.boxes) - top)


def trim_series(infos: Sequence[ImageInfo], settings: DetectSettings
                ) -> tuple[list[ImageInfo], list[InputError], list[str]]:
    """Each image cut to its tissue box (``downscale --trim``); an image where no tissue is
    found stays whole (and gets a note naming it), plan rows are kept as planned, an
    unreadable image becomes its error. Returns (images, errors, notes)."""
    trimmed: list[ImageInfo] = []
    problems: list[InputError] = []
    notes: list[str] = []
    for info in infos:
        if info.crop is not None:
            trimmed.append(info)
            continue
        try:
            box = tissue_box(info, settings)
        except InputError as error:
            problems.append(error)
            continue
        if box is None:
            notes.append(f"{info.name}: --trim found no tissue on this image; it is written "
                         "whole, untrimmed")
            trimmed.append(info)
            continue
        row = PlanRow(0, info.stem, info.path, info.scene, box)
        trimmed.append(replace(crop_info(info, row), label=None))
    return trimmed, problems, notes
