"""How a core function tells its caller what happens while it runs: errors and warnings as
they come, and progress over a series. The core never prints; the command line passes a
``Listener`` that writes lines and draws bars (``cli.common.listener``), a library caller
passes nothing (``Listener()`` ignores everything)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Protocol


class Steps(Protocol):
    """A progress counter over a known number of steps (a tqdm bar is one)."""

    def update(self, n: int = 1) -> Any:
        """Count ``n`` more steps done."""


class _NoSteps:
    def update(self, n: int = 1) -> None:
        """Count nothing."""


def _ignore(message: str) -> None:
    """Drop a message."""


def _no_steps(total: int, unit: str) -> ContextManager[Steps]:
    return nullcontext(_NoSteps())


@dataclass(frozen=True)
class Listener:
    """Callbacks of a long core function: ``error`` (a file or check failed), ``warn`` (worth
    saying always), ``note`` (a warning about one file's result that a quiet caller may drop),
    and ``steps(total, unit)``, a context manager counting the work done."""

    error: Callable[[str], None] = _ignore
    warn: Callable[[str], None] = _ignore
    note: Callable[[str], None] = _ignore
    steps: Callable[[int, str], ContextManager[Steps]] = _no_steps
