"""How the command line prints each command's result: shared by the command and by the
matching stage of ``run`` (no command module imports another)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import typer

from quint_prep.choices import DESCRIPTOR_NAME
from quint_prep.cli.common import format_table, print_json, warn
from quint_prep.scale import factor_for_display
from quint_prep.status import Status

if TYPE_CHECKING:  # each report imports what it prints: downscale does not load masks or sweep
    from quint_prep.check.findings import CheckReport
    from quint_prep.downscale.series import DownscaleOutcome
    from quint_prep.masks.colours import Colour
    from quint_prep.masks.convert import MaskResult
    from quint_prep.masks.series import MasksOutcome
    from quint_prep.sweep.decide import Recommendation
    from quint_prep.sweep.sample import SectionSweep
    from quint_prep.sweep.series import SweepOutcome


# --- check ----------------------------------------------------------------------------------

def report_text(report: CheckReport, colour: Colour | None) -> str:
    """The readable report: one verdict per file, every finding with what to do, a summary."""
    rows = [[v.file.name, v.role, v.verdict, " ".join(v.ids) or "-"] for v in report.verdicts()]
    lines = [format_table(["file", "role", "verdict", "findings"], rows), ""]
    order = {"error": 0, "warning": 1}
    for finding in sorted(report.findings, key=lambda f: order[f.severity.value]):
        where = finding.file.name if finding.file else "series"
        lines.append(f"{finding.severity.value:<7}  {finding.id:<26}  {where}: {finding.message}")
    if report.findings:
        lines.append("")
    if report.factor is not None:
        lines.append(f"segmentation factor of the series: {report.factor:.6g}")
    if colour is not None:
        bgr = list(reversed(colour))
        lines.append(f"object colour {colour[0]},{colour[1]},{colour[2]}: pass pixel_id={bgr} to "
                     "PyNutil (it compares BGR), the RGB value to the workbench and Nutil")
    lines.append(report.summary())
    return "\n".join(lines)


# --- downscale ------------------------------------------------------------------------------

def registration_note(folder: Path) -> str:
    """Where the registration series and its QuickNII series file are (a summary line)."""
    return f"registration series: {folder} (QuickNII series file: {folder / DESCRIPTOR_NAME})"


def report_downscale(outcome: DownscaleOutcome, *, json_output: bool, show_json: bool = True,
                     notes: Sequence[str] = ()) -> dict:
    """Print the summary (or JSON) and the check verdict on what was written; return the
    summary document (what ``--json`` prints; ``run`` nests it under its stage)."""
    from quint_prep.manifest import manifest_path

    document = outcome.to_json()
    counts, output, verdict = outcome.counts, outcome.output, outcome.check
    if json_output:
        if show_json:
            print_json(document)
    else:
        typer.echo(f"factor {factor_for_display(outcome.plan.factor):g}: {counts.written} written, "
                   f"{counts.up_to_date} up to date, {counts.failed} failed -> {output}")
        for note in notes:
            typer.echo(note)
        typer.echo(f"manifest: {manifest_path(output)}")
        if verdict:  # name findings were already shown per image above
            for finding in (f for f in verdict.findings if not f.id.startswith("name.")):
                typer.echo(f"check: {finding.severity.value} {finding.id}: {finding.file}: "
                           f"{finding.message}", err=True)
            typer.echo(f"check: {verdict.summary()}")
    return document


# --- masks ----------------------------------------------------------------------------------

def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _row(result: MaskResult, resampled: bool) -> list[str]:
    counts = result.counts
    failed = result.status == Status.FAILED
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


def report_masks(outcome: MasksOutcome, *, json_output: bool, show_json: bool = True) -> dict:
    """Print the summary table (or JSON), the counts, the upload-check verdict and the settings
    for the quantifiers (written to OUT/quint-prep-consumers.json); return the summary
    document (``run`` nests it under its stage)."""
    from quint_prep.masks.consumers import CONSUMERS_FILE

    document = outcome.to_json()
    if json_output:
        if show_json:
            print_json(document)
        return document
    results, output, counts = outcome.results, outcome.output, outcome.counts
    verdict, consumers = outcome.check, outcome.consumers
    resampled = any(r.counts and r.counts.objects_before is not None for r in results)
    rows = [_row(r, resampled) for r in results]
    headers = ["file", "source", "labels", "instances", *(["before"] if resampled else []),
               "objects", "object px", "fraction", "size", "output"]
    if rows:
        typer.echo(format_table(headers, rows))
    typer.echo(f"{counts.written} written, {counts.up_to_date} up to date, {counts.failed} "
               f"failed -> {output}")
    if counts.ok_outputs:
        typer.echo(_totals_line(outcome.totals))
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


def report_sweep(outcome: SweepOutcome, *, json_output: bool, show_json: bool = True,
                 ) -> dict | None:
    """Print what a sweep made: the JSON summary (unless ``show_json`` is False: the caller
    nests it), or the tables, the recommendation and where the page is. Returns the JSON
    summary (None without a recommendation)."""
    from quint_prep.sweep.page import sweep_json

    if not outcome.labels_in_image:
        warn("libvips could not render text here: the sheets are unlabelled, index.html has the labels")
    recommendation = outcome.recommendation
    if recommendation is None:
        return None
    document = sweep_json(outcome.output, outcome.factors, outcome.sections, outcome.sheets,
                          recommendation, outcome.warnings, outcome.csv_written)
    if json_output and show_json:
        print_json(document)
    elif not json_output:
        _print_summary(outcome.output, outcome.sections, recommendation, outcome.csv_written)
    return document


def _print_summary(output: Path, done: Sequence[SectionSweep], recommendation: Recommendation,
                   csv_written: bool) -> None:
    from quint_prep.sweep.page import NO_OBJECTS_NOTE, recommendation_text

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
