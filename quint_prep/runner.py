"""Run a series from its config: the stages downscale -> masks -> check, in that order.

Each stage is one small adapter from a ``SeriesConfig`` to the library function of the matching
command, so ``quint-prep run`` does exactly what the commands do. Resume comes from the
commands themselves: a rerun skips every output that is up to date (see ``resume``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Iterator

from .config import SeriesConfig
from .findings import CheckReport
from .manifest import manifest_path
from .masks import MaskPlan, MaskResult, MaskSettings, convert_masks, plan_masks
from .masks_select import MaskResample
from .masks_series import series_from_manifest
from .masks_sources import SourceKind
from .series_check import check_series
from .downscale import DownscaleSettings, ImageResult, SeriesPlan, plan_series, with_windows
from .downscale_batch import OutputPlan, downscale_series, plan_outputs
from .errors import UsageError
from .parallel import Workers
from .series import discover


class Stage(str, Enum):
    """Stages of a series run; ``all`` runs every stage the config asks for, in order."""

    DOWNSCALE = "downscale"
    MASKS = "masks"
    CHECK = "check"
    SWEEP = "sweep"  # trial factors on a sample (make sweep); not part of ``all``
    ALL = "all"


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

def plan_downscale(config: SeriesConfig) -> SeriesPlan:
    """Read the series' headers and settle its one factor (config factor or max_size)."""
    return plan_series(config.image_sources(), factor=config.factor, max_size=config.max_size)


def dry_run_downscale(config: SeriesConfig, plan: SeriesPlan, *,
                      overwrite: bool = False) -> OutputPlan:
    """What the downscale stage would do per image (new, changed, up to date), writing nothing."""
    return plan_outputs(plan, config.output, downscale_settings(config, plan),
                        overwrite=overwrite)


def run_downscale(config: SeriesConfig, plan: SeriesPlan, workers: Workers, *,
                  overwrite: bool = False) -> Iterator[ImageResult]:
    """Downscale the series into ``config.output``; yields one result per image."""
    return downscale_series(plan, config.output, downscale_settings(config, plan),
                            sources=config.image_sources(), overwrite=overwrite, workers=workers)


def downscale_settings(config: SeriesConfig, plan: SeriesPlan) -> DownscaleSettings:
    """The config's downscale settings with the series' intensity window, as downscale does."""
    return with_windows(config.downscale_settings(plan.factor), plan)


# --- masks and check ------------------------------------------------------------------------

def masks_settings(config: SeriesConfig, *, overwrite: bool = False) -> MaskSettings:
    """The masks settings a config asks for (as ``quint-prep masks`` would take them)."""
    return MaskSettings(
        colour=config.colour, background=config.background, labels=config.labels,
        object_colour=config.object_colour, instance_ids=config.instance_ids,
        labels_table=config.labels_table,
        source=None if config.source == "auto" else SourceKind(config.source),
        resample=MaskResample(config.resample), overwrite=overwrite)


def plan_masks_stage(config: SeriesConfig, *, overwrite: bool = False) -> MaskPlan:
    """Read the config's segmentations and match them to the downscaled series in
    ``config.output`` (by its manifest: names and proportions), writing nothing."""
    if config.segmentations is None:
        raise UsageError("the config names no segmentations folder", config.path)
    manifest = manifest_path(config.output)
    if not manifest.exists():
        raise UsageError(f"stage masks needs the downscaled series first ({manifest} is missing): "
                         "run the downscale stage", config.path)
    return plan_masks([config.segmentations], masks_settings(config, overwrite=overwrite),
                      series_from_manifest(manifest))


def run_masks(config: SeriesConfig, plan: MaskPlan, *,
              overwrite: bool = False) -> Iterator[MaskResult]:
    """Masks stage: ``config.segmentations`` -> single-colour PNGs in ``config.masks_output``."""
    # The masks folder lies inside the downscale output (``output/segmentations``), which is
    # read one level deep only; the segmentations are the sources that must stay apart.
    return convert_masks(plan, config.masks_output, masks_settings(config, overwrite=overwrite),
                         sources=[config.segmentations] if config.segmentations else [])


def run_check(config: SeriesConfig) -> CheckReport:
    """Check stage: the downscaled series (and its masks) as the QUINT tools will see them."""
    segmentations = [config.masks_output] if config.segmentations is not None else None
    return check_series([config.output], segmentations, registration=config.check.registration,
                        colour=config.colour if segmentations else None)


# --- inputs, for make ----------------------------------------------------------------------

def input_paths(config: SeriesConfig) -> list[Path]:
    """Every file and folder a run reads: the config, the image folder and images, the
    segmentations folder and files, the registration. A change to any of them (or a file
    added to a folder) means the series must be brought up to date."""
    paths = [config.path.absolute()]
    image_folder = config.images.parent if config.images_is_glob else config.images
    paths.append(image_folder)
    paths.extend(p.absolute() for p in discover(config.image_sources()).images)
    if config.segmentations is not None and config.segmentations.is_dir():
        paths.append(config.segmentations)
        paths.extend(sorted(p for p in config.segmentations.iterdir()
                            if p.is_file() and not p.name.startswith(".")))
    if config.check.registration is not None:
        paths.append(config.check.registration)
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
