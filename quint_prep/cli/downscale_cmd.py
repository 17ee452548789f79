"""quint-prep downscale: the whole series with one factor, streamed, atomic, resumable."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated, Iterator, Optional

import pyvips
import typer

from ..downscale import (DownscaleSettings, ImageResult, OutputFormat, SeriesPlan,
                         downscale_series, plan_series)
from ..errors import EXIT_FAILED, UsageError
from ..manifest import manifest_path
from ..resample import Method
from .common import (Jobs, JsonOutput, Memory, Quiet, Scheduler, Sources, error_line,
                     image_bar_factory, print_json, reported, series_bar, size_option, warn,
                     workers_option)


@reported
def downscale(
    sources: Sources,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not a source folder).",
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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Rewrite outputs even when up to date, "
                                            "and replace files quint-prep did not write.")] = False,
    jobs: Jobs = None,
    memory: Memory = None,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Downscale every image of a series by ONE factor, keeping names and proportions.

    Each output is round(w*F) x round(h*F) and keeps its source's stem. Outputs are written
    atomically; a rerun skips what is up to date. OUT/quint-prep.json records the factor,
    the settings and every image. --jobs N processes N images at once (widest first).

    Example: quint-prep downscale scans/mouse12/ -o prepared/mouse12 --factor 0.25
    """
    if (factor is None) == (max_size is None):
        raise UsageError("give exactly one of --factor F or --max-size WxH")
    workers = workers_option(jobs, memory, scheduler)
    box = size_option(max_size) if max_size is not None else None
    plan = plan_series(sources, factor=factor, max_size=box)
    settings = DownscaleSettings(factor=plan.factor, format=fmt, quality=quality, method=method,
                                 keep_depth=keep_depth, keep_alpha=keep_alpha)
    results = downscale_series(plan, output, settings, sources=sources, overwrite=overwrite,
                               progress_for=image_bar_factory(quiet), workers=workers)
    document = report_downscale(plan, results, output, quiet=quiet, json_output=json_output)
    if document["counts"]["failed"]:
        raise typer.Exit(EXIT_FAILED)


def report_downscale(plan: SeriesPlan, results: Iterator[ImageResult], output: Path, *,
                     quiet: bool, json_output: bool, show_json: bool = True) -> dict:
    """Consume the results with a progress bar, print errors and the summary; return the
    summary document (what ``--json`` prints; ``run`` nests it under its stage)."""
    pyvips.cache_set_max(0)  # batch work: do not keep decoded regions of finished images
    for problem in plan.problems:
        error_line(str(problem))
    done: list[ImageResult] = []
    with closing(results), series_bar(len(plan.images), quiet) as bar:
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
    document = {
        "factor": plan.factor, "max_size": str(plan.max_size) if plan.max_size else None,
        "output": str(output), "manifest": str(manifest_path(output)), "counts": counts,
        "images": [r.to_json() for r in done],
        "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                   for p in plan.problems],
    }
    if json_output:
        if show_json:
            print_json(document)
    else:
        typer.echo(f"factor {plan.factor:.6g}: {counts['written']} written, "
                   f"{counts['up-to-date']} up to date, {counts['failed']} failed -> {output}")
        typer.echo(f"manifest: {manifest_path(output)}")
    return document
