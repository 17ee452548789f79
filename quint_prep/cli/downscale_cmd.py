"""quint-prep downscale: the whole series with one factor, streamed, atomic, resumable."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated, Iterator, Optional, Sequence

import typer

from ..colour_model import ColourModel, colour_bands
from ..downscale import (DownscaleSettings, ImageResult, OutputFormat, settle_colour_model,
                         with_windows)
from ..downscale_batch import downscale_series
from ..errors import UsageError
from ..outputs import guard_output_dir
from ..manifest import manifest_path
from ..normalise import (DEFAULT_PERCENTILES_TEXT, describe_window, parse_channels, parse_normalisation,
                         window_from_manifest)
from ..orientation import Orientation, parse_flip, parse_rotate
from ..quicknii import DESCRIPTOR_NAME
from ..registration_series import RegistrationFormat, RegistrationSettings
from ..resample import Method
from ..scale import factor_for_display
from ..sections import DetectSettings
from ..series_check import check_downscaled
from ..series_plan import SeriesPlan, duplicate_sections, plan_series
from .common import (Jobs, JsonOutput, Memory, Quiet, SceneOption, Scheduler, Sources, Wait,
                     error_line, exit_for_verdict, image_bar_factory, print_json, reported,
                     series_bar, size_option, warn, workers_option, writing)


@reported
def downscale(
    sources: Sources,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not the images folder).",
                                         show_default=False)],
    factor: Annotated[Optional[float], typer.Option(
        "--factor", "-f", help="One factor for every image, 0 < F <= 1 (0.25 = quarter size).")] = None,
    max_size: Annotated[Optional[str], typer.Option(
        "--max-size", metavar="WxH", help="Compute the factor so the largest image fits this box.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.PNG,
    quality: Annotated[int, typer.Option("--quality", help="JPEG quality (jpg only).")] = 90,
    method: Annotated[Method, typer.Option("--method", help="Resampling: area (box + lanczos3 "
                                           "remainder) or lanczos3 (libvips resize).")] = Method.AREA,
    keep_depth: Annotated[bool, typer.Option("--keep-depth", help="Keep 16-bit samples (png, tif) "
                                             "instead of scaling them to 8 bits.")] = False,
    keep_alpha: Annotated[bool, typer.Option("--keep-alpha", help="Keep an alpha channel (png, tif) "
                                             "instead of flattening it onto white.")] = False,
    normalise: Annotated[str, typer.Option(
        "--normalise", metavar="MODE", help="Intensity to 8 bits: series (one window for the whole "
        "series), image (per image), none (v/257 for 16-bit), fixed:LO,HI. Default: series for "
        "16-bit and float images, none for 8-bit.")] = "auto",
    percentiles: Annotated[str, typer.Option(
        "--percentiles", metavar="LO,HI", help="Percentiles that define the window.")] = DEFAULT_PERCENTILES_TEXT,
    normalise_from: Annotated[Optional[Path], typer.Option(
        "--normalise-from", metavar="MANIFEST", help="Reuse the intensity window recorded in "
        "another series' quint-prep.json.")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", metavar="N|NAME", help="Keep one channel (0-based index, or OME channel name).")] = None,
    channels: Annotated[Optional[str], typer.Option(
        "--channels", metavar="R,G,B", help="Map three channels to red, green, blue, e.g. 2,1,0.")] = None,
    colour_model: Annotated[ColourModel, typer.Option(
        "--colour-model", help="Bands of every output: rgb, grey, or auto (RGB when any section "
        "is colour). One model per series: ilastik needs the same channels in every image.")
        ] = ColourModel.AUTO,
    registration: Annotated[Optional[Path], typer.Option(
        "--registration", metavar="REG", help="Also write the registration series (QuickNII, "
        "VisuAlign, DeepSlice) to this folder, with the QuickNII series XML.")] = None,
    registration_size: Annotated[str, typer.Option(
        "--registration-size", metavar="WxH", help="Box for the registration series (one factor).")] = "1500x1000",
    registration_format: Annotated[RegistrationFormat, typer.Option(
        "--registration-format", help="Registration image format.")] = RegistrationFormat.PNG,
    rotate: Annotated[Optional[str], typer.Option(
        "--rotate", metavar="90|180|270", help="Rotate every section clockwise (after --flip).")] = None,
    flip: Annotated[Optional[str], typer.Option(
        "--flip", metavar="horizontal|vertical", help="Mirror every section (before --rotate).")] = None,
    orientation_csv: Annotated[Optional[Path], typer.Option(
        "--orientation", metavar="FILE.csv", help="Per-section orientation: columns name,rotate,flip "
        "(name = image stem); unlisted sections keep --rotate/--flip.")] = None,
    trim: Annotated[bool, typer.Option("--trim", help="Cut each image to its tissue box plus a "
                                       "margin first (the detection of 'sections').")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Rewrite outputs even when up to date, "
                                            "and replace files quint-prep did not write.")] = False,
    scene: SceneOption = None,
    jobs: Jobs = None,
    memory: Memory = None,
    scheduler: Scheduler = None,
    wait: Wait = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Downscale every image of a series by ONE factor, keeping names and proportions.

    Each output is round(w·F) x round(h·F) and keeps its source's stem. Outputs are written
    atomically; a rerun skips what is up to date. OUT/quint-prep.json records the factor,
    the settings and every image. --jobs N processes N images at once (widest first).

    Example: quint-prep downscale scans/mouse12/ -o prepared/mouse12 --factor 0.25
    """
    if (factor is None) == (max_size is None):
        raise UsageError("give exactly one of --factor F or --max-size WxH")
    workers = workers_option(jobs, memory, scheduler)
    box = size_option(max_size) if max_size is not None else None
    orientation = Orientation(parse_rotate(rotate), parse_flip(flip))
    plan = plan_series(sources, factor=factor, max_size=box, orientation=orientation,
                       orientation_csv=orientation_csv, scene=scene,
                       trim=DetectSettings() if trim else None)
    guard_output_dir(output, (), images=sources)  # a usage error before any per-file line
    reg_settings = (RegistrationSettings(registration, size_option(registration_size, "--registration-size"),
                                         registration_format, quality)
                    if registration is not None else None)
    if channel is not None and channels is not None:
        raise UsageError("give --channel or --channels, not both")
    picked = parse_channels(channel if channel is not None else channels)
    if channels is not None and picked is not None and len(picked) != 3:
        raise UsageError("--channels takes three channels (red,green,blue), e.g. 2,1,0")
    normalisation = parse_normalisation(normalise, percentiles)
    given = window_from_manifest(normalise_from) if normalise_from else None
    settings = with_windows(
        DownscaleSettings(factor=plan.factor, format=fmt, quality=quality, method=method,
                          keep_depth=keep_depth, keep_alpha=keep_alpha,
                          normalisation=normalisation, channels=picked,
                          orientations=plan.orientations, colour_model=colour_model),
        plan, given=given)
    settings = settle_colour_model(settings, plan.images)
    notes = []
    if settings.windows is not None and settings.windows.series is not None \
            and normalisation.mode != "image":
        notes.append(f"intensity window ({normalisation.mode}): "
                     f"{describe_window(settings.windows.series)}")
    converted = colour_model_note(settings, plan)
    if converted:
        notes.append(converted)
    if reg_settings is not None:
        notes.append(registration_note(reg_settings.folder))
    folders = [output, *([guard_output_dir(registration, (), images=sources)]
                         if registration else [])]
    with writing(*folders, wait=wait):
        results = downscale_series(plan, output, settings, sources=sources, overwrite=overwrite,
                                   registration=reg_settings,
                                   progress_for=image_bar_factory(quiet), workers=workers)
        document = report_downscale(plan, results, output, quiet=quiet, json_output=json_output,
                                    notes=notes)
    exit_for_verdict(document)


def colour_model_note(settings: DownscaleSettings, plan: SeriesPlan) -> str:
    """A line saying which sections the series' colour model converts ('' when none)."""
    rgb = settings.colour_model is ColourModel.RGB
    changed = [info for info in plan.images
               if (colour_bands(info, settings.channels) >= 3) != rgb
               and colour_bands(info, settings.channels) in (1, 3)]
    if not changed:
        return ""
    what = "grey section(s) written as RGB" if rgb else "colour section(s) written as grey"
    other = "grey" if rgb else "rgb"
    return (f"colour model {settings.colour_model.value} for the whole series: {len(changed)} "
            f"{what} ({', '.join(i.name for i in changed[:3])}"
            f"{', ...' if len(changed) > 3 else ''}); --colour-model {other} to choose the other")


def registration_note(folder: Path) -> str:
    """Where the registration series and its QuickNII series file are (a summary line)."""
    return f"registration series: {folder} (QuickNII series file: {folder / DESCRIPTOR_NAME})"


def report_downscale(plan: SeriesPlan, results: Iterator[ImageResult], output: Path, *,
                     quiet: bool, json_output: bool, show_json: bool = True,
                     notes: Sequence[str] = ()) -> dict:
    """Consume the results with a progress bar, print errors, the summary and the check
    verdict on what was written; return the summary document (what ``--json`` prints; ``run``
    nests it under its stage)."""
    for problem in plan.problems:
        error_line(str(problem))
    for number, names in duplicate_sections(plan.images).items():
        warn(f"section number {number} is used by {', '.join(names)}: QUINT pairs files by "
             "number, so each must be unique (see `quint-prep rename`)")
    done: list[ImageResult] = []
    with closing(results), series_bar(len(plan.images), quiet) as bar:  # type: ignore[arg-type]
        for result in results:
            done.append(result)
            if result.status == "failed":
                error_line(f"{result.source}: {result.message}")
            elif not quiet:
                for note in result.warnings:
                    warn(f"{result.source.name}: {note}")
            bar.update(1)
    counts = {status: sum(r.status == status for r in done)
              for status in ("written", "up-to-date", "failed")}
    counts["failed"] += len(plan.problems)
    # Names, and every output's size under the one factor, as the manifest records them.
    ok_outputs = counts["written"] + counts["up-to-date"]
    verdict = check_downscaled(output) if ok_outputs and manifest_path(output).exists() else None
    document = {
        "factor": plan.factor, "max_size": str(plan.max_size) if plan.max_size else None,
        "output": str(output), "manifest": str(manifest_path(output)), "counts": counts,
        "images": [r.to_json() for r in done],
        "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                   for p in plan.problems],
        "check": verdict.to_json() if verdict else None,
    }
    if json_output:
        if show_json:
            print_json(document)
    else:
        typer.echo(f"factor {factor_for_display(plan.factor):g}: {counts['written']} written, "
                   f"{counts['up-to-date']} up to date, {counts['failed']} failed -> {output}")
        for note in notes:
            typer.echo(note)
        typer.echo(f"manifest: {manifest_path(output)}")
        if verdict:  # name findings were already shown per image above
            for finding in (f for f in verdict.findings if not f.id.startswith("name.")):
                typer.echo(f"check: {finding.severity.value} {finding.id}: {finding.file}: "
                           f"{finding.message}", err=True)
            typer.echo(f"check: {verdict.summary()}")
    return document
