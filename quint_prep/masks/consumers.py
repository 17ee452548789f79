"""The exact settings each quantifier needs for a masks folder, and what would make it skip files.

Facts (../shared/quint-requirements.md, "How consumers read a segmentation"):
- WebNutil / Nutil Quantifier take the object colour as RGB (``255,0,0``); Nutil matches it
  within +-2 per channel and skips every file whose name contains ``mask``.
- PyNutil 0.6.2 reads masks with OpenCV (BGR) and compares ``pixel_id`` exactly, so a red mask
  needs ``pixel_id=[0, 0, 255]``. It takes a mask's section number from the LAST ``_s<digits>``
  of the name, else the last ``_<digits>``, and raises an error when there is none or when two
  masks share a number; a mask whose number is not in the registration is skipped.

The settings are written next to the masks as ``quint-prep-consumers.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from quint_prep.errors import QuintPrepError
from quint_prep.manifest import manifest_path, read_manifest
from quint_prep.outputs import atomic_output
from quint_prep.registration.files import Registration

CONSUMERS_FILE = "quint-prep-consumers.json"
_PYNUTIL_SECTION = re.compile(r"_s(\d+)")
_PYNUTIL_FALLBACK = re.compile(r"_(\d+)")


def pynutil_section(name: str) -> int | None:
    """The section number PyNutil 0.6.2 reads from a file name (``number_sections``), or None."""
    found = _PYNUTIL_SECTION.findall(name) or _PYNUTIL_FALLBACK.findall(name)
    return int(found[-1]) if found else None


@dataclass(frozen=True)
class ConsumerSettings:
    """The values to give each tool, and warnings about files it would skip or refuse."""

    colour: tuple[int, int, int]
    background: tuple[int, int, int]
    factor: float | None  # the image series' downscale factor (original sections -> images)
    warnings: tuple[str, ...]
    folder: str = "FOLDER"
    masks_factor: float | None = None  # the one --max-size factor applied to the masks

    @property
    def nutil_colour(self) -> str:
        """The RGB object colour as Nutil and WebNutil take it: ``255,0,0``."""
        return ",".join(str(c) for c in self.colour)

    @property
    def pynutil_pixel_id(self) -> list[int]:
        """PyNutil's ``pixel_id``: the colour in BGR order."""
        return list(reversed(self.colour))

    def to_json(self) -> dict:
        """The document written to ``quint-prep-consumers.json``."""
        return {
            "format": "quint-prep-consumers", "version": 1,
            "object_colour_rgb": list(self.colour), "background_rgb": list(self.background),
            "factor": self.factor, "masks_factor": self.masks_factor,
            "webnutil": {"object_colour": self.nutil_colour},
            "nutil": {"object_colour": self.nutil_colour},
            "pynutil": {"pixel_id": self.pynutil_pixel_id,
                        "call": f"read_segmentation_dir({self.folder!r}, pixel_id={self.pynutil_pixel_id})"},
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """The settings as text, one line per tool, then the factor and the warnings."""
        factor = ([f"series factor {self.factor:.6g} (original sections -> images; pixel counts "
                   "are at this scale)"] if self.factor is not None else [])
        if self.masks_factor is not None:
            factor.append(f"masks shrunk by {self.masks_factor:.6g} (--max-size)")
        return [f"WebNutil / Nutil: object colour {self.nutil_colour} (RGB)",
                f"PyNutil: pixel_id={self.pynutil_pixel_id} (it compares BGR; "
                f"[{self.nutil_colour}] would count 0 objects)",
                *factor, *(f"warning: {w}" for w in self.warnings)]


def consumer_settings(names: Sequence[str], colour: tuple[int, int, int],
                      background: tuple[int, int, int], factor: float | None = None,
                      registration: Registration | None = None,
                      folder: str = "FOLDER", masks_factor: float | None = None) -> ConsumerSettings:
    """Settings for a folder of masks named ``names``, with the warnings that matter.

    ``factor`` is the downscale factor of the image series (``series_factor_of``)."""
    warnings = [f"{n}: 'mask' in the name: Nutil skips this file" for n in names
                if "mask" in n.lower()]
    numbers: dict[int, list[str]] = {}
    for name in names:
        number = pynutil_section(Path(name).stem)
        if number is None:
            warnings.append(f"{name}: no _sNNN (or _NNN) number: PyNutil stops with an error")
        else:
            numbers.setdefault(number, []).append(name)
    for number, same in sorted(numbers.items()):
        if len(same) > 1:
            warnings.append(f"{', '.join(same)}: section number {number} twice: PyNutil stops "
                            "with an error")
    if registration is not None:
        registered = {s.nr for s in registration.sections if s.nr is not None}
        for number, same in sorted(numbers.items()):
            if number not in registered:
                warnings.extend(f"{n}: section {number} is not in {registration.path.name}: "
                                "PyNutil skips it" for n in same)
        for section in registration.sections:
            if section.nr is not None and section.nr not in numbers:
                warnings.append(f"{section.filename}: registered section {section.nr} has no "
                                "mask: PyNutil quantifies nothing for it")
    return ConsumerSettings(colour, background, factor, tuple(warnings), folder, masks_factor)


def series_factor_of(folder: Path | None) -> float | None:
    """The downscale factor recorded in an image folder's manifest (None: no readable one)."""
    if folder is None or not manifest_path(folder).is_file():
        return None
    try:
        return read_manifest(folder).factor
    except QuintPrepError:
        return None


def write_consumer_settings(output_dir: Path, settings: ConsumerSettings) -> Path:
    """Write ``quint-prep-consumers.json`` in the masks folder (atomically)."""
    path = Path(output_dir) / CONSUMERS_FILE
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(settings.to_json(), indent=2) + "\n", encoding="utf-8")
    return path
