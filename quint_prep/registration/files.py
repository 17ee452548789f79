"""Read registration series files: which sections they name and the image size each was registered at.

Formats (field names as QuickNII, VisuAlign, DeepSlice and PyNutil's ``read_alignment`` use them):
- QuickNII / VisuAlign / DeepSlice JSON: ``{"slices": [{"filename", "nr", "width", "height",
  "anchoring": [9 numbers], "markers": [[x, y, x', y'], ...] (VisuAlign)}]}``.
- WebAlign / WebWarp (``.waln``, ``.wwrp``): JSON with ``sections`` instead of ``slices`` and
  ``ouv`` instead of ``anchoring``; PyNutil takes ``nr`` from the file name's ``_s<digits>``
  when a section has none, and so do we.
- QuickNII XML: ``<series><slice filename=... nr=... width=... height=... anchoring=.../></series>``
  (the anchoring attribute is ``ox=..&oy=..&...``; it is kept as text). DeepSlice's older XML
  writer leaves the ``&`` unescaped (not valid XML), writes ``nr`` as ``4.0`` and width and
  height as ``-999`` (not given): all three are accepted, as DeepSlice's own reader does.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from quint_prep.errors import InputError
from quint_prep.naming import parse_section_number
from quint_prep.scale import Size


@dataclass(frozen=True)
class RegisteredSection:
    """One section of a registration: the file it names and the size it was registered at."""

    filename: str
    nr: int | None
    size: Size | None
    anchored: bool
    markers: int

    @property
    def stem(self) -> str:
        """The named file's stem (folders from either OS and the extension removed)."""
        return PureWindowsPath(self.filename).stem if "\\" in self.filename else Path(self.filename).stem


@dataclass(frozen=True)
class Registration:
    """A registration series file as read: its format and its sections in file order."""

    path: Path
    format: str  # "json", "waln" or "xml"
    sections: tuple[RegisteredSection, ...]


def read_registration(path: Path) -> Registration:
    """Read a QuickNII / VisuAlign / DeepSlice JSON, WebAlign .waln or QuickNII XML series.

    Raises InputError naming the file when it is not one of these.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the registration: {error}", path) from error
    if text.lstrip().startswith("<"):
        return Registration(path, "xml", _parse_xml(text, path))
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InputError(f"not a registration JSON or XML file ({error})", path) from error
    if not isinstance(document, dict):
        raise InputError("not a registration: the JSON is not an object with 'slices'", path)
    if isinstance(document.get("slices"), list):
        return Registration(path, "json", _parse_entries(document["slices"], "anchoring", path))
    if isinstance(document.get("sections"), list):
        return Registration(path, "waln", _parse_entries(document["sections"], "ouv", path))
    raise InputError("not a registration: no 'slices' (QuickNII/VisuAlign/DeepSlice) or "
                     "'sections' (WebAlign) list", path)


def _number(value: object, what: str, path: Path) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r} is not a number", path) from None
    if number != int(number):
        raise InputError(f"{what} {value!r} is not a whole number", path)
    return int(number)


def _section(filename: object, nr: object, width: object, height: object, anchored: bool,
             markers: int, path: Path) -> RegisteredSection:
    if not isinstance(filename, str) or not filename:
        raise InputError("a section has no 'filename'", path)
    number = _number(nr, f"{filename}: nr", path)
    if number is None:
        parsed = parse_section_number(Path(filename).stem)
        number = parsed.value if parsed else None
    w = _number(width, f"{filename}: width", path)
    h = _number(height, f"{filename}: height", path)
    size = Size(w, h) if w and h and w > 0 and h > 0 else None
    return RegisteredSection(filename, number, size, anchored, markers)


def _parse_entries(entries: list, anchoring_key: str, path: Path) -> tuple[RegisteredSection, ...]:
    sections = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise InputError("a section entry is not a JSON object", path)
        anchoring = entry.get(anchoring_key)
        markers = entry.get("markers")
        sections.append(_section(entry.get("filename"), entry.get("nr"), entry.get("width"),
                                 entry.get("height"), bool(anchoring),
                                 len(markers) if isinstance(markers, list) else 0, path))
    return tuple(sections)


_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)")


def _parse_xml(text: str, path: Path) -> tuple[RegisteredSection, ...]:
    try:
        root = ElementTree.fromstring(_BARE_AMPERSAND.sub("&amp;", text))
    except ElementTree.ParseError as error:
        raise InputError(f"not a readable QuickNII XML file ({error})", path) from error
    slices = [root] if root.tag == "slice" else list(root.iter("slice"))
    if root.tag != "series" and not slices:
        raise InputError("not a QuickNII XML series: no <series> with <slice> elements", path)
    return tuple(_section(s.get("filename"), s.get("nr"), s.get("width"), s.get("height"),
                          bool(s.get("anchoring")), 0, path) for s in slices)
