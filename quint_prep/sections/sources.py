"""A section plan as the sources of a series: each row of ``sections.csv`` becomes an image
description (``ImageInfo``) of its box, named by the row, that every command streams like a
file: the crop is read from the pyramid level the target needs, never the whole slide."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable

from quint_prep.orientation import Orientation
from quint_prep.sections.plan import Crop, PlanRow, read_plan
from quint_prep.scale import Size
from quint_prep.series import ImageInfo, read_info


def is_plan_file(path: Path) -> bool:
    """True for a file given as a source that is a section plan (a ``.csv``)."""
    path = Path(path)
    return path.suffix.lower() == ".csv" and path.is_file()


def crop_info(slide: ImageInfo, row: PlanRow) -> ImageInfo:
    """The description of one plan row: its box's size at every stored level of the slide."""
    crop = Crop(row.box, slide.size, row.orientation)
    return replace(slide, size=crop.size_on(slide.size),
                   levels=tuple(crop.size_on(level) for level in slide.levels),
                   crop=crop, label=row.name)


def plan_infos(path: Path) -> list[ImageInfo]:
    """Every row of a plan as an image description, slides read once each (headers only).

    Raises UsageError listing every bad row with its line number: nothing is written then.
    """
    slides: dict[tuple[Path, int | None], ImageInfo] = {}

    def slide_size(slide: Path, scene: int | None) -> Size:
        slides[(slide, scene)] = read_info(slide, scene)
        return slides[(slide, scene)].size

    rows = read_plan(path, slide_size)
    return [crop_info(slides[(row.slide, row.scene)], row) for row in rows]


def plan_orientations(infos: Iterable[ImageInfo]) -> dict[str, Orientation]:
    """The rotate/flip a plan gives its sections (by section name), for the orientation plan."""
    return {info.stem: info.crop.orientation for info in infos
            if info.crop is not None and not info.crop.orientation.is_identity}


def plan_slides(sources: Iterable[Path]) -> list[Path]:
    """The slides the plans among ``sources`` cut from (absolute, each once), for make."""
    slides: dict[Path, None] = {}
    for source in sources:
        if is_plan_file(source):
            for row in read_plan(source):
                slides.setdefault(row.slide.absolute(), None)
    return list(slides)
