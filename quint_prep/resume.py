"""Resume: is an output up to date, or must it be (re)written, and why.

A pure decision from what the manifest recorded and what is on disk now, so ``downscale`` and
``run --dry-run`` give the same answer and tests need no images. An output is up to date when
the manifest records it with the same factor and settings, the output file exists, and the
source has the same path, size and modification time as when the output was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, Sequence


class Action(StrEnum):
    """What a run does with one output."""

    WRITE = "write"
    SKIP = "skip"  # up to date: kept
    FAIL = "fail"  # refused: the run fails the file


class PlanStatus(StrEnum):
    """Why, in one word, as ``--dry-run`` shows it."""

    NEW = "new"
    CHANGED = "changed"
    UP_TO_DATE = "up to date"
    REFUSED = "refused"


class Recorded(Protocol):
    """What a manifest entry (an image's or a mask's) recorded about its source."""

    source: str
    source_bytes: int
    source_mtime_ns: int


@dataclass(frozen=True)
class SourceStamp:
    """What identifies one version of a source file: its resolved path, size and mtime."""

    path: str
    size: int
    mtime_ns: int


def source_stamp(path: Path) -> SourceStamp | None:
    """The source's current stamp, or None when it cannot be read (then it is rewritten and fails)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return SourceStamp(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Decision:
    """What to do with one output: ``action`` write/skip/fail, ``status`` new/changed/up to
    date/refused (what ``--dry-run`` shows), and ``reason`` in words."""

    action: Action
    status: PlanStatus
    reason: str


def decide(*, output_name: str, output_exists: bool, record: Recorded | None,
           source: SourceStamp | None, same_settings: bool, overwrite: bool = False,
           clashes: Sequence[str] = (), box: dict | None = None,
           stale: bool = False) -> Decision:
    """Decide whether one output must be written (see the module doc for "up to date");
    ``stale``: the output was written for an earlier series of the folder (other settings)."""
    if clashes:
        return Decision(Action.FAIL, PlanStatus.REFUSED, f"output {output_name} would also come from "
                        f"{', '.join(clashes)}; keep one of them")
    if overwrite:
        return Decision(Action.WRITE, PlanStatus.CHANGED if output_exists else PlanStatus.NEW,
                        "--overwrite" if output_exists else "no output yet")
    if not output_exists:
        if record is not None:
            return Decision(Action.WRITE, PlanStatus.NEW, "output missing (recorded in the manifest)")
        return Decision(Action.WRITE, PlanStatus.NEW, "no output yet")
    if record is None and stale:
        return Decision(Action.WRITE, PlanStatus.CHANGED, "written for an earlier series (other settings)")
    if record is None:
        return Decision(Action.FAIL, PlanStatus.REFUSED, f"{output_name} exists and was not written by "
                        "quint-prep; pass --overwrite to replace it")
    if not same_settings:
        return Decision(Action.WRITE, PlanStatus.CHANGED, "factor or settings differ from the manifest")
    if source is None or record.source != source.path:
        return Decision(Action.WRITE, PlanStatus.CHANGED, "made from another source file")
    if (record.source_bytes, record.source_mtime_ns) != (source.size, source.mtime_ns):
        return Decision(Action.WRITE, PlanStatus.CHANGED, "source modified since (size or time differs)")
    if getattr(record, "box", None) != box:  # mask records have no box
        return Decision(Action.WRITE, PlanStatus.CHANGED, "the section's box in the plan differs")
    return Decision(Action.SKIP, PlanStatus.UP_TO_DATE, "same source, factor and settings")
