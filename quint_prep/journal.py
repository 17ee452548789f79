"""Each finished output is recorded the moment it is published, so a killed run loses only
the outputs in flight.

A run writes the folder's manifest when it starts and when it ends. In between, every output
is finished under a temporary name, then ``publish`` appends one JSON line to the hidden
``FOLDER/.quint-prep-journal.jsonl`` (kind, name, the record, and the identity of the finished
file: inode, size, modification time) and only then renames the file into place. An entry
counts only while the file under its name has that identity: a kill between the append and
the rename leaves an entry that matches no file and is ignored. Readers of the manifest merge
the entries (``recorded``); the end of the run, or the next run's start, writes the merged
manifest and removes the journal. One line per output keeps the cost bounded for hundreds of
images (a rewrite of the whole manifest per image would grow with the square of their number).
Only the process holding the folder's lock (``folder_lock``) writes the journal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

JOURNAL_NAME = ".quint-prep-journal.jsonl"


def _identity(path: Path) -> list[int]:
    stat = os.stat(path)
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def publish(staged: Path, final: Path, kind: str, entry: dict) -> None:
    """Record ``entry`` for the finished file ``staged``, then rename it to ``final`` (same
    folder). Raises OSError when either step fails (then ``final`` is not recorded)."""
    line = json.dumps({"kind": kind, "name": final.name, "file": _identity(staged),
                       "entry": entry}) + "\n"
    fd = os.open(final.parent / JOURNAL_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
    os.replace(staged, final)


def recorded(folder: Path, kind: str) -> dict[str, dict]:
    """The journal's entries of one kind whose file is in place: name -> entry (last wins)."""
    try:
        text = (Path(folder) / JOURNAL_NAME).read_text(encoding="utf-8")
    except OSError:
        return {}
    found: dict[str, dict] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line the kill cut short
        if not isinstance(item, dict) or item.get("kind") != kind:
            continue
        name, entry = item.get("name"), item.get("entry")
        if not isinstance(name, str) or Path(name).name != name or not isinstance(entry, dict):
            continue
        try:
            in_place = _identity(Path(folder) / name) == item.get("file")
        except OSError:
            in_place = False
        if in_place:
            found[name] = entry
    return found


def clear(folder: Path) -> None:
    """Remove the journal (after its entries were written into the manifest)."""
    (Path(folder) / JOURNAL_NAME).unlink(missing_ok=True)
