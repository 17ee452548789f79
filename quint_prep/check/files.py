"""Run the checks over files on disk: read headers (and segmentation colours), apply the rules.

``check_series`` is what ``quint-prep check`` runs; ``check_downscaled`` is the short check
``downscale`` runs on what it wrote. Both return a CheckReport with every finding.
"""

from __future__ import annotations

import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from quint_prep.check.rules import (judgement_findings, naming_findings, pairing_findings, proportion_findings,
                     registration_findings, sample_findings, segmentation_findings, size_findings)
from quint_prep.masks.colours import Colour, ColourCounts, count_colours, read_png_header, with_colour_counted
from quint_prep.errors import InputError, QuintPrepError, UsageError
from quint_prep.check.findings import CheckReport, Finding, error
from quint_prep.manifest import Manifest, read_manifest
from quint_prep.masks.judge import MaskFacts, judge_mask
from quint_prep.masks.record import load_record
from quint_prep.parallel import turn_off_vips_cache
from quint_prep.registration.files import read_registration
from quint_prep.scale import Size, factor_interval, interval_is_empty
from quint_prep.damage import unreadable_reason
from quint_prep.series import ImageInfo, discover, read_info

Progress = Callable[[Path], None]


@dataclass(frozen=True)
class _Read:
    """What reading one role's files gave: every path, the sizes and (bands, bits) read, the
    findings on the way."""

    paths: list[Path]
    sizes: dict[Path, Size]
    findings: list[Finding]
    samples: dict[Path, tuple[int, int]]


def file_facts(path: Path, segmentation: bool = False,
               colour: Colour | None = None) -> tuple[ImageInfo | None, list[Finding]]:
    """Read one file: its header (None when unreadable) and the findings on the file itself.

    Images: header only. Segmentations: also the PNG header and the colour counts. A module
    level function, so worker processes can run it.
    """
    try:
        info = read_info(path)
    except InputError as problem:
        return None, [error("file.unreadable", path, _reason(path, problem))]
    if not segmentation:
        return info, []
    try:
        return info, _segmentation_file_findings(path, colour)
    except InputError as problem:  # truncated or damaged pixel data
        return info, [error("file.unreadable", path, _reason(path, problem))]


def _segmentation_file_findings(path: Path, colour: Colour | None) -> list[Finding]:
    header = read_png_header(path)
    counts: ColourCounts | None = None
    if header is not None and (header.bit_depth <= 8 or header.colour_type == 0):
        counts = count_colours(path)
        if colour is not None:
            counts = with_colour_counted(path, counts, colour)
    return segmentation_findings(path, header, counts, colour)


def _facts_of(paths: list[Path], segmentation: bool, colour: Colour | None,
              jobs: int) -> Iterator[tuple[ImageInfo | None, list[Finding]]]:
    """file_facts of every path, in order: in this process, or in ``jobs`` spawned processes."""
    work = functools.partial(file_facts, segmentation=segmentation, colour=colour)
    if jobs <= 1 or len(paths) < 2:
        yield from map(work, paths)
        return
    context = multiprocessing.get_context("spawn")  # a fork after libvips ran can hang
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=context,
                             initializer=turn_off_vips_cache) as pool:
        yield from pool.map(work, paths)


def _read_sizes(sources: Iterable[Path], progress: Progress | None, segmentation: bool = False,
                colour: Colour | None = None, jobs: int = 1) -> _Read:
    found = discover(sources)
    findings = [error("file.unreadable", p.path, p.message) for p in found.problems]
    paths = [*found.images, *(p.path for p in found.problems if p.path is not None)]
    sizes: dict[Path, Size] = {}
    samples: dict[Path, tuple[int, int]] = {}
    for path, (info, more) in zip(found.images, _facts_of(found.images, segmentation, colour, jobs)):
        if info is not None:
            sizes[path] = info.size
            samples[path] = (info.bands, info.bit_depth)
        findings.extend(more)
        if progress is not None:
            progress(path)
    return _Read(paths, sizes, findings, samples)


def _reason(path: Path, problem: InputError) -> str:
    """The problem's message, or a plainer one when libvips gave only a generic line."""
    if "unable to call" in problem.message:
        return unreadable_reason(path)
    return problem.message


def check_series(images: Iterable[Path], segmentations: Iterable[Path] | None = None, *,
                 registration: Path | None = None, colour: Colour | None = None,
                 progress: Progress | None = None, jobs: int = 1) -> CheckReport:
    """Check a series (images, optionally their segmentations and registration) for QUINT.

    Images are read from headers only; segmentations also get one or two streaming colour
    passes, in ``jobs`` processes when more than 1. Returns every finding; raises UsageError
    only when no image is found at all.
    """
    read = _read_sizes(images, progress)
    if not read.paths:
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    findings = [*read.findings, *naming_findings(read.paths), *sample_findings(read.samples)]
    files = [(p, "image") for p in read.paths]
    factor = None
    segs: _Read | None = None
    if segmentations is not None:
        segs = _read_sizes(segmentations, progress, segmentation=True, colour=colour, jobs=jobs)
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
        findings += more + recorded_judgements(segs.sizes, colour)
    else:
        for path, size in read.sizes.items():
            findings += size_findings(path, size)
    if registration is not None:
        files.append((Path(registration), "registration"))
        findings += _registration(Path(registration), read, segs)
    return CheckReport(tuple(findings), tuple(files), factor)


def recorded_judgements(sizes: dict[Path, Size], colour: Colour | None) -> list[Finding]:
    """The judgement of every mask ``quint-prep masks`` wrote and recorded in its folder's
    manifest (instances lost, no objects, mostly objects), judged again by ``judge_mask``.

    With ``colour`` the object share is measured on the pixels instead (``seg.objects-dominant``,
    ``seg.colour-missing``), so the recorded share is not judged twice. A file whose size is not
    the recorded one was replaced since and is not judged.
    """
    records: dict[Path, dict] = {}
    findings: list[Finding] = []
    for path, size in sizes.items():
        if path.parent not in records:
            try:
                records[path.parent] = load_record(path.parent, None).files
            except QuintPrepError:
                records[path.parent] = {}
        record = records[path.parent].get(path.name)
        if record is None or (record.width, record.height) != (size.width, size.height):
            continue
        facts = MaskFacts.from_json(record.facts)
        if facts is None:
            continue
        judged = [j for j in judge_mask(facts) if colour is None or not j.excludes]
        findings += judgement_findings(path, judged)
    return findings


def _registration(path: Path, images: _Read, segs: _Read | None) -> list[Finding]:
    try:
        parsed = read_registration(path)
    except InputError as problem:
        return [error("reg.unreadable", path, problem.message)]
    image_map = {p.stem: (p, s) for p, s in images.sizes.items()}
    seg_map = {p.stem: (p, s) for p, s in segs.sizes.items()} if segs is not None else None
    return registration_findings(parsed, image_map, seg_map)


def check_downscaled(folder: Path) -> CheckReport:
    """Check a folder ``downscale`` wrote, whole: names, one colour model, every output's size
    under the manifest's factor, and images that are not part of the series it records."""
    manifest = read_manifest(folder)
    findings, files = _outside_the_series(Path(folder), manifest)
    samples: dict[Path, tuple[int, int]] = {}
    for record in manifest.images.values():
        path = Path(folder) / record.name
        files.append((path, "image"))
        try:
            info = read_info(path)
        except InputError as problem:
            findings.append(error("file.unreadable", path, problem.message))
            continue
        size, samples[path] = info.size, (info.bands, info.bit_depth)
        source = Size(record.source_width, record.source_height)
        if (record.orientation or {}).get("rotate") in (90, 270):  # a quarter turn swaps the sides
            source = Size(source.height, source.width)
        low, high = factor_interval(source, size)
        if interval_is_empty((low, high)):
            findings.append(error("prop.aspect", path, f"{size} does not have the proportions "
                                  f"of its source ({source})"))
        elif manifest.factor is not None and not low <= manifest.factor < high * (1 + 1e-12):
            findings.append(error("prop.factor-mismatch", path,
                                  f"{size} is not {source} scaled by the series factor "
                                  f"{manifest.factor:.6g}"))
    findings += naming_findings([p for p, _ in files]) + sample_findings(samples)
    return CheckReport(tuple(findings), tuple(files), manifest.factor)


def _outside_the_series(folder: Path, manifest: Manifest) -> tuple[list[Finding], list]:
    """Images in the folder besides the recorded series: stale ones (an earlier series) and
    unrecorded ones (another tool's, or copied in)."""
    findings: list[Finding] = []
    files: list[tuple[Path, str]] = []
    for path in discover([folder]).images:
        if path.name in manifest.images:
            continue
        files.append((path, "image"))
        if path.name in manifest.stale:
            findings.append(error("series.stale", path, "written for an earlier series of "
                                  "this folder (other factor or settings) and not replaced: "
                                  "rerun the downscale of the whole series"))
        else:
            findings.append(error("series.unrecorded", path, "not part of the series "
                                  "quint-prep.json records (another tool's file, or copied "
                                  "in): move it out of the folder"))
    return findings, files
