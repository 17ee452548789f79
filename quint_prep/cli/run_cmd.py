"""quint-prep run: bring a series up to date from its config file, stage by stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from ..config import SeriesConfig, resolve
from ..errors import EXIT_FAILED
from ..parallel import Workers
from ..runner import (Stage, make_dependencies, masks_settings, plan_downscale,
                      plan_masks_stage, run_check, run_downscale, run_masks, stages_to_run,
                      workers_for)
from .common import (Jobs, JsonOutput, Memory, Quiet, Scheduler, Wait, print_json,
                     reported, verdict_failed, warn, workers_option, writing)
from ..manifest import manifest_path
from ..outputs import guard_output_dir
from . import run_plan, sweep_cmd
from ..masks_sources import SourceKind
from ..scale import DEFAULT_MAX_SIZE, parse_size
from .check_cmd import report_text
from .downscale_cmd import registration_note, report_downscale
from .masks_cmd import consume_masks, report_masks


@reported
def run(
    config: Annotated[Path, typer.Argument(help="The series config (TOML), e.g. configs/mouse12.toml.",
                                           metavar="CONFIG", show_default=False)],
    stage: Annotated[Stage, typer.Option("--stage", help="Run one stage, or all of them in "
                                         "order (downscale, masks, check).")] = Stage.ALL,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan of every stage (per "
                                          "image and mask: new, changed, up to date, and why); "
                                          "write nothing. Exit 1 when files would fail.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo every output, even up-to-date "
                                            "ones, and replace files quint-prep did not write.")] = False,
    jobs: Jobs = None,
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
    with writing(*_output_folders(settings, stages), wait=wait):
        for chosen in stages:
            if not (quiet or json_output):
                typer.echo(f"== {settings.name}: {chosen.value}")
            report["stages"][chosen.value] = done = STAGES[chosen](
                settings, workers, overwrite=overwrite, quiet=quiet, json_output=json_output)
            if chosen is Stage.DOWNSCALE and _nothing_usable(done):
                warn("the downscale stage produced no image: the later stages are skipped")
                break
    failed = [name for name, doc in report["stages"].items() if verdict_failed(doc)]
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


def _nothing_usable(document: dict) -> bool:
    """True when a downscale stage failed for every image (nothing written or up to date)."""
    counts = document.get("counts", {})
    return bool(counts.get("failed")) and not counts.get("written") and not counts.get("up-to-date")


def _downscale_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                     quiet: bool, json_output: bool) -> dict:
    plan = plan_downscale(settings)
    notes = [registration_note(settings.registration)] if settings.registration else []
    return report_downscale(plan, run_downscale(settings, plan, workers, overwrite=overwrite),
                            settings.output, quiet=quiet, json_output=json_output, show_json=False,
                            notes=notes)


def _masks_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> dict:
    plan = plan_masks_stage(settings, overwrite=overwrite)
    results = consume_masks(plan, run_masks(settings, plan, overwrite=overwrite,
                                            workers=workers), quiet)
    return report_masks(plan, results, settings.masks_output, masks_settings(settings),
                        json_output=json_output, series_folder=settings.output, show_json=False)


def _check_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> dict:
    report = run_check(settings)
    if not json_output:
        typer.echo(report_text(report, settings.colour if settings.segmentations else None))
    document = report.to_json()
    document["counts"] = {**document.get("counts", {}), "failed": 0 if report.ok else 1}
    return document


def _sweep_stage(settings: SeriesConfig, workers: Workers, *, overwrite: bool,
                 quiet: bool, json_output: bool) -> dict:
    """``make sweep``: the sweep command on the config's images, segmentations and choices."""
    box = settings.max_size or parse_size(DEFAULT_MAX_SIZE)
    try:
        sweep_cmd.sweep(
            sources=settings.image_sources(), output=settings.sweep_output,
            segmentations=[settings.segmentations] if settings.segmentations else None,
            labels=",".join(map(str, settings.labels)) if settings.labels else None,
            instance_ids=",".join(map(str, settings.instance_ids)) if settings.instance_ids else None,
            labels_table=settings.labels_table,
            object_colour=",".join(map(str, settings.object_colour)) if settings.object_colour else None,
            source=None if settings.source == "auto" else SourceKind(settings.source),
            max_size=str(box), method=settings.method, normalise=settings.normalise,
            percentiles=",".join(map(str, settings.percentiles)), overwrite=overwrite, quiet=quiet,
            json_output=json_output)
    except typer.Exit as done:
        return {"output": str(settings.sweep_output), "counts": {"failed": int(done.exit_code != 0)}}
    return {"output": str(settings.sweep_output), "counts": {"failed": 0}}


# One reporter per stage, run in the order of runner.ORDER.
STAGES: dict[Stage, Callable[..., dict]] = {
    Stage.DOWNSCALE: _downscale_stage, Stage.MASKS: _masks_stage, Stage.CHECK: _check_stage,
    Stage.SWEEP: _sweep_stage}
