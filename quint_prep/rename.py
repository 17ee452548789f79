"""Give a series QUINT section numbers by renaming its files in place, with a log that undoes it.

This is the one place quint-prep changes source names, and only on the user's explicit request;
file contents are never touched. Safety rules:
- the whole plan is refused when any target exists (and is not itself renamed away) or when two
  sources map to one target;
- the log is written next to the files BEFORE the first rename, listing every source, target and
  temporary name, so a crash at any point can be undone with ``rename --undo LOG``;
- every file first moves to a temporary name, then to its target: chains and swaps
  (a -> b while b -> c) never overwrite anything.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from quint_prep.errors import InputError, OutputError, UsageError
from quint_prep.folder_lock import folder_lock
from quint_prep.naming import natural_key, parse_section_number, strip_section
from quint_prep.outputs import write_text_atomic
from quint_prep.progress import Listener
from quint_prep.series import discover

LOG_FORMAT = "quint-prep-rename-log"
LOG_VERSION = 1
RENAME_MARKER = ".quint-prep-renaming-"


@dataclass(frozen=True)
class RenameStep:
    """One file's rename: its current name, its new name and the temporary name in between."""

    source: Path
    target: Path
    temporary: Path


@dataclass(frozen=True)
class RenamePlan:
    """Every rename of a series, in series order, in one folder."""

    folder: Path
    steps: tuple[RenameStep, ...]

    @property
    def changes(self) -> list[RenameStep]:
        """The steps that change a name (a file already named right is left alone)."""
        return [s for s in self.steps if s.source != s.target]


def render_name(pattern: str, stem: str, number: int, prefix: str | None = None) -> str:
    """The new stem for one file: ``pattern`` with {prefix}, {n} and {stem} filled in.

    ``{prefix}`` is ``prefix`` when given, else the stem without its ``_s<digits>``. Raises
    UsageError when the pattern is malformed or its result does not carry ``_s<number>``.
    """
    fields = {"prefix": prefix if prefix is not None else strip_section(stem), "n": number,
              "stem": stem}
    try:
        name = pattern.format(**fields)
    except (KeyError, IndexError, ValueError) as error:
        raise UsageError(f"--pattern {pattern!r} is not usable ({error}); placeholders are "
                         "{prefix}, {n} (e.g. {n:03d}) and {stem}") from None
    if "/" in name or "\\" in name or not name:
        raise UsageError(f"--pattern {pattern!r} gives {name!r}: renames stay in the same folder")
    section = parse_section_number(name)
    if section is None or section.value != number:
        raise UsageError(f"--pattern {pattern!r} gives {name!r}, which does not carry the section "
                         f"number as exactly one _s<digits>; use e.g. '{{prefix}}_s{{n:03d}}'")
    return name


def read_order(path: Path) -> list[str]:
    """File names (or stems) from the first column of an order CSV, in order; a header is skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and row[0].strip()]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"cannot read the order file: {error}", path) from None
    names = [row[0].strip() for row in rows]
    if names and names[0].lower() in {"name", "filename", "file", "file name", "stem"}:
        names = names[1:]
    return names


def order_files(files: Sequence[Path], order: Sequence[str] | None = None) -> list[Path]:
    """The files in series order: natural name order, or the order file's order.

    With an order every file must be listed once and every listed name must be a file (by
    name or stem); otherwise UsageError lists what does not match.
    """
    if order is None:
        return sorted(files, key=lambda p: natural_key(p.name))
    lookup: dict[str, Path] = {}
    for path in files:
        lookup[path.name] = path
        lookup.setdefault(path.stem, path)
    ordered = [lookup.get(name) for name in order]
    unknown = [name for name, path in zip(order, ordered) if path is None]
    chosen = [p for p in ordered if p is not None]
    twice = sorted({p.name for p in chosen if chosen.count(p) > 1})
    left_out = [p.name for p in files if p not in chosen]
    problems = ([f"not among the files: {', '.join(unknown)}"] if unknown else []) + \
               ([f"listed twice: {', '.join(twice)}"] if twice else []) + \
               ([f"not in the order file: {', '.join(left_out)}"] if left_out else [])
    if problems:
        raise UsageError("--order does not match the files; " + "; ".join(problems))
    return chosen


def plan_series_renames(sources: Sequence[Path], pattern: str, *, start: int = 1, step: int = 1,
                        order: Path | None = None, prefix: str | None = None,
                        listener: Listener = Listener()) -> RenamePlan:
    """The renames of a series' files: found in ``sources`` (unreadable files go to
    ``listener.error`` and refuse the whole plan), in natural name order or the ``order``
    CSV's, numbered from ``start`` by ``step``. Nothing is renamed (``apply_plan`` does it)."""
    found = discover(sources)
    for problem in found.problems:
        listener.error(str(problem))
    if found.problems:
        raise UsageError("fix or leave out the files above; nothing was renamed")
    if not found.images:
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    files = order_files(found.images, read_order(order) if order is not None else None)
    return plan_renames(files, pattern, start=start, step=step, prefix=prefix)


def plan_renames(files: Sequence[Path], pattern: str, *, start: int = 1, step: int = 1,
                 prefix: str | None = None) -> RenamePlan:
    """Number the files (already in series order) start, start+step, ... with the pattern.

    Raises UsageError (nothing renamed) when files lie in several folders, two files get one
    name, or a target is taken by a file that is not renamed itself.
    """
    if not files:
        raise UsageError("no files to rename")
    if start < 0 or step < 1:
        raise UsageError("--start must be 0 or more and --step 1 or more")
    folders = {p.parent.resolve() for p in files}
    if len(folders) > 1:
        raise UsageError("the files lie in several folders; rename one folder at a time")
    folder = files[0].parent
    token = secrets.token_hex(4)
    steps = []
    for index, path in enumerate(files):
        stem = render_name(pattern, path.stem, start + index * step, prefix)
        temporary = folder / f"{RENAME_MARKER}{token}-{index}{path.suffix}"
        steps.append(RenameStep(path, folder / f"{stem}{path.suffix}", temporary))
    _refuse_conflicts(steps)
    return RenamePlan(folder, tuple(steps))


def _refuse_conflicts(steps: Sequence[RenameStep]) -> None:
    targets: dict[str, list[Path]] = {}
    for s in steps:
        targets.setdefault(os.path.normcase(str(s.target)), []).append(s.source)
    problems = [f"{', '.join(p.name for p in sources)} would all become "
                f"{Path(target).name}" for target, sources in targets.items() if len(sources) > 1]
    moving = {_identity(s.source)[0] for s in steps if s.source.exists()}
    for s in steps:
        # Compared by identity, so a case-only rename on a case-insensitive disk is not refused.
        if s.target.exists() and _identity(s.target)[0] not in moving:
            problems.append(f"{s.target.name} already exists (it is not part of this series)")
    if problems:
        raise UsageError("rename refused, nothing was renamed: " + "; ".join(problems))


def log_path(folder: Path, now: datetime | None = None) -> Path:
    """A new log file name in the folder: quint-prep-rename-<UTC time>.json."""
    now = now or datetime.now(timezone.utc)
    path = folder / f"quint-prep-rename-{now.strftime('%Y%m%dT%H%M%S')}.json"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"quint-prep-rename-{now.strftime('%Y%m%dT%H%M%S')}-{counter}.json"
    return path


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size


def write_log(plan: RenamePlan, path: Path, pattern: str) -> Path:
    """Write the rename log (every change with its file's identity) atomically; return its path."""
    entries = []
    for s in plan.changes:
        inode, size = _identity(s.source)
        entries.append({"from": s.source.name, "to": s.target.name, "temporary": s.temporary.name,
                        "inode": inode, "bytes": size})
    document = {"format": LOG_FORMAT, "version": LOG_VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "folder": str(plan.folder.resolve()), "pattern": pattern, "renames": entries}
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    return path


def _move(source: Path, target: Path) -> None:
    if target.exists():
        raise OutputError(f"{target.name} appeared during the rename; nothing was overwritten, "
                          "undo with the log", source)
    try:
        os.rename(source, target)
    except OSError as error:
        raise OutputError(f"cannot rename to {target.name}: {error.strerror}; undo with the log",
                          source) from error


def apply_plan(plan: RenamePlan, log: Path, pattern: str) -> list[RenameStep]:
    """Write the log, then rename every file via its temporary name; return the changes made."""
    changes = plan.changes
    if not changes:
        return []
    with folder_lock(plan.folder):
        write_log(plan, log, pattern)
        for s in changes:
            _move(s.source, s.temporary)
        for s in changes:
            _move(s.temporary, s.target)
    return changes


@dataclass(frozen=True)
class LogEntry:
    """One rename as the log records it (names relative to the log's folder)."""

    original: str
    renamed: str
    temporary: str
    inode: int
    size: int


def read_log(path: Path) -> list[LogEntry]:
    """Read a rename log; raise UsageError when the file is not one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"not a readable rename log ({error})", path) from None
    if not isinstance(document, dict) or document.get("format") != LOG_FORMAT:
        raise UsageError(f"not a quint-prep rename log (no 'format': '{LOG_FORMAT}')", path)
    if document.get("version") != LOG_VERSION:
        raise UsageError(f"rename log version {document.get('version')} is not {LOG_VERSION}", path)
    try:
        return [LogEntry(e["from"], e["to"], e["temporary"], int(e["inode"]), int(e["bytes"]))
                for e in document["renames"]]
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"rename log entries are malformed ({error})", path) from None


def _locate(folder: Path, entry: LogEntry) -> Path | None:
    """Where the entry's file is now: its new, temporary or original name (same inode and size)."""
    for name in (entry.renamed, entry.temporary, entry.original):
        candidate = folder / name
        if candidate.is_file() and _identity(candidate) == (entry.inode, entry.size):
            return candidate
    return None


def undo_log(log: Path) -> list[tuple[Path, Path]]:
    """Restore the original names a rename log records; return the (current, original) moves.

    Works after a completed rename and after one interrupted at any point (each file is found
    by its identity under its new, temporary or original name). Refuses, renaming nothing, when
    a file is missing or an original name is taken by a file the log does not know.
    """
    log = Path(log)
    entries = read_log(log)
    with folder_lock(log.parent):
        return _undo(log, log.parent, entries)


def _undo(log: Path, folder: Path, entries: list[LogEntry]) -> list[tuple[Path, Path]]:
    located = [(entry, _locate(folder, entry)) for entry in entries]
    missing = [e.original for e, where in located if where is None]
    if missing:
        raise InputError(f"cannot undo, nothing was renamed: no file found for {', '.join(missing)} "
                         "(moved, edited or deleted since the rename?)", log)
    moves = [(where, folder / e.original) for e, where in located if where != folder / e.original]
    occupied = {os.path.normcase(str(where)) for where, _ in moves}
    taken = [o.name for _, o in moves if o.exists() and os.path.normcase(str(o)) not in occupied]
    if taken:
        raise InputError(f"cannot undo, nothing was renamed: {', '.join(taken)} already exist "
                         "and are not files of this rename", log)
    token = secrets.token_hex(4)
    parked = [(folder / f"{RENAME_MARKER}{token}-{i}{o.suffix}", o) for i, (_, o) in enumerate(moves)]
    for (current, _), (temporary, _) in zip(moves, parked):
        _move(current, temporary)
    for temporary, original in parked:
        _move(temporary, original)
    return moves
