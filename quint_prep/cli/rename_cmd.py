"""quint-prep rename: number a series' files with QUINT section numbers, in place, undoably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from quint_prep.cli.common import JsonOutput, Wait, format_table, listener, print_json, reported, writing
from quint_prep.errors import UsageError

Pattern = Annotated[str, typer.Option(
    "--pattern", "-p", help="New stem: {prefix} (the old stem without _sNNN, or --prefix), "
    "{n} (the number, e.g. {n:03d}) and {stem}. The extension is kept.")]


@reported
def rename(
    sources: Annotated[Optional[list[Path]], typer.Argument(
        help="Image files or one folder of a series.", metavar="IMAGES",
        show_default=False)] = None,
    pattern: Pattern = "{prefix}_s{n:03d}",
    start: Annotated[int, typer.Option("--start", help="Number of the first file.")] = 1,
    step: Annotated[int, typer.Option("--step", help="Increment between files (10 for every "
                                      "10th section).")] = 1,
    order: Annotated[Optional[Path], typer.Option(
        "--order", help="CSV whose first column lists the file names in series order "
        "(default: natural name order).", show_default=False)] = None,
    prefix: Annotated[Optional[str], typer.Option(
        "--prefix", help="Value of {prefix} for every file.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Print the plan, rename nothing.")] = False,
    undo: Annotated[Optional[Path], typer.Option(
        "--undo", metavar="LOG", help="Restore the original names recorded in a rename log.",
        show_default=False)] = None,
    wait: Wait = False,
    json_output: JsonOutput = False,
) -> None:
    """Give every file of a series a QUINT section number, in series order, renaming in place.

    Prints the plan first. Never overwrites: the whole plan is refused when a target name is
    taken or two files would get one name. A log written next to the files before the first
    rename lets 'quint-prep rename --undo LOG' restore the original names. Contents are never
    changed.

    Example: quint-prep rename scans/mouse12/ --pattern "mouse12_s{n:03d}" --start 2 --step 2
    """
    from quint_prep.rename import apply_plan, log_path, plan_series_renames, undo_log

    if undo is not None:
        if sources:
            raise UsageError("--undo LOG takes no files: the log lists them")
        moves = undo_log(undo)
        if json_output:
            print_json({"undone": str(undo), "renames": [{"from": a.name, "to": b.name} for a, b in moves]})
        else:
            typer.echo(f"restored {len(moves)} original names from {undo}")
        return
    if not sources:
        raise UsageError("give the files or folder to rename (or --undo LOG)")
    plan = plan_series_renames(sources, pattern, start=start, step=step, order=order,
                               prefix=prefix, listener=listener(quiet=True))
    changes = plan.changes
    log = log_path(plan.folder)
    if not json_output:
        rows = [[s.source.name, "->", s.target.name] for s in plan.steps]
        typer.echo(format_table(["current name", "", "new name"], rows))
    if not dry_run:
        with writing(plan.folder, wait=wait):
            apply_plan(plan, log, pattern)
    if json_output:
        print_json({"dry_run": dry_run, "log": None if dry_run or not changes else str(log),
                    "renames": [{"from": s.source.name, "to": s.target.name} for s in plan.steps]})
    elif dry_run:
        typer.echo(f"dry run: {len(changes)} of {len(plan.steps)} files would be renamed; nothing changed")
    elif changes:
        typer.echo(f"renamed {len(changes)} of {len(plan.steps)} files; log: {log}")
        typer.echo(f"undo with: quint-prep rename --undo {log}")
    else:
        typer.echo("every file already has its name; nothing renamed")
