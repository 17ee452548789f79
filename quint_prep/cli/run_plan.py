"""quint-prep run --dry-run: print the plan of every stage (``dry_run``), in order, writing
nothing. The plan is valid (exit 0) when the run would fail no file; files it would fail are
listed and make the dry run exit 1, as the run would; a config the run refuses exits 2.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import typer

from quint_prep.config import SeriesConfig
from quint_prep.dry_run import (CheckDryRun, DownscaleDryRun, MasksDryRun, StageDryRun, SweepDryRun,
                       dry_run_stage, series_for_dry_run)
from quint_prep.manifest import manifest_path
from quint_prep.registration.quicknii import DESCRIPTOR_NAME
from quint_prep.resume import PlanStatus
from quint_prep.runner import Stage
from quint_prep.cli.common import error_line, format_table


def dry_run(settings: SeriesConfig, stages: Sequence[Stage], *, overwrite: bool,
            json_output: bool) -> dict:
    """Print (or return, for --json) the plan of each stage; ``failed`` counts the files the
    run would fail."""
    show = not json_output
    plan, after = series_for_dry_run(settings, stages)
    documents: dict[str, dict] = {}
    failed = 0
    for stage in stages:
        if show:
            typer.echo(f"== {settings.name}: {stage.value} (dry run)")
        planned = dry_run_stage(settings, stage, plan, after, overwrite=overwrite)
        if planned is None:
            continue
        for line in planned.errors:
            error_line(line)
        if show:
            _print(settings, planned)
        documents[stage.value] = planned.to_json()
        failed += planned.failed
    if show:
        typer.echo(f"dry run: nothing written; the run would fail {failed} file(s) (see the "
                   "errors above): exit 1" if failed else
                   "dry run: nothing written; the plan is valid")
    return {"dry_run": True, "ok": not failed, "stages": documents}


def _summary(counts: Mapping[PlanStatus, int], empty: str) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or empty


def _rgb(colour: Sequence[int]) -> str:
    return ",".join(map(str, colour))


def _print(settings: SeriesConfig, planned: StageDryRun) -> None:
    if isinstance(planned, DownscaleDryRun):
        _print_downscale(settings, planned)
    elif isinstance(planned, MasksDryRun):
        _print_masks(settings, planned)
    elif isinstance(planned, CheckDryRun):
        _print_check(settings, planned)
    else:
        _print_sweep(settings, planned)


def _print_downscale(settings: SeriesConfig, planned: DownscaleDryRun) -> None:
    entries = planned.outputs.entries
    rows = [[e.info.name, e.output.name, str(e.oriented), e.decision.status, e.decision.reason]
            for e in entries]
    if rows:
        typer.echo(format_table(["source", "output", "size", "status", "why"], rows))
    typer.echo(f"factor {planned.plan.factor:.6g}: would write to {settings.output}: "
               f"{_summary(planned.counts, 'no images')}")
    registration = planned.registration
    if registration is not None:
        folder = registration.settings.folder
        typer.echo(f"registration series: {registration.images} image(s) at factor "
                   f"{registration.factor:.6g} of these (box {registration.settings.box}) "
                   f"into {folder}, QuickNII series file {folder / DESCRIPTOR_NAME}")


def _print_masks(settings: SeriesConfig, planned: MasksDryRun) -> None:
    masks = planned.masks
    matched = (f"the series the downscale stage above would leave in {settings.output}"
               if planned.after_downscale else f"the downscaled series in {settings.output} "
               f"(its manifest {manifest_path(settings.output).name})")
    typer.echo(f"would read {len(masks.jobs) + len(masks.problems)} segmentation(s) from "
               f"{settings.segmentations}, matched by name and proportions to {matched}")
    rows = [[p.job.mask.path.name, p.output.name, str(p.job.target), p.decision.status,
             p.decision.reason] for p in planned.planned]
    if rows:
        typer.echo(format_table(["segmentation", "output", "size", "status", "why"], rows))
    typer.echo(f"would write single-colour PNGs (objects {_rgb(settings.colour)} on "
               f"{_rgb(settings.background)}) to {settings.masks_output}: "
               f"{_summary(planned.counts, 'no masks')}")


def _print_check(settings: SeriesConfig, planned: CheckDryRun) -> None:
    masks, registration = planned.masks, planned.registration
    what = (f"the {planned.images} image(s) the downscale stage above would leave in "
            f"{settings.output}" if planned.images is not None else f"{settings.output}")
    typer.echo(f"would check {what}" + (f" and the masks in {masks}" if masks else "")
               + (f" against {registration}" if registration else "")
               + ": formats, names, sizes, pairing" + (", mask colours" if masks else ""))


def _print_sweep(settings: SeriesConfig, planned: SweepDryRun) -> None:
    factors = ", ".join(f"{f:g}" for f in planned.factors)
    objects = (f", counting the objects of their segmentations in {settings.segmentations}"
               if settings.segmentations else "")
    sample = planned.sample
    typer.echo(f"would try factors {factors} on {len(sample)} of {len(planned.plan.images)} "
               f"section(s) ({', '.join(i.name for i in sample) or 'none'}){objects}, "
               f"into {settings.sweep_output} (page: {settings.sweep_output / 'index.html'})")
