"""quint-prep factor: the one factor that makes a whole series fit a box."""

from __future__ import annotations

import typer

from quint_prep.choices import DEFAULT_PERCENTILES_TEXT
from quint_prep.errors import EXIT_FAILED
from quint_prep.scale import DEFAULT_MAX_SIZE, factor_for_display, needed_factor
from quint_prep.cli.common import (Intensity, JsonOutput, MaxSize, Percentiles, Sources, error_line,
                     format_table, intensity_json, intensity_table, intensity_windows, print_json,
                     reported, size_option)


@reported
def factor(sources: Sources, max_size: MaxSize = DEFAULT_MAX_SIZE,
           intensity: Intensity = None, percentiles: Percentiles = DEFAULT_PERCENTILES_TEXT,
           json_output: JsonOutput = False) -> None:
    """Compute the ONE factor (<= 1) that makes the largest image of the series fit in
    --max-size, and the output size of every image under it (round(w·F) x round(h·F)).
    For 16-bit and float series it also shows each image's intensity range and the series
    window (see downscale --normalise), so outliers show before you commit.

    Example: quint-prep factor scans/mouse12/ --max-size 14000x10000
    """
    from quint_prep.series_plan import plan_series

    box = size_option(max_size)
    plan = plan_series(sources, max_size=box)
    # The largest image relative to the box limits the factor (when it fits, nothing does).
    limiting = min(plan.images, key=lambda info: needed_factor(box, info.size)) if plan.images else None
    capped = limiting is not None and needed_factor(box, limiting.size) >= 1.0
    show_intensity = intensity if intensity is not None else any(
        info.sample_format != "uchar" for info in plan.images)
    windows = intensity_windows(plan.images, percentiles) if show_intensity else None
    if json_output:
        print_json({
            "factor": plan.factor,
            "max_size": str(box),
            "limited_by": limiting.name if limiting and not capped else None,
            "largest": limiting.name if limiting else None,
            "images": [{"name": info.name, "source_width": info.size.width,
                        "source_height": info.size.height,
                        "width": plan.output_size(info).width,
                        "height": plan.output_size(info).height} for info in plan.images],
            "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                       for p in plan.problems],
            "intensity": intensity_json(windows) if windows else None,
        })
    else:
        rows = [[info.name, str(info.size), str(plan.output_size(info)),
                 f"{plan.output_size(info).megapixels:.1f}"] for info in plan.images]
        if rows:
            typer.echo(format_table(["name", "source", "output", "MP"], rows))
        for problem in plan.problems:
            error_line(str(problem))
        if windows is not None:
            typer.echo(intensity_table(windows))
        if capped:
            typer.echo(f"factor 1: every image already fits in {box}, none needs shrinking "
                       f"(the largest, {limiting.name}, is {limiting.size}); quint-prep never "
                       "enlarges")
        elif limiting is not None:
            typer.echo(f"factor {factor_for_display(plan.factor):g} fits every image in {box} "
                       f"(limited by {limiting.name}, {limiting.size})")
            typer.echo(f"use it: quint-prep downscale ... --max-size {box} "
                       f"(or --factor {factor_for_display(plan.factor):g})")
    if plan.problems:
        raise typer.Exit(EXIT_FAILED)
