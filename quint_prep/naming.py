"""QUINT section numbers in file names, and the name rules the QUINT tools rely on.

How the consumers find the number (see ../shared/quint-requirements.md):
Nutil takes the FIRST ``_s[0-9]*``, PyNutil the LAST ``_s(\\d+)``, DeepSlice wants ``_s\\d+``
exactly once. A name is therefore unambiguous only when it holds exactly one ``_s<digits>``
and no other ``_s``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION_PATTERN = re.compile(r"_s(\d+)")
_ANY_S = re.compile(r"_s", re.IGNORECASE)
_SAFE_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class SectionNumber:
    """A section number as written in a name: its value and its digits (to keep the padding)."""

    value: int
    digits: str

    @property
    def width(self) -> int:
        """Number of digits as written (``007`` has width 3)."""
        return len(self.digits)


def parse_section_number(stem: str) -> SectionNumber | None:
    """Return the section number of a file stem, or None when it has none or is ambiguous.

    Exactly one ``_s<digits>`` must occur; a second one makes Nutil, PyNutil and DeepSlice
    disagree, so it counts as no number (``name_problems`` explains why).
    """
    matches = SECTION_PATTERN.findall(stem)
    if len(matches) != 1:
        return None
    return SectionNumber(int(matches[0]), matches[0])


def name_problems(stem: str) -> list[str]:
    """List what in a file stem breaks one of the QUINT tools (empty when the name is safe)."""
    problems: list[str] = []
    numbers = SECTION_PATTERN.findall(stem)
    if not numbers:
        problems.append("no section number '_sNNN' in the name")
    elif len(numbers) > 1:
        problems.append(
            f"{len(numbers)} section numbers in the name ({', '.join('_s' + n for n in numbers)}); "
            "Nutil takes the first, PyNutil the last"
        )
    else:
        first_s = _ANY_S.search(stem)
        number_at = SECTION_PATTERN.search(stem)
        if first_s is not None and number_at is not None and first_s.start() != number_at.start():
            problems.append("an '_s' before the section number makes Nutil read the wrong number")
    if "mask" in stem.lower():
        problems.append("'mask' in the name: Nutil skips such files")
    if "." in stem:
        problems.append("a '.' in the name: Nutil cuts report names at the first dot")
    if not _SAFE_CHARS.match(stem):
        bad = sorted({c for c in stem if not re.match(r"[A-Za-z0-9_.-]", c)})
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            problems.append(f"characters other than letters, digits, '_' and '-': {shown}")
    return problems
