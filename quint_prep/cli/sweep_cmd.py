"""quint-prep sweep: try several factors on a sample of the series, with pictures and numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer

from ..downscale import DownscaleSettings, settle_colour_model
from ..errors import EXIT_FAILED, UsageError
from ..masks_labels import LabelsTable, blanket_notes
from ..masks_sources import SourceKind
from ..normalise import DEFAULT_PERCENTILES_TEXT, parse_normalisation, plan_windows
from ..outputs import guard_output_dir, remove_stale_temporaries
from ..resample import Method
from ..scale import DEFAULT_MAX_SIZE
from ..series import ImageInfo
from ..series_plan import SeriesPlan, duplicate_sections, plan_series
from ..sweep import (DEFAULT_FACTORS_TEXT, DEFAULT_SECTIONS, Recommendation, Region, mask_scale,
                     parse_factors, parse_picks, parse_region, pick_sample, recommend,
                     small_object_warnings)
from ..sweep_page import NO_OBJECTS_NOTE, recommendation_text, sweep_json, write_report
from ..sweep_run import (ObjectSettings, SectionSweep, collect_outputs, match_segmentations,
                         sweep_section, write_factors)
from .common import (JsonOutput, Quiet, Sources, Wait, error_line, format_table, print_json,
                     reported, series_bar, size_option, warn, writing)
from .masks_cmd import InstanceIds, LabelsTableOption, labels_option, parse_colour, table_option


def _objects(labels: str | None, object_colour: str | None, source: SourceKind | None,
             invert: bool, instance_ids: str | None,
             labels_table: Path | LabelsTable | None) -> ObjectSettings:
    colour = parse_colour(object_colour, "--object-colour") if object_colour else None
    table = labels_table if isinstance(labels_table, LabelsTable) else table_option(labels_table)
    return ObjectSettings(labels_option(labels), colour, source, invert,
                          labels_option(instance_ids, "--instance-ids"), table)


def _ratio_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _objects_table(sections: Sequence[SectionSweep]) -> str:
    rows = []
    for section in sections:
        for c in section.comparisons:
            rows.append([c.section, f"{c.factor:g}", c.mode, c.counts.objects,
                         _ratio_cell(c.objects_ratio), f"{c.counts.mean_size:.1f}",
                         _ratio_cell(c.size_ratio), f"{c.counts.area_fraction:.4f}",
                         _ratio_cell(c.area_ratio)])
    return format_table(["section", "factor", "mode", "objects", "kept", "mean px", "size vs full",
                         "area fraction", "area vs full"], rows)


def _factor_table(sections: Sequence[SectionSweep]) -> str:
    rows = []
    for section in sections:
        for o in section.outputs:
            microns = o.microns_per_pixel(section.info)
            rows.append([section.info.name, f"{o.factor:g}", str(o.size) if o.size else "",
                         f"{o.size.megapixels:.3g}" if o.size else "",
                         f"{microns:.3g}" if microns else "unknown", o.result.status])
    return format_table(["section", "factor", "size", "MP", "um/px", "status"], rows)


@reported
def sweep(
    sources: Sources,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not a source folder).",
                                         show_default=False)],
    factors: Annotated[str, typer.Option("--factors", metavar="F1,F2,...",
                                         help="Factors to try.")] = DEFAULT_FACTORS_TEXT,
    sections: Annotated[Optional[int], typer.Option(
        "--sections", metavar="N", help=f"Try N sections spread over the series (default {DEFAULT_SECTIONS}).",
        show_default=False)] = None,
    pick: Annotated[Optional[str], typer.Option(
        "--pick", metavar="s010,s050", help="Try these sections (by section number) instead.")] = None,
    segmentations: Annotated[Optional[list[Path]], typer.Option(
        "--segmentations", metavar="SEG", help="Full-resolution segmentations (files or folders, "
        "anything `masks` reads): count objects at every factor.")] = None,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="Class label values that are objects in class-label files (as in "
        "`masks`).")] = None,
    instance_ids: InstanceIds = None,
    labels_table: LabelsTableOption = None,
    object_colour: Annotated[Optional[str], typer.Option(
        "--object-colour", metavar="R,G,B", help="Object colour in coloured segmentations.")] = None,
    source: Annotated[Optional[SourceKind], typer.Option(
        "--source", help="Force the tool the segmentations come from.")] = None,
    invert: Annotated[bool, typer.Option("--invert", help="Swap objects and background in the "
                                         "segmentations.")] = False,
    region: Annotated[Optional[str], typer.Option(
        "--region", metavar="x,y,w,h", help="Region to show, in full-resolution pixels "
        "(default: the most detailed one).")] = None,
    keep_objects: Annotated[float, typer.Option(
        "--keep-objects", help="Share of objects a factor must keep.")] = 0.95,
    area_tolerance: Annotated[float, typer.Option(
        "--area-tolerance", help="Allowed relative change of the object area fraction.")] = 0.05,
    max_size: Annotated[str, typer.Option(
        "--max-size", metavar="WxH", help="Every image of the series must fit this box.")] = DEFAULT_MAX_SIZE,
    min_object_um: Annotated[Optional[float], typer.Option(
        "--min-object-um", metavar="D", help="Warn at factors where objects of D µm are under 3 px.")] = None,
    method: Annotated[Method, typer.Option("--method", help="Image resampling (as `downscale`).")] = Method.AREA,
    normalise: Annotated[str, typer.Option(
        "--normalise", metavar="MODE", help="Intensity to 8 bits, as `downscale` (window from "
        "the WHOLE series).")] = "auto",
    percentiles: Annotated[str, typer.Option(
        "--percentiles", metavar="LO,HI", help="Percentiles that define the window.")] = DEFAULT_PERCENTILES_TEXT,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Rewrite outputs even when up to date.")] = False,
    wait: Wait = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Downscale a few sections by several factors and show what each factor keeps.

    Writes OUT/fFACTOR/NAME.png (as `downscale` would), one contact sheet per section
    (OUT/NAME_sweep.png: the same region at every factor, real pixels enlarged), OUT/index.html,
    and with --segmentations OUT/objects.csv; prints the recommended factor.

    Example: quint-prep sweep scans/mouse12/ -o sweep/mouse12 --segmentations seg/mouse12 --labels 2
    """
    if sections is not None and pick is not None:
        raise UsageError("give --sections N or --pick s010,s050, not both")
    if not 0 < keep_objects <= 1:
        raise UsageError(f"--keep-objects {keep_objects}: give a share between 0 and 1, e.g. 0.95")
    if area_tolerance < 0:
        raise UsageError(f"--area-tolerance {area_tolerance}: give a share >= 0, e.g. 0.05")
    tried = parse_factors(factors)
    picks = parse_picks(pick) if pick is not None else None
    chosen_region = parse_region(region) if region is not None else None
    box = size_option(max_size)
    objects = _objects(labels, object_colour, source, invert, instance_ids, labels_table)
    normalisation = parse_normalisation(normalise, percentiles)
    guard_output_dir(output, [*sources, *(segmentations or [])])
    remove_stale_temporaries(output)  # sheets a killed run left half-written
    plan = plan_series(sources, factor=tried[0])
    for problem in plan.problems:
        error_line(str(problem))
    if not plan.images:
        raise typer.Exit(EXIT_FAILED)
    for number, names in duplicate_sections(plan.images).items():
        warn(f"section number {number} is used by {', '.join(names)}: QUINT pairs files by "
             "number, so each must be unique (see `quint-prep rename`)")
    numbers = [i.section.value if i.section else None for i in plan.images]
    sample = [plan.images[i] for i in pick_sample(numbers, DEFAULT_SECTIONS if sections is None else sections, picks)]
    windows = plan_windows(plan.images, normalisation)  # the WHOLE series, as downscale does
    for problem in windows.problems:
        warn(f"intensity window: {problem}")
    settings = settle_colour_model(  # the WHOLE series' colour model too, not the sample's
        DownscaleSettings(factor=tried[0], method=method, normalisation=normalisation,
                          windows=windows), plan.images)
    with writing(output, wait=wait):
        done, failed = _run(plan, sample, tried, output, settings, sources, overwrite,
                            segmentations, objects, chosen_region, quiet)
        recommendation = _recommendation(done, tried, [i.size for i in plan.images], box,
                                         bool(segmentations), keep_objects, area_tolerance)
        warnings = _warnings(done, tried, segmentations, min_object_um)
        for note in warnings:
            warn(note)
        sheets, labels_ok, csv_written = write_report(output, done, recommendation, warnings)
    if not labels_ok:
        warn("libvips could not render text here: the sheets are unlabelled, index.html has the labels")
    if json_output:
        print_json(sweep_json(output, tried, done, sheets, recommendation, warnings, csv_written))
    else:
        _print_summary(output, done, recommendation, csv_written)
    if failed + len(plan.problems):
        raise typer.Exit(EXIT_FAILED)


def _recommendation(done: Sequence[SectionSweep], tried: Sequence[float], sizes: list,
                    box: object, measured: bool, keep_objects: float,
                    area_tolerance: float) -> Recommendation:
    """The recommendation from the sections whose masks are usable (masks_judge), at the
    segmentations' scale."""
    used = [s for s in done if s.left_out is None]
    scale = mask_scale([(s.info.size, s.mask_size) for s in used if s.mask_size is not None])
    return recommend(tried, sizes, box,  # type: ignore[arg-type]
                     [c for s in used for c in s.comparisons] if measured else None,
                     keep_objects, area_tolerance,
                     left_out=[f"{s.info.name}: {s.left_out}" for s in done if s.left_out],
                     scale=scale)


def _print_summary(output: Path, done: Sequence[SectionSweep], recommendation: Recommendation,
                   csv_written: bool) -> None:
    typer.echo(_factor_table(done))
    if any(s.comparisons for s in done):
        typer.echo("")
        typer.echo(_objects_table(done))
        if any(s.full is not None and s.full.objects == 0 for s in done):
            typer.echo(NO_OBJECTS_NOTE)
    typer.echo("")
    for reason in recommendation.left_out:
        typer.echo(f"left out of the recommendation: {reason}")
    typer.echo(recommendation_text(recommendation))
    typer.echo(f"page: {output / 'index.html'}"
               + (f"  objects: {output / 'objects.csv'}" if csv_written else ""))


def _run(plan: SeriesPlan, sample: list[ImageInfo], tried: tuple[float, ...], output: Path,
         settings: DownscaleSettings, sources: list[Path], overwrite: bool,
         segmentations: list[Path] | None, objects: ObjectSettings, region: Region | None,
         quiet: bool) -> tuple[list[SectionSweep], int]:
    """Write the factors, match the segmentations, settle every section; count failures."""
    failed = 0
    results = []
    told: set[tuple[Path, str]] = set()  # one line per file and problem, not one per factor
    with series_bar(len(sample) * len(tried), quiet) as bar:
        for factor, result in write_factors(plan, sample, tried, output, settings, sources, overwrite):
            if result.status == "failed" and (result.source, result.message) not in told:
                error_line(f"{result.source}: {result.message} (at factor {factor:g})")
                told.add((result.source, result.message))
                failed += 1
            for note in () if quiet else result.warnings:
                if (result.source, note) not in told:
                    warn(f"{result.source.name}: {note}")
                    told.add((result.source, note))
            results.append((factor, result))
            bar.update(1)
    grouped = collect_outputs(results)
    masks, problems = ({}, [])
    if segmentations:
        masks, problems = match_segmentations(segmentations, plan.images, sample, objects.source)
    for problem in problems:
        error_line(str(problem))
    for note in blanket_notes(list(masks.values()), objects.selection()) if segmentations else ():
        warn(note)
    failed += len(problems)
    done: list[SectionSweep] = []
    with series_bar(len(sample), quiet, unit="section") as bar:
        for info in sample:
            section = sweep_section(info, grouped.get(info.stem, []), tried, region,
                                    masks.get(info.stem), objects)
            for problem in section.problems:
                error_line(problem)
            failed += len(section.problems)
            done.append(section)
            bar.update(1)
    return done, failed


def _warnings(done: Sequence[SectionSweep], tried: Sequence[float],
              segmentations: list[Path] | None, min_object_um: float | None) -> list[str]:
    notes = [note for section in done for note in section.notes]
    # judgements that leave a section out are told with the recommendation instead
    notes += [f"{s.mask.name}: {j.message}" for s in done if s.mask for j in s.judgements
              if not j.excludes]
    if segmentations:
        missing = [s.info.name for s in done if s.mask is None]
        if missing:
            notes.append(f"no segmentation for {', '.join(missing)}: not counted")
    if min_object_um is not None:
        notes += small_object_warnings(min_object_um, [s.info.microns_per_pixel for s in done], tried)
    return notes
