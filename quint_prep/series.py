"""Discover the images of a series and read their headers (no pixels are decoded here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pyvips

from quint_prep.damage import truncation_reason, unreadable_reason
from quint_prep.errors import InputError, UsageError
from quint_prep.naming import SectionNumber, natural_key, parse_section_number
from quint_prep.scale import Size
from quint_prep.pixel_size import recorded_pixel_size
from quint_prep.slides import SLIDE_SUFFIXES

if TYPE_CHECKING:
    from quint_prep.sections.plan import Crop

IMAGE_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".jpg", ".jpeg", ".png"}  # read by libvips
# Scanner files (slides.SLIDE_SUFFIXES: .czi, .svs, .ndpi, .mrxs, ...) go to vendor libraries.
# Formats a user may meet whose loaders pyvips-binary does not carry.
UNSUPPORTED_SUFFIXES = {
    ".vsi": "Olympus VSI",  # no pip library reads it here yet (slideio claims it; not wired in)
    ".jp2": "JPEG 2000",
    ".j2k": "JPEG 2000",
    ".jpx": "JPEG 2000",
}
MAX_SIDE = 500_000  # px; whole-slide scans reach ~200000 px a side
MAX_PIXELS = 100_000_000_000
MAX_INTERLACED_BYTES = 4_000_000_000  # an interlaced file is decoded whole: at most this much
# Pixel reads fail on truncation AND on decode errors (e.g. a corrupt LZW strip): a damaged file
# is refused, never turned into an output of garbage pixels. Warnings do not fail a file.
DECODE_FAIL_ON = "error"
JUNK_NAMES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
BIT_DEPTHS = {"uchar": 8, "char": 8, "ushort": 16, "short": 16, "uint": 32, "int": 32,
              "float": 32, "double": 64, "complex": 64, "dpcomplex": 128}


@dataclass(frozen=True)
class Discovery:
    """What a scan of the command-line sources found: images to use and files set aside."""

    images: list[Path]
    problems: list[InputError] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class ImageInfo:
    """Everything quint-prep needs to know about one image, read from its header alone."""

    path: Path
    format: str  # tiff, bigtiff, jpeg, png
    size: Size
    bands: int
    sample_format: str  # libvips band format: uchar, ushort, float, ...
    interpretation: str
    tiled: bool
    tile_size: Size | None
    levels: tuple[Size, ...]  # stored resolutions, level 0 first
    level_pages: tuple[int, ...]  # page (or subifd) index of each level
    level_kind: str  # "none", "pages" or "subifds"
    pages: int
    interlaced: bool
    file_bytes: int
    pixels_per_mm: float | None  # horizontal resolution when the file records one
    channel_names: tuple[str, ...] = ()  # from OME-XML, when the file has it
    pixel_size: tuple[float, float] | None = None  # µm/px (x, y) recorded in the file
    scenes: tuple = ()  # slides.Scene of each scene of a multi-scene file (CZI)
    scene: int | None = None  # the scene this info describes (None: the whole file)
    associated: tuple[str, ...] = ()  # label/macro/thumbnail pictures of a slide (never used)
    crop: Crop | None = None  # a box cut out of the file: a row of a section plan (sections.csv)
    label: str | None = None  # the section's name when it is a plan row (else the file's stem)

    @property
    def misnamed(self) -> bool:
        """True when the content's format does not match the file's extension."""
        suffix = self.path.suffix.lower()
        if self.level_kind == "slide":
            return False
        expected = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}.get(suffix, "tiff")
        return self.format.replace("big", "") != expected

    @property
    def name(self) -> str:
        """The file name (a plan row: its section name)."""
        return self.label or self.path.name

    @property
    def stem(self) -> str:
        """The file name without its extension: the section's identity in QUINT."""
        return self.label or self.path.stem

    @property
    def section(self) -> SectionNumber | None:
        """The QUINT section number in the name, if it has exactly one."""
        return parse_section_number(self.stem)

    @property
    def bit_depth(self) -> int:
        """Bits per sample."""
        return BIT_DEPTHS.get(self.sample_format, 0)

    @property
    def has_alpha(self) -> bool:
        """True for grey+alpha and RGB+alpha images."""
        return self.bands in (2, 4) and self.interpretation != "cmyk"

    @property
    def access(self) -> str:
        """The libvips access mode that streams this file: random for tiles, else sequential."""
        return "random" if self.tiled else "sequential"

    @property
    def is_slide(self) -> bool:
        """True for scanner files read by a vendor library (see ``slides``), not by libvips."""
        return self.level_kind == "slide"

    @property
    def microns_per_pixel(self) -> float | None:
        """Pixel size in micrometres when the file records a plausible resolution."""
        if self.pixel_size is not None:
            return self.pixel_size[0]
        if not self.pixels_per_mm or self.pixels_per_mm <= 1.0:
            return None  # libvips reports 1 px/mm (or less) when no resolution is stored
        return 1000.0 / self.pixels_per_mm

    def to_json(self) -> dict:
        """A JSON-ready description (what ``inspect --json`` prints)."""
        section = self.section
        return {
            "path": str(self.path),
            "name": self.name,
            "section": section.value if section else None,
            "format": self.format,
            "width": self.size.width,
            "height": self.size.height,
            "bands": self.bands,
            "bit_depth": self.bit_depth,
            "sample_format": self.sample_format,
            "interpretation": self.interpretation,
            "tiled": self.tiled,
            "tile_width": self.tile_size.width if self.tile_size else None,
            "tile_height": self.tile_size.height if self.tile_size else None,
            "pyramid_levels": len(self.levels),
            "levels": [[s.width, s.height] for s in self.levels],
            "pages": self.pages,
            "interlaced": self.interlaced,
            "file_bytes": self.file_bytes,
            "microns_per_pixel": self.microns_per_pixel,
            "channel_names": list(self.channel_names),
            "pixel_size_um": list(self.pixel_size) if self.pixel_size else None,
            "scenes": [scene.to_json() for scene in self.scenes],
            "scene": self.scene,
            "associated": list(self.associated),
        }


def file_notes(info: ImageInfo) -> tuple[str, ...]:
    """What is odd about a readable file itself (not its name): warnings, never refusals."""
    notes = []
    if info.interlaced:
        notes.append("interlaced/progressive file: libvips must decode it whole into memory")
    if info.pages > 1 and info.level_kind == "none":
        notes.append(f"{info.pages} pages and no pyramid: only the first page is used")
    if info.misnamed:
        notes.append(f"the content is {info.format.upper()} although the name ends in "
                     f"{info.path.suffix}; read by content")
    return tuple(notes)


def _is_junk(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name.lower() in JUNK_NAMES


def _classify(path: Path, named_explicitly: bool) -> InputError | None | bool:
    """True: an image; None: skip quietly; InputError: tell the user."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix in SLIDE_SUFFIXES:
        return True
    if suffix in UNSUPPORTED_SUFFIXES:
        return InputError(
            f"{UNSUPPORTED_SUFFIXES[suffix]} files cannot be read by the libvips that ships with "
            "pyvips[binary]; export the section to TIFF first",
            path,
        )
    if named_explicitly:
        return InputError("not an image quint-prep reads (TIFF, JPEG or PNG)", path)
    return None


def discover(sources: Iterable[Path]) -> Discovery:
    """Find the images among files and folders given on the command line.

    Folders are read one level deep, in natural name order; hidden files, ``Thumbs.db`` and
    files that are not images (``.txt``, ``.csv``, ...) are skipped quietly. A source that does
    not exist is a usage error.
    """
    images: list[Path] = []
    problems: list[InputError] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for source in sources:
        source = Path(source)
        if not source.exists() and not source.is_symlink():
            raise UsageError(f"{source}: no such file or folder")
        if source.is_dir():
            entries = sorted((p for p in source.iterdir()), key=lambda p: natural_key(p.name))
            explicit = False
        else:
            entries = [source]
            explicit = True
        for entry in entries:
            if _is_junk(entry) and not explicit:
                skipped.append(entry)
                continue
            if entry.is_dir():
                continue
            if not entry.exists():
                problems.append(InputError("broken or looping symbolic link", entry))
                continue
            verdict = _classify(entry, explicit)
            if verdict is True:
                key = entry.resolve()
                if key not in seen:
                    seen.add(key)
                    images.append(entry)
            elif isinstance(verdict, InputError):
                problems.append(verdict)
            else:
                skipped.append(entry)
    return Discovery(images=images, problems=problems, skipped=skipped)


_GENERIC_VIPS_LINES = re.compile(r"unable to (call|write to target|write to file)|^vips_image_|"
                                 r"^VipsImage: |not a known file format")


def vips_reason(error: pyvips.Error) -> str:
    """The most telling line of a libvips error message, without the C function names.

    libvips stacks messages: the cause (``premature end of JPEG image``) comes before the
    generic consequence (``unable to write to target``), so the first specific line wins.
    """
    text = (getattr(error, "detail", None) or str(error) or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    specific = [line for line in lines if not _GENERIC_VIPS_LINES.search(line)]
    line = specific[0] if specific else (lines[-1] if lines else "libvips could not read it")
    line = re.sub(r"^(Vips[A-Za-z]+|tiff2vips|vips2[a-z]+|vips_[a-z_]+|vips[a-z]+|[a-z]+load[a-z_]*|"
                  r"[a-z]+save[a-z_]*):\s*", "", line)
    return line


def open_image(path: Path, access: str = "sequential", **options) -> pyvips.Image:
    """Open an image lazily with libvips, turning load failures into InputError."""
    try:
        return pyvips.Image.new_from_file(str(path), access=access, **options)
    except pyvips.Error as error:
        if "not a known file format" in (getattr(error, "detail", "") or str(error)):
            raise InputError(unreadable_reason(path), path) from error
        reason = vips_reason(error)
        if reason.startswith("unable to call"):  # libvips gave no cause: say what the bytes say
            raise InputError(unreadable_reason(path), path) from error
        raise InputError(f"cannot read: {reason}", path) from error


def channel_names(image: pyvips.Image) -> list[str]:
    """Channel names from OME-XML metadata (``<Channel Name=...>``), empty when there are none."""
    if image.get_typeof("image-description") == 0:
        return []
    description = str(image.get("image-description"))
    if "<OME" not in description:
        return []
    return re.findall(r"<(?:\w+:)?Channel\b[^>]*?\bName=\"([^\"]*)\"", description)


def _field(image: pyvips.Image, name: str, default=None):
    return image.get(name) if image.get_typeof(name) != 0 else default


def _format_of(path: Path, loader: str) -> str:
    if loader.startswith("tiff"):
        with open(path, "rb") as handle:
            magic = handle.read(4)
        return "bigtiff" if magic[2:4] in (b"\x2b\x00", b"\x00\x2b") else "tiff"
    if loader.startswith("jpeg"):
        return "jpeg"
    if loader.startswith("png"):
        return "png"
    return loader.removesuffix("load") or "unknown"


def _is_reduced_copy(level0: Size, level: Size) -> bool:
    """True when ``level`` is level 0 shrunk by one factor in both directions (a pyramid level)."""
    if level.width >= level0.width or level.height >= level0.height:
        return False
    ratio = level0.width / level.width
    expected_height = level0.height / ratio
    return abs(expected_height - level.height) <= max(2.0, 0.01 * level.height)


def _pyramid(path: Path, head: pyvips.Image, size: Size) -> tuple[tuple[Size, ...], tuple[int, ...], str]:
    """Stored reduced resolutions: (sizes, page or subifd index of each, kind)."""
    subifds = int(_field(head, "n-subifds", 0) or 0)
    if subifds > 0:
        levels = [size]
        for index in range(subifds):
            level = open_image(path, subifd=index)
            levels.append(Size(level.width, level.height))
        return tuple(levels), tuple(range(-1, subifds)), "subifds"
    pages = int(_field(head, "n-pages", 1) or 1)
    if pages > 1 and str(head.get("vips-loader")).startswith("tiff"):
        found = [(size, 0)]
        for page in range(1, pages):
            level = open_image(path, page=page)
            level_size = Size(level.width, level.height)
            # Scanner files put label and macro images after the pyramid: they are not
            # reduced copies of level 0 and are left out.
            if _is_reduced_copy(size, level_size):
                found.append((level_size, page))
        found.sort(key=lambda item: -item[0].width)
        if len(found) > 1:
            return tuple(s for s, _ in found), tuple(p for _, p in found), "pages"
    return (size,), (0,), "none"


def refuse_impossible(path: Path, image: pyvips.Image) -> None:
    """Refuse, from the header alone, an image no command could decode in bounded memory.

    Too large a claimed size (a damaged header), or an interlaced/progressive file (which
    libvips decodes whole into memory) over MAX_INTERLACED_BYTES. Every reader of user files
    calls this before asking for a pixel.
    """
    size = Size(image.width, image.height)
    if max(size.width, size.height) > MAX_SIDE or size.width * size.height > MAX_PIXELS:
        raise InputError(
            f"the header claims {size} pixels, more than any slide scanner makes "
            f"(limit {MAX_SIDE} px a side, {MAX_PIXELS / 1e9:.0f} gigapixels); the file is "
            "probably damaged", path)
    decoded = size.width * size.height * image.bands * max(1, BIT_DEPTHS.get(str(image.format), 8) // 8)
    if _field(image, "interlaced", 0) and decoded > MAX_INTERLACED_BYTES:
        raise InputError(
            f"interlaced/progressive {size} file: libvips must decode it whole into memory "
            f"({decoded / 1e9:.1f} GB, limit {MAX_INTERLACED_BYTES / 1e9:.0f} GB); re-save it "
            "non-interlaced (e.g. as TIFF)", path)


def source_bytes(path: Path) -> int:
    """The file's size; InputError when it cannot be read or is empty."""
    try:
        file_bytes = path.stat().st_size
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path) from error
    if file_bytes == 0:
        raise InputError("empty file (0 bytes)", path)
    return file_bytes


def read_info(path: Path, scene: int | None = None) -> ImageInfo:
    """Read one image's header (and its pyramid levels' headers) without decoding pixels.

    Scanner files go to their vendor library (``slides``); ``scene`` picks one scene of a
    multi-scene file (None: the whole file, with its scenes listed).
    """
    if path.suffix.lower() in SLIDE_SUFFIXES:
        from quint_prep.slides.info import slide_info
        return slide_info(path, scene)
    if scene not in (None, 0):
        raise InputError(f"no scene {scene}: the file has one image (scene 0)", path)
    file_bytes = source_bytes(path)
    head = open_image(path)
    loader = str(_field(head, "vips-loader", ""))
    refuse_impossible(path, head)
    size = Size(head.width, head.height)
    file_format = _format_of(path, loader)
    cut = truncation_reason(path, file_format)
    if cut is not None:
        raise InputError(cut, path)
    tile_width = _field(head, "tile-width")
    tiled = tile_width is not None and loader.startswith("tiff")
    levels, level_pages, level_kind = _pyramid(path, head, size)
    xres = float(_field(head, "xres", 0.0) or 0.0)
    return ImageInfo(
        path=path,
        format=file_format,
        size=size,
        bands=head.bands,
        sample_format=str(head.format),
        interpretation=str(head.interpretation),
        tiled=tiled,
        tile_size=Size(int(tile_width), int(_field(head, "tile-height", tile_width))) if tiled else None,
        levels=levels,
        level_pages=level_pages,
        level_kind=level_kind,
        pages=int(_field(head, "n-pages", 1) or 1),
        interlaced=bool(_field(head, "interlaced", 0)),
        file_bytes=file_bytes,
        pixels_per_mm=xres if xres > 0 else None,
        channel_names=tuple(channel_names(head)),
        pixel_size=recorded_pixel_size(head),
    )


def level_options(info: ImageInfo, index: int) -> dict:
    """Load options that open stored level ``index`` (page, subifd, or slide level)."""
    if index == 0 and info.level_kind != "slide":
        return {}
    key = {"subifds": "subifd", "slide": "level"}.get(info.level_kind, "page")
    return {key: info.level_pages[index]}


def open_source(info: ImageInfo, access: str | None = None, **options) -> pyvips.Image:
    """Open a described image lazily: libvips for TIFF/JPEG/PNG, the vendor library for a slide
    (``level=N`` picks a slide level, ``box_shrink=(kx, ky)`` shrinks it while it is read;
    page/subifd/shrink options are libvips')."""
    if info.is_slide:
        from quint_prep.slides.info import open_slide_level
        return open_slide_level(info, int(options.get("level", 0)), options.get("box_shrink"))
    return open_image(info.path, access=access or info.access, **options)
