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


@dataclass(frozen=True)
class NameIssue:
    """One thing in a file stem that breaks a QUINT tool: a stable code and an explanation."""

    code: str  # no-section, several-sections, early-s, mask, dot, unsafe-chars
    message: str
    blocking: bool  # True when a tool reads the wrong section number (or none) from the name


def name_issues(stem: str) -> list[NameIssue]:
    """List what in a file stem breaks one of the QUINT tools (empty when the name is safe)."""
    issues: list[NameIssue] = []
    numbers = SECTION_PATTERN.findall(stem)
    if not numbers:
        issues.append(NameIssue("no-section", "no section number '_sNNN' in the name", True))
    elif len(numbers) > 1:
        issues.append(NameIssue(
            "several-sections",
            f"{len(numbers)} section numbers in the name ({', '.join('_s' + n for n in numbers)}); "
            "Nutil takes the first, PyNutil the last", True))
    else:
        first_s = _ANY_S.search(stem)
        number_at = SECTION_PATTERN.search(stem)
        if first_s is not None and number_at is not None and first_s.start() != number_at.start():
            issues.append(NameIssue(
                "early-s", "an '_s' before the section number makes Nutil read the wrong number", True))
    if "mask" in stem.lower():
        issues.append(NameIssue("mask", "'mask' in the name: Nutil skips such files", False))
    if "." in stem:
        issues.append(NameIssue("dot", "a '.' in the name: Nutil cuts report names at the first dot",
                                False))
    if not _SAFE_CHARS.match(stem):
        bad = sorted({c for c in stem if not re.match(r"[A-Za-z0-9_.-]", c)})
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            issues.append(NameIssue(
                "unsafe-chars", f"characters other than letters, digits, '_' and '-': {shown}", False))
    return issues


def name_problems(stem: str) -> list[str]:
    """List what in a file stem breaks one of the QUINT tools (empty when the name is safe)."""
    return [issue.message for issue in name_issues(stem)]


def strip_section(stem: str) -> str:
    """The stem without its ``_s<digits>`` section numbers (``mouse12_s007`` -> ``mouse12``)."""
    return SECTION_PATTERN.sub("", stem)


def padding_outliers(numbers: dict[str, SectionNumber]) -> tuple[int, list[str]]:
    """The digit count most names of a series use, and the names written with another one.

    QuickNII's FileBuilder wants equal digits and Nutil matches ``_s1`` inside ``_s10``, so
    every number of a series should be zero-padded to one width.
    """
    widths: dict[int, int] = {}
    for number in numbers.values():
        widths[number.width] = widths.get(number.width, 0) + 1
    if not widths:
        return 0, []
    common = max(sorted(widths), key=lambda w: widths[w])
    return common, [name for name, number in numbers.items() if number.width != common]


def natural_key(name: str) -> tuple:
    """Sort key for natural name order: ``a2`` before ``a10``."""
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)
