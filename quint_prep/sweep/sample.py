"""Run a sweep: downscale a sample of the series by several factors (the ``downscale`` code
path), find the region to show, and count the objects of full-resolution segmentations at
every factor and mask resampling mode.

Nothing here decodes a whole image into numpy: outputs are written by ``downscale_series``,
the region is found on a reduced copy of the smallest useful output, and objects are counted
by ``components.count_components`` in strips.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyvips

from quint_prep.masks.components import ComponentStats, count_components
from quint_prep.downscale.image import DownscaleSettings, ImageResult
from quint_prep.downscale.series import downscale_series
from quint_prep.errors import InputError, QuintPrepError
from quint_prep.masks.convert import find_mask_files
from quint_prep.masks.judge import Judgement, MaskFacts, judge_mask
from quint_prep.masks.labels import (LabelChoice, LabelSelection, LabelsTable, choose_labels, instances_kept,
                           instances_present, label_shares)
from quint_prep.masks.matching import SeriesImage, match_image
from quint_prep.masks.select import Colour, MaskResample, resample_selection, select_objects
from quint_prep.masks.sources import MaskFile, SourceKind, read_mask_file
from quint_prep.scale import Size, same_proportions, scaled_size
from quint_prep.series import ImageInfo, open_image, vips_reason
from quint_prep.series_plan import SeriesPlan
from quint_prep.status import Status
from quint_prep.sweep.decide import MODES, Comparison, Region, choose_region, clip_region, region_side

DETAIL_SIDE = 512  # px: the region is found on a copy of an output reduced to about this width
MIN_DETAIL_SOURCE = 256  # px: smallest output width worth measuring detail on
CELLS_PER_SIDE = 4  # the detail grid has cells of a quarter of the region's side


def factor_folder(factor: float) -> str:
    """The folder of one factor's outputs: ``f0.25``."""
    return f"f{factor:g}"


@dataclass(frozen=True)
class ObjectSettings:
    """How objects are chosen in the segmentations (the ``masks`` options)."""

    labels: tuple[int, ...] | None = None
    object_colour: Colour | None = None
    source: SourceKind | None = None
    invert: bool = False
    instance_ids: tuple[int, ...] | None = None
    table: LabelsTable = LabelsTable()

    def selection(self) -> LabelSelection:
        """The label choices, as ``masks`` takes them (masks.labels)."""
        return LabelSelection(self.labels, self.instance_ids, self.table)


@dataclass(frozen=True)
class FactorOutput:
    """One section downscaled by one factor."""

    factor: float
    result: ImageResult

    @property
    def size(self) -> Size | None:
        """The written output's size."""
        return self.result.output_size

    def microns_per_pixel(self, info: ImageInfo) -> float | None:
        """Pixel size of this output when the source records one."""
        if info.microns_per_pixel is None or self.size is None:
            return None
        return info.microns_per_pixel * info.size.width / self.size.width


@dataclass(frozen=True)
class SectionSweep:
    """Everything the sweep made for one sampled section."""

    info: ImageInfo
    outputs: list[FactorOutput]
    region: Region | None = None
    full: ComponentStats | None = None
    mask: Path | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)  # of the mask at full resolution

    @property
    def left_out(self) -> str | None:
        """Why this section's mask is left out of the recommendation (None: it is used)."""
        reasons = [j.message for j in self.judgements if j.excludes]
        return f"{self.mask.name if self.mask else 'mask'}: {reasons[0]}" if reasons else None

    @property
    def mask_size(self) -> Size | None:
        """The size of the segmentation compared (None without counts)."""
        return self.comparisons[0].full_size if self.comparisons else None


def write_factors(plan: SeriesPlan, sample: Sequence[ImageInfo], factors: Sequence[float],
                  output_dir: Path, settings: DownscaleSettings, sources: Sequence[Path],
                  overwrite: bool = False) -> Iterator[tuple[float, ImageResult]]:
    """Downscale the sample by every factor into ``OUT/f<factor>/`` with ``downscale_series``
    (same pipeline, normalisation and manifest as ``quint-prep downscale``)."""
    for factor in factors:
        sampled = replace(plan, images=list(sample), factor=factor, max_size=None)
        for result in downscale_series(sampled, output_dir / factor_folder(factor),
                                       replace(settings, factor=factor), sources=sources,
                                       overwrite=overwrite):
            yield factor, result


def detail_grid(pixels: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Mean of ``pixels`` (a small 2-D detail image) over a rows x columns grid of cells."""
    height, width = pixels.shape[:2]
    rows, columns = max(1, min(rows, height)), max(1, min(columns, width))
    row_edges = np.linspace(0, height, rows + 1).astype(int)
    column_edges = np.linspace(0, width, columns + 1).astype(int)
    grid = np.empty((rows, columns))
    for r in range(rows):
        for c in range(columns):
            cell = pixels[row_edges[r]:row_edges[r + 1], column_edges[c]:column_edges[c + 1]]
            grid[r, c] = cell.mean() if cell.size else np.nan
    return grid


def detail_image(path: Path) -> pyvips.Image:
    """A reduced grey copy of an output (about DETAIL_SIDE px wide), high-passed: the absolute
    difference from its own blur, so fine texture scores high and flat background low."""
    image = open_image(path, access="sequential")
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    image = image.colourspace("b-w") if image.bands >= 3 else image
    if image.width > DETAIL_SIDE:
        image = image.resize(DETAIL_SIDE / image.width)
    image = image.cast("float").copy_memory()
    return (image - image.gaussblur(1.0)).abs()


def find_region(info: ImageInfo, outputs: Sequence[FactorOutput], side: int) -> Region:
    """The detailed region to show: the side x side window (full-resolution px) with the most
    texture on a grid of quarter-side cells, measured on the smallest output that is still
    at least MIN_DETAIL_SOURCE px wide (or the largest output)."""
    existing = sorted(written(outputs), key=lambda o: o.size.width)
    usable = [o for o in existing if o.size.width >= MIN_DETAIL_SOURCE] or existing[-1:]
    tile = Size(side, side)
    if not usable:
        return choose_region(np.empty((0, 0)), tile, info.size)
    detail = detail_image(usable[0].result.output)
    cell = side / CELLS_PER_SIDE
    grid = detail_grid(detail.numpy(), round(info.size.height / cell), round(info.size.width / cell))
    return choose_region(grid, tile, info.size)


def series_images(infos: Iterable[ImageInfo]) -> list[SeriesImage]:
    """The series as ``masks.match_image`` wants it."""
    return [SeriesImage(i.name, i.stem, i.size, i.section.value if i.section else None)
            for i in infos]


def match_segmentations(sources: Sequence[Path], series: Sequence[ImageInfo],
                        sample: Sequence[ImageInfo], kind: SourceKind | None
                        ) -> tuple[dict[str, MaskFile], list[InputError]]:
    """The segmentation of each sampled section (by image stem), matched like ``masks`` does
    (stem without the tool suffix, then section number) against the WHOLE series; masks of
    unsampled sections are left out, unreadable or unmatched ones are problems."""
    found_files = find_mask_files(sources)
    paths, problems = found_files.masks, list(found_files.problems)
    wanted = {info.stem for info in sample}
    everyone = series_images(series)
    found: dict[str, MaskFile] = {}
    for path in paths:
        try:
            mask = read_mask_file(path, kind)
            image = match_image(mask.name.stem, everyone)
        except InputError as error:
            problems.append(error if error.path else InputError(error.message, path))
            continue
        if image.stem not in wanted:
            continue
        if image.stem in found:
            problems.append(InputError(f"a second segmentation for {image.name} "
                                       f"(also {found[image.stem].path.name}); keep one", path))
            continue
        found[image.stem] = mask
    return found, problems


def _counts(mask: pyvips.Image) -> ComponentStats:
    """The mask's objects without the size of each (a sweep keeps many; it needs the totals)."""
    return count_components(mask)


def _selection(mask: MaskFile, choice: LabelChoice, objects: ObjectSettings) -> pyvips.Image:
    """A fresh lazy 0/255 selection (a sequential file can be read once per open)."""
    return select_objects(mask, choice.labels, objects.object_colour, objects.invert).image


def judge_full(mask: MaskFile, choice: LabelChoice, full: ComponentStats) -> list[Judgement]:
    """The judgement of a mask at full resolution, as ``masks`` makes it (masks.judge)."""
    facts = MaskFacts(mask.path.name, choice, full.area_fraction, full.objects,
                      instances_kept(mask, choice), instances_present(mask, choice))
    return list(judge_mask(facts, lambda: label_shares(mask)))


def compare_mask(info: ImageInfo, mask: MaskFile, factors: Sequence[float],
                 objects: ObjectSettings) -> tuple[ComponentStats, list[Comparison], list[str]]:
    """Objects of the mask at full resolution, then at every factor and mode.

    The mask at factor F is resampled to round(w*F) x round(h*F) of the MASK's size with the
    ``masks`` resamplers; each count is one streamed pass through the file.
    """
    size = mask.info.size
    if not same_proportions(info.size, size):
        raise InputError(f"proportions differ from its image {info.name}: mask {size}, "
                         f"image {info.size}", mask.path)
    notes = [] if size == info.size else [
        f"{mask.path.name} is {size}, not the image's full resolution {info.size}: factors "
        "are applied to the mask's own size"]
    choice = choose_labels(mask, objects.selection())
    try:
        full = _counts(_selection(mask, choice, objects))
        rows = []
        for factor in factors:
            target = scaled_size(size, factor)
            for mode in MODES:
                resampled = resample_selection(_selection(mask, choice, objects), target,
                                               MaskResample(mode))
                rows.append(Comparison(info.stem, factor, mode, target, _counts(resampled), full, size))
    except pyvips.Error as error:
        raise InputError(f"cannot read the segmentation: {vips_reason(error)}", mask.path) from error
    return full, rows, notes


def sweep_section(info: ImageInfo, outputs: list[FactorOutput], factors: Sequence[float],
                  region: Region | None, mask: MaskFile | None,
                  objects: ObjectSettings) -> SectionSweep:
    """Settle one section's region and, with a mask, its object counts; problems are kept."""
    problems: list[str] = []  # failed outputs are reported by the caller as they happen
    chosen = clip_region(region, info.size) if region else None
    notes = []
    if region is not None and chosen is None:
        problems.append(f"--region {region} lies outside {info.name} ({info.size})")
    try:
        if region is None:
            chosen = find_region(info, outputs, region_side(factors))
    except (QuintPrepError, pyvips.Error) as error:
        problems.append(f"{info.name}: cannot measure detail: {error}")
    full, comparisons, judged = None, [], []
    if mask is not None:
        try:
            full, comparisons, notes = compare_mask(info, mask, factors, objects)
            judged = judge_full(mask, choose_labels(mask, objects.selection()), full)
        except QuintPrepError as error:
            problems.append(str(error))
    return SectionSweep(info, outputs, chosen, full, mask.path if mask else None, comparisons,
                        problems, notes, judged)


def collect_outputs(results: Iterable[tuple[float, ImageResult]]) -> dict[str, list[FactorOutput]]:
    """Group the downscale results by section (the output stem: sections of a plan share
    one slide file), in factor order."""
    grouped: dict[str, list[FactorOutput]] = {}
    for factor, result in results:
        key = result.output.stem if result.output is not None else result.source.stem
        grouped.setdefault(key, []).append(FactorOutput(factor, result))
    return grouped


def written(outputs: Iterable[FactorOutput]) -> list[FactorOutput]:
    """The outputs that exist (written now or up to date)."""
    return [o for o in outputs if o.result.status != Status.FAILED and o.result.output and o.size]

