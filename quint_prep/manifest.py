"""The manifest ``quint-prep.json``: what an output folder holds and how it was made.

Format (version 1)::

    {
      "format": "quint-prep-manifest",
      "version": 1,
      "tool": {"name": "quint-prep", "version": "...", "libvips": "8.18.7", "pyvips": "3.2.0"},
      "updated": "2026-11-25T17:00:00+00:00",
      "factor": 0.25,                   # the one factor of the series
      "max_size": "14000x10000" | null, # the box the factor was computed from, if any
      "settings": {"method": "area", "format": "png", ...},
      "images": [
        {"name": "mouse12_s001.png", "stem": "mouse12_s001", "section": 1,
         "source": "/abs/path/mouse12_s001.tif", "source_bytes": 123, "source_mtime_ns": 1,
         "source_width": 40000, "source_height": 30000, "width": 10000, "height": 7500,
         "load": "pyramid level 2 (10000x7500)", "scene": null,
         "source_um_per_px": [0.5, 0.5] | null, "um_per_px": [2.0, 2.0] | null}
      ],
      "stale": ["mouse12_s013.png"]     # written for an earlier series of this folder (other
    }                                   # settings), not replaced yet: rewritten, never kept

Readers must check ``format`` and ``version``; new keys may be added without a version change,
a change of meaning bumps ``version``. A run killed half-way leaves the images it finished in
the folder's journal (see ``journal``); ``read_manifest`` merges them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyvips

from quint_prep import __version__
from quint_prep.errors import UsageError
from quint_prep.journal import clear, recorded
from quint_prep.outputs import write_text_atomic

MANIFEST_NAME = "quint-prep.json"
MANIFEST_FORMAT = "quint-prep-manifest"
MANIFEST_VERSION = 1
IMAGE_KIND = "image"  # journal entries of downscaled images


@dataclass(frozen=True)
class ImageRecord:
    """One output image and the source and settings that produced it."""

    name: str
    stem: str
    section: int | None
    source: str
    source_bytes: int
    source_mtime_ns: int
    source_width: int
    source_height: int
    width: int
    height: int
    load: str
    window: dict | None = None  # intensity window applied to this image ({"low": [...], "high": [...]})
    orientation: dict | None = None  # {"rotate": 90, "flip": "horizontal"} when turned
    scene: int | None = None  # the scene of a multi-scene source (CZI) this image is
    source_um_per_px: list[float] | None = None  # [x, y] pixel size recorded in the source
    um_per_px: list[float] | None = None  # [x, y] this output's: source size / factor
    box: dict | None = None  # a plan row: {"x", "y", "width", "height", "scene"} cut from source


@dataclass
class Manifest:
    """The content of ``quint-prep.json`` (see the module doc for the format)."""

    factor: float | None = None
    max_size: str | None = None
    settings: dict = field(default_factory=dict)
    images: dict[str, ImageRecord] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)  # quint-prep's files of an earlier series
    extra: dict = field(default_factory=dict)  # sections other commands own (kept as read)

    def to_json(self) -> dict:
        """The JSON document, with tool versions and the update time filled in."""
        document = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "tool": tool_versions(),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "factor": self.factor,
            "max_size": self.max_size,
            "settings": self.settings,
            "images": [asdict(record) for record in sorted(self.images.values(), key=lambda r: r.name)],
            "stale": sorted(self.stale - set(self.images)),
        }
        document.update(self.extra)
        return document


def tool_versions() -> dict:
    """quint-prep, libvips and pyvips versions (recorded in every manifest)."""
    return {
        "name": "quint-prep",
        "version": __version__,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "pyvips": pyvips.__version__,
    }


def manifest_path(folder: Path) -> Path:
    """Where the manifest of an output folder lives."""
    return Path(folder) / MANIFEST_NAME


def read_manifest(path: Path) -> Manifest:
    """Read a manifest file (or the one in a folder); raise UsageError when it is not one."""
    path = Path(path)
    if path.is_dir():
        path = manifest_path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UsageError("no quint-prep manifest here", path) from error
    except (OSError, ValueError) as error:
        raise UsageError(f"not a readable quint-prep manifest ({error})", path) from error
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise UsageError("not a quint-prep manifest (no 'format': 'quint-prep-manifest')", path)
    if document.get("version") != MANIFEST_VERSION:
        raise UsageError(
            f"manifest version {document.get('version')} is not {MANIFEST_VERSION}; "
            "rerun the command with --overwrite to rebuild the folder",
            path,
        )
    known = {"format", "version", "tool", "updated", "factor", "max_size", "settings", "images",
             "stale"}
    try:
        images = {entry["name"]: ImageRecord(**entry) for entry in document.get("images", [])}
    except (TypeError, KeyError) as error:
        raise UsageError(f"manifest image entries are malformed ({error})", path) from error
    manifest = Manifest(
        factor=document.get("factor"),
        max_size=document.get("max_size"),
        settings=document.get("settings", {}),
        images=images,
        stale={name for name in document.get("stale") or [] if isinstance(name, str)},
        extra={k: v for k, v in document.items() if k not in known},
    )
    return with_journal(manifest, path.parent)


def with_journal(manifest: Manifest, folder: Path) -> Manifest:
    """The manifest with the images a run recorded in the folder's journal (in place)."""
    for name, entry in recorded(folder, IMAGE_KIND).items():
        try:
            manifest.images[name] = ImageRecord(**entry)
        except TypeError:
            continue  # an entry of another version: the image is redone
        manifest.stale.discard(name)
    return manifest


def load_or_new(folder: Path) -> Manifest:
    """The folder's manifest, or an empty one when the folder has none yet."""
    path = manifest_path(folder)
    return read_manifest(path) if path.exists() else Manifest()


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write the manifest atomically into the folder; return its path."""
    path = manifest_path(folder)
    write_text_atomic(path, json.dumps(manifest.to_json(), indent=2) + "\n")
    return path


def write_merged(folder: Path, manifest: Manifest) -> Path:
    """Write the manifest with what the journal recorded, then remove the journal."""
    path = write_manifest(folder, with_journal(manifest, folder))
    clear(folder)
    return path
