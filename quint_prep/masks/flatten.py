"""From a segmentation file to the 0/255 object selection at the output size (lazy pipelines).

Two routes:
- instance labels (Cellpose, QuPath instance exports, ``--instances``): resample the id image
  label-safely, separate touching instances (unless ``keep_touching``), then objects = ids > 0;
- everything else: select the object pixels (labels, palette, colour) as 0/255, then resample
  that selection label-safely.

Sequential images can be read only once, so a ``Flattened`` also carries factories that open the
file afresh for the counting passes (instances read, objects before resampling).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pyvips

from quint_prep.errors import InputError
from quint_prep.masks.instances import instance_labels, is_instance_source, resample_instances, separate_instances
from quint_prep.masks.select import Colour, MaskResample, resample_selection, select_objects
from quint_prep.masks.sources import MaskFile
from quint_prep.masks.block_ids import BlockShrink, block_shrink
from quint_prep.masks.stream import PassInput, census_fits
from quint_prep.outputs import TEMP_MARKER
from quint_prep.scale import Size
from quint_prep.series import vips_reason

Factory = Callable[[], pyvips.Image]


@dataclass(frozen=True)
class FlattenOptions:
    """The user's choices that decide the pixels of a mask."""

    labels: tuple[int, ...] | None = None
    object_colour: Colour | None = None
    invert: bool = False
    resample: MaskResample = MaskResample.AREA
    instances: bool = False  # treat any single-band label image as instances
    keep_touching: bool = False  # do not separate touching instances


@dataclass(frozen=True)
class Flattened:
    """The selection to write and how to recompute what the counts need."""

    selection: pyvips.Image  # 0/255 uchar at the output size (lazy, read once)
    description: str
    notes: tuple[str, ...]
    resampled: bool
    separated: bool
    source_selection: Factory  # the flattened mask at the source's size (objects before)
    source_ids: Factory | None = None  # instance ids as read (instance sources)
    resampled_ids: Factory | None = None  # instance ids after resampling, before separation
    block: BlockShrink | None = None  # 8/16-bit ids shrunk by a power of two: in numpy, per strip


def flatten(mask: MaskFile, target: Size, options: FlattenOptions) -> Flattened:
    """Build the selection of one file at ``target`` (InputError when the choice is unclear)."""
    resampled = target != mask.info.size
    if is_instance_source(mask, options.instances):
        return _flatten_instances(mask, target, options, resampled)
    if options.instances:
        raise InputError("--instances needs a single-band label image (one id per cell); this "
                         f"file is {'an indexed' if mask.palette else 'a colour'} image", mask.path)

    def source_selection() -> pyvips.Image:
        return select_objects(mask, options.labels, options.object_colour, options.invert).image

    selection = select_objects(mask, options.labels, options.object_colour, options.invert)
    image = resample_selection(selection.image, target, options.resample)
    return Flattened(image, selection.description, selection.notes, resampled, False,
                     source_selection)


def _flatten_instances(mask: MaskFile, target: Size, options: FlattenOptions,
                       resampled: bool) -> Flattened:
    if options.invert:
        raise InputError("--invert does not apply to instance labels (0 is background, every "
                         "other id a cell); use --labels to choose ids", mask.path)
    if options.object_colour is not None:
        raise InputError("instance labels have no colours; choose ids with --labels", mask.path)
    labels: Sequence[int] | None = options.labels
    separate = not options.keep_touching

    def source_ids() -> pyvips.Image:
        return instance_labels(mask, labels)[0]

    def resampled_ids() -> pyvips.Image:
        return resample_instances(source_ids(), target, options.resample)

    def objects(ids: pyvips.Image) -> pyvips.Image:
        return _objects(ids, separate)

    description = instance_labels(mask, labels)[1] + (
        ", instances separated" if separate else ", touching instances kept")
    # Resampled ids are separated from the scratch file of settle_resampled_ids (or, shrunk by
    # a power of two, in numpy); this lazy selection is only the fallback for callers that do
    # not settle them.
    block = block_shrink(mask.info.size, target, options.resample) \
        if resampled and census_fits(source_ids()) else None
    return Flattened(objects(resampled_ids()), description, (), resampled, separate,
                     lambda: objects(source_ids()), source_ids, resampled_ids, block)


def _objects(ids: pyvips.Image, separate: bool) -> pyvips.Image:
    return (separate_instances(ids) if separate else ids) > 0


def settle_resampled_ids(flattened: Flattened, scratch: Path, path: object = None) -> Flattened:
    """Resampled instance ids computed ONCE into ``scratch`` (an uncompressed TIFF), and the
    selection and the ids after resampling read from it (other masks: unchanged).

    The label-safe resampling of ids is the dearest step of a resampled instance mask; the
    selection (written), its counts and the census of the ids after resampling all need it.
    Read from a file, the separation needs no line cache and the census is one quick
    histogram. The pixels are the same: only where they are computed changes.
    """
    if not flattened.resampled or flattened.resampled_ids is None or flattened.block is not None:
        return flattened
    try:
        flattened.resampled_ids().tiffsave(str(scratch), compression="none", keep="none")
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or resampling: {vips_reason(error)}",
                         path) from error

    def resampled_ids() -> pyvips.Image:
        # An uncompressed striped TIFF read in strips: a .v file would be mapped whole into
        # memory (261 MB of ids for a 14000 x 9333 mask counted in the peak RSS).
        return pyvips.Image.new_from_file(str(scratch), access="sequential")

    return replace(flattened, selection=_objects(resampled_ids(), flattened.separated),
                   resampled_ids=resampled_ids)


@contextmanager
def scratch_file(output: Path, suffix: str) -> Iterator[Path]:
    """A temporary file next to ``output``, removed afterwards (and, after a kill, by the next
    run's ``remove_stale_temporaries``: it carries the temporary marker)."""
    path = output.with_name(f".{output.stem}{TEMP_MARKER}{os.getpid()}{suffix}")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def selection_and_ids(flattened: Flattened, at_source: bool = False) -> PassInput:
    """What one pass reads to write or count the selection at the output size (or,
    ``at_source``, at the source's size): for 8/16-bit instance ids, the ids themselves, whose
    objects (and separation) each strip computes in numpy, so that one decode gives the
    objects and the census of the ids (masks.stream.count_pass); else the lazy selection."""
    default = flattened.source_selection() if at_source else flattened.selection
    if flattened.block is not None and not at_source and flattened.source_ids is not None:
        return PassInput(default, flattened.source_ids(), flattened.separated, flattened.block)
    factory = flattened.source_ids if at_source or not flattened.resampled \
        else flattened.resampled_ids
    if factory is None:
        return PassInput(default)
    ids = factory()
    if str(ids.format) not in ("uchar", "ushort"):
        return PassInput(default)
    return PassInput(_objects(ids, flattened.separated), ids, flattened.separated)
