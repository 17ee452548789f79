"""Count a written mask as Nutil and PyNutil will: objects, object pixels, instances read.

Definitions (every figure is computed in bounded memory, by streaming passes):
- ``objects``: 4-connected components of the object colour in the WRITTEN PNG;
  ``object_pixels``: their pixels. They are counted on the selection while it is written
  (masks.stream: every selected pixel is written in the object colour, every other one in
  the background colour, which differs), or by reading the file back (``count_written``).
- ``instances`` (instance sources): distinct non-zero ids read from the source (the chosen ids
  with ``--labels``); ``instance_pixels``: their pixels. With separation, ``objects ==
  instances`` for cells whose shapes survive it; a difference means cells were lost or split.
- ``separated_pixels``: pixels turned to background to separate touching instances (the
  instance pixels after resampling minus the written object pixels).
- Only for resampled masks: ``objects_before``: 4-connected components of the mask flattened
  (and separated) the same way at the source's own size. ``lost``: instance ids with no pixel
  left after resampling (distinct ids read minus distinct ids after resampling; instance
  sources only). ``merged`` = max(0, objects_before - lost - objects) and ``split`` =
  max(0, objects - (objects_before - lost)): NET figures from counts (a mask where some
  objects merge and others split shows the difference only). For non-instance sources objects
  that vanish cannot be told from objects that merge: ``lost`` is null and ``merged`` counts both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pyvips

from quint_prep.masks.components import ComponentStats, count_components
from quint_prep.errors import InputError
from quint_prep.masks.instances import LabelCensus, label_census
from quint_prep.masks.flatten import Flattened, selection_and_ids
from quint_prep.masks.select import Colour
from quint_prep.masks.stream import StreamedCounts, count_pass
from quint_prep.series import vips_reason


@dataclass(frozen=True)
class MaskCounts:
    """What the quantifiers will count in one written mask (see the module docstring)."""

    objects: int
    object_pixels: int
    total_pixels: int
    instances: int | None = None
    instance_pixels: int | None = None
    separated_pixels: int | None = None
    objects_before: int | None = None
    lost: int | None = None
    merged: int | None = None
    split: int | None = None

    @property
    def object_fraction(self) -> float:
        """Share of the mask's pixels in the object colour."""
        return self.object_pixels / self.total_pixels if self.total_pixels else 0.0

    def to_json(self) -> dict:
        """All figures (null where not applicable)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "MaskCounts":
        """Read back what ``to_json`` wrote (TypeError on other keys)."""
        return cls(**data)


# Pixels per counting strip. libvips keeps a buffer of the strip for every operation of the
# pipeline, so on wide images with a long pipeline (the source re-flattened and separated at
# 30000 px wide) the default 16 MB of labels per strip cost over 600 MB; 1 MP strips keep it
# under 200 MB at the same speed.
STRIP_PIXELS = 1_000_000


def _components(image: pyvips.Image, path: Path, what: str) -> ComponentStats:
    try:
        return count_components(image, strip_height=max(8, STRIP_PIXELS // image.width))
    except pyvips.Error as error:
        raise InputError(f"failed while counting {what}: {vips_reason(error)}", path) from error


def count_written(output: Path, colour: Colour) -> ComponentStats:
    """4-connected objects of the object colour in a written mask (one sequential pass)."""
    try:
        image = pyvips.Image.new_from_file(str(output), access="sequential")
    except pyvips.Error as error:
        raise InputError(f"cannot read back {output.name}: {vips_reason(error)}") from error
    # Compare the whole pixel when it is RGB: extracting the bands first costs twice as much.
    pixels = image if image.bands == 3 else image[0:3]
    return _components((pixels == list(colour)).bandand(), output, "the written objects")


def count_mask(flattened: Flattened, output: Path, colour: Colour, source: Path,
               written: ComponentStats | None = None,
               at_output: LabelCensus | None = None,
               at_source: StreamedCounts | None = None) -> MaskCounts:
    """Every figure of MaskCounts for a mask just written from ``flattened``.

    ``written``: the objects of the written mask as counted while it was written (else the
    PNG is read back); ``at_output``: the census of the ids the written selection was made of
    (counted along, else a pass of its own). Objects before resampling and the census of the
    ids read share one pass over the source (masks.stream.count_pass) for 8/16-bit ids, or
    come as ``at_source`` from the pass that wrote the mask (ids shrunk in numpy).
    """
    written = written or count_written(output, colour)
    figures: dict = {}
    read = after = None
    before = None
    if flattened.resampled and at_source is not None:
        before, read = at_source.objects.objects, at_source.census
    elif flattened.resampled:
        try:
            streamed = count_pass(selection_and_ids(flattened, at_source=True))
        except pyvips.Error as error:
            raise InputError("failed while counting the objects before resampling: "
                             f"{vips_reason(error)}", source) from error
        before, read = streamed.objects.objects, streamed.census
    if flattened.source_ids is not None:
        if read is None:
            read = at_output if not flattened.resampled and at_output is not None \
                else label_census(flattened.source_ids, source)
        after = (at_output or label_census(flattened.resampled_ids, source)) \
            if flattened.resampled and flattened.resampled_ids is not None else read
        figures.update(instances=read.instances, instance_pixels=read.pixels,
                       separated_pixels=after.pixels - written.object_pixels
                       if flattened.separated else 0)
    if flattened.resampled:
        lost = read.instances - after.instances if read is not None and after is not None else None
        expected = before - (lost or 0)
        figures.update(objects_before=before, lost=lost,
                       merged=max(0, expected - written.objects),
                       split=max(0, written.objects - expected))
    return MaskCounts(written.objects, written.object_pixels, written.total_pixels, **figures)


def count_warnings(counts: MaskCounts, separated: bool) -> tuple[str, ...]:
    """Warnings about counts the user should know before quantifying."""
    notes = []
    if counts.instances is not None and counts.objects != counts.instances:
        if not separated and counts.objects < counts.instances:
            notes.append(f"{counts.instances:,} instances read but {counts.objects:,} objects: "
                         "touching cells are counted as one object by Nutil and PyNutil "
                         "(drop --keep-touching to separate them)")
        else:
            notes.append(f"{counts.instances:,} instances read but {counts.objects:,} objects in "
                         "the written mask (an id used for separate regions, or cells lost or "
                         "cut by resampling or separation)")
    if counts.merged or counts.split:
        notes.append(f"resampling changed the objects: {counts.objects_before:,} before, "
                     f"{counts.objects:,} after (merged {counts.merged:,}, split {counts.split:,}"
                     + (f", lost {counts.lost}" if counts.lost else "") + ")")
    return tuple(notes)
