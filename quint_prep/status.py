"""What happened to one output file (an image, a mask) in a command's run.

A ``StrEnum``: each state is its JSON and display text, so ``--json`` output and messages
read ``written``, ``up-to-date``, ``failed`` as they always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable


class Status(StrEnum):
    """The state of one output after a run."""

    WRITTEN = "written"  # written now
    UP_TO_DATE = "up-to-date"  # already there for this source and these settings: kept
    FAILED = "failed"  # not written; the result's message says why

    @property
    def ok(self) -> bool:
        """True when the output exists and is current (written now or up to date)."""
        return self is not Status.FAILED


@dataclass(frozen=True)
class StatusCounts:
    """How many outputs of a run were written, up to date, failed."""

    written: int = 0
    up_to_date: int = 0
    failed: int = 0

    @classmethod
    def of(cls, statuses: Iterable[Status], failed: int = 0) -> "StatusCounts":
        """The counts of these states, plus ``failed`` files that never got a result (an
        unreadable source, a mask matching no image)."""
        listed = list(statuses)
        return cls(listed.count(Status.WRITTEN), listed.count(Status.UP_TO_DATE),
                   listed.count(Status.FAILED) + failed)

    @property
    def ok_outputs(self) -> int:
        """Outputs that exist and are current."""
        return self.written + self.up_to_date

    def to_json(self) -> dict[str, int]:
        """``{"written": n, "up-to-date": n, "failed": n}``, as ``--json`` prints it."""
        return {Status.WRITTEN.value: self.written, Status.UP_TO_DATE.value: self.up_to_date,
                Status.FAILED.value: self.failed}
