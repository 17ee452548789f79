"""How the command line prints each command's result: shared by the command and by the
matching stage of ``run`` (no command module imports another)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import typer

from ..sweep import Recommendation
from ..sweep_page import NO_OBJECTS_NOTE, recommendation_text, sweep_json
from ..sweep_run import SectionSweep
from ..sweep_series import SweepOutcome
from .common import format_table, print_json, warn


# --- sweep ----------------------------------------------------------------------------------

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


def report_sweep(outcome: SweepOutcome, *, json_output: bool) -> None:
    """Print what a sweep made: the JSON summary, or the tables, the recommendation and where
    the page is."""
    if not outcome.labels_in_image:
        warn("libvips could not render text here: the sheets are unlabelled, index.html has the labels")
    recommendation = outcome.recommendation
    if recommendation is None:
        return
    if json_output:
        print_json(sweep_json(outcome.output, outcome.factors, outcome.sections, outcome.sheets,
                              recommendation, outcome.warnings, outcome.csv_written))
    else:
        _print_summary(outcome.output, outcome.sections, recommendation, outcome.csv_written)


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
