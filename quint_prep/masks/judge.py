"""The one judgement of a mask's objects, shared by ``masks``, ``check`` and ``sweep``.

A mask is suspect when its label choice lost most of what the file holds, or when it holds no
objects, or objects over most of the section (background taken as objects). ``judge_mask``
holds the thresholds and the wording; the commands only add the file name (``masks``), turn
the judgements into findings (``check``) or leave the section out of the recommendation
(``sweep``: empty and mostly-objects masks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable, Mapping

from quint_prep.errors import QuintPrepError
from quint_prep.masks.labels import LabelChoice, LabelRole

MOSTLY_OBJECTS = 0.5  # objects over more than this share of the section: background as objects?
MOSTLY_LOST = 0.5  # instances kept under this share of those in the file: the choice lost most
MAX_SHOWN = 8  # label values listed in a message


class Concern(str, Enum):
    """What is wrong (the ``check`` finding ids are ``seg.<value>``)."""

    EMPTY = "no-objects"
    MOSTLY_OBJECTS = "objects-dominant"
    LOST = "instances-lost"


@dataclass(frozen=True)
class Judgement:
    """One concern about a mask and the one line that says what to do."""

    concern: Concern
    message: str

    @property
    def excludes(self) -> bool:
        """True when the mask's counts mean nothing (no objects, or background counted)."""
        return self.concern in (Concern.EMPTY, Concern.MOSTLY_OBJECTS)


@dataclass(frozen=True)
class MaskFacts:
    """What is known of one mask: its file, how its objects were chosen, what they cover."""

    name: str  # the segmentation file's name (rows of a labels table name it)
    choice: LabelChoice | None  # None: not known (a mask quint-prep did not write)
    object_fraction: float | None
    objects: int | None = None
    instances_kept: int | None = None
    instances_present: int | None = None
    shares: Mapping[int, int] | None = None  # pixels per value of the source, when counted

    def to_json(self) -> dict:
        """JSON form, recorded per mask in the masks manifest (``check`` judges it again)."""
        choice = self.choice
        return {"name": self.name, "role": choice.role.value if choice else None,
                "labels": list(choice.labels) if choice and choice.labels is not None else None,
                "origin": choice.origin if choice else None,
                "object_fraction": self.object_fraction,
                "objects": self.objects, "instances_kept": self.instances_kept,
                "instances_present": self.instances_present,
                "shares": {str(k): v for k, v in self.shares.items()} if self.shares else None}

    @classmethod
    def from_json(cls, data: Mapping) -> "MaskFacts | None":
        """Read back ``to_json`` (None for an empty or unreadable entry: nothing to judge)."""
        try:
            labels = data["labels"]
            choice = LabelChoice(tuple(labels) if labels is not None else None,
                                 LabelRole(data["role"]), str(data["origin"])) \
                if data["role"] is not None else None
            shares = data.get("shares")
            return cls(str(data["name"]), choice, data["object_fraction"], data["objects"],
                       data["instances_kept"], data["instances_present"],
                       {int(k): int(v) for k, v in shares.items()} if shares else None)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


Census = Callable[[], "Mapping[int, int] | None"]


def judge_and_record(facts: MaskFacts, census: Census) -> tuple[tuple[Judgement, ...], MaskFacts]:
    """``judge_mask`` with a census, and the facts with the shares it counted (to record)."""
    counted: list[Mapping[int, int] | None] = []

    def remember() -> Mapping[int, int] | None:
        counted.append(census())
        return counted[-1]

    judged = judge_mask(facts, remember)
    return judged, replace(facts, shares=counted[0]) if counted else facts


def judge_mask(facts: MaskFacts, census: Census | None = None) -> tuple[Judgement, ...]:
    """Every concern about one mask, worded for the user.

    ``census`` gives the pixels per value of the source (``masks.labels.label_shares``); it is
    called (unless ``facts.shares`` has them) only for class-label files that come out empty or
    mostly objects, to say which values the file holds and suggest one.
    """
    found: list[Judgement] = []
    kept, present = facts.instances_kept, facts.instances_present
    if kept is not None and present and kept < MOSTLY_LOST * present:
        chosen = facts.choice.describe() if facts.choice else "the ids chosen"
        found.append(Judgement(Concern.LOST, (
            f"kept {kept:,} of the {present:,} instances in the file ({chosen}): "
            "most cells are left out; drop --instance-ids (or the labels table row) to keep "
            "every instance")))
    fraction = facts.object_fraction
    if fraction is None:
        return tuple(found)
    if fraction == 0 or facts.objects == 0:
        found.append(Judgement(Concern.EMPTY, "no objects: the output is all background"
                               + _empty_advice(facts, _shares(facts, census))))
    elif fraction > MOSTLY_OBJECTS:
        found.append(Judgement(Concern.MOSTLY_OBJECTS, (
            f"objects cover {fraction:.1%} of the section (over half: the background was "
            "probably taken as objects)" + _mostly_advice(facts, _shares(facts, census)))))
    return tuple(found)


def _shares(facts: MaskFacts, census: Census | None) -> Mapping[int, int] | None:
    if facts.choice is None or facts.choice.role is not LabelRole.CLASS:
        return None
    if facts.shares is not None or census is None:
        return facts.shares
    try:
        return census()
    except QuintPrepError:
        return None


def _listed(shares: Mapping[int, int]) -> str:
    total = sum(shares.values()) or 1
    shown = sorted(shares.items())[:MAX_SHOWN]
    text = ", ".join(f"{value} ({count / total:.1%})" for value, count in shown)
    return text + (f" and {len(shares) - len(shown)} more" if len(shares) > len(shown) else "")


def _row_hint(facts: MaskFacts, value: int | None) -> str:
    return f"a --labels-table row {facts.name},{value if value is not None else 'LABEL'}"


def _empty_advice(facts: MaskFacts, shares: Mapping[int, int] | None) -> str:
    choice = facts.choice
    if choice is None or choice.labels is None:
        return ""
    if choice.role is LabelRole.INSTANCE:
        return f" ({choice.describe()} match no instance here); drop --instance-ids or fix the row"
    where = f" ({choice.describe()} do not occur here"
    if shares:
        others = [v for v in sorted(shares, key=lambda v: shares[v]) if v not in choice.labels]
        return (f"{where}; labels in this file: {_listed(shares)}): give this file its labels "
                f"with {_row_hint(facts, others[0] if others else None)}")
    return f"{where}): give this file its labels with {_row_hint(facts, None)}"


def _mostly_advice(facts: MaskFacts, shares: Mapping[int, int] | None) -> str:
    choice = facts.choice
    if choice is None:
        return (": if objects and background are swapped, redo the mask with the right labels, "
                "object colour or --invert (quint-prep masks)")
    role = choice.role
    if role is LabelRole.BINARY:
        return (": if objects and background are swapped (e.g. an inverted LUT), rerun with "
                "--invert")
    if role is LabelRole.COLOUR:
        return ": if that colour is the background, give the objects' colour with --object-colour"
    if role is LabelRole.INSTANCE:
        return ": check that 0 is the background of this instance image"
    listed = f"; labels in this file: {_listed(shares)}" if shares else ""
    others = [v for v in sorted(shares or {}, key=lambda v: (shares or {})[v])
              if v != 0 and v not in (choice.labels or ())]
    if choice.labels is None:
        example = others[0] if others else 2
        return (f": this is a class-label image{listed}; choose the object classes with "
                f"--labels (e.g. --labels {example}), not --invert")
    return (f": {choice.describe()} is probably this file's background{listed}; give this file "
            f"its object labels with {_row_hint(facts, others[0] if others else None)}")
