"""The sweep of a series, start to finish: read the series and choose the sample
(``plan_sweep``), then write the factors, count the objects, recommend a factor and write the
report (``run_sweep``). ``quint-prep sweep`` and the sweep stage of ``run`` both call these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from quint_prep.downscale.image import DownscaleSettings, settle_colour_model
from quint_prep.errors import InputError, UsageError
from quint_prep.masks.labels import blanket_notes
from quint_prep.masks.sources import MaskFile
from quint_prep.downscale.normalise import Normalisation, parse_normalisation, plan_windows
from quint_prep.outputs import guard_output_dir, remove_stale_temporaries
from quint_prep.progress import Listener
from quint_prep.downscale.resample import Method
from quint_prep.scale import DEFAULT_MAX_SIZE, Size, parse_size
from quint_prep.series import ImageInfo
from quint_prep.series_plan import SeriesPlan, duplicate_sections, plan_series
from quint_prep.status import Status
from quint_prep.sweep.decide import (DEFAULT_FACTORS, DEFAULT_SECTIONS, Recommendation, Region, mask_scale,
                    pick_sample, recommend, small_object_warnings)
from quint_prep.sweep.page import write_report
from quint_prep.sweep.sample import (ObjectSettings, SectionSweep, collect_outputs, match_segmentations,
                        sweep_section, write_factors)

@dataclass(frozen=True)
class SweepSettings:
    """Everything one sweep is asked to do; checked once, here (the messages name the
    command line options, as the sweep stage of ``run`` takes no such keys)."""

    sources: tuple[Path, ...]
    output: Path
    factors: tuple[float, ...] = DEFAULT_FACTORS  # largest first (sweep.parse_factors)
    sections: int | None = None  # None: DEFAULT_SECTIONS, spread over the series
    picks: tuple[int, ...] | None = None  # section numbers to try instead
    segmentations: tuple[Path, ...] = ()
    objects: ObjectSettings = ObjectSettings()
    region: Region | None = None  # None: the most detailed one
    keep_objects: float = 0.95
    area_tolerance: float = 0.05
    max_size: Size = parse_size(DEFAULT_MAX_SIZE)
    min_object_um: float | None = None
    method: Method = Method.AREA
    normalisation: Normalisation = parse_normalisation("auto")
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.sections is not None and self.picks is not None:
            raise UsageError("give --sections N or --pick s010,s050, not both")
        if not 0 < self.keep_objects <= 1:
            raise UsageError(f"--keep-objects {self.keep_objects}: give a share between 0 and 1, "
                             "e.g. 0.95")
        if self.area_tolerance < 0:
            raise UsageError(f"--area-tolerance {self.area_tolerance}: give a share >= 0, e.g. 0.05")


@dataclass(frozen=True)
class SweepPlan:
    """The series read and the sample chosen, before anything is written."""

    settings: SweepSettings
    series: SeriesPlan
    sample: tuple[ImageInfo, ...] = ()
    downscale: DownscaleSettings | None = None  # None: no usable image in the series

    @property
    def usable(self) -> bool:
        """True when the series has an image to try the factors on."""
        return bool(self.series.images)


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep made: every sampled section, the recommendation, the warnings told, the
    sheets drawn (by section stem), whether their labels could be drawn and whether
    ``objects.csv`` was written; ``failed`` counts the files and sections that failed."""

    output: Path
    factors: tuple[float, ...]
    sections: tuple[SectionSweep, ...]
    recommendation: Recommendation | None  # None: no usable image, nothing was tried
    warnings: tuple[str, ...]
    sheets: dict[str, str]
    labels_in_image: bool
    csv_written: bool
    failed: int


def plan_sweep(settings: SweepSettings, listener: Listener = Listener()) -> SweepPlan:
    """Check the output folder, read the series' headers, choose the sample, and settle the
    intensity window and colour model on the WHOLE series (as downscale does). Unreadable
    images go to ``listener.error``; writes nothing but the removal of stale temporaries."""
    sources = list(settings.sources)
    guard_output_dir(settings.output, [*sources, *settings.segmentations])
    remove_stale_temporaries(settings.output)  # sheets a killed run left half-written
    plan = plan_series(sources, factor=settings.factors[0])
    for problem in plan.problems:
        listener.error(str(problem))
    if not plan.images:
        return SweepPlan(settings, plan)
    for number, names in duplicate_sections(plan.images).items():
        listener.warn(f"section number {number} is used by {', '.join(names)}: QUINT pairs files "
                      "by number, so each must be unique (see `quint-prep rename`)")
    numbers = [i.section.value if i.section else None for i in plan.images]
    count = DEFAULT_SECTIONS if settings.sections is None else settings.sections
    sample = tuple(plan.images[i] for i in pick_sample(numbers, count, settings.picks))
    windows = plan_windows(plan.images, settings.normalisation)
    for problem in windows.problems:
        listener.warn(f"intensity window: {problem}")
    downscale = settle_colour_model(  # the WHOLE series' colour model too, not the sample's
        DownscaleSettings(factor=settings.factors[0], method=settings.method,
                          normalisation=settings.normalisation, windows=windows), plan.images)
    return SweepPlan(settings, plan, sample, downscale)


def run_sweep(plan: SweepPlan, listener: Listener = Listener()) -> SweepOutcome:
    """Write the factors of the sample, count the objects of its segmentations, recommend a
    factor and write the report (sheets, ``index.html``, ``objects.csv``). Errors and warnings
    go to ``listener`` as they happen. The caller holds the output folder's writer lock."""
    settings = plan.settings
    if plan.downscale is None:
        # nothing to try the factors on fails the sweep, even without an unreadable file
        return SweepOutcome(settings.output, settings.factors, (), None, (), {}, True, False,
                            len(plan.series.problems) or 1)
    done, failed = _sweep_sample(plan, listener)
    recommendation = _recommendation(done, settings, [i.size for i in plan.series.images])
    warnings = _warnings(done, settings)
    for note in warnings:
        listener.warn(note)
    sheets, labels_in_image, csv_written = write_report(settings.output, done, recommendation,
                                                        warnings)
    return SweepOutcome(settings.output, settings.factors, tuple(done), recommendation,
                        tuple(warnings), sheets, labels_in_image, csv_written,
                        failed + len(plan.series.problems))


def _sweep_sample(plan: SweepPlan, listener: Listener) -> tuple[list[SectionSweep], int]:
    """Write the factors, match the segmentations, settle every section; count failures."""
    settings, sample, tried = plan.settings, list(plan.sample), plan.settings.factors
    objects = settings.objects
    failed = 0
    results = []
    told: set[tuple[Path, str]] = set()  # one line per file and problem, not one per factor
    with listener.steps(len(sample) * len(tried), "image") as bar:
        for factor, result in write_factors(plan.series, sample, tried, settings.output,
                                            plan.downscale, list(settings.sources),  # type: ignore[arg-type]
                                            settings.overwrite):
            if result.status == Status.FAILED and (result.source, result.message) not in told:
                listener.error(f"{result.source}: {result.message} (at factor {factor:g})")
                told.add((result.source, result.message))
                failed += 1
            for note in result.warnings:
                if (result.source, note) not in told:
                    listener.note(f"{result.source.name}: {note}")
                    told.add((result.source, note))
            results.append((factor, result))
            bar.update(1)
    grouped = collect_outputs(results)
    masks: dict[str, MaskFile] = {}
    problems: list[InputError] = []
    if settings.segmentations:
        masks, problems = match_segmentations(settings.segmentations, plan.series.images, sample,
                                              objects.source)
    for problem in problems:
        listener.error(str(problem))
    for note in blanket_notes(list(masks.values()), objects.selection()) if settings.segmentations else ():
        listener.warn(note)
    failed += len(problems)
    done: list[SectionSweep] = []
    with listener.steps(len(sample), "section") as bar:
        for info in sample:
            section = sweep_section(info, grouped.get(info.stem, []), tried, settings.region,
                                    masks.get(info.stem), objects)
            for message in section.problems:
                listener.error(message)
            failed += len(section.problems)
            done.append(section)
            bar.update(1)
    return done, failed


def _recommendation(done: Sequence[SectionSweep], settings: SweepSettings,
                    sizes: list[Size]) -> Recommendation:
    """The recommendation from the sections whose masks are usable (masks.judge), at the
    segmentations' scale."""
    used = [s for s in done if s.left_out is None]
    scale = mask_scale([(s.info.size, s.mask_size) for s in used if s.mask_size is not None])
    return recommend(settings.factors, sizes, settings.max_size,
                     [c for s in used for c in s.comparisons] if settings.segmentations else None,
                     settings.keep_objects, settings.area_tolerance,
                     left_out=[f"{s.info.name}: {s.left_out}" for s in done if s.left_out],
                     scale=scale)


def _warnings(done: Sequence[SectionSweep], settings: SweepSettings) -> list[str]:
    notes = [note for section in done for note in section.notes]
    # judgements that leave a section out are told with the recommendation instead
    notes += [f"{s.mask.name}: {j.message}" for s in done if s.mask for j in s.judgements
              if not j.excludes]
    if settings.segmentations:
        missing = [s.info.name for s in done if s.mask is None]
        if missing:
            notes.append(f"no segmentation for {', '.join(missing)}: not counted")
    if settings.min_object_um is not None:
        notes += small_object_warnings(settings.min_object_um,
                                       [s.info.microns_per_pixel for s in done], settings.factors)
    return notes
