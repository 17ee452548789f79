"""Run a series from its config: the stages downscale -> masks -> check, in that order (and
sweep, on its own).

Each stage is one small adapter from a ``SeriesConfig`` to the core function of the matching
command (``downscale_checked``, ``convert_and_check``, ``check_series``, ``plan_sweep`` and
``run_sweep``), so ``quint-prep run`` does exactly what the commands do. Resume comes from the
commands themselves: a rerun skips every output that is up to date (see ``resume``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from quint_prep.choices import Stage  # light: for --help
from quint_prep.config import SeriesConfig
from quint_prep.check.findings import CheckReport
from quint_prep.manifest import manifest_path
from quint_prep.masks.convert import MaskJob, MaskPlan, MaskSettings, decide_mask, plan_masks
from quint_prep.masks.record import load_record
from quint_prep.masks.series import MasksOutcome, convert_and_check
from quint_prep.masks.select import MaskResample
from quint_prep.masks.matching import SeriesImage, series_from_manifest
from quint_prep.masks.sources import SourceKind
from quint_prep.sections.sources import plan_slides
from quint_prep.check.files import check_series
from quint_prep.downscale.image import DownscaleSettings, output_name
from quint_prep.downscale.series import (DownscaleOutcome, DownscaleRequest, OutputPlan, downscale_checked,
                              plan_outputs)
from quint_prep.errors import UsageError
from quint_prep.parallel import Workers
from quint_prep.registration.quicknii import slice_entries
from quint_prep.registration.series import RegistrationSettings, registration_factor
from quint_prep.resume import Decision
from quint_prep.scale import DEFAULT_MAX_SIZE, parse_size
from quint_prep.series import ImageInfo, discover
from quint_prep.progress import Listener
from quint_prep.series_plan import SeriesPlan
from quint_prep.sweep.decide import DEFAULT_SECTIONS, pick_sample
from quint_prep.sweep.sample import ObjectSettings
from quint_prep.sweep.series import SweepOutcome, SweepSettings, plan_sweep, run_sweep


ORDER = (Stage.DOWNSCALE, Stage.MASKS, Stage.CHECK)


def stages_to_run(stage: Stage, config: SeriesConfig) -> tuple[Stage, ...]:
    """The stages to run in order: one, or (``all``) every stage; masks only with segmentations."""
    if stage is not Stage.ALL:
        if stage is Stage.MASKS and config.segmentations is None:
            raise UsageError("stage masks: the config names no segmentations folder "
                             "(segmentations = \"...\")", config.path)
        return (stage,)
    return tuple(s for s in ORDER if s is not Stage.MASKS or config.segmentations is not None)


def workers_for(config: SeriesConfig, scheduler: str | None = None, *,
                cli_jobs: int | None = None, cli_memory: int | None = None) -> Workers:
    """How the per-image tasks run. The config's ``jobs`` and ``memory`` describe the local
    machine: on a Dask cluster only the command line's --jobs caps the images in flight (default:
    every worker thread), and --memory is an error (each worker has its own limit)."""
    if scheduler:
        return Workers(jobs=cli_jobs, memory=cli_memory, scheduler=scheduler)
    return Workers(jobs=config.jobs, memory=config.memory)


# --- downscale ---------------------------------------------------------------------------

def downscale_request(config: SeriesConfig, *, overwrite: bool = False) -> DownscaleRequest:
    """The downscale a config asks for, as ``quint-prep downscale`` takes it: the one factor
    (config factor or max_size), the orientation of every section (``rotate``, ``flip``, the
    ``orientation`` CSV), the intensity, channel and colour settings, the registration series."""
    return DownscaleRequest(
        sources=tuple(config.image_sources()), output=config.output, factor=config.factor,
        max_size=config.max_size, orientation=config.series_orientation,
        orientation_csv=config.orientation, scene=config.scene, trim=config.trim,
        format=config.format, quality=config.quality, method=config.method,
        keep_depth=config.keep_depth,
        keep_alpha=config.keep_alpha, normalisation=config.normalisation,
        normalise_from=config.normalise_from, channels=config.channels,
        colour_model=config.colour_model, registration=config.registration_settings,
        overwrite=overwrite)


def plan_downscale(config: SeriesConfig) -> SeriesPlan:
    """Read the series' headers and settle its one factor and the orientation of every section."""
    return downscale_request(config).read_series()


def dry_run_downscale(config: SeriesConfig, plan: SeriesPlan, *,
                      overwrite: bool = False) -> OutputPlan:
    """What the downscale stage would do per image (new, changed, up to date), writing nothing."""
    return plan_outputs(plan, config.output, downscale_settings(config, plan),
                        overwrite=overwrite)


def run_downscale(config: SeriesConfig, plan: SeriesPlan, workers: Workers, *,
                  overwrite: bool = False, listener: Listener = Listener()) -> DownscaleOutcome:
    """Downscale stage: the series into ``config.output``, checked as written."""
    return downscale_checked(downscale_request(config, overwrite=overwrite), plan,
                             workers=workers, listener=listener)


@dataclass(frozen=True)
class RegistrationPlan:
    """The registration series a downscale stage would make alongside the series."""

    settings: RegistrationSettings
    factor: float  # of the segmentation-size images
    images: int


def plan_registration(config: SeriesConfig, plan: SeriesPlan) -> RegistrationPlan | None:
    """The registration series of ``registration = "DIR"`` (None when the config asks for
    none), writing nothing; UsageError when QuickNII could not order the sections (unnumbered
    or duplicate section numbers), as the run refuses them."""
    settings = config.registration_settings
    if settings is None or not plan.images:
        return None
    sizes = [plan.output_size(info) for info in plan.images]
    slice_entries([(f"{i.stem}.{settings.format.value}", size) for i, size in zip(plan.images, sizes)])
    return RegistrationPlan(settings, registration_factor(settings.box, sizes), len(sizes))


def downscale_settings(config: SeriesConfig, plan: SeriesPlan) -> DownscaleSettings:
    """The config's downscale settings under the series' factor, with its intensity window
    (the one recorded in ``normalise_from`` when the config names one), as downscale takes them."""
    return downscale_request(config).settings_for(plan)


# --- masks and check ------------------------------------------------------------------------

def masks_settings(config: SeriesConfig, *, overwrite: bool = False) -> MaskSettings:
    """The masks settings a config asks for (as ``quint-prep masks`` would take them)."""
    return MaskSettings(
        colour=config.colour, background=config.background, labels=config.labels,
        object_colour=config.object_colour, instance_ids=config.instance_ids,
        labels_table=config.labels_table,
        source=None if config.source == "auto" else SourceKind(config.source),
        resample=MaskResample(config.resample), overwrite=overwrite)


def plan_masks_stage(config: SeriesConfig, *, overwrite: bool = False,
                     series: Sequence[SeriesImage] | None = None) -> MaskPlan:
    """Read the config's segmentations and match them to the downscaled series in
    ``config.output`` (by its manifest: names and proportions), writing nothing. ``series``
    (a dry run: the series the downscale stage would leave) is used instead of the manifest."""
    if config.segmentations is None:
        raise UsageError("the config names no segmentations folder", config.path)
    if series is None:
        manifest = manifest_path(config.output)
        if not manifest.exists():
            raise UsageError(f"stage masks needs the downscaled series first ({manifest} is "
                             "missing): run the downscale stage", config.path)
        series = series_from_manifest(manifest)
    return plan_masks([config.segmentations], masks_settings(config, overwrite=overwrite), series)


def projected_series(config: SeriesConfig, plan: SeriesPlan) -> list[SeriesImage]:
    """The downscaled series as the downscale stage would leave it (output names, oriented
    sizes, section numbers): what a dry run matches the segmentations against."""
    return [SeriesImage(output_name(info, config.format), info.stem, plan.output_size(info),
                        info.section.value if info.section else None) for info in plan.images]


@dataclass(frozen=True)
class PlannedMask:
    """One segmentation of a dry run: its job and what the masks stage would do with it."""

    job: MaskJob
    output: Path
    decision: Decision


def plan_mask_outputs(config: SeriesConfig, plan: MaskPlan, *,
                      overwrite: bool = False) -> list[PlannedMask]:
    """Per mask: new, changed, up to date or refused, decided as for images (``resume``)
    from the masks folder's manifest; nothing is written."""
    folder = config.masks_output
    record = load_record(folder, plan.factor) if folder.is_dir() else None
    settings = masks_settings(config, overwrite=overwrite)
    return [PlannedMask(job, folder / job.output_name, decide_mask(job, folder, record, settings))
            for job in plan.jobs]


def run_masks(config: SeriesConfig, plan: MaskPlan, *, overwrite: bool = False,
              workers: Workers | None = None,
              listener: Listener = Listener()) -> MasksOutcome:
    """Masks stage: ``config.segmentations`` -> single-colour PNGs in ``config.masks_output``,
    N masks at once with the run's ``workers`` (the config's jobs and memory, or --scheduler),
    checked against the downscaled series, with the quantifiers' settings beside them."""
    # The masks folder lies inside the downscale output (``output/segmentations``), which is
    # read one level deep only; the segmentations are the sources that must stay apart.
    return convert_and_check(plan, config.masks_output,
                             masks_settings(config, overwrite=overwrite),
                             sources=[config.segmentations] if config.segmentations else [],
                             series_folder=config.output, listener=listener, workers=workers)


def sweep_sample(plan: SeriesPlan) -> list[ImageInfo]:
    """The sections the sweep stage tries: as many as ``sweep`` picks by default, spread over
    the series."""
    numbers = [info.section.value if info.section else None for info in plan.images]
    return [plan.images[i] for i in pick_sample(numbers, DEFAULT_SECTIONS)]


def sweep_settings(config: SeriesConfig, *, overwrite: bool = False) -> SweepSettings:
    """The sweep the sweep stage makes (``make sweep``): the default factors and sample on the
    config's images, its segmentations and choice of objects, its box and intensity settings,
    into ``OUTPUT/sweep``."""
    objects = ObjectSettings(config.labels, config.object_colour,
                             None if config.source == "auto" else SourceKind(config.source),
                             False, config.instance_ids, config.labels_table)
    return SweepSettings(
        sources=tuple(config.image_sources()), output=config.sweep_output,
        segmentations=(config.segmentations,) if config.segmentations else (), objects=objects,
        max_size=config.max_size or parse_size(DEFAULT_MAX_SIZE), method=config.method,
        normalisation=config.normalisation, overwrite=overwrite)


def run_sweep_stage(config: SeriesConfig, listener: Listener = Listener(), *,
                    overwrite: bool = False) -> SweepOutcome:
    """Sweep stage: try the default factors on a sample of the series (``sweep_settings``).
    The caller holds the writer lock of ``config.sweep_output``."""
    return run_sweep(plan_sweep(sweep_settings(config, overwrite=overwrite), listener), listener)


def run_check(config: SeriesConfig) -> CheckReport:
    """Check stage: the downscaled series (and its masks) as the QUINT tools will see them."""
    segmentations = [config.masks_output] if config.segmentations is not None else None
    return check_series([config.output], segmentations, registration=config.check.registration,
                        colour=config.colour if segmentations else None)


# --- inputs, for make ----------------------------------------------------------------------

def input_paths(config: SeriesConfig) -> list[Path]:
    """Every file and folder a run reads: the config, the image folder and images, the
    segmentations folder and files, the orientation CSV, the manifest named by
    ``normalise_from``, the registration. A change to any of them (or a file added to a
    folder) means the series must be brought up to date."""
    paths = [config.path.absolute()]
    image_folder = config.images.parent if config.images_is_glob else config.images
    paths.append(image_folder)
    paths.extend(p.absolute() for p in discover(config.image_sources()).images)
    paths.extend(plan_slides(config.image_sources()))  # a section plan: the slides it cuts
    if config.segmentations is not None and config.segmentations.is_dir():
        paths.append(config.segmentations)
        paths.extend(sorted(p for p in config.segmentations.iterdir()
                            if p.is_file() and not p.name.startswith(".")))
    paths.extend(p for p in (config.orientation, config.normalise_from, config.check.registration)
                 if p is not None)
    return paths


def _make_escape(path: Path) -> str:
    return (str(path).replace("$", "$$").replace("#", "\\#").replace(" ", "\\ ")
            .replace(":", "\\:"))


def make_dependencies(config: SeriesConfig, target: str) -> str:
    """A makefile fragment: ``target`` depends on every input (as ``gcc -MD -MP`` writes it:
    each input also gets an empty rule, so a deleted input does not stop make)."""
    inputs = [_make_escape(p) for p in input_paths(config)]
    lines = [f"{_make_escape(Path(target))}: \\"]
    lines.extend(f"  {name} \\" for name in inputs[:-1])
    lines.append(f"  {inputs[-1]}")
    lines.append("")
    lines.extend(f"{name}:" for name in inputs)
    return "\n".join(lines) + "\n"
