"""The record of a masks output folder, kept under the key ``masks`` of its ``quint-prep.json``.

A masks folder gets its own manifest (never the one of a downscaled series: masks carry the
images' names and must not lie next to them). Format::

    "masks": {
      "files": [
        {"name": "mouse12_s001.png", "source": "/abs/mouse12_s001_cp_masks.png",
         "source_bytes": 123, "source_mtime_ns": 1, "kind": "cellpose", "labels": "non-zero",
         "image": "mouse12_s001.png", "mask_width": 4000, "mask_height": 3000,
         "width": 4000, "height": 3000, "object_fraction": 0.0731,
         "counts": {"objects": 5210, "object_pixels": 877200, "total_pixels": 12000000,
                    "instances": 5210, "instance_pixels": 901344, "separated_pixels": 24144,
                    "objects_before": null, "lost": null, "merged": null, "split": null},
         "settings": {"colour": [255, 0, 0], "background": [0, 0, 0], "resample": "area", ...}}
      ],
      "totals": {"masks": 1, "objects": 5210, "object_pixels": 877200, ...}
    }

The manifest's ``factor`` is the series factor of the last ``--max-size`` run (null otherwise);
its ``images`` list stays empty (that list describes downscaled images). ``counts`` are the
figures of ``masks.counts.MaskCounts`` (definitions there); ``totals`` sums them over the
folder's masks. The record lets a
rerun skip masks that are up to date (decided by ``resume.decide``, as for images) and replace
only files quint-prep wrote. A run writes the manifest when it starts and when it ends; each
mask finished in between is recorded in the folder's journal as it is published (``journal``,
kind ``mask``), and ``load_record`` merges those entries, so a run killed half-way resumes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from quint_prep.journal import recorded
from quint_prep.manifest import Manifest, load_or_new, write_manifest
from quint_prep.one_series import existing, remove_replaced, settings_differences

MASKS_KEY = "masks"
MASK_KIND = "mask"  # journal entries of written masks


@dataclass(frozen=True)
class MaskRecord:
    """One written mask and the source and result it came from."""

    name: str
    source: str
    source_bytes: int
    source_mtime_ns: int
    kind: str
    labels: str
    image: str | None
    mask_width: int
    mask_height: int
    width: int
    height: int
    object_fraction: float
    counts: dict
    settings: dict
    facts: dict = field(default_factory=dict)  # what masks.judge.judge_mask was told


@dataclass
class MasksRecord:
    """The manifest of a masks folder and its mask entries, as read and as updated."""

    manifest: Manifest
    files: dict[str, MaskRecord]
    factor_before: float | None = None  # the factor the folder's masks were made with


def load_record(output_dir: Path, factor: float | None) -> MasksRecord:
    """Read the folder's manifest (or start one) with its mask entries, and those a run
    recorded in the folder's journal (a killed run's finished masks)."""
    previous = load_or_new(output_dir)
    section = previous.extra.get(MASKS_KEY) or {}
    files: dict[str, MaskRecord] = {}
    for entry in section.get("files", []) if isinstance(section, dict) else []:
        _add_entry(files, entry)
    manifest = Manifest(factor=factor, settings=previous.settings, images=previous.images,
                        stale=set(previous.stale), extra=dict(previous.extra))
    record = MasksRecord(manifest, files, previous.factor)
    return with_journal(record, output_dir)


def _add_entry(files: dict[str, MaskRecord], entry: object) -> str | None:
    try:
        record = MaskRecord(**entry)  # type: ignore[arg-type]
    except TypeError:
        return None  # an entry of another version: the file is redone
    files[record.name] = record
    return record.name


def with_journal(record: MasksRecord, folder: Path) -> MasksRecord:
    """The record with the masks a run recorded in the folder's journal (in place)."""
    for entry in recorded(folder, MASK_KIND).values():
        name = _add_entry(record.files, entry)
        if name is not None:
            record.manifest.stale.discard(name)
    return record


def other_masks(record: MasksRecord, folder: Path, settings: dict,
                factor: float | None) -> tuple[list[str], list[str]]:
    """The folder's masks made with other settings or another factor (and its stale ones),
    and what differs (see one_series): a folder holds one series of masks."""
    same = record.factor_before == factor
    other = [name for name in existing(folder, record.files)
             if not same or record.files[name].settings != settings]
    if not other:
        return [], []
    before = record.files[other[0]]
    differences = settings_differences({"factor": record.factor_before, **before.settings},
                                       {"factor": factor, **settings})
    return sorted({*other, *existing(folder, record.manifest.stale)}), differences


def replace_masks(record: MasksRecord, folder: Path, other: list[str], keep: set[str]) -> None:
    """--overwrite into a folder of other masks: delete those this run does not write, mark
    the rest stale until rewritten, and record that at once (a kill keeps it)."""
    remove_replaced(folder, other, keep)
    for name in other:
        record.files.pop(name, None)
    record.manifest.stale = set(other) & keep
    save_record(folder, record)


def save_record(output_dir: Path, record: MasksRecord) -> Path:
    """Write the manifest with the current mask entries (atomically)."""
    files = [asdict(r) for r in sorted(record.files.values(), key=lambda r: r.name)]
    record.manifest.extra[MASKS_KEY] = {"files": files, "totals": series_totals(
        [r.counts for r in record.files.values()])}
    return write_manifest(output_dir, record.manifest)


def series_totals(counts: list[dict]) -> dict:
    """Sum every count over the masks of a series (a figure stays null when no mask has it)."""
    totals: dict = {"masks": len(counts)}
    for entry in counts:
        for key, value in entry.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return totals
