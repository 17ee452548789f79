"""Run the checks over files on disk: read headers (and segmentation colours), apply the rules.

``check_series`` is what ``quint-prep check`` runs; ``check_downscaled`` is the short check
``downscale`` runs on what it wrote. Both return a CheckReport with every finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .checks import (naming_findings, pairing_findings, proportion_findings, registration_findings,
                     segmentation_findings, size_findings)
from .colours import Colour, ColourCounts, count_colours, read_png_header, with_colour_counted
from .errors import InputError, UsageError
from .findings import CheckReport, Finding, error
from .manifest import read_manifest
from .registration import read_registration
from .scale import Size, factor_interval, interval_is_empty
from .series import discover, read_info, unreadable_reason

Progress = Callable[[Path], None]


@dataclass(frozen=True)
class _Read:
    """What reading one role's files gave: every path, the sizes read, the findings on the way."""

    paths: list[Path]
    sizes: dict[Path, Size]
    findings: list[Finding]


def _read_sizes(sources: Iterable[Path], role: str, progress: Progress | None,
                inspect: Callable[[Path], list[Finding]] | None = None) -> _Read:
    found = discover(sources)
    findings = [error("file.unreadable", p.path, p.message) for p in found.problems]
    paths = [*found.images, *(p.path for p in found.problems if p.path is not None)]
    sizes: dict[Path, Size] = {}
    for path in found.images:
        try:
            sizes[path] = read_info(path).size
            if inspect is not None:
                findings.extend(inspect(path))
        except InputError as problem:
            findings.append(error("file.unreadable", path, _reason(path, problem)))
        if progress is not None:
            progress(path)
    return _Read(paths, sizes, findings)


def _reason(path: Path, problem: InputError) -> str:
    """The problem's message, or a plainer one when libvips gave only a generic line."""
    if "unable to call" in problem.message:
        return unreadable_reason(path)
    return problem.message


def _inspect_segmentation(colour: Colour | None) -> Callable[[Path], list[Finding]]:
    def inspect(path: Path) -> list[Finding]:
        header = read_png_header(path)
        counts: ColourCounts | None = None
        if header is not None and (header.bit_depth <= 8 or header.colour_type == 0):
            counts = count_colours(path)  # InputError (truncated, damaged) -> file.unreadable
            if colour is not None:
                counts = with_colour_counted(path, counts, colour)
        return segmentation_findings(path, header, counts, colour)

    return inspect


def check_series(images: Iterable[Path], segmentations: Iterable[Path] | None = None, *,
                 registration: Path | None = None, colour: Colour | None = None,
                 progress: Progress | None = None) -> CheckReport:
    """Check a series (images, optionally their segmentations and registration) for QUINT.

    Images are read from headers only; segmentations also get one or two streaming colour
    passes. Returns every finding; raises UsageError only when no image is found at all.
    """
    read = _read_sizes(images, "image", progress)
    if not read.paths:
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    findings = [*read.findings, *naming_findings(read.paths)]
    files = [(p, "image") for p in read.paths]
    factor = None
    segs: _Read | None = None
    if segmentations is not None:
        segs = _read_sizes(segmentations, "segmentation", progress, _inspect_segmentation(colour))
        files += [(p, "segmentation") for p in segs.paths]
        findings += segs.findings + naming_findings(segs.paths)
        findings += pairing_findings(read.paths, segs.paths)
        for path, size in segs.sizes.items():
            findings += size_findings(path, size)
        by_stem = {p.stem: p for p in read.paths}
        pairs = [(by_stem[p.stem], read.sizes[by_stem[p.stem]], p, size)
                 for p, size in segs.sizes.items()
                 if p.stem in by_stem and by_stem[p.stem] in read.sizes]
        more, factor = proportion_findings(pairs)
        findings += more
    else:
        for path, size in read.sizes.items():
            findings += size_findings(path, size)
    if registration is not None:
        files.append((Path(registration), "registration"))
        findings += _registration(Path(registration), read, segs)
    return CheckReport(tuple(findings), tuple(files), factor)


def _registration(path: Path, images: _Read, segs: _Read | None) -> list[Finding]:
    try:
        parsed = read_registration(path)
    except InputError as problem:
        return [error("reg.unreadable", path, problem.message)]
    image_map = {p.stem: (p, s) for p, s in images.sizes.items()}
    seg_map = {p.stem: (p, s) for p, s in segs.sizes.items()} if segs is not None else None
    return registration_findings(parsed, image_map, seg_map)


def check_downscaled(folder: Path) -> CheckReport:
    """Check what ``downscale`` wrote: names, and every output's size under the manifest's factor."""
    manifest = read_manifest(folder)
    findings: list[Finding] = []
    files: list[tuple[Path, str]] = []
    for record in manifest.images.values():
        path = Path(folder) / record.name
        files.append((path, "image"))
        try:
            size = read_info(path).size
        except InputError as problem:
            findings.append(error("file.unreadable", path, problem.message))
            continue
        source = Size(record.source_width, record.source_height)
        low, high = factor_interval(source, size)
        if interval_is_empty((low, high)):
            findings.append(error("prop.aspect", path, f"{size} does not have the proportions "
                                  f"of its source ({source})"))
        elif manifest.factor is not None and not low <= manifest.factor < high * (1 + 1e-12):
            findings.append(error("prop.factor-mismatch", path,
                                  f"{size} is not {source} scaled by the series factor "
                                  f"{manifest.factor:.6g}"))
    findings += naming_findings([p for p, _ in files])
    return CheckReport(tuple(findings), tuple(files), manifest.factor)
