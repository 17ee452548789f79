"""The section plan ``sections.csv``: one row per section cut out of a slide.

Columns: ``number,name,slide,scene,x,y,width,height`` (the box in level-0 pixels of the slide,
or of the scene) then ``tissue_px,tissue_mm2,pixel_size_um,rotate,flip``. The plan is the
user's to edit: it is obeyed exactly, and every bad row is refused with its line number before
anything is written. Slides are written relative to the plan's folder when they lie below a
common folder, so a project folder can be moved whole.

Also here, as pure functions: the order of the sections on a slide and their numbers and names.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pyvips

from quint_prep.choices import Order  # light: for --help
from quint_prep.errors import QuintPrepError, UsageError
from quint_prep.naming import SECTION_PATTERN, name_issues
from quint_prep.orientation import Orientation, parse_flip, parse_rotate
from quint_prep.scale import Size

PLAN_NAME = "sections.csv"
REQUIRED_COLUMNS = ("number", "name", "slide", "scene", "x", "y", "width", "height")
OPTIONAL_COLUMNS = ("tissue_px", "tissue_mm2", "pixel_size_um", "rotate", "flip")
MIN_DIGITS = 3


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    def inside(self, size: Size) -> bool:
        """True when the box lies wholly within an image of ``size``."""
        return (self.x >= 0 and self.y >= 0 and self.width > 0 and self.height > 0
                and self.right <= size.width and self.bottom <= size.height)

    def to_json(self) -> dict:
        """JSON form (manifest)."""
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Crop:
    """A section cut out of a slide: its box in level-0 pixels of the slide (or scene), the
    slide's level-0 size, and how the section is turned."""

    box: Box
    full: Size
    orientation: Orientation = Orientation()

    def size_on(self, level: Size) -> Size:
        """The box's size on a reduced level (or shrink-on-load image) of ``level`` size."""
        rx, ry = level.width / self.full.width, level.height / self.full.height
        return Size(max(1, round(self.box.width * rx)), max(1, round(self.box.height * ry)))

    def on(self, image: pyvips.Image) -> pyvips.Image:
        """Cut the box out of the slide opened at any level (coordinates scaled to it)."""
        rx, ry = image.width / self.full.width, image.height / self.full.height
        left, top = math.floor(self.box.x * rx), math.floor(self.box.y * ry)
        right = min(image.width, max(left + 1, math.ceil(self.box.right * rx)))
        bottom = min(image.height, max(top + 1, math.ceil(self.box.bottom * ry)))
        return image.crop(left, top, right - left, bottom - top)

    def to_json(self) -> dict:
        """JSON form (manifest)."""
        return self.box.to_json()


@dataclass(frozen=True)
class PlanRow:
    """One section of the plan: its number and name, where it is cut from, how it is turned."""

    number: int
    name: str
    slide: Path
    scene: int | None
    box: Box
    tissue_px: int | None = None
    tissue_mm2: float | None = None
    pixel_size_um: float | None = None
    orientation: Orientation = Orientation()
    line: int = field(default=0, compare=False)  # line in sections.csv (0: not read from one)


def section_name(prefix: str, number: int, digits: int) -> str:
    """``prefix_sNNN`` with the number zero-padded to ``digits``."""
    return f"{prefix}_s{number:0{digits}d}"


def number_width(numbers: Iterable[int]) -> int:
    """One padding width for every number of a series: at least 3 digits."""
    return max([MIN_DIGITS, *(len(str(n)) for n in numbers)])


def section_numbers(count: int, start: int = 1, step: int = 1) -> list[int]:
    """The numbers of ``count`` sections in series order: start, start+step, ..."""
    if start < 0:
        raise UsageError(f"--start {start}: section numbers cannot be negative")
    if step < 1:
        raise UsageError(f"--step {step}: the step must be 1 or more")
    return [start + index * step for index in range(count)]


def check_prefix(prefix: str) -> str:
    """Refuse a --prefix that would give names a QUINT tool misreads; return it."""
    problems = [i.message for i in name_issues(section_name(prefix, 1, MIN_DIGITS))]
    if not prefix or problems:
        raise UsageError(f"--prefix {prefix!r} gives unsafe names: "
                         f"{'; '.join(problems) or 'it is empty'} (use letters, digits, '-' and '_', "
                         "no '_s', no 'mask')")
    return prefix


def default_prefix(slide: Path) -> str:
    """A safe prefix from a slide's file name: unsafe characters and ``_`` become ``-``,
    trailing digits and separators go (``mouse12_slide03.tif`` -> ``mouse12-slide``)."""
    text = "".join(c if c.isascii() and (c.isalnum() or c == "-") else "-" for c in slide.stem)
    text = text.replace("mask", "").strip("-0123456789") or "section"
    while "--" in text:
        text = text.replace("--", "-")
    return text


def reading_order(boxes: Sequence[Box], order: Order = Order.ROWS, reverse: bool = False) -> list[int]:
    """The indices of ``boxes`` in reading order.

    Rows: boxes are taken by their top; a box joins the current row when its vertical centre
    lies within the row's span so far, else it starts a new row; each row is read left to
    right. Columns: the same with the axes swapped. ``reverse`` reads the result backwards.
    """
    def along(box: Box) -> tuple[int, int]:  # (across lines, within a line)
        return (box.y, box.x) if order is Order.ROWS else (box.x, box.y)

    def extent(box: Box) -> tuple[int, int]:
        return (box.height, box.width) if order is Order.ROWS else (box.width, box.height)

    lines: list[list[int]] = []
    span_end = None
    for index in sorted(range(len(boxes)), key=lambda i: along(boxes[i])):
        start, size = along(boxes[index])[0], extent(boxes[index])[0]
        if span_end is not None and start + size / 2 < span_end:
            lines[-1].append(index)
            span_end = max(span_end, start + size)
        else:
            lines.append([index])
            span_end = start + size
    result = [i for line in lines for i in sorted(line, key=lambda i: along(boxes[i])[1])]
    return result[::-1] if reverse else result


# --- Reading and writing sections.csv ----------------------------------------------------

def _slide_text(slide: Path, folder: Path) -> str:
    try:
        return os.path.relpath(slide.resolve(), folder.resolve())
    except ValueError:  # another drive (Windows)
        return str(slide.resolve())


def _number_text(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if digits is not None else str(value)


def plan_text(rows: Sequence[PlanRow], folder: Path) -> str:
    """The CSV text of a plan whose file lies in ``folder`` (slides relative to it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    for row in rows:
        writer.writerow([row.number, row.name, _slide_text(row.slide, folder),
                         "" if row.scene is None else row.scene, row.box.x, row.box.y,
                         row.box.width, row.box.height, _number_text(row.tissue_px),
                         _number_text(row.tissue_mm2, 3), _number_text(row.pixel_size_um, 4),
                         row.orientation.rotate or "", row.orientation.flip or ""])
    return out.getvalue()


def _integer(row: dict, key: str, minimum: int) -> int:
    text = (row.get(key) or "").strip()
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{key} {text!r} is not a whole number") from None
    if value < minimum:
        raise UsageError(f"{key} {value} is below {minimum}")
    return value


def _optional(row: dict, key: str, kind: Callable[[str], float | int]) -> float | int | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"{key} {text!r} is not a number") from None


def _name(row: dict, number: int) -> str:
    name = (row.get("name") or "").strip()
    if not name:
        raise UsageError("the name is empty")
    if "/" in name or "\\" in name or ".." in name:
        raise UsageError(f"name {name!r} is not a plain file stem (no folders, no '..')")
    problems = [issue.message for issue in name_issues(name)]
    if problems:
        raise UsageError(f"name {name!r}: {'; '.join(problems)}")
    in_name = int(SECTION_PATTERN.search(name).group(1))  # type: ignore[union-attr]
    if in_name != number:
        raise UsageError(f"name {name!r} carries section number {in_name} but the number "
                         f"column says {number}; change both")
    return name


def parse_row(row: dict, folder: Path, line: int) -> PlanRow:
    """One CSV row as a PlanRow (slide resolved against the plan's folder); UsageError if bad."""
    number = _integer(row, "number", 0)
    name = _name(row, number)
    slide_text = (row.get("slide") or "").strip()
    if not slide_text:
        raise UsageError("the slide is empty")
    slide = Path(slide_text)
    slide = Path(os.path.normpath(slide if slide.is_absolute() else folder / slide))
    scene_text = (row.get("scene") or "").strip()
    scene = _integer(row, "scene", 0) if scene_text else None
    box = Box(_integer(row, "x", 0), _integer(row, "y", 0), _integer(row, "width", 1),
              _integer(row, "height", 1))
    orientation = Orientation(parse_rotate(row.get("rotate"), "rotate"),
                              parse_flip(row.get("flip"), "flip"))
    return PlanRow(number, name, slide, scene, box, _optional(row, "tissue_px", int),
                   _optional(row, "tissue_mm2", float), _optional(row, "pixel_size_um", float),
                   orientation, line)


def _series_problems(rows: Sequence[PlanRow]) -> list[str]:
    problems = []
    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    widths: dict[int, int] = {}
    for row in rows:
        if row.number in numbers:
            problems.append(f"line {row.line}: number {row.number} is also on line {numbers[row.number]}")
        numbers.setdefault(row.number, row.line)
        if row.name.lower() in names:
            problems.append(f"line {row.line}: name {row.name} is also on line {names[row.name.lower()]}")
        names.setdefault(row.name.lower(), row.line)
        digits = len(SECTION_PATTERN.search(row.name).group(1))  # type: ignore[union-attr]
        widths.setdefault(digits, row.line)
    if len(widths) > 1:
        shown = ", ".join(f"{d} digits (line {line})" for d, line in sorted(widths.items()))
        problems.append(f"section numbers are padded to different widths: {shown}; QuickNII and "
                        "Nutil need one width for the whole series")
    return problems


def read_plan(path: Path,
              slide_size: Callable[[Path, int | None], Size] | None = None) -> list[PlanRow]:
    """Read and check a plan; every bad row is listed with its line number (UsageError).

    ``slide_size(slide, scene)`` gives the level-0 size of a slide or scene, raising a
    QuintPrepError when the slide cannot be read; with it every box is checked to lie inside.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the plan: {getattr(error, 'strerror', None) or error}", path) from error
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"not a section plan: the columns {', '.join(missing)} are missing "
                         f"(a plan has {','.join(REQUIRED_COLUMNS)})", path)
    rows: list[PlanRow] = []
    problems: list[str] = []
    sizes: dict[tuple[Path, int | None], Size | str] = {}
    for record in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            row = parse_row(record, path.parent, line)
            if slide_size is not None:
                _check_box(row, slide_size, sizes)
        except UsageError as error:
            problems.append(f"line {line}: {error.message}")
            continue
        rows.append(row)
    problems.extend(_series_problems(rows))
    if problems:
        raise UsageError("the plan has bad rows (nothing was written):\n  " + "\n  ".join(problems), path)
    if not rows:
        raise UsageError("the plan has no sections", path)
    return rows


def _check_box(row: PlanRow, slide_size: Callable[[Path, int | None], Size],
               sizes: dict[tuple[Path, int | None], Size | str]) -> None:
    key = (row.slide, row.scene)
    if key not in sizes:
        if not row.slide.exists():
            sizes[key] = f"unknown slide {row.slide} (no such file)"
        else:
            try:
                sizes[key] = slide_size(row.slide, row.scene)
            except QuintPrepError as error:
                sizes[key] = f"slide {row.slide}: {error.message}"
    size = sizes[key]
    if isinstance(size, str):
        raise UsageError(size)
    if not row.box.inside(size):
        where = "the scene" if row.scene is not None else "the slide"
        raise UsageError(f"box {row.box.x},{row.box.y} {row.box.width}x{row.box.height} lies "
                         f"outside {where} ({size})")
