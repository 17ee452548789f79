"""quint-prep masks: segmentations to single-colour RGB PNGs with the images' names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from ..consumers import (CONSUMERS_FILE, ConsumerSettings, consumer_settings, series_factor_of,
                         write_consumer_settings)
from ..errors import QuintPrepError, UsageError
from ..manifest import manifest_path
from ..outputs import guard_output_dir
from ..masks import MaskPlan, MaskResult, MaskSettings, SizeMode, convert_masks, plan_masks
from ..masks_series import SeriesImage, series_from_folder, series_from_manifest
from ..masks_labels import LabelsTable, read_labels_table
from ..masks_select import MaskResample, parse_labels
from ..masks_manifest import series_totals
from ..masks_sources import SourceKind
from ..registration import Registration, read_registration
from ..findings import CheckReport
from ..series_check import check_series
from .common import (Jobs, JsonOutput, Memory, Quiet, Scheduler, Wait, error_line,
                     exit_for_verdict, format_table, image_bar_factory, print_json, reported,
                     series_bar, size_option, warn, workers_option, writing)

Segmentations = Annotated[list[Path], typer.Argument(
    help="Segmentation files or folders (ilastik, Cellpose, QuPath, FIJI, coloured PNG/TIFF).",
    metavar="SEGMENTATIONS", show_default=False)]


def parse_colour(text: str, option: str) -> tuple[int, int, int]:
    """``"255,0,0"`` -> (255, 0, 0); UsageError naming the option otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise UsageError(f"{option}: {text!r} is not R,G,B with three numbers 0-255, e.g. 255,0,0")
    return values  # type: ignore[return-value]


def labels_option(text: str | None, option: str = "--labels") -> tuple[int, ...] | None:
    """``"2,3"`` / ``"2-5"`` -> label values; UsageError naming the option otherwise."""
    if text is None:
        return None
    try:
        return parse_labels(text)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


def table_option(path: Path | None) -> LabelsTable:
    """The --labels-table CSV (an empty table when not given)."""
    return read_labels_table(path) if path is not None else LabelsTable()


InstanceIds = Annotated[Optional[str], typer.Option(
    "--instance-ids", help="Instance ids to keep in instance-label files (Cellpose, QuPath "
    "instances), e.g. 3 or 2-5 (default: every instance).")]
LabelsTableOption = Annotated[Optional[Path], typer.Option(
    "--labels-table", metavar="CSV", help="Labels per file or per tool: a CSV name,labels (name: "
    "a file name or stem, a glob like *_cp_masks*, or ilastik/cellpose/qupath/binary/rgb).")]


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
    source: Annotated[Optional[SourceKind], typer.Option(
        "--source", help="Force the tool the files come from (default: detected).")] = None,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="Class label values that are objects in class-label files (ilastik, "
        "QuPath classes), e.g. 2 or 2,3 or 2-5 (default: every non-zero label; ilastik files "
        "need it).")] = None,
    instance_ids: InstanceIds = None,
    labels_table: LabelsTableOption = None,
    object_colour: Annotated[Optional[str], typer.Option(
        "--object-colour", metavar="R,G,B", help="Colour of the objects in coloured inputs.")] = None,
    colour: Annotated[str, typer.Option("--colour", metavar="R,G,B",
                                        help="Object colour of the output.")] = "255,0,0",
    background: Annotated[str, typer.Option("--background", metavar="R,G,B",
                                            help="Background colour of the output.")] = "0,0,0",
    invert: Annotated[bool, typer.Option("--invert", help="Swap objects and background (for "
                                         "files whose LUT or photometric tag lies).")] = False,
    size: Annotated[SizeMode, typer.Option("--size", help="mask: keep each mask's size; image: "
                                           "resample to its image's size.")] = SizeMode.MASK,
    max_size: Annotated[Optional[str], typer.Option(
        "--max-size", metavar="WxH", help="Shrink every mask by ONE factor so the largest fits.")] = None,
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
        "--registration", help="QuickNII/VisuAlign/DeepSlice JSON or XML: warn about masks "
        "PyNutil would skip.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo masks even when up to date, "
                                            "and replace files quint-prep did not write.")] = False,
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
    if images is not None and manifest is not None:
        raise UsageError("give --images or --manifest, not both")
    workers = workers_option(jobs, memory, scheduler)
    settings = MaskSettings(
        colour=parse_colour(colour, "--colour"), background=parse_colour(background, "--background"),
        labels=labels_option(labels), instance_ids=labels_option(instance_ids, "--instance-ids"),
        labels_table=table_option(labels_table),
        object_colour=parse_colour(object_colour, "--object-colour") if object_colour else None,
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
        results = consume_masks(plan, convert_masks(plan, output, settings, sources=guarded,
                                                    progress_for=image_bar_factory(quiet),
                                                    workers=workers), quiet)
        document = report_masks(plan, results, output, settings, json_output=json_output,
                                series_folder=series_folder, registration=registered)
    exit_for_verdict(document)


def consume_masks(plan: MaskPlan, results: Iterator[MaskResult], quiet: bool) -> list[MaskResult]:
    """Run the conversion with a progress bar, printing problems and warnings as they come."""
    for path, reason in plan.set_aside:
        warn(f"{path}: skipped: {reason}")
    for note in plan.notes:
        warn(note)
    for problem in plan.problems:
        error_line(str(problem))
    done = []
    with series_bar(len(plan.jobs), quiet, unit="mask") as bar:
        for result in results:
            done.append(result)
            if result.status == "failed":
                error_line(f"{result.source}: {result.message}")
            for note in result.warnings:  # shown even with --quiet: they concern the result
                warn(f"{result.source.name}: {note}")
            bar.update(1)
    return done


def _registration(path: Path | None) -> Registration | None:
    """The --registration file, read before any mask is written (a bad file is a usage error)."""
    if path is None:
        return None
    try:
        return read_registration(path)
    except QuintPrepError as error:
        raise UsageError(f"--registration: {error}") from None


def _series(images: Path | None, manifest: Path | None) -> list[SeriesImage] | None:
    """The image series to name masks after, from --images or --manifest (None: neither)."""
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


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _row(result: MaskResult, resampled: bool) -> list[str]:
    counts = result.counts
    failed = result.status == "failed"
    row = [result.source.name, result.kind, result.labels or "-",
           _count(counts.instances) if counts else "-"]
    if resampled:
        row.append(_count(counts.objects_before) if counts else "-")
    row += [_count(counts.objects) if counts else "-",
            _count(counts.object_pixels) if counts else "-",
            f"{counts.object_fraction:.2%}" if counts else "-",
            str(result.output_size) if not failed else "-",
            result.output.name if not failed and result.output else "FAILED"]
    return row


def _totals_line(totals: dict) -> str:
    text = f"series: {totals.get('objects', 0):,} objects, {totals.get('object_pixels', 0):,} " \
           f"object pixels in {totals['masks']} mask{'s' if totals['masks'] != 1 else ''}"
    if "instances" in totals:
        text += f"; {totals['instances']:,} instances read"
    if "separated_pixels" in totals:
        text += f", {totals['separated_pixels']:,} px removed to separate touching instances"
    if "objects_before" in totals:
        text += (f"; resampled masks: {totals['objects_before']:,} objects before, merged "
                 f"{totals.get('merged', 0):,}, split {totals.get('split', 0):,}, lost "
                 f"{totals.get('lost', 0):,}")
    return text


def _consumers(results: list[MaskResult], output: Path, settings: MaskSettings, plan: MaskPlan,
               registration: Registration | None,
               series_folder: Path | None = None) -> ConsumerSettings | None:
    """The quantifiers' settings for what was written, saved next to the masks."""
    names = [r.output.name for r in results if r.status != "failed" and r.output]
    if not names:
        return None
    consumers = consumer_settings(names, settings.colour, settings.background,
                                  series_factor_of(series_folder), registration,
                                  folder=str(output), masks_factor=plan.factor)
    write_consumer_settings(output, consumers)
    return consumers


def report_masks(plan: MaskPlan, results: list[MaskResult], output: Path, settings: MaskSettings,
                 *, json_output: bool, series_folder: Path | None, show_json: bool = True,
                 registration: Registration | None = None) -> dict:
    """Print the summary table (or JSON), the counts, the upload-check verdict and the settings
    for the quantifiers (also written to OUT/quint-prep-consumers.json); return the summary
    document (``run`` nests it under its stage)."""
    # The upload checks on what was written: format, colours, names, pairing, proportions.
    verdict: CheckReport | None = None
    if series_folder is not None and any(r.status != "failed" for r in results):
        verdict = check_series([series_folder], [output], colour=settings.colour)
    consumers = _consumers(results, output, settings, plan, registration, series_folder)
    written = sum(r.status == "written" for r in results)
    current = sum(r.status == "up-to-date" for r in results)
    failed = len(results) - written - current + len(plan.problems)
    totals = series_totals([r.counts.to_json() for r in results if r.counts is not None])
    document = {
        "output": str(output), "factor": plan.factor,
        "colour": list(settings.colour), "background": list(settings.background),
        "resample": settings.resample.value,
        "counts": {"written": written, "up-to-date": current, "failed": failed},
        "totals": totals,
        "manifest": str(manifest_path(output)),
        "masks": [r.to_json() for r in results],
        "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                   for p in plan.problems],
        "check": verdict.to_json() if verdict else None,
        "consumers": consumers.to_json() if consumers else None,
    }
    if json_output:
        if show_json:
            print_json(document)
        return document
    resampled = any(r.counts and r.counts.objects_before is not None for r in results)
    rows = [_row(r, resampled) for r in results]
    headers = ["file", "source", "labels", "instances", *(["before"] if resampled else []),
               "objects", "object px", "fraction", "size", "output"]
    if rows:
        typer.echo(format_table(headers, rows))
    typer.echo(f"{written} written, {current} up to date, {failed} failed -> {output}")
    if written or current:
        typer.echo(_totals_line(totals))
    if verdict is not None:
        for finding in verdict.findings:
            typer.echo(f"check: {finding.severity.value} {finding.id}: {finding.file}: "
                       f"{finding.message}", err=True)
        typer.echo(f"check: {verdict.summary()}")
    if consumers is not None:
        typer.echo(f"settings for the quantifiers (also in {output / CONSUMERS_FILE}):")
        for line in consumers.lines():
            typer.echo(f"  {line}")
    return document
