"""quint-prep sections: find every section on every slide, number them, write the plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from quint_prep.choices import Background, Order
from quint_prep.cli.common import JsonOutput, Overwrite, error_line, print_json, reported
from quint_prep.errors import EXIT_FAILED, UsageError

if TYPE_CHECKING:  # the library is imported where the work starts: --help stays light
    from quint_prep.sections.plan import Box

Slides = Annotated[list[Path], typer.Argument(
    help="Slide files or folders of slides (natural name order), in series order.",
    show_default=False)]


def parse_box(text: str, option: str = "--exclude") -> Box:
    """Parse ``X,Y,W,H`` (level-0 pixels) into a Box; UsageError naming the option if not."""
    from quint_prep.sections.plan import Box

    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not X,Y,WIDTH,HEIGHT in whole pixels") from None
    if min(x, y) < 0 or min(w, h) < 1:
        raise UsageError(f"{option} {text!r}: x and y must be 0 or more, width and height 1 or more")
    return Box(x, y, w, h)


@reported
def sections(
    slides: Slides,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PLAN", help="Plan folder: "
                                         "sections.csv and index.html are written there.",
                                         show_default=False)],
    prefix: Annotated[Optional[str], typer.Option(
        "--prefix", help="Names are PREFIX_sNNN (default: from the first slide's name).",
        show_default=False)] = None,
    start: Annotated[int, typer.Option("--start", help="Number of the first section.")] = 1,
    step: Annotated[int, typer.Option("--step", help="Increment between sections (2: every "
                                      "2nd section of the series is on these slides).")] = 1,
    background: Annotated[Background, typer.Option(
        "--background", help="white: dark tissue on a bright slide (brightfield); dark: bright "
        "tissue on black (fluorescence); auto: decide per slide.")] = Background.AUTO,
    min_area: Annotated[Optional[float], typer.Option(
        "--min-area", help="Drop pieces with less tissue than this (square micrometres when the "
        "slide records its pixel size, else square level-0 pixels). Default: 5% of the largest "
        "piece.", show_default=False)] = None,
    join: Annotated[Optional[float], typer.Option(
        "--join", help="Fragments closer than this are one section (micrometres, or level-0 "
        "pixels). Default: 0.5% of the slide's longer side.", show_default=False)] = None,
    margin: Annotated[Optional[float], typer.Option(
        "--margin", help="Added around each section's box (micrometres, or level-0 pixels). "
        "Default: 2% of the section's longer side.", show_default=False)] = None,
    order: Annotated[Order, typer.Option("--order", help="rows: top to bottom, each row left to "
                                         "right; columns: left to right, each top to bottom.")] = Order.ROWS,
    reverse: Annotated[bool, typer.Option("--reverse", help="Number each slide's sections in the "
                                          "opposite order.")] = False,
    exclude: Annotated[Optional[list[str]], typer.Option(
        "--exclude", metavar="X,Y,W,H", help="Ignore this area of every slide (level-0 pixels), "
        "e.g. the label; repeatable.", show_default=False)] = None,
    overwrite: Overwrite = False,
    json_output: JsonOutput = False,
) -> None:
    """Find the sections on whole slides, number them across the series, and write a plan.

    PLAN/sections.csv has one row per section (number, name, slide, scene, box in level-0
    pixels, tissue area, pixel size, rotate, flip); PLAN/index.html shows every slide with its
    boxes and numbers. Edit the CSV if needed, then cut the sections with
    'quint-prep downscale PLAN/sections.csv -o OUT --factor F'. Tissue is found on a small
    pyramid level or thumbnail: a pyramidal slide is never decoded whole.

    Example: quint-prep sections slides/ -o plan --prefix mouse12 --step 2
    """
    from quint_prep.sections.detect import DetectSettings
    from quint_prep.sections.page import INDEX_NAME, make_plan

    settings = DetectSettings(background=background, join=join, min_area=min_area, margin=margin,
                              order=order, reverse=reverse,
                              exclude=tuple(parse_box(text) for text in exclude or ()))
    result = make_plan(slides, output, settings, prefix=prefix, start=start, step=step,
                       overwrite=overwrite)
    for problem in result.problems:
        error_line(str(problem))
    if json_output:
        print_json({"plan": str(result.plan) if result.plan else None,
                    "slides": [{"slide": str(s.slide), "scene": s.scene, "sections": len(s.boxes),
                                "load": s.small.load, "background": s.background.value,
                                "notes": list(s.notes)} for s in result.slides],
                    "sections": [{"number": r.number, "name": r.name, "slide": str(r.slide),
                                  "scene": r.scene, **r.box.to_json()} for r in result.rows],
                    "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                               for p in result.problems]})
    else:
        for found in result.slides:
            notes = "".join(f"; {note}" for note in found.notes)
            typer.echo(f"{found.slide.name}: {len(found.boxes)} sections ({found.small.load}, "
                       f"{found.background.value} background){notes}")
        if result.plan is not None:
            typer.echo(f"{len(result.rows)} sections on {len(result.slides)} slides -> {result.plan}")
            typer.echo(f"check them in {result.plan.parent / INDEX_NAME}, edit {result.plan.name} "
                       "if needed, then: quint-prep downscale "
                       f"{result.plan} -o OUT --factor F")
        else:
            typer.echo("no slide could be read; no plan written")
    if result.problems:
        raise typer.Exit(EXIT_FAILED)
