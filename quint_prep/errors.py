"""The exception tree of quint-prep and the one place that maps it to exit codes.

Every message names the file (when there is one) and says what to do next.
"""

from __future__ import annotations

from pathlib import Path

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class QuintPrepError(Exception):
    """Base of every error quint-prep reports to the user without a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class UsageError(QuintPrepError):
    """The command line or a config asks for something impossible (exit 2)."""

    exit_code = EXIT_USAGE


class InputError(QuintPrepError):
    """One input file cannot be used; the rest of the series goes on (exit 1 at the end)."""


class OutputError(QuintPrepError):
    """An output cannot be written (read-only folder, full disk, foreign file in the way)."""


def exit_code_for(error: BaseException) -> int:
    """Return the process exit code for an error that ended a command."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, QuintPrepError):
        return error.exit_code
    return EXIT_FAILED
