"""Section orientation: mirror and rotate, the same for the segmentation and registration series.

Order: mirror first (``flip``), then rotate clockwise by 90, 180 or 270 degrees (lossless).
A series-wide setting can be overridden per section by a CSV with columns ``name,rotate,flip``
(``name`` is the image stem).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pyvips

from quint_prep.errors import UsageError
from quint_prep.scale import Size

ROTATIONS = (0, 90, 180, 270)
FLIPS = ("horizontal", "vertical")
_ROT = {90: "d90", 180: "d180", 270: "d270"}


@dataclass(frozen=True)
class Orientation:
    """How one section is turned: mirrored (flip) first, then rotated clockwise."""

    rotate: int = 0
    flip: str | None = None

    @property
    def is_identity(self) -> bool:
        """True when the section is left as it is."""
        return self.rotate == 0 and self.flip is None

    @property
    def needs_random_access(self) -> bool:
        """Everything but a horizontal mirror reads the image out of top-to-bottom order."""
        return self.rotate != 0 or self.flip == "vertical"

    def size(self, size: Size) -> Size:
        """The size of an image of ``size`` once oriented (90 and 270 swap the sides)."""
        return Size(size.height, size.width) if self.rotate in (90, 270) else size

    def apply(self, image: pyvips.Image) -> pyvips.Image:
        """Mirror, then rotate clockwise (libvips ``flip`` and ``rot``, pixel-exact)."""
        if self.flip is not None:
            image = image.flip(self.flip)
        if self.rotate:
            image = image.rot(_ROT[self.rotate])
        return image

    def to_json(self) -> dict:
        """JSON form (manifest)."""
        return {"rotate": self.rotate, "flip": self.flip}


def parse_rotate(text: str | int | None, where: str = "--rotate") -> int:
    """Parse a clockwise rotation in degrees: 0, 90, 180 or 270."""
    if text is None or text == "":
        return 0
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if value not in ROTATIONS:
        raise UsageError(f"{where}: rotation {text!r} is not 0, 90, 180 or 270 (degrees clockwise)")
    return value


def parse_flip(text: str | None, where: str = "--flip") -> str | None:
    """Parse a mirror: horizontal, vertical, or none."""
    if text is None or str(text).strip().lower() in ("", "none", "no"):
        return None
    value = str(text).strip().lower()
    if value not in FLIPS:
        raise UsageError(f"{where}: flip {text!r} is not horizontal, vertical or none")
    return value


@dataclass(frozen=True)
class OrientationPlan:
    """The series orientation and per-section exceptions (by image stem)."""

    default: Orientation = Orientation()
    per_section: dict[str, Orientation] = field(default_factory=dict)

    def for_stem(self, stem: str) -> Orientation:
        """The orientation of the section with this stem."""
        return self.per_section.get(stem, self.default)

    @property
    def is_identity(self) -> bool:
        """True when no section is turned."""
        return self.default.is_identity and all(o.is_identity for o in self.per_section.values())

    def to_json(self) -> dict:
        """JSON form (manifest settings)."""
        return {"default": self.default.to_json(),
                "sections": {stem: o.to_json() for stem, o in sorted(self.per_section.items())}}


def read_orientation_csv(path: Path, stems: Iterable[str]) -> dict[str, Orientation]:
    """Read ``name,rotate,flip`` rows; every problem is listed with its line number."""
    known = set(stems)
    result: dict[str, Orientation] = {}
    problems: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"name", "rotate", "flip"} - set(reader.fieldnames or [])
            if missing:
                raise UsageError(f"the orientation CSV needs the columns name,rotate,flip "
                                 f"(missing: {', '.join(sorted(missing))})", path)
            for line, row in enumerate(reader, start=2):
                name = (row.get("name") or "").strip()
                stem = Path(name).stem if Path(name).suffix.lower() in (".tif", ".tiff", ".png", ".jpg", ".jpeg") else name
                try:
                    if stem not in known:
                        raise UsageError(f"no image with the stem {stem!r} in the series")
                    if stem in result:
                        raise UsageError(f"{stem!r} is listed twice")
                    result[stem] = Orientation(parse_rotate(row.get("rotate"), "rotate"),
                                               parse_flip(row.get("flip"), "flip"))
                except UsageError as error:
                    problems.append(f"line {line}: {error.message}")
    except OSError as error:
        raise UsageError(f"cannot read the orientation CSV: {error.strerror}", path) from error
    if problems:
        raise UsageError("orientation CSV problems:\n  " + "\n  ".join(problems), path)
    return result
