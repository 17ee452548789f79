"""The QuickNII series descriptor (the XML that QuickNII's FileBuilder writes).

Format, as FileBuilder and later tools write it (and PyNutil / DeepSlice read it)::

    <?xml version='1.0' encoding='UTF-8'?>
    <series first='1' last='45' name='mouse12'>
      <slice filename='mouse12_s001.png' nr='1' width='1500' height='1000'/>
      ...
    </series>

``nr`` is the ``_sNNN`` section number, ``width``/``height`` the registered image's pixel
size; ``anchoring`` is added by QuickNII once a section is registered.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from quint_prep.choices import DESCRIPTOR_NAME  # light: for --help
from quint_prep.series_plan import read_series
from quint_prep.errors import InputError, UsageError
from quint_prep.folder_lock import folder_lock
from quint_prep.naming import SECTION_PATTERN, parse_section_number
from quint_prep.outputs import write_text_atomic
from quint_prep.progress import Listener
from quint_prep.scale import Size


@dataclass(frozen=True)
class SliceEntry:
    """One section of the descriptor."""

    filename: str
    nr: int
    size: Size


def slice_entries(files: Sequence[tuple[str, Size]]) -> list[SliceEntry]:
    """Entries sorted by section number; sections without a number are refused as a group."""
    entries, unnumbered = [], []
    for filename, size in files:
        number = parse_section_number(Path(filename).stem)
        if number is None:
            unnumbered.append(filename)
        else:
            entries.append(SliceEntry(filename, number.value, size))
    if unnumbered:
        raise UsageError(
            f"{len(unnumbered)} image(s) without one '_sNNN' section number: "
            f"{', '.join(unnumbered[:5])}{' ...' if len(unnumbered) > 5 else ''}; "
            "QuickNII orders sections by that number: number them first with `quint-prep rename`")
    numbers = [e.nr for e in entries]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise UsageError(f"section numbers used twice: {', '.join(map(str, duplicates))}")
    return sorted(entries, key=lambda e: e.nr)


def series_name(stems: Sequence[str], fallback: str) -> str:
    """The series' name for the descriptor: the common start of its sections' names before
    ``_s<digits>`` (``brainA`` for brainA_s001, brainA_s002, ...), else ``fallback``."""
    heads = [stem[:match.start()] for stem in stems
             if (match := SECTION_PATTERN.search(stem)) is not None]
    if not heads:
        return fallback
    common = heads[0]
    for head in heads[1:]:
        while not head.startswith(common):
            common = common[:-1]
    return common.rstrip("_-. ") or fallback


def descriptor_xml(name: str, entries: Sequence[SliceEntry]) -> str:
    """The XML text of a series descriptor."""
    root = ET.Element("series", {"first": str(entries[0].nr) if entries else "0",
                                 "last": str(entries[-1].nr) if entries else "0", "name": name})
    for entry in entries:
        ET.SubElement(root, "slice", {"filename": entry.filename, "nr": str(entry.nr),
                                      "width": str(entry.size.width),
                                      "height": str(entry.size.height)})
    ET.indent(root, space="  ")
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def write_descriptor(folder: Path, name: str, files: Sequence[tuple[str, Size]],
                     filename: str | None = None) -> Path:
    """Write ``<folder>/<name>.xml`` (or ``filename``) atomically; return its path."""
    entries = slice_entries(files)
    path = Path(folder) / (filename or f"{name}.xml")
    with folder_lock(folder):
        write_text_atomic(path, descriptor_xml(name, entries))
    return path


@dataclass(frozen=True)
class FolderDescriptor:
    """The QuickNII series file written for a folder of images: where, how many sections,
    and the files that could not be read (left out of it)."""

    path: Path
    sections: int
    problems: tuple[InputError, ...] = ()


def describe_folder(folder: Path, *, name: str | None = None, filename: str = DESCRIPTOR_NAME,
                    listener: Listener = Listener()) -> FolderDescriptor:
    """Write the QuickNII series file for an existing folder of images (``descriptor``): one
    slice per readable image, named ``name`` or the sections' common name (else the folder's).
    Unreadable files go to ``listener.error``; UsageError when no image is left."""
    infos, problems, _ = read_series([folder])
    for problem in problems:
        listener.error(str(problem))
    if not infos:
        raise UsageError(f"{folder}: no images to describe")
    default = series_name([info.stem for info in infos], folder.resolve().name)
    path = write_descriptor(folder, name or default, [(info.name, info.size) for info in infos],
                            filename=filename)
    return FolderDescriptor(path, len(infos), tuple(problems))
