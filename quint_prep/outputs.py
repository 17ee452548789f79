"""Safe output: never into a source folder, every file written under a temporary name first.

An interrupted run leaves at most temporary files named ``.<name>.quint-prep-tmp-<pid>``, which
the next run in that folder removes; a finished file appears only by an atomic rename.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from quint_prep.errors import OutputError, UsageError

TEMP_MARKER = ".quint-prep-tmp-"


def guard_output_dir(output_dir: Path, sources: Iterable[Path], *,
                     images: Iterable[Path] = ()) -> Path:
    """Refuse an output folder that is, or lies inside, a folder the sources (or ``images``,
    the section images, named so in the message) come from.

    Returns the output folder, created if needed.
    """
    output_dir = Path(output_dir)
    resolved_out = output_dir.resolve()
    roles = [(Path(p), "images") for p in images] + [(Path(p), "source") for p in sources]
    for source, role in roles:
        folder = (source if source.is_dir() else source.parent).resolve()
        if resolved_out == folder:
            raise UsageError(
                f"output folder {output_dir} is the {role} folder; choose another, "
                "e.g. a sibling folder next to it"
            )
        if folder in resolved_out.parents:
            raise UsageError(
                f"output folder {output_dir} lies inside the source folder {folder}"
                + ("" if source.is_dir() else f" (of {source.name})") + "; "
                "choose a folder outside it so sources and outputs never mix"
            )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder: {error.strerror}", output_dir) from error
    if not os.access(output_dir, os.W_OK):
        raise OutputError("the output folder is not writable", output_dir)
    return output_dir


def temporary_path(final: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``final``."""
    return final.with_name(f".{final.stem}{TEMP_MARKER}{os.getpid()}{final.suffix}")


def staged_path(final: Path) -> Path:
    """Where a worker process leaves a finished output for the parent to rename to ``final``.

    It is a temporary name (removed by ``remove_stale_temporaries``), so an output a worker
    finished after its run was interrupted never appears under the final name unrecorded.
    """
    return final.with_name(f".{final.stem}{TEMP_MARKER}staged{final.suffix}")


def remove_stale_temporaries(output_dir: Path) -> list[Path]:
    """Delete temporary files an interrupted earlier run left in the folder; return them."""
    removed = []
    if not output_dir.is_dir():
        return removed
    for entry in output_dir.iterdir():
        if entry.name.startswith(".") and TEMP_MARKER in entry.name and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` only when the block succeeds.

    On any failure or interruption the temporary file is removed and the error propagates.
    """
    temporary = temporary_path(final)
    try:
        yield temporary
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(final: Path, text: str) -> None:
    """Write a text file atomically (temporary name, then rename)."""
    with atomic_output(final) as temporary:
        try:
            temporary.write_text(text, encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write: {error.strerror}", final) from error
