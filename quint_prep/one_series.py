"""A folder holds ONE series: what differs from the series already there, and replacing it.

A run whose factor or settings differ from those of the series its output folder holds is
refused (one line saying what differs and what to do); with ``--overwrite`` it replaces that
series whole: the files quint-prep recorded there that this run does not write are deleted
(never a file quint-prep did not write), the others are marked stale until rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Collection, Iterable, Sequence

from quint_prep.errors import UsageError


def flat_settings(settings: dict, prefix: str = "") -> dict:
    """Nested settings as one level of dotted keys: {"normalise": {"mode": "none"}} ->
    {"normalise.mode": "none"}."""
    flat: dict = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def settings_differences(old: dict, new: dict) -> list[str]:
    """What differs between the recorded and the new settings: ``factor 0.5 -> 0.25``."""
    old, new = flat_settings(old), flat_settings(new)
    keys = [*old, *(k for k in new if k not in old)]
    return [f"{key} {_text(old.get(key))} -> {_text(new.get(key))}"
            for key in keys if old.get(key) != new.get(key)]


def existing(folder: Path, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are files in the folder, sorted."""
    return sorted({name for name in names if (Path(folder) / name).is_file()})


def short_differences(differences: Sequence[str], limit: int = 3) -> str:
    """At most ``limit`` differences, then how many more."""
    text = ", ".join(differences[:limit])
    return text + (f" and {len(differences) - limit} more" if len(differences) > limit else "")


def other_series(folder: Path, count: int, noun: str, differences: Sequence[str]) -> UsageError:
    """The refusal of a run into a folder that holds a series made with other settings
    (``noun``: what the series is made of, singular)."""
    return UsageError(f"holds {count} {noun}{'' if count == 1 else 's'} made with other settings "
                      f"({short_differences(differences)}): pass --overwrite to replace that "
                      "series, or choose another output folder", folder)


def remove_replaced(folder: Path, recorded: Iterable[str], keep: Collection[str]) -> list[Path]:
    """Delete the recorded files of the series being replaced that this run does not write
    (``keep``); return what was deleted. Only names quint-prep recorded are ever deleted."""
    removed = []
    for name in existing(folder, recorded):
        if name not in keep and Path(name).name == name:  # a bare name, inside the folder
            (Path(folder) / name).unlink(missing_ok=True)
            removed.append(Path(folder) / name)
    return removed
