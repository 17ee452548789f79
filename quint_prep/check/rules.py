"""The rules of ``check``: pure functions from names, sizes, headers and colour counts to findings.

Identifiers are stable (scripts rely on them); see README "check" for the full list. Nothing
here opens a file: ``check.files`` reads the files and hands the facts to these rules.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from quint_prep.masks.colours import ColourCounts, Colour, PngHeader
from quint_prep.check.findings import Finding, error, warning
from quint_prep.masks.judge import Concern, Judgement, MaskFacts, judge_mask
from quint_prep.naming import SectionNumber, name_issues, padding_outliers, parse_section_number
from quint_prep.registration.files import Registration
from quint_prep.scale import Size, consistent_factor, factor_interval, interval_is_empty, same_proportions

MAX_SEGMENTATION = Size(14000, 10000)
_BLOCKING_NAME_IDS = {"no-section", "several-sections", "early-s"}


def naming_findings(paths: Sequence[Path]) -> list[Finding]:
    """Name rules over one series (images or segmentations): safe names, unique numbers, padding."""
    findings: list[Finding] = []
    numbers: dict[str, SectionNumber] = {}
    by_value: dict[int, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for path in paths:
        for issue in name_issues(path.stem):
            make = error if issue.code in _BLOCKING_NAME_IDS else warning
            findings.append(make(f"name.{issue.code}", path, issue.message))
        number = parse_section_number(path.stem)
        if number is not None:
            numbers[path.name] = number
            by_value.setdefault(number.value, []).append(path)
        by_stem.setdefault(path.stem, []).append(path)
    for value, same in by_value.items():
        if len(same) > 1:
            for path in same:
                others = ", ".join(p.name for p in same if p != path)
                findings.append(error("name.duplicate-section", path,
                                      f"section number {value} is also used by {others}"))
    for stem, same in by_stem.items():
        if len(same) > 1:
            for path in same:
                others = ", ".join(p.name for p in same if p != path)
                findings.append(error("name.duplicate-stem", path,
                                      f"the stem {stem} is also used by {others}: QUINT tools "
                                      "identify a section by its stem"))
    width, odd = padding_outliers(numbers)
    by_name = {p.name: p for p in paths}
    for name in odd:
        findings.append(warning(
            "name.padding", by_name[name],
            f"section number written with {numbers[name].width} digits where the series uses "
            f"{width}: pad every number to {width} digits (FileBuilder wants equal digits, "
            "Nutil matches _s1 inside _s10); 'quint-prep rename' can renumber"))
    return findings


def sample_findings(samples: Mapping[Path, tuple[int, int]]) -> list[Finding]:
    """One colour model per series: ``samples`` maps each image to (bands, bits per sample);
    the images whose band count or bit depth differs from most of the series (the minority)
    are errors. Ties count RGB and 8 bits as the series' own."""
    findings: list[Finding] = []
    rules = (("series.mixed-bands", 0, 1, _bands_message), ("series.mixed-depth", 1, -1, _depth_message))
    for id_, index, prefer, message in rules:
        values = {path: sample[index] for path, sample in samples.items()}
        counts = Counter(values.values())
        if len(counts) < 2:
            continue
        usual = max(counts, key=lambda value: (counts[value], prefer * value))
        share = f"{counts[usual]} of {len(values)} images"
        findings.extend(error(id_, path, message(value, usual, share))
                        for path, value in values.items() if value != usual)
    return findings


def _bands_message(bands: int, usual: int, share: str) -> str:
    return (f"{bands} band{'s' if bands != 1 else ''} where the series has {usual} ({share}): "
            "ilastik needs every image of a project to have the same channels and QuickNII "
            "reads 24-bit RGB; downscale the series again with one colour model "
            "(quint-prep downscale --colour-model auto|rgb|grey)")


def _depth_message(bits: int, usual: int, share: str) -> str:
    return (f"{bits}-bit samples where the series has {usual}-bit ({share}): a series needs "
            "one bit depth; downscale the series again (quint-prep downscale gives every "
            "output one depth)")


def pairing_findings(images: Sequence[Path], segmentations: Sequence[Path]) -> list[Finding]:
    """Images and segmentations must pair one to one by stem; list the missing and the extra."""
    image_stems = {p.stem: p for p in images}
    seg_stems = {p.stem: p for p in segmentations}
    by_number = {}
    for path in images:
        number = parse_section_number(path.stem)
        if number is not None:
            by_number[number.value] = path
    findings = [error("pair.missing-segmentation", path,
                      f"no segmentation named {stem}.png")
                for stem, path in image_stems.items() if stem not in seg_stems]
    for stem, path in seg_stems.items():
        if stem in image_stems:
            continue
        number = parse_section_number(stem)
        twin = by_number.get(number.value) if number else None
        hint = (f"; it has the section number of {twin.name}: rename it {twin.stem}.png"
                if twin is not None and twin.stem not in seg_stems else "")
        findings.append(warning("pair.extra-segmentation", path,
                                f"no image named {stem} among the images{hint}"))
    return findings


def size_findings(path: Path, size: Size, box: Size = MAX_SEGMENTATION) -> list[Finding]:
    """Warn when an image is larger than WebNutil handles well (either orientation)."""
    long_side, short_side = max(size.width, size.height), min(size.width, size.height)
    if long_side > max(box.width, box.height) or short_side > min(box.width, box.height):
        return [warning("size.large", path,
                        f"{size} is over {box}: WebNutil and Nutil may run out of memory; "
                        "downscale the series with one factor (quint-prep downscale)")]
    return []


def proportion_findings(pairs: Sequence[tuple[Path, Size, Path, Size]]) -> tuple[list[Finding], float | None]:
    """Each segmentation keeps its image's proportions, and the series uses ONE factor.

    ``pairs`` are (image, image size, segmentation, segmentation size). Returns the findings and
    the series factor (None when no pair fits any factor).
    """
    findings: list[Finding] = []
    fit = consistent_factor([(image_size, seg_size) for _, image_size, _, seg_size in pairs])
    for index in fit.outliers:
        image, image_size, seg, seg_size = pairs[index]
        if interval_is_empty(factor_interval(image_size, seg_size)):
            findings.append(error(
                "prop.aspect", seg,
                f"{seg_size} does not have the proportions of {image.name} ({image_size}): no "
                "single factor gives both sides; PyNutil would stretch it and misplace objects"))
        else:
            low, high = factor_interval(image_size, seg_size)
            findings.append(error(
                "prop.factor-mismatch", seg,
                f"{seg_size} implies a factor of {_show(low, high)} for {image.name} ({image_size}), "
                f"the series uses {_show(*fit.interval)}: pixel counts are not comparable"
                if fit.interval else "no series factor"))
    return findings, fit.factor


def _show(low: float, high: float) -> str:
    return f"{(low + high) / 2:.6g}"


def segmentation_findings(path: Path, header: PngHeader | None, counts: ColourCounts | None,
                          colour: Colour | None) -> list[Finding]:
    """Format and colour rules for one segmentation, from its PNG header and colour counts."""
    if header is None:
        return [error("seg.not-png", path, "not a PNG file: QUINT tools read segmentations as PNG "
                      "(JPEG's lossy edges create extra colours); convert with quint-prep masks")]
    findings: list[Finding] = []
    if path.suffix.lower() != ".png":
        findings.append(error("seg.not-png", path, f"PNG content named {path.suffix}: the QUINT "
                              f"tools look for {path.stem}.png; rename it"))
    if header.bit_depth == 16:
        findings.append(error("seg.16bit", path, "16 bits per sample: PyNutil and Nutil read 8-bit "
                              "masks only (counts come out 0 or wrong); convert with quint-prep masks"))
    if header.colour_type in (0, 4):
        findings.append(error("seg.grey", path, "greyscale PNG: PyNutil compares only the first "
                              "number of the colour; convert to RGB with quint-prep masks"))
    if header.colour_type == 3:
        findings.append(warning("seg.palette", path, "indexed (palette) PNG: PyNutil and Nutil read "
                                "it, other tools may not; quint-prep masks writes plain 8-bit RGB"))
    if header.colour_type in (4, 6):
        findings.append(warning("seg.alpha", path, "has an alpha channel: Nutil reads 24-bit RGB; "
                                "remove it with quint-prep masks"))
    if header.interlaced:
        findings.append(warning("seg.interlaced", path, "interlaced PNG: decoded whole into memory "
                                "by every tool; save it non-interlaced"))
    if counts is not None:
        findings.extend(colour_findings(path, counts, colour))
    return findings


def colour_findings(path: Path, counts: ColourCounts, colour: Colour | None) -> list[Finding]:
    """Exactly one object colour plus background; the given object colour present."""
    findings: list[Finding] = []
    ranked = counts.ranked()
    if counts.distinct > 2:
        extra = sum(n for _, n in ranked[2:])
        share = 100.0 * extra / counts.total if counts.total else 0.0
        bound = "" if counts.exact else "at least "
        top = ", ".join(f"{_rgb(c)} {100.0 * n / counts.total:.3g}%" for c, n in ranked[:3])
        findings.append(warning(
            "seg.extra-colours", path,
            f"{bound}{counts.distinct} colours where QUINT wants one object colour and a background "
            f"({top}{', ...' if len(ranked) > 3 else ''}); the others cover {share:.2g}% of the pixels: usually anti-aliased or "
            "resampled edges; redo with quint-prep masks (nearest / label-safe)"))
    elif counts.distinct == 1 and colour is None:
        findings.append(warning("seg.one-colour", path,
                                f"a single colour {_rgb(ranked[0][0])}: no objects (or no background)"))
    if colour is not None and counts.total:
        fraction = counts.counts.get(colour, 0) / counts.total
        judged = [j for j in judge_mask(MaskFacts(path.name, None, fraction))
                  if j.concern is Concern.MOSTLY_OBJECTS]
        findings.extend(warning(
            "seg.objects-dominant", path,
            f"the object colour {_rgb(colour)}: {j.message}; PyNutil's automatic colour (the "
            "second most common) would count the background, so pass the colour explicitly")
            for j in judged)
    if colour is not None and counts.lacks(colour):
        findings.append(error(
            "seg.colour-missing", path,
            f"the object colour {_rgb(colour)} does not occur (colours: "
            f"{', '.join(_rgb(c) for c, _ in ranked[:4])}); PyNutil would count 0 objects"))
    return findings


def judgement_findings(path: Path, judgements: Sequence[Judgement]) -> list[Finding]:
    """Warnings ``seg.no-objects``, ``seg.objects-dominant``, ``seg.instances-lost`` from the
    judgement ``masks`` recorded for a mask it wrote (``masks.judge.judge_mask``)."""
    return [warning(f"seg.{j.concern.value}", path, j.message) for j in judgements]


def _rgb(colour: Colour) -> str:
    return "{},{},{}".format(*colour)


def registration_findings(registration: Registration, images: dict[str, tuple[Path, Size]],
                          segmentations: dict[str, tuple[Path, Size]] | None) -> list[Finding]:
    """Every registered section has an image (and a segmentation) with its recorded proportions.

    ``images`` and ``segmentations`` map stems to (path, size). Proportions allow one pixel of
    rounding on each side: the registered image and the checked one were both scaled from the
    original.
    """
    where = registration.path
    findings: list[Finding] = []
    numbers: dict[int, list[str]] = {}
    for section in registration.sections:
        if section.nr is not None:
            numbers.setdefault(section.nr, []).append(section.filename)
        named = parse_section_number(section.stem)
        if named is not None and section.nr is not None and named.value != section.nr:
            findings.append(error("reg.number-mismatch", where,
                                  f"{section.filename}: nr {section.nr} but the name says "
                                  f"{named.value}; PyNutil pairs masks by number"))
        groups = [("image", images)] + ([("segmentation", segmentations)] if segmentations is not None else [])
        for role, files in groups:
            found = files.get(section.stem)
            if found is None:
                findings.append(error(f"reg.missing-{role}", where,
                                      f"{section.filename} is registered but there is no {role} "
                                      f"named {section.stem}"))
            elif section.size is not None and not same_proportions(section.size, found[1]):
                findings.append(error("reg.proportions", found[0],
                                      f"{found[1]} does not have the proportions registered in "
                                      f"{where.name} ({section.size}); quantification would be "
                                      "stretched"))
        if section.size is None:
            findings.append(warning("reg.no-size", where,
                                    f"{section.filename}: no width/height recorded; proportions "
                                    "cannot be checked"))
    for nr, names in numbers.items():
        if len(names) > 1:
            findings.append(error("reg.duplicate-number", where,
                                  f"nr {nr} is used by {', '.join(names)}"))
    registered = {s.stem for s in registration.sections}
    for files in [images] + ([segmentations] if segmentations is not None else []):
        for stem, (path, _size) in files.items():
            if stem not in registered:
                findings.append(warning("reg.unregistered", path,
                                        f"not in {where.name}: PyNutil skips it silently"))
    return findings
