"""One writer per output folder: an exclusive lock that the operating system drops with its process.

Every command that writes into a folder holds ``folder_lock(folder)`` while it writes. The lock
is an OS lock (``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows) on the hidden file
``FOLDER/.quint-prep.lock``, so a run killed by SIGKILL, the OOM killer or a SLURM time limit
never blocks the next one. The file's content (pid, host, command, start time) is only there
for the message a second run prints; its existence means nothing. The holder removes the file
when it lets go; a process that locked a file that was removed meanwhile locks the new one.

The lock is re-entrant within one thread of a process (``run`` holds its folders while its
stages take them again; ``downscale --registration`` holds two folders). Worker processes
(``--jobs``, Dask) never take it: they only write temporary files the parent renames.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from quint_prep.errors import OutputError

LOCK_NAME = ".quint-prep.lock"
POLL_SECONDS = 0.2  # how often --wait tries again
_WINDOWS_OFFSET = 1 << 30  # msvcrt locks bytes; lock one far from the holder's text

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import errno
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder's lock, as it wrote itself into the lock file (fields may be empty)."""

    pid: int | None
    host: str
    command: str
    since: str

    def describe(self) -> str:
        """``pid 4711 on host1 (quint-prep downscale ...), since 2026-12-02 08:01:02 UTC``."""
        who = f"pid {self.pid}" if self.pid else "another process"
        if self.host:
            who += f" on {self.host}"
        if self.command:
            who += f" ({self.command})"
        return who + (f", since {self.since}" if self.since else "")


class FolderBusy(OutputError):
    """Another process writes into the folder (exit 1)."""

    def __init__(self, folder: Path, holder: LockHolder) -> None:
        super().__init__(f"another quint-prep run is writing into this folder: "
                         f"{holder.describe()}; wait until it ends, or rerun with --wait", folder)
        self.holder = holder


@dataclass
class _Held:
    fd: int
    thread: int
    count: int = 1


_HELD: dict[str, _Held] = {}  # per process: the OS lock belongs to the process, so does this
_HELD_GUARD = threading.Lock()


def command_line() -> str:
    """This process's command line as the lock file records it (shortened)."""
    arguments = list(sys.argv)
    if arguments and Path(arguments[0]).name in ("__main__.py", "quint-prep"):
        arguments[0] = "quint-prep"
    text = shlex.join(arguments)
    return text if len(text) <= 200 else text[:197] + "..."


def read_holder(folder: Path) -> LockHolder:
    """What the lock file of a folder says about its holder (empty fields when unreadable)."""
    try:
        document = json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    if not isinstance(document, dict):
        document = {}
    pid = document.get("pid")
    return LockHolder(pid if isinstance(pid, int) else None, str(document.get("host") or ""),
                      str(document.get("command") or ""), str(document.get("since") or ""))


@contextmanager
def folder_lock(*folders: Path, wait: bool = False,
                on_wait: Callable[[Path, LockHolder], None] | None = None) -> Iterator[None]:
    """Hold the exclusive writer lock of every folder (each must exist) for the block.

    A folder another process holds raises FolderBusy naming it and that process; with
    ``wait`` this waits until it is free, calling ``on_wait(folder, holder)`` once first.
    Folders are taken in one order (their resolved paths), so two waiting runs cannot hold
    one folder each and wait for the other's.
    """
    with ExitStack() as stack:
        for key in sorted({str(Path(f).resolve()) for f in folders}):
            stack.enter_context(_one_lock(Path(key), wait, on_wait))
        yield


@contextmanager
def _one_lock(folder: Path, wait: bool,
              on_wait: Callable[[Path, LockHolder], None] | None) -> Iterator[None]:
    key, thread = str(folder), threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None and held.thread == thread:
            held.count += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _HELD_GUARD:
                held.count -= 1  # type: ignore[union-attr]
        return
    fd = _acquire(folder, wait, on_wait)
    with _HELD_GUARD:
        _HELD[key] = _Held(fd, thread)
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        _release(folder, fd)


def _acquire(folder: Path, wait: bool,
             on_wait: Callable[[Path, LockHolder], None] | None) -> int:
    """Lock FOLDER/.quint-prep.lock and write this process into it; return the open file."""
    path = folder / LOCK_NAME
    told = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(f"cannot create the lock file {LOCK_NAME}: {error.strerror}",
                              folder) from error
        try:
            locked = _try_lock(fd)
        except OSError as error:
            os.close(fd)
            raise OutputError(f"cannot lock the folder ({error.strerror}): its file system "
                              "does not support locks; write to a local folder", folder) from error
        if locked and _same_file(fd, path):
            _write_holder(fd)
            return fd
        if locked:  # the previous holder removed the file after we opened it: take the new one
            _unlock(fd)
            os.close(fd)
            continue
        os.close(fd)
        if not wait:
            raise FolderBusy(folder, read_holder(folder))
        if not told and on_wait is not None:
            on_wait(folder, read_holder(folder))
            told = True
        time.sleep(POLL_SECONDS)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _write_holder(fd: int) -> None:
    since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "command": command_line(), "since": since}) + "\n"
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8"))


def _release(folder: Path, fd: int) -> None:
    """Remove the lock file while still holding it (a waiter then sees a removed file and
    opens a new one), then unlock. Windows cannot remove an open file: there it stays."""
    try:
        (folder / LOCK_NAME).unlink(missing_ok=True)
    except OSError:
        os.ftruncate(fd, 0)
    try:
        _unlock(fd)
    finally:
        os.close(fd)
