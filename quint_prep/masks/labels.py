"""Which values of a segmentation are objects: class labels, instance ids, per file or per tool.

Class labels (ilastik Simple Segmentation, QuPath class label images: one value per class) and
instance ids (Cellpose, QuPath 16/32-bit instance exports, ``--instances``: one value per cell)
are different things, so they are chosen separately:

- ``--labels`` applies to class-label files only;
- instance files keep every instance unless ``--instance-ids`` narrows them;
- binary (0/255) masks keep their non-zero pixels, coloured images their object colour;
- a labels table (CSV ``name,labels`` or the config's ``[labels]``) gives a file, a group of
  files or a tool its own values, whatever its role.

A table row matches a file by, in this order (the first tier that matches wins; within a tier
the first row): 1. its name exactly: the file name, its stem, or the section stem left after
removing the tool suffix (``m_s001_cp_masks.tif``, ``m_s001_cp_masks``, ``m_s001``); 2. a glob
(``*``, ``?``, ``[...]``) matching the file name or stem, e.g. ``*_cp_masks*``; 3. a source
kind (``ilastik``, ``cellpose``, ``qupath``, ``binary``, ``rgb``) equal to the file's detected
kind. Matching ignores case. A matching row wins over ``--labels`` / ``--instance-ids``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Sequence

from quint_prep.errors import InputError, UsageError
from quint_prep.masks.instances import instance_labels, is_instance_source, label_census
from quint_prep.masks.select import parse_labels
from quint_prep.masks.sources import MaskFile, SourceKind, colour_counts, label_counts

KIND_NAMES = tuple(kind.value for kind in SourceKind)
_GLOB_CHARACTERS = "*?["


class LabelRole(str, Enum):
    """What the values of a file mean, which decides the option that chooses its objects.

    - ``class``: one value per class (ilastik, QuPath class label images): ``--labels``.
    - ``instance``: one id per cell (Cellpose, QuPath instance exports): ``--instance-ids``.
    - ``binary``: objects and background (FIJI 0/255): every non-zero pixel.
    - ``colour``: coloured image: ``--object-colour``.
    """

    CLASS = "class"
    INSTANCE = "instance"
    BINARY = "binary"
    COLOUR = "colour"


def label_role(mask: MaskFile, forced_instances: bool = False) -> LabelRole:
    """The role of a file's values (instances as ``masks.flatten`` reads them)."""
    if mask.kind is SourceKind.RGB and mask.palette is None:
        return LabelRole.COLOUR
    if is_instance_source(mask, forced_instances):
        return LabelRole.INSTANCE
    if mask.kind is SourceKind.BINARY:
        return LabelRole.BINARY
    return LabelRole.CLASS


@dataclass(frozen=True)
class LabelRule:
    """One row of a labels table: which files (``name``) take which values, and where it is."""

    name: str
    labels: tuple[int, ...]
    where: str  # "labels.csv line 3", "config [labels] \"ilastik\""

    @property
    def tier(self) -> int:
        """0: a name, 1: a glob, 2: a source kind (lower wins)."""
        if self.name.lower() in KIND_NAMES:
            return 2
        return 1 if any(c in self.name for c in _GLOB_CHARACTERS) else 0

    def matches(self, mask: MaskFile) -> bool:
        """True when this row names the file (see the module docstring for the rule)."""
        wanted = self.name.lower()
        names = (mask.path.name.lower(), mask.path.stem.lower())
        if self.tier == 2:
            return mask.kind.value == wanted
        if self.tier == 1:
            return any(fnmatchcase(n, wanted) for n in names)
        return wanted in (*names, mask.name.stem.lower())

    def to_json(self) -> dict:
        """JSON form (recorded in the masks manifest's settings)."""
        return {"name": self.name, "labels": list(self.labels)}


@dataclass(frozen=True)
class LabelsTable:
    """The rows of a labels table, in the order given."""

    rules: tuple[LabelRule, ...] = ()

    def rule_for(self, mask: MaskFile) -> LabelRule | None:
        """The row that decides this file's values, or None."""
        matching = [r for r in self.rules if r.matches(mask)]
        return min(matching, key=lambda r: r.tier) if matching else None

    def unused(self, masks: Iterable[MaskFile]) -> list[LabelRule]:
        """Name and glob rows that match no file (probably a typo)."""
        masks = list(masks)
        return [r for r in self.rules if r.tier < 2 and not any(r.matches(m) for m in masks)]


def label_rule(name: str, labels: object, where: str) -> LabelRule:
    """One row from its two cells; UsageError naming ``where`` when a cell is wrong."""
    name = name.strip()
    if not name:
        raise UsageError(f"{where}: the name is empty (a file name, stem, glob like *_cp_masks* "
                         f"or a tool: {', '.join(KIND_NAMES)})")
    text = ",".join(str(v) for v in labels) if isinstance(labels, (list, tuple)) else str(labels)
    try:
        values = parse_labels(text)
    except ValueError as error:
        raise UsageError(f"{where}: {name}: {error}") from None
    return LabelRule(name, values, where)


def labels_table(rows: Iterable[LabelRule]) -> LabelsTable:
    """A table from rows; UsageError when two rows have the same name."""
    seen: dict[str, LabelRule] = {}
    for row in rows:
        other = seen.get(row.name.lower())
        if other is not None:
            raise UsageError(f"{row.where}: {row.name} is also given in {other.where}; keep one")
        seen[row.name.lower()] = row
    return LabelsTable(tuple(seen.values()))


def read_labels_table(path: Path) -> LabelsTable:
    """Read a CSV ``name,labels`` (header first; blank lines and ``#`` lines skipped).

    Several labels are written ``"2,3"`` (quoted), ``2-4``, or simply as more cells
    (``ilastik,2,3``). UsageError naming the file and the line of the first bad row.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError("no such labels table (a CSV with the columns name,labels)", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the labels table: {error}", path) from None
    rows: list[LabelRule] = []
    header_seen = False
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{path} line {number}"
        if not header_seen:
            if [c.lower() for c in cells if c] != ["name", "labels"]:
                raise UsageError(f"{where}: the first row must be the header name,labels, not "
                                 f"{','.join(cells)}")
            header_seen = True
            continue
        if len(cells) < 2 or not any(cells[1:]):
            raise UsageError(f"{where}: {','.join(cells)}: give a name and its labels, e.g. "
                             "*_cp_masks*,1-500 or ilastik,2")
        rows.append(label_rule(cells[0], [c for c in cells[1:] if c], where))
    return labels_table(rows)


@dataclass(frozen=True)
class LabelSelection:
    """The user's label choices for a folder: the blanket options and the table."""

    labels: tuple[int, ...] | None = None  # --labels: class-label files
    instance_ids: tuple[int, ...] | None = None  # --instance-ids: instance files
    table: LabelsTable = LabelsTable()
    instances: bool = False  # --instances: read any single-band labels as instances

    def to_json(self) -> dict:
        """What decides the values of every file (recorded with the masks settings)."""
        return {"labels": list(self.labels) if self.labels is not None else None,
                "instance_ids": list(self.instance_ids) if self.instance_ids is not None else None,
                "labels_table": [r.to_json() for r in self.table.rules]}


@dataclass(frozen=True)
class LabelChoice:
    """The values chosen for one file (None: its default), its role, and what chose them."""

    labels: tuple[int, ...] | None
    role: LabelRole
    origin: str  # "--labels", "--instance-ids", "labels.csv line 3", "" (default)

    def describe(self) -> str:
        """``--labels 2``, ``labels.csv line 3 (2)`` or ``the default``."""
        if self.labels is None:
            return "the default"
        shown = _values_text(self.labels)
        return f"{self.origin} {shown}" if self.origin.startswith("--") else f"{self.origin} ({shown})"


def choose_labels(mask: MaskFile, selection: LabelSelection) -> LabelChoice:
    """The values of one file: its table row, else the blanket option of its role, else None."""
    role = label_role(mask, selection.instances)
    rule = selection.table.rule_for(mask)
    if rule is not None:
        return LabelChoice(rule.labels, role, rule.where)
    if role is LabelRole.CLASS and selection.labels is not None:
        return LabelChoice(selection.labels, role, "--labels")
    if role is LabelRole.INSTANCE and selection.instance_ids is not None:
        return LabelChoice(selection.instance_ids, role, "--instance-ids")
    return LabelChoice(None, role, "")


def blanket_notes(masks: Sequence[MaskFile], selection: LabelSelection) -> list[str]:
    """One line each about blanket options some files do not take, and table rows that match
    nothing, so a mixed folder says where --labels went."""
    notes = []
    choices = {m.path: choose_labels(m, selection) for m in masks}
    if selection.labels is not None:
        kept = [m for m in masks if choices[m.path].role is LabelRole.INSTANCE
                and choices[m.path].origin == ""]
        if kept:
            names = ", ".join(m.path.name for m in kept[:3]) + (" ..." if len(kept) > 3 else "")
            notes.append(f"--labels {_values_text(selection.labels)} applies to class-label files "
                         f"(ilastik, QuPath classes); {len(kept)} instance-label file"
                         f"{'s' if len(kept) > 1 else ''} ({names}) keep{'' if len(kept) > 1 else 's'}"
                         " every instance: narrow instances with --instance-ids")
    if selection.instance_ids is not None and not any(
            c.role is LabelRole.INSTANCE for c in choices.values()):
        notes.append("--instance-ids: no instance-label file (Cellpose, QuPath instances) among "
                     "the segmentations; class labels are chosen with --labels")
    for rule in selection.table.unused(masks):
        notes.append(f"{rule.where}: {rule.name} matches no segmentation file")
    return notes


def _values_text(values: Sequence[int]) -> str:
    shown = ",".join(str(v) for v in values[:12])
    return shown + (f",... ({len(values)} values)" if len(values) > 12 else "")


def label_shares(mask: MaskFile) -> dict[int, int] | None:
    """Pixels per stored value (palette index for indexed files); None for colour images or
    labels wider than 16 bits. One streamed pass; InputError on a decode failure."""
    if mask.palette is not None:
        counts = dict(colour_counts(mask).counts)  # a copy: popped below
        shares: dict[int, int] = {}
        for index, colour in enumerate(mask.palette):
            key = tuple(colour[:3])
            if key in counts and counts[key]:
                shares[index] = counts.pop(key)  # a colour listed twice counts once
        return shares
    if mask.kind is SourceKind.RGB or mask.info.sample_format not in ("uchar", "ushort"):
        return None
    return label_counts(mask)


def instances_present(mask: MaskFile, choice: LabelChoice) -> int | None:
    """Distinct instance ids in the file before any narrowing (None unless ids were narrowed:
    then the written counts already hold them). One streamed pass."""
    if choice.role is not LabelRole.INSTANCE or choice.labels is None:
        return None
    try:
        return label_census(mask.labels_image, mask.path).instances
    except InputError:
        return None


def instances_kept(mask: MaskFile, choice: LabelChoice) -> int | None:
    """Distinct instance ids left by the choice (None unless ids were narrowed). One pass."""
    if choice.role is not LabelRole.INSTANCE or choice.labels is None:
        return None
    labels = choice.labels
    try:
        return label_census(lambda: instance_labels(mask, labels)[0], mask.path).instances
    except InputError:
        return None
