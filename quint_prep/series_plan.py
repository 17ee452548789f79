"""A series as one plan: its images read (files, scenes or the rows of a section plan), the
problems met, and its one factor and orientations. Every command that works on a series
(downscale, sweep, factor, inspect, descriptor, run) starts here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from quint_prep.errors import InputError, UsageError
from quint_prep.orientation import Orientation, OrientationPlan, read_orientation_csv
from quint_prep.sections.sources import is_plan_file, plan_infos, plan_orientations
from quint_prep.scale import Size, check_factor, one_factor_problem, scaled_size, series_factor
from quint_prep.series import Discovery, ImageInfo, discover, read_info

if TYPE_CHECKING:  # tissue detection (numpy) is imported only to trim: inspect stays light
    from quint_prep.sections.detect import DetectSettings


@dataclass(frozen=True)
class SeriesPlan:
    """A series as found on disk: readable images, problems, and its one factor."""

    images: list[ImageInfo]
    problems: list[InputError]
    skipped: list[Path]
    factor: float
    max_size: Size | None
    orientations: OrientationPlan = OrientationPlan()
    notes: tuple[str, ...] = ()  # worth telling, never a failure (an image --trim left whole)

    def output_size(self, info: ImageInfo) -> Size:
        """The size this image gets under the series factor, as oriented."""
        return self.orientations.for_stem(info.stem).size(scaled_size(info.size, self.factor))


def read_series(sources: Iterable[Path], scene: int | None = None,
                ) -> tuple[list[ImageInfo], list[InputError], list[Path]]:
    """Discover the images among the sources and read every header; collect failures.

    ``scene`` picks that scene of every multi-scene file (CZI); None reads whole files.
    A section plan (``sections.csv``) among the sources gives one image per row.
    """
    sources = list(sources)
    plans = [Path(s) for s in sources if is_plan_file(s)]
    found = discover([s for s in sources if Path(s) not in plans]) if len(plans) < len(sources) \
        else Discovery([])
    infos: list[ImageInfo] = [info for plan in plans for info in plan_infos(plan)]
    problems = list(found.problems)
    for path in found.images:
        try:
            infos.append(read_info(path, scene))
        except InputError as error:
            problems.append(error)
    return infos, problems, found.skipped


def refuse_multi_scene(info: ImageInfo) -> InputError | None:
    """A multi-scene file read whole is not one section: the error that says what to do."""
    if not info.scenes or info.scene is not None:
        return None
    listed = "; ".join(f"{s.index}: {s.size} at {s.position[0]},{s.position[1]}" for s in info.scenes)
    return InputError(f"{len(info.scenes)} scenes ({listed}) and no scene chosen: give --scene N "
                      "for one section, or cut the sections out of the slide with "
                      "`quint-prep sections`", info.path)


def plan_series(sources: Iterable[Path], *, factor: float | None = None,
                max_size: Size | None = None, orientation: Orientation = Orientation(),
                orientation_csv: Path | None = None, scene: int | None = None,
                trim: DetectSettings | None = None) -> SeriesPlan:
    """Read a series and settle its one factor: the given one, or the one that fits max_size.

    The box applies to the sections as oriented (a 90-degree turn swaps width and height).
    A multi-scene file without ``scene`` is refused (``refuse_multi_scene``). With ``trim``
    each image is first cut to its tissue box (``sections.trim_series``).
    """
    problem = one_factor_problem(factor, max_size)
    if problem is not None:
        raise UsageError(problem)
    infos, problems, skipped = read_series(sources, scene)
    refused = [(info, refuse_multi_scene(info)) for info in infos]
    problems += [error for _, error in refused if error is not None]
    infos = [info for info, error in refused if error is None]
    notes: list[str] = []
    if trim is not None:
        from quint_prep.sections.detect import trim_series

        infos, cut_problems, notes = trim_series(infos, trim)
        problems = problems + cut_problems
    if not infos:
        if problems:
            return SeriesPlan([], problems, skipped, factor or 1.0, max_size, notes=tuple(notes))
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    per_section = plan_orientations(infos)
    per_section.update(read_orientation_csv(orientation_csv, [i.stem for i in infos])
                       if orientation_csv else {})
    orientations = OrientationPlan(orientation, per_section)
    if max_size is not None:
        factor = series_factor(max_size, [orientations.for_stem(i.stem).size(i.size) for i in infos])
    return SeriesPlan(infos, problems, skipped, check_factor(float(factor)), max_size, orientations,
                      tuple(notes))


def duplicate_sections(infos: Iterable[ImageInfo]) -> dict[int, list[str]]:
    """Section numbers used by more than one image of the series, with the images' names."""
    by_number: dict[int, list[str]] = {}
    for info in infos:
        if info.section is not None:
            by_number.setdefault(info.section.value, []).append(info.name)
    return {number: names for number, names in by_number.items() if len(names) > 1}
