"""Turn segmentations into single-colour RGB PNGs named and proportioned like their images.

The pipeline: find the segmentation files -> read each header and decide its tool
(masks_sources) -> name it after its image (strip the tool suffix, match the image series by
stem, then by section number) -> check proportions -> decide the output size -> select the
object pixels and resample them label-safely (masks_select) -> write an 8-bit RGB PNG with
exactly the object and background colours, atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pyvips

from .errors import InputError, QuintPrepError, UsageError
from .manifest import read_manifest
from .masks_select import Colour, MaskResample, resample_selection, select_objects
from .masks_sources import MaskFile, SourceKind, read_mask_file, strip_tool_suffix, NPY_REFUSAL
from .naming import name_problems, parse_section_number
from .outputs import atomic_output, guard_output_dir, remove_stale_temporaries
from .scale import Size, same_proportions, scaled_size, series_factor
from .series import discover, read_info, vips_reason

MOSTLY_OBJECTS = 0.5  # above this object fraction, warn that objects and background may be swapped


class SizeMode(str, Enum):
    """Output size: ``mask`` keeps the segmentation's own size; ``image`` takes its image's."""

    MASK = "mask"
    IMAGE = "image"


@dataclass(frozen=True)
class SeriesImage:
    """One image of the series the masks belong to (from a folder or a downscale manifest)."""

    name: str
    stem: str
    size: Size
    section: int | None


def series_from_folder(folder: Path) -> tuple[list[SeriesImage], list[InputError]]:
    """The images of a folder (headers only), and the ones that could not be read."""
    found = discover([folder])
    images: list[SeriesImage] = []
    problems = list(found.problems)
    for path in found.images:
        try:
            info = read_info(path)
        except InputError as error:
            problems.append(error)
            continue
        images.append(SeriesImage(info.name, info.stem, info.size,
                                  info.section.value if info.section else None))
    return images, problems


def series_from_manifest(path: Path) -> list[SeriesImage]:
    """The output images recorded in a downscale manifest (``quint-prep.json``)."""
    manifest = read_manifest(path)
    return [SeriesImage(r.name, r.stem, Size(r.width, r.height), r.section)
            for r in manifest.images.values()]


def match_image(stem: str, series: Sequence[SeriesImage]) -> SeriesImage:
    """The series image a (suffix-stripped) mask stem belongs to: exact stem, then section number.

    Raises InputError naming the candidates when none or several match.
    """
    exact = [image for image in series if image.stem == stem]
    if len(exact) == 1:
        return exact[0]
    section = parse_section_number(stem)
    if section is None:
        raise InputError(f"no image of the series is named {stem!r} and the name has no section "
                         f"number _sNNN to match by; images: {_candidates(series)}")
    same = [image for image in series if image.section == section.value]
    if len(same) == 1:
        return same[0]
    if not same:
        raise InputError(f"no image of the series is named {stem!r} or has section number "
                         f"{section.value}; images: {_candidates(series)}")
    raise InputError(f"section number {section.value} of {stem!r} matches several images: "
                     f"{_candidates(same)}; rename the mask after one of them")


def _candidates(images: Sequence[SeriesImage], limit: int = 8) -> str:
    names = [image.name for image in images[:limit]]
    more = len(images) - len(names)
    return ", ".join(names) + (f" (and {more} more)" if more > 0 else "") if names else "(none)"


@dataclass(frozen=True)
class MaskSettings:
    """What the user chose: objects, colours, source kind, resampling and output size."""

    colour: Colour = (255, 0, 0)
    background: Colour = (0, 0, 0)
    labels: tuple[int, ...] | None = None
    object_colour: Colour | None = None
    source: SourceKind | None = None
    invert: bool = False
    resample: MaskResample = MaskResample.AREA
    size_mode: SizeMode = SizeMode.MASK
    max_size: Size | None = None
    overwrite: bool = False
    png_compression: int = 6

    def __post_init__(self) -> None:
        if self.colour == self.background:
            raise UsageError("--colour and --background are the same; objects would vanish")
        if self.labels is not None and self.object_colour is not None:
            raise UsageError("give --labels or --object-colour, not both")
        if self.size_mode is SizeMode.IMAGE and self.max_size is not None:
            raise UsageError("give --size image or --max-size, not both")


@dataclass(frozen=True)
class MaskJob:
    """One planned conversion: the file, its output name and size, its image if matched."""

    mask: MaskFile
    output_name: str
    target: Size
    image: SeriesImage | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MaskPlan:
    """Every planned conversion, the files that cannot be converted, and the series factor."""

    jobs: list[MaskJob]
    problems: list[InputError]
    factor: float | None = None


def find_mask_files(sources: Iterable[Path]) -> tuple[list[Path], list[InputError]]:
    """Segmentation images among files and folders, and the refusals (``_seg.npy`` pickles).

    A ``_seg.npy`` in a folder next to a mask image of the same section is skipped quietly;
    one without such a mask, or one named on the command line, is refused with how to export.
    """
    sources = [Path(s) for s in sources]
    refused = [InputError(NPY_REFUSAL, s) for s in sources if s.suffix.lower() == ".npy" and s.exists()]
    found = discover([s for s in sources if s.suffix.lower() != ".npy" or not s.exists()])
    stems = {strip_tool_suffix(p.stem).stem for p in found.images}
    for skipped in found.skipped:
        if skipped.suffix.lower() == ".npy" and not skipped.name.startswith("."):
            if strip_tool_suffix(skipped.stem).stem not in stems:
                refused.append(InputError(NPY_REFUSAL, skipped))
    return found.images, [*found.problems, *refused]


def plan_masks(sources: Iterable[Path], settings: MaskSettings,
               series: Sequence[SeriesImage] | None = None) -> MaskPlan:
    """Read every segmentation, decide its name and output size; collect per-file problems."""
    if settings.size_mode is SizeMode.IMAGE and series is None:
        raise UsageError("--size image needs the images: give --images DIR or --manifest FILE")
    paths, problems = find_mask_files(sources)
    if not paths and not problems:
        raise UsageError("no segmentation images found (PNG or TIFF) in the given sources")
    planned: list[tuple[MaskFile, str, SeriesImage | None]] = []
    for path in paths:
        try:
            mask = read_mask_file(path, settings.source)
            image = _matched_image(mask, series)
        except InputError as error:
            problems.append(error if error.path else InputError(error.message, path))
            continue
        planned.append((mask, (image.stem if image else mask.name.stem) + ".png", image))
    factor = None
    if settings.max_size is not None and planned:
        factor = series_factor(settings.max_size, [m.info.size for m, _, _ in planned])
    jobs = []
    for mask, name, image in _unique_names(planned, problems):
        target = (image.size if settings.size_mode is SizeMode.IMAGE and image
                  else scaled_size(mask.info.size, factor) if factor is not None else mask.info.size)
        warnings = tuple(f"name: {p}" for p in name_problems(name[:-4])) if image is None else ()
        jobs.append(MaskJob(mask, name, target, image, warnings))
    return MaskPlan(jobs, problems, factor)


def _matched_image(mask: MaskFile, series: Sequence[SeriesImage] | None) -> SeriesImage | None:
    if series is None:
        return None
    image = match_image(mask.name.stem, series)
    size = mask.info.size
    if not same_proportions(image.size, size):
        raise InputError(
            f"proportions differ from its image {image.name}: mask {size} "
            f"(width/height {size.width / size.height:.4f}), image {image.size} "
            f"(width/height {image.size.width / image.size.height:.4f}); segment the image "
            "downscaled with one factor, without cropping or padding", mask.path)
    return image


def _unique_names(planned, problems: list[InputError]):
    by_name: dict[str, list[MaskFile]] = {}
    for mask, name, _ in planned:
        by_name.setdefault(name, []).append(mask.path)
    for mask, name, image in planned:
        if len(by_name[name]) > 1:
            others = ", ".join(p.name for p in by_name[name] if p != mask.path)
            problems.append(InputError(f"output {name} would also come from {others}; keep one "
                                       "segmentation per section", mask.path))
        else:
            yield mask, name, image


@dataclass(frozen=True)
class MaskResult:
    """What happened to one segmentation."""

    source: Path
    status: str  # "written" or "failed"
    kind: str = ""
    labels: str = ""
    output: Path | None = None
    mask_size: Size | None = None
    output_size: Size | None = None
    object_fraction: float | None = None
    image: str | None = None
    seconds: float = 0.0
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``masks --json``)."""
        return {
            "source": str(self.source), "status": self.status, "kind": self.kind or None,
            "labels": self.labels or None, "output": str(self.output) if self.output else None,
            "image": self.image,
            "mask_width": self.mask_size.width if self.mask_size else None,
            "mask_height": self.mask_size.height if self.mask_size else None,
            "width": self.output_size.width if self.output_size else None,
            "height": self.output_size.height if self.output_size else None,
            "object_fraction": self.object_fraction,
            "seconds": round(self.seconds, 3), "error": self.message or None,
            "warnings": list(self.warnings),
        }


def convert_masks(plan: MaskPlan, output_dir: Path, settings: MaskSettings, *,
                  sources: Iterable[Path] = ()) -> Iterator[MaskResult]:
    """Write every planned mask into output_dir, yielding one result per file."""
    output_dir = guard_output_dir(output_dir, list(sources) or [j.mask.path for j in plan.jobs])
    remove_stale_temporaries(output_dir)
    for job in plan.jobs:
        yield convert_one(job, output_dir, settings)


def convert_one(job: MaskJob, output_dir: Path, settings: MaskSettings) -> MaskResult:
    """Convert one segmentation; failures become a failed result, never an exception."""
    output = output_dir / job.output_name
    base = dict(source=job.mask.path, kind=job.mask.kind.value, output=output,
                mask_size=job.mask.info.size, output_size=job.target,
                image=job.image.name if job.image else None)
    if output.exists() and not settings.overwrite:
        return MaskResult(status="failed", message=f"{output} exists; pass --overwrite to replace it",
                          warnings=job.warnings, **base)
    started = time.perf_counter()
    try:
        selection = select_objects(job.mask, settings.labels, settings.object_colour, settings.invert)
        resampled = resample_selection(selection.image, job.target, settings.resample)
        write_mask_png(resampled, output, settings)
        fraction = object_fraction(output, settings.colour)
    except QuintPrepError as error:
        return MaskResult(status="failed", message=error.message, warnings=job.warnings, **base)
    return MaskResult(status="written", labels=selection.description, object_fraction=fraction,
                      seconds=time.perf_counter() - started,
                      warnings=job.warnings + selection.notes + fraction_warnings(fraction), **base)


def fraction_warnings(fraction: float) -> tuple[str, ...]:
    """Warnings about an object fraction: none at all, or objects covering most of the section."""
    if fraction == 0:
        return ("no objects: the output is all background",)
    if fraction > MOSTLY_OBJECTS:
        return (f"objects cover {fraction:.1%} of the section: if objects and background are "
                "swapped (e.g. an inverted LUT), rerun with --invert",)
    return ()


def write_mask_png(selection: pyvips.Image, output: Path, settings: MaskSettings) -> None:
    """Write the 0/255 selection as an 8-bit RGB PNG in the two colours, atomically."""
    image = selection.ifthenelse(list(settings.colour), list(settings.background))
    image = image.cast("uchar").copy(interpretation="srgb")
    try:
        with atomic_output(output) as temporary:
            image.pngsave(str(temporary), compression=settings.png_compression, keep="none")
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or writing: {vips_reason(error)}") from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}") from error


def object_fraction(output: Path, colour: Colour) -> float:
    """The fraction of pixels of a written mask that are in the object colour (one pass)."""
    image = pyvips.Image.new_from_file(str(output), access="sequential")
    return float((image == list(colour)).bandand().avg() / 255.0)
