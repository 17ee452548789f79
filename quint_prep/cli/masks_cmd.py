"""quint-prep masks: segmentations to single-colour RGB PNGs with the images' names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from quint_prep.choices import MaskResample, SizeMode
from quint_prep.cli.common import (InstanceIds, Invert, Jobs, JsonOutput, Labels, LabelsTableOption, MaskSource,
                     Memory, ObjectColour, OptionalMaxSize, Overwrite, Quiet, Scheduler, Wait,
                     colour_option, exit_if_failed, image_bar_factory, labels_option, listener,
                     reported, size_option, table_option, warn, workers_option, writing)
from quint_prep.errors import QuintPrepError, UsageError

if TYPE_CHECKING:  # the library is imported where the work starts: --help stays light
    from quint_prep.masks.matching import SeriesImage
    from quint_prep.registration.files import Registration

Segmentations = Annotated[list[Path], typer.Argument(
    help="Segmentation files or folders (ilastik, Cellpose, QuPath, FIJI, coloured PNG/TIFF).",
    metavar="SEGMENTATIONS", show_default=False)]


@reported
def masks(
    sources: Segmentations,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not a source or "
                                         "image folder).", show_default=False)],
    images: Annotated[Optional[Path], typer.Option(
        "--images", help="Folder of the section images: masks are named after them and their "
        "proportions checked.")] = None,
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", help="A downscale manifest (quint-prep.json, or its folder) instead of "
        "--images.")] = None,
    source: MaskSource = None,
    labels: Labels = None,
    instance_ids: InstanceIds = None,
    labels_table: LabelsTableOption = None,
    object_colour: ObjectColour = None,
    colour: Annotated[str, typer.Option("--colour", metavar="R,G,B",
                                        help="Object colour of the output.")] = "255,0,0",
    background: Annotated[str, typer.Option("--background", metavar="R,G,B",
                                            help="Background colour of the output.")] = "0,0,0",
    invert: Invert = False,
    size: Annotated[SizeMode, typer.Option("--size", help="mask: keep each mask's size; image: "
                                           "resample to its image's size.")] = SizeMode.MASK,
    max_size: OptionalMaxSize = None,
    resample: Annotated[MaskResample, typer.Option(
        "--resample", help="area: >=50% of the pixels under it; any: any pixel under it; "
        "nearest: fastest.")] = MaskResample.AREA,
    instances: Annotated[bool, typer.Option(
        "--instances", help="Read single-band labels as instances (one id per cell), as for "
        "Cellpose and QuPath instance exports.")] = False,
    keep_touching: Annotated[bool, typer.Option(
        "--keep-touching", help="Do not separate touching instances (they then count as one "
        "object in Nutil and PyNutil).")] = False,
    registration: Annotated[Optional[Path], typer.Option(
        "--registration", help="QuickNII, VisuAlign or DeepSlice JSON, or XML: warn about masks "
        "PyNutil would skip.")] = None,
    overwrite: Overwrite = False,
    jobs: Jobs = None,
    memory: Memory = None,
    scheduler: Scheduler = None,
    wait: Wait = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Turn segmentations into 8-bit RGB PNGs with exactly two colours (objects in --colour,
    everything else in --background), named IMAGE_STEM.png like the images of the series.

    Tool suffixes (_Simple Segmentation, _cp_masks, _masks, -labels, _mask, _seg, ...) are
    removed; with --images or --manifest each mask is matched to its image by name, then by
    section number, and its proportions are checked. --jobs N converts N masks at once
    (reported and recorded in the series' order).

    Example: quint-prep masks ilastik_out/ -o masks/mouse12 --images prepared/mouse12 --labels 2
    """
    from quint_prep.cli.reports import report_masks
    from quint_prep.masks.convert import MaskSettings, plan_masks
    from quint_prep.masks.series import convert_and_check
    from quint_prep.outputs import guard_output_dir

    if images is not None and manifest is not None:
        raise UsageError("give --images or --manifest, not both")
    workers = workers_option(jobs, memory, scheduler)
    settings = MaskSettings(
        colour=colour_option(colour, "--colour"), background=colour_option(background, "--background"),
        labels=labels_option(labels), instance_ids=labels_option(instance_ids, "--instance-ids"),
        labels_table=table_option(labels_table),
        object_colour=colour_option(object_colour, "--object-colour") if object_colour else None,
        source=source, invert=invert, resample=resample, size_mode=size,
        max_size=size_option(max_size) if max_size else None, instances=instances,
        keep_touching=keep_touching, overwrite=overwrite)
    registered = _registration(registration)
    plan = plan_masks(sources, settings, _series(images, manifest))
    guard_output_dir(output, sources, images=[images] if images else [])  # name the images folder
    guarded = [*sources, *([images] if images else []),
               *([manifest if manifest.is_dir() else manifest.parent] if manifest else [])]
    series_folder = images if images is not None else (
        (manifest if manifest.is_dir() else manifest.parent) if manifest is not None else None)
    with writing(guard_output_dir(output, guarded), wait=wait):
        outcome = convert_and_check(plan, output, settings, sources=guarded,
                                    series_folder=series_folder, registration=registered,
                                    progress_for=image_bar_factory(quiet), listener=listener(quiet),
                                    workers=workers)
    report_masks(outcome, json_output=json_output)
    exit_if_failed(outcome.failed)


def _registration(path: Path | None) -> Registration | None:
    """The --registration file, read before any mask is written (a bad file is a usage error)."""
    from quint_prep.registration.files import read_registration

    if path is None:
        return None
    try:
        return read_registration(path)
    except QuintPrepError as error:
        raise UsageError(f"--registration: {error}") from None


def _series(images: Path | None, manifest: Path | None) -> list[SeriesImage] | None:
    """The image series to name masks after, from --images or --manifest (None: neither)."""
    from quint_prep.masks.matching import series_from_folder, series_from_manifest

    if images is None and manifest is None:
        return None
    if images is not None:
        if not images.is_dir():
            raise UsageError(f"--images {images}: not a folder")
        series, unreadable = series_from_folder(images)
        for problem in unreadable:
            warn(f"image not usable for matching: {problem}")
    else:
        if not manifest.exists():  # type: ignore[union-attr]
            raise UsageError(f"--manifest {manifest}: no such folder (give the downscale output "
                             "folder, or its quint-prep.json)")
        series = series_from_manifest(manifest)  # type: ignore[arg-type]
    if not series:
        raise UsageError(f"{images or manifest}: no images to name the masks after; give the "
                         "folder of the section images (or a downscale output folder)")
    return series
