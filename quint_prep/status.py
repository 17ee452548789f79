"""What happened to one output file (an image, a mask) in a command's run.

A ``StrEnum``: each state is its JSON and display text, so ``--json`` output and messages
read ``written``, ``up-to-date``, ``failed`` as they always did.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """The state of one output after a run."""

    WRITTEN = "written"  # written now
    UP_TO_DATE = "up-to-date"  # already there for this source and these settings: kept
    FAILED = "failed"  # not written; the result's message says why

    @property
    def ok(self) -> bool:
        """True when the output exists and is current (written now or up to date)."""
        return self is not Status.FAILED
