"""quint-prep downscale: the whole series with one factor, streamed, atomic, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from quint_prep.choices import (DEFAULT_PERCENTILES_TEXT, ColourModel, Method, OutputFormat,
                                RegistrationFormat)
from quint_prep.cli.common import (ImageJobs, JsonOutput, Memory, OptionalMaxSize, Overwrite, Quiet, SceneOption,
                     Scheduler, Sources, Wait, exit_if_failed, image_bar_factory, listener,
                     reported, size_option, workers_option, writing)
from quint_prep.errors import UsageError

if TYPE_CHECKING:  # the library is imported where the work starts: --help stays light
    from quint_prep.downscale.image import DownscaleSettings
    from quint_prep.series_plan import SeriesPlan


@reported
def downscale(
    sources: Sources,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not the images folder).",
                                         show_default=False)],
    factor: Annotated[Optional[float], typer.Option(
        "--factor", "-f", help="One factor for every image, 0 < F <= 1 (0.25 = quarter size).")] = None,
    max_size: OptionalMaxSize = None,
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
    overwrite: Overwrite = False,
    scene: SceneOption = None,
    jobs: ImageJobs = None,
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
    from quint_prep.cli.reports import registration_note, report_downscale
    from quint_prep.downscale.normalise import describe_window, parse_channels, parse_normalisation
    from quint_prep.downscale.series import DownscaleRequest, downscale_checked
    from quint_prep.orientation import Orientation, parse_flip, parse_rotate
    from quint_prep.outputs import guard_output_dir
    from quint_prep.registration.series import RegistrationSettings

    workers = workers_option(jobs, memory, scheduler)
    if channel is not None and channels is not None:
        raise UsageError("give --channel or --channels, not both")
    picked = parse_channels(channel if channel is not None else channels)
    if channels is not None and picked is not None and len(picked) != 3:
        raise UsageError("--channels takes three channels (red,green,blue), e.g. 2,1,0")
    normalisation = parse_normalisation(normalise, percentiles)
    reg_settings = (RegistrationSettings(registration, size_option(registration_size, "--registration-size"),
                                         registration_format, quality)
                    if registration is not None else None)
    request = DownscaleRequest(
        sources=tuple(sources), output=output, factor=factor,
        max_size=size_option(max_size) if max_size is not None else None,
        orientation=Orientation(parse_rotate(rotate), parse_flip(flip)),
        orientation_csv=orientation_csv, scene=scene, trim=trim, format=fmt, quality=quality,
        method=method, keep_depth=keep_depth, keep_alpha=keep_alpha, normalisation=normalisation,
        normalise_from=normalise_from, channels=picked, colour_model=colour_model,
        registration=reg_settings, overwrite=overwrite)
    plan = request.read_series()
    guard_output_dir(output, (), images=sources)  # a usage error before any per-file line
    settings = request.settings_for(plan)
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
        outcome = downscale_checked(request, plan, settings, progress_for=image_bar_factory(quiet),
                                    workers=workers, listener=listener(quiet))
    report_downscale(outcome, json_output=json_output, notes=notes)
    exit_if_failed(outcome.failed)


def colour_model_note(settings: DownscaleSettings, plan: SeriesPlan) -> str:
    """A line saying which sections the series' colour model converts ('' when none)."""
    from quint_prep.downscale.colour_model import colour_bands

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
