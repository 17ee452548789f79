"""quint-prep run: bring a series up to date from its config file, stage by stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from quint_prep.choices import Stage
from quint_prep.cli.common import (RunJobs, JsonOutput, Memory, Overwrite, Quiet, Scheduler, Wait, listener, print_json,
                     reported, warn, workers_option, writing)
from quint_prep.errors import EXIT_FAILED, QuintPrepError
from quint_prep.status import Status

if TYPE_CHECKING:  # the library is imported where the work starts: --help stays light
    from quint_prep.config import SeriesConfig
    from quint_prep.parallel import Workers


@reported
def run(
    config: Annotated[Path, typer.Argument(help="The series config (TOML), e.g. configs/mouse12.toml.",
                                           metavar="CONFIG", show_default=False)],
    stage: Annotated[Stage, typer.Option("--stage", help="Run one stage, or all of them in "
                                         "order (downscale, masks, check).")] = Stage.ALL,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan of every stage (per "
                                          "image and mask: new, changed, up to date, and why); "
                                          "write nothing. Exit 1 when files would fail.")] = False,
    overwrite: Overwrite = False,
    jobs: RunJobs = None,
    memory: Memory = None,
    scheduler: Scheduler = None,
    make_deps: Annotated[Optional[str], typer.Option(
        "--make-deps", metavar="TARGET", help="Print a makefile rule making TARGET depend on "
        "every input of the series, and run nothing (used by `make series`).")] = None,
    wait: Wait = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Bring a series up to date from its config: downscale, then masks, then check.

    Command-line options override the config, which overrides the defaults. A rerun only
    redoes what changed (new or modified images, another factor or setting).

    Config keys: every key, its values and its default are documented in configs/example.toml
    (copy it to start a series) and in docs/run.md.

    Example: quint-prep run configs/mouse12.toml --jobs 2
    """
    from quint_prep.cli import run_plan
    from quint_prep.config import resolve
    from quint_prep.runner import make_dependencies, stages_to_run, workers_for

    cli_memory = workers_option(None, memory, None).memory
    settings = resolve(config, {"jobs": jobs, "memory": memory})
    if make_deps is not None:
        typer.echo(make_dependencies(settings, make_deps), nl=False)
        return
    stages = stages_to_run(stage, settings)
    if dry_run:
        plan = run_plan.dry_run(settings, stages, overwrite=overwrite, json_output=json_output)
        if json_output:
            print_json({"config": str(config), "name": settings.name, **plan})
        if not plan["ok"]:
            raise typer.Exit(EXIT_FAILED)
        return
    workers = workers_for(settings, scheduler, cli_jobs=jobs, cli_memory=cli_memory)
    report: dict = {"config": str(config), "name": settings.name, "stages": {}}
    failed: list[str] = []  # the stages that failed a file, or whose check found an error
    with writing(*_output_folders(settings, stages), wait=wait):
        for chosen in stages:
            if not (quiet or json_output):
                typer.echo(f"== {settings.name}: {chosen.value}")
            done = STAGES[chosen](settings, workers, overwrite=overwrite, quiet=quiet,
                                  json_output=json_output)
            report["stages"][chosen.value] = done.document
            if done.failed:
                failed.append(chosen.value)
            if not done.usable:
                warn("the downscale stage produced no image: the later stages are skipped")
                break
    report["ok"] = not failed
    if json_output:
        print_json(report)
    else:  # one line that says how the run ends, as the exit code does
        typer.echo(f"== {settings.name}: " + ", ".join(
            f"{name} {'failed' if name in failed else 'ok'}" for name in report["stages"])
            + (": exit 1" if failed else ""))
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _output_folders(settings: SeriesConfig, stages: tuple[Stage, ...]) -> list[Path]:
    """The folders the stages write (created, refused when inside a source folder), so the
    run holds their writer locks from start to end."""
    from quint_prep.manifest import manifest_path
    from quint_prep.outputs import guard_output_dir

    images = settings.image_sources()
    wanted = {Stage.DOWNSCALE: [(settings.output, images),
                                *([(settings.registration, images)] if settings.registration
                                  else [])],
              Stage.MASKS: [(settings.masks_output,
                             [settings.segmentations] if settings.segmentations else [])],
              Stage.SWEEP: [(settings.sweep_output, images)]}
    if Stage.DOWNSCALE not in stages and not manifest_path(settings.output).exists():
        wanted.pop(Stage.MASKS)  # the stage will say it needs the downscaled series first
    return [guard_output_dir(*folder) for s in stages for folder in wanted.get(s, [])]


@dataclass(frozen=True)
class StageDone:
    """What a stage leaves the run: its JSON document (nested under the stage in ``--json``),
    whether it failed, and whether the later stages have anything to work on."""

    document: dict
    failed: bool
    usable: bool = True


def _downscale_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                     quiet: bool, json_output: bool) -> StageDone:
    from quint_prep.cli.reports import registration_note, report_downscale
    from quint_prep.runner import plan_downscale, run_downscale

    plan = plan_downscale(settings)
    notes = [registration_note(settings.registration)] if settings.registration else []
    outcome = run_downscale(settings, plan, workers, overwrite=overwrite, listener=listener(quiet))
    document = report_downscale(outcome, json_output=json_output, show_json=False, notes=notes)
    return StageDone(document, outcome.failed, outcome.usable)


def _masks_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> StageDone:
    from quint_prep.cli.reports import report_masks
    from quint_prep.runner import plan_masks_stage, run_masks

    plan = plan_masks_stage(settings, overwrite=overwrite)
    outcome = run_masks(settings, plan, overwrite=overwrite, workers=workers,
                        listener=listener(quiet))
    return StageDone(report_masks(outcome, json_output=json_output, show_json=False), outcome.failed)


def _check_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> StageDone:
    from quint_prep.cli.reports import report_text
    from quint_prep.runner import run_check

    report = run_check(settings)
    if not json_output:
        typer.echo(report_text(report, settings.colour if settings.segmentations else None))
    document = report.to_json()
    document["counts"] = {**document.get("counts", {}), Status.FAILED.value: 0 if report.ok else 1}
    return StageDone(document, not report.ok)


def _sweep_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> StageDone:
    """``make sweep``: the sweep of the config's images, segmentations and choices."""
    from quint_prep.cli.reports import report_sweep
    from quint_prep.runner import run_sweep_stage

    failed = 0
    summary = None
    try:
        outcome = run_sweep_stage(settings, listener(quiet), overwrite=overwrite)
        summary = report_sweep(outcome, json_output=json_output, show_json=False)
        failed = int(bool(outcome.failed))
    except QuintPrepError as error:  # the stage fails; the run goes on to say how it ends
        typer.echo(f"error: {error}", err=True)
        failed = 1
    document = {"output": str(settings.sweep_output), "counts": {Status.FAILED.value: failed}}
    return StageDone({**document, **({"sweep": summary} if summary is not None else {})},
                     bool(failed))


# One reporter per stage, run in the order of runner.ORDER.
STAGES: dict[Stage, Callable[..., StageDone]] = {
    Stage.DOWNSCALE: _downscale_stage, Stage.MASKS: _masks_stage, Stage.CHECK: _check_stage,
    Stage.SWEEP: _sweep_stage}
