"""quint-prep run --dry-run: the plan of every stage, in order, writing nothing.

Each later stage is planned on what the stages before it would leave: the masks are matched
to the series the downscale stage would write (not to a manifest that does not exist yet).
The plan is valid (exit 0) when the run would fail no file; files it would fail are listed
and make the dry run exit 1, as the run would; a config the run refuses exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import typer

from ..config import SeriesConfig
from ..errors import InputError
from ..manifest import manifest_path
from ..quicknii import DESCRIPTOR_NAME
from ..resume import Decision, PlanStatus
from ..status import Status
from ..runner import (Stage, dry_run_downscale, plan_downscale, plan_mask_outputs,
                      plan_masks_stage, plan_registration, projected_series, sweep_sample)
from ..series_plan import SeriesPlan
from ..sweep import DEFAULT_FACTORS
from .common import error_line, format_table


def dry_run(settings: SeriesConfig, stages: Sequence[Stage], *, overwrite: bool,
            json_output: bool) -> dict:
    """Print (or return, for --json) the plan of each stage; ``failed`` counts the files the
    run would fail."""
    show = not json_output
    plan = plan_downscale(settings) if {Stage.DOWNSCALE, Stage.SWEEP} & set(stages) else None
    after = plan if Stage.DOWNSCALE in stages else None  # what the later stages will find
    documents: dict[str, dict] = {}
    for stage in stages:
        if show:
            typer.echo(f"== {settings.name}: {stage.value} (dry run)")
        if stage is Stage.MASKS:
            documents[stage.value] = _masks(settings, after, overwrite, show)
        elif stage is Stage.CHECK:
            documents[stage.value] = _check(settings, after, show)
        elif plan is not None:
            documents[stage.value] = (_downscale(settings, plan, overwrite, show)
                                      if stage is Stage.DOWNSCALE else _sweep(settings, plan, show))
    failed = sum(doc["counts"].get(Status.FAILED, 0) for doc in documents.values())
    if show:
        typer.echo(f"dry run: nothing written; the run would fail {failed} file(s) (see the "
                   "errors above): exit 1" if failed else
                   "dry run: nothing written; the plan is valid")
    return {"dry_run": True, "ok": not failed, "stages": documents}


def _statuses(decisions: Sequence[Decision]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for decision in decisions:
        counts[decision.status] = counts.get(decision.status, 0) + 1
    return counts


def _summary(counts: dict[str, int], empty: str) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or empty


def _problems(problems: Sequence[InputError]) -> int:
    for problem in problems:
        error_line(str(problem))
    return len(problems)


def _downscale(settings: SeriesConfig, plan: SeriesPlan, overwrite: bool, show: bool) -> dict:
    outputs = dry_run_downscale(settings, plan, overwrite=overwrite)
    registration = plan_registration(settings, plan)
    failed = _problems(plan.problems)
    counts = _statuses([e.decision for e in outputs.entries])
    failed += counts.get(PlanStatus.REFUSED, 0)
    for entry in outputs.entries:
        if entry.decision.status == PlanStatus.REFUSED:
            error_line(f"{entry.info.path}: {entry.decision.reason}")
    if show:
        rows = [[e.info.name, e.output.name, str(e.oriented), e.decision.status, e.decision.reason]
                for e in outputs.entries]
        if rows:
            typer.echo(format_table(["source", "output", "size", "status", "why"], rows))
        typer.echo(f"factor {plan.factor:.6g}: would write to {settings.output}: "
                   f"{_summary(counts, 'no images')}")
        if registration is not None:
            folder = registration.settings.folder
            typer.echo(f"registration series: {registration.images} image(s) at factor "
                       f"{registration.factor:.6g} of these (box {registration.settings.box}) "
                       f"into {folder}, QuickNII series file {folder / DESCRIPTOR_NAME}")
    return {"factor": plan.factor, "output": str(settings.output),
            "counts": {**counts, Status.FAILED.value: failed},
            "registration": None if registration is None else {
                "folder": str(registration.settings.folder), "factor": registration.factor,
                "images": registration.images},
            "images": [{"source": str(e.info.path), "output": str(e.output),
                        "width": e.oriented.width, "height": e.oriented.height,
                        "status": e.decision.status, "reason": e.decision.reason}
                       for e in outputs.entries]}


def _masks(settings: SeriesConfig, plan: SeriesPlan | None, overwrite: bool, show: bool) -> dict:
    """``plan``: the downscale stage runs first (match against what it would write); None:
    this stage alone, on the series the manifest records (as the run would)."""
    series = projected_series(settings, plan) if plan is not None else None
    masks = plan_masks_stage(settings, overwrite=overwrite, series=series)
    planned = plan_mask_outputs(settings, masks, overwrite=overwrite)
    failed = _problems(masks.problems)
    counts = _statuses([p.decision for p in planned])
    failed += counts.get(PlanStatus.REFUSED, 0)
    for entry in planned:
        if entry.decision.status == PlanStatus.REFUSED:
            error_line(f"{entry.job.mask.path}: {entry.decision.reason}")
    matched = (f"the series the downscale stage above would leave in {settings.output}"
               if plan is not None else f"the downscaled series in {settings.output} "
               f"(its manifest {manifest_path(settings.output).name})")
    if show:
        typer.echo(f"would read {len(masks.jobs) + len(masks.problems)} segmentation(s) from "
                   f"{settings.segmentations}, matched by name and proportions to {matched}")
        rows = [[p.job.mask.path.name, p.output.name, str(p.job.target), p.decision.status,
                 p.decision.reason] for p in planned]
        if rows:
            typer.echo(format_table(["segmentation", "output", "size", "status", "why"], rows))
        typer.echo(f"would write single-colour PNGs (objects {_rgb(settings.colour)} on "
                   f"{_rgb(settings.background)}) to {settings.masks_output}: "
                   f"{_summary(counts, 'no masks')}")
    return {"output": str(settings.masks_output), "counts": {**counts, Status.FAILED.value: failed},
            "masks": [{"source": str(p.job.mask.path), "output": str(p.output),
                       "width": p.job.target.width, "height": p.job.target.height,
                       "status": p.decision.status, "reason": p.decision.reason}
                      for p in planned]}


def _rgb(colour: Sequence[int]) -> str:
    return ",".join(map(str, colour))


def _check(settings: SeriesConfig, plan: SeriesPlan | None, show: bool) -> dict:
    masks = settings.masks_output if settings.segmentations is not None else None
    registration = settings.check.registration
    missing = registration is not None and not Path(registration).is_file()
    if missing:
        error_line(f"{registration}: no such file ([check] registration): the check would fail")
    if show:
        what = (f"the {len(plan.images)} image(s) the downscale stage above would leave in "
                f"{settings.output}" if plan is not None else f"{settings.output}")
        typer.echo(f"would check {what}" + (f" and the masks in {masks}" if masks else "")
                   + (f" against {registration}" if registration else "")
                   + ": formats, names, sizes, pairing" + (", mask colours" if masks else ""))
    return {"output": str(settings.output), "segmentations": str(masks) if masks else None,
            "registration": str(registration) if registration else None,
            "counts": {Status.FAILED.value: int(missing)}}


def _sweep(settings: SeriesConfig, plan: SeriesPlan, show: bool) -> dict:
    sample = sweep_sample(plan) if plan.images else []
    failed = _problems(plan.problems)  # the sweep fails them, as the downscale stage does
    if show:
        factors = ", ".join(f"{f:g}" for f in DEFAULT_FACTORS)
        objects = (f", counting the objects of their segmentations in {settings.segmentations}"
                   if settings.segmentations else "")
        typer.echo(f"would try factors {factors} on {len(sample)} of {len(plan.images)} "
                   f"section(s) ({', '.join(i.name for i in sample) or 'none'}){objects}, "
                   f"into {settings.sweep_output} (page: {settings.sweep_output / 'index.html'})")
    return {"output": str(settings.sweep_output), "factors": list(DEFAULT_FACTORS),
            "sections": [str(i.path) for i in sample], "counts": {Status.FAILED.value: failed}}
