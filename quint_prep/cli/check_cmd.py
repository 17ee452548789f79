"""quint-prep check: is a series ready for upload to the QUINT tools? Every finding, one verdict per file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from quint_prep.cli.common import JsonOutput, Quiet, Sources, colour_option, print_json, reported, series_bar
from quint_prep.errors import EXIT_FAILED, UsageError


@reported
def check(
    sources: Sources,
    segmentations: Annotated[Optional[list[Path]], typer.Option(
        "--segmentations", "-s", help="Segmentation PNGs (files or folder) to pair with the images.",
        show_default=False)] = None,
    registration: Annotated[Optional[Path], typer.Option(
        "--registration", "-r", help="QuickNII / VisuAlign / DeepSlice JSON, WebAlign .waln or "
        "QuickNII XML naming the sections.", show_default=False)] = None,
    colour: Annotated[Optional[str], typer.Option(
        "--colour", "--color", metavar="R,G,B", help="The object colour every segmentation must "
        "contain, e.g. 255,0,0.", show_default=False)] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Count segmentation colours in "
                                      "this many processes (one per CPU core is fastest).")] = 1,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Check a series before uploading it to the QUINT tools: names and section numbers,
    segmentation format and colours, proportions and the one factor, sizes, registration.

    Reads image headers only, plus a streaming colour count of each segmentation. Exit 0 when
    nothing is an error (warnings alone pass), 1 when something is.

    Example: quint-prep check prepared/mouse12 -s segmentations/mouse12 --colour 255,0,0
    """
    from quint_prep.check.files import check_series
    from quint_prep.cli.reports import report_text

    wanted = colour_option(colour, "--colour") if colour is not None else None
    if registration is not None and not registration.is_file():
        raise UsageError(f"{registration}: no such registration file")
    with series_bar(0, quiet, unit="file") as bar:
        report = check_series(sources, segmentations, registration=registration, colour=wanted,
                              progress=lambda _path: bar.update(1), jobs=jobs)
    if json_output:
        print_json(report.to_json())
    else:
        typer.echo(report_text(report, wanted))
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
