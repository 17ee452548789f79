"""The image series masks are named after, and how a mask finds its image.

The series comes from a folder of images (headers only) or a downscale manifest. A mask's
suffix-stripped stem is matched by exact stem first, then by QUINT section number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from quint_prep.errors import InputError
from quint_prep.manifest import read_manifest
from quint_prep.naming import parse_section_number
from quint_prep.scale import Size
from quint_prep.series_plan import read_series


@dataclass(frozen=True)
class SeriesImage:
    """One image of the series the masks belong to (from a folder or a downscale manifest)."""

    name: str
    stem: str
    size: Size
    section: int | None


def series_from_folder(folder: Path) -> tuple[list[SeriesImage], list[InputError]]:
    """The images of a folder (headers only), and the ones that could not be read."""
    infos, problems, _skipped = read_series([folder])
    images = [SeriesImage(info.name, info.stem, info.size,
                          info.section.value if info.section else None) for info in infos]
    return images, problems


def series_from_manifest(path: Path) -> list[SeriesImage]:
    """The output images recorded in a downscale manifest (``quint-prep.json``)."""
    manifest = read_manifest(path)
    return [SeriesImage(r.name, r.stem, Size(r.width, r.height), r.section)
            for r in manifest.images.values()]


def match_image(stem: str, series: Sequence[SeriesImage]) -> SeriesImage:
    """The series image a (suffix-stripped) mask stem belongs to: exact stem, then section number.

    Raises InputError naming the candidates when none or several match.
    """
    exact = [image for image in series if image.stem == stem]
    if len(exact) == 1:
        return exact[0]
    section = parse_section_number(stem)
    if section is None:
        raise InputError(f"no image of the series is named {stem!r} and the name has no section "
                         f"number _sNNN to match by; images: {_candidates(series)}")
    same = [image for image in series if image.section == section.value]
    if len(same) == 1:
        return same[0]
    if not same:
        raise InputError(f"no image of the series is named {stem!r} or has section number "
                         f"{section.value}; images: {_candidates(series)}")
    raise InputError(f"section number {section.value} of {stem!r} matches several images: "
                     f"{_candidates(same)}; rename the mask after one of them")


def _candidates(images: Sequence[SeriesImage], limit: int = 8) -> str:
    names = [image.name for image in images[:limit]]
    more = len(images) - len(names)
    return ", ".join(names) + (f" (and {more} more)" if more > 0 else "") if names else "(none)"
