"""What a segmentation file is: its tool (by name and content), its palette, its stored values.

Everything here reads headers or small chunks of a file; pixel statistics (histograms) are
computed by libvips in one streamed pass. Nothing is written.

Facts this module relies on (see ../shared/quint-requirements.md):
- ilastik "Simple Segmentation": one label 1..N per pixel, uint8/uint16, no 0 unless unlabelled.
- Cellpose: instance labels, 0 = background, uint16 (uint32 above 65535 cells). ``_seg.npy``
  files are pickles and are never loaded.
- QuPath label images: indexed PNG, background index 0 drawn white. libvips expands palette
  PNGs to RGB on load (pngload has no option to keep the indices in libvips 8.18), so the index
  of a pixel is recovered by matching its colour against the file's PLTE chunk.
- FIJI binary masks: 0/255, objects 255. With "Black background" off FIJI keeps objects at 255
  and shows them black through an inverting LUT, saved as a min-is-white TIFF (libvips inverts
  such files on load, so the stored values are restored here) or as a palette PNG (indices are
  the stored values).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from quint_prep.choices import SourceKind  # light: for --help
from quint_prep.masks.colours import PNG_SIGNATURE, ColourCounts, count_image_colours
from quint_prep.errors import InputError
from quint_prep.series import DECODE_FAIL_ON, IMAGE_SUFFIXES, ImageInfo, open_image, read_info, vips_reason


# Tool suffixes appended to the original image stem, longest first (matched case-insensitively).
# The kind is a hint used when the content does not decide (None: the content decides alone).
TOOL_SUFFIXES: tuple[tuple[str, SourceKind | None], ...] = (
    ("_Simple Segmentation", SourceKind.ILASTIK),
    ("_Object Predictions", SourceKind.ILASTIK),
    ("_Segmentation", None),
    ("_cp_masks", SourceKind.CELLPOSE),
    ("_cp_mask", SourceKind.CELLPOSE),
    ("_masks", SourceKind.CELLPOSE),
    ("-labels", SourceKind.QUPATH),
    ("_labels", None),
    ("_binary", SourceKind.BINARY),
    ("-mask", SourceKind.BINARY),
    ("_mask", SourceKind.BINARY),
    ("_seg", None),
)
_TOOL_SUFFIXES_BY_LENGTH = sorted(TOOL_SUFFIXES, key=lambda item: -len(item[0]))
_INNER_EXTENSIONS = tuple(sorted(IMAGE_SUFFIXES, key=len, reverse=True))

NPY_REFUSAL = ("Cellpose _seg.npy files are pickled Python objects and are never loaded "
               "(unpickling can run code); export label images instead: in the Cellpose GUI "
               "File > Save masks as PNG, or add --save_png (or --save_tif) to the cellpose "
               "command, then give quint-prep the <name>_cp_masks.png files")


@dataclass(frozen=True)
class StrippedName:
    """A segmentation stem split into the original image stem and the tool suffix."""

    stem: str
    suffix: str
    hint: SourceKind | None


def strip_tool_suffix(stem: str) -> StrippedName:
    """Remove one known tool suffix (and an image extension left inside the name).

    ``mouse_s001_Simple Segmentation`` -> ``mouse_s001``; ``slide_s002.tif-labels`` ->
    ``slide_s002``. A stem with no known suffix is returned unchanged.
    """
    lowered = stem.lower()
    for suffix, hint in _TOOL_SUFFIXES_BY_LENGTH:
        if lowered.endswith(suffix.lower()) and len(stem) > len(suffix):
            base = stem[: -len(suffix)]
            return StrippedName(_strip_inner_extension(base), stem[-len(suffix):], hint)
    return StrippedName(_strip_inner_extension(stem), "", None)


def _strip_inner_extension(stem: str) -> str:
    lowered = stem.lower()
    for extension in _INNER_EXTENSIONS:
        if lowered.endswith(extension) and len(stem) > len(extension):
            return stem[: -len(extension)]
    return stem


MAX_PALETTE_CHUNK = 1024  # PLTE holds at most 768 bytes, tRNS 256, IHDR 13


def png_palette(path: Path) -> list[tuple[int, ...]] | None:
    """The palette of an indexed PNG (RGB, or RGBA when it has a tRNS chunk), else None.

    Only the chunks before the first IDAT are read (PLTE and tRNS must precede it).
    """
    with open(path, "rb") as handle:
        if handle.read(8) != PNG_SIGNATURE:
            return None
        palette: bytes | None = None
        alpha = b""
        colour_type = -1
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT" or kind == b"IEND":
                break
            if kind not in (b"IHDR", b"PLTE", b"tRNS"):
                handle.seek(length + 4, 1)  # skip the chunk and its CRC unread
                continue
            data = handle.read(min(length, MAX_PALETTE_CHUNK))  # a damaged length allocates nothing
            handle.seek(length - len(data) + 4, 1)  # CRC
            if kind == b"IHDR" and len(data) >= 10:
                colour_type = data[9]
            elif kind == b"PLTE":
                palette = data
            elif kind == b"tRNS":
                alpha = data
    if colour_type != 3 or palette is None:
        return None
    entries = [tuple(palette[i:i + 3]) for i in range(0, len(palette) - 2, 3)]
    if not alpha:
        return entries
    return [(*colour, alpha[i] if i < len(alpha) else 255) for i, colour in enumerate(entries)]


def tiff_min_is_white(path: Path) -> bool:
    """True when the first TIFF directory says photometric interpretation min-is-white (0)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            return False
        order = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(order + "H", head[2:4])[0]
        if magic == 42:
            offset = struct.unpack(order + "I", head[4:8])[0]
            count_format, entry_format, entry_size = "H", "HHI4s", 12
        elif magic == 43 and len(head) >= 16:
            offset = struct.unpack(order + "Q", head[8:16])[0]
            count_format, entry_format, entry_size = "Q", "HHQ8s", 20
        else:
            return False
        handle.seek(offset)
        raw_count = handle.read(struct.calcsize(count_format))
        if len(raw_count) < struct.calcsize(count_format):
            return False
        count = struct.unpack(order + count_format, raw_count)[0]
        entries = handle.read(min(count, 4096) * entry_size)
    for index in range(len(entries) // entry_size):
        tag, _type, _n, value = struct.unpack_from(order + entry_format, entries, index * entry_size)
        if tag == 262:
            return struct.unpack_from(order + "H", value)[0] == 0
    return False


@dataclass(frozen=True)
class MaskFile:
    """One segmentation file as found: header, tool, palette and how its values are stored."""

    info: ImageInfo
    name: StrippedName
    kind: SourceKind
    palette: tuple[tuple[int, ...], ...] | None
    min_is_white: bool

    @property
    def path(self) -> Path:
        """The file."""
        return self.info.path

    def open(self) -> pyvips.Image:
        """Open the file lazily for one streamed pass (a sequential image can be read once)."""
        image = open_image(self.path, access=self.info.access, fail_on=DECODE_FAIL_ON)
        if self.info.interpretation == "cmyk":  # ink bands are not R, G, B (and K is not alpha)
            image = image.colourspace("srgb")
        return image

    def labels_image(self) -> pyvips.Image:
        """The single-band stored values (label ids, 0/255), min-is-white inversion undone."""
        image = self.open()
        if image.bands > 1:
            image = image[0]
        if self.min_is_white:
            top = {"uchar": 255, "ushort": 65535}.get(str(image.format))
            if top is not None:
                image = (top - image).cast(image.format)
        return image


_LABEL_FORMATS = {"uchar", "ushort", "uint", "char", "short", "int"}


def read_mask_file(path: Path, override: SourceKind | None = None) -> MaskFile:
    """Read a segmentation's header and decide its kind (``override`` wins when it fits)."""
    if path.suffix.lower() == ".npy":
        raise InputError(NPY_REFUSAL, path)
    info = read_info(path)
    name = strip_tool_suffix(path.stem)
    palette = png_palette(path) if info.format == "png" else None
    min_is_white = info.format in ("tiff", "bigtiff") and tiff_min_is_white(path)
    colour = palette is None and info.bands >= 3
    if colour and info.sample_format != "uchar":
        raise InputError(f"{info.bit_depth}-bit colour segmentations are not supported; "
                         "export an 8-bit RGB PNG", path)
    if not colour and palette is None and info.sample_format not in _LABEL_FORMATS:
        raise InputError(f"{info.sample_format} samples are not labels; export integer labels "
                         "(8, 16 or 32 bit)", path)
    partial = MaskFile(info, name, SourceKind.RGB, tuple(palette) if palette else None,
                       min_is_white)
    kind = override or _detect_kind(partial, colour)
    if override is not None:
        _check_override(partial, override, colour)
    return MaskFile(info, name, kind, partial.palette, min_is_white)


def _check_override(mask: MaskFile, kind: SourceKind, colour: bool) -> None:
    if colour and kind is not SourceKind.RGB:
        raise InputError(f"--source {kind.value} needs a single-band or indexed label image, "
                         f"but this file has {mask.info.bands} colour bands; use --source rgb",
                         mask.path)
    if kind is SourceKind.RGB and not colour and mask.palette is None:
        raise InputError("--source rgb needs a colour image, but this file is single-band labels",
                         mask.path)


def _detect_kind(mask: MaskFile, colour: bool) -> SourceKind:
    hint = mask.name.hint
    if mask.palette is not None:
        return hint if hint in (SourceKind.ILASTIK, SourceKind.BINARY, SourceKind.CELLPOSE) \
            else SourceKind.QUPATH
    if colour:
        return SourceKind.RGB
    if hint is not None:
        return hint
    if mask.info.sample_format not in ("uchar", "ushort"):
        return SourceKind.CELLPOSE
    values = set(label_counts(mask))
    if values <= {0, 255} or values <= {0, 1}:
        return SourceKind.BINARY
    return SourceKind.CELLPOSE if 0 in values else SourceKind.ILASTIK


def label_counts(mask: MaskFile) -> dict[int, int]:
    """Pixel count of every stored value of a uint8/uint16 label image (one streamed pass)."""
    image = mask.labels_image()
    if str(image.format) not in ("uchar", "ushort"):
        raise InputError(f"cannot count the labels of a {image.format} image; give --labels",
                         mask.path)
    try:
        histogram = image.hist_find().numpy().ravel()
    except pyvips.Error as error:
        raise InputError(f"failed while decoding: {vips_reason(error)}", mask.path) from error
    return {int(v): int(histogram[v]) for v in np.flatnonzero(histogram)}


def colour_counts(mask: MaskFile) -> ColourCounts:
    """Pixels per colour of an RGB(A) segmentation, transparent pixels (alpha below 128, never
    objects) left out: ``colours.count_image_colours`` over the file as ``MaskFile.open`` reads
    it, in one or two streamed passes of a few MB whatever the size."""
    try:
        return count_image_colours(mask.open, mask.path, skip_transparent=True)
    except pyvips.Error as error:
        raise InputError(f"failed while decoding: {vips_reason(error)}", mask.path) from error
