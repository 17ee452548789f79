"""Downscale a whole series with one factor: plan it, then stream each image to its output."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyvips

from .errors import InputError, QuintPrepError, UsageError
from .manifest import ImageRecord, Manifest, load_or_new, write_manifest
from .naming import name_problems
from .normalise import Normalisation, Window, WindowPlan
from .orientation import Orientation, OrientationPlan, read_orientation_csv
from .outputs import atomic_output, guard_output_dir, remove_stale_temporaries, temporary_path
from .quicknii import slice_entries, write_descriptor
from .registration_series import (RegistrationSettings, registration_factor, registration_size,
                                  write_registration_image)
from .resample import Method, downscale_pipeline
from .scale import Size, check_factor, scaled_size, series_factor
from .series import ImageInfo, discover, file_notes, read_info, vips_reason

DESCRIPTOR_NAME = "quicknii-series.xml"
PROGRESS_MEGAPIXELS = 100.0  # images larger than this report progress while they are written


class OutputFormat(str, Enum):
    """Output file formats: PNG (default; what ilastik and the QUINT tools read best), JPEG, TIFF."""

    PNG = "png"
    JPG = "jpg"
    TIF = "tif"


@dataclass(frozen=True)
class DownscaleSettings:
    """Everything that decides the pixels of an output besides the source itself."""

    factor: float
    format: OutputFormat = OutputFormat.PNG
    quality: int = 90
    method: Method = Method.AREA
    keep_depth: bool = False
    keep_alpha: bool = False
    png_compression: int = 6
    normalisation: Normalisation = Normalisation()
    channels: tuple[str, ...] | None = None
    windows: WindowPlan | None = None  # computed by normalise.plan_windows before the run
    orientations: OrientationPlan = OrientationPlan()

    def window_for(self, info: ImageInfo) -> Window | None:
        """The intensity window applied to this image (None: plain 8-bit or kept depth)."""
        if self.keep_depth or self.windows is None:
            return None
        return self.windows.window_for(info, self.normalisation)

    def __post_init__(self) -> None:
        check_factor(self.factor)
        if self.format is OutputFormat.JPG and self.keep_depth:
            raise UsageError("JPEG holds 8 bits only: drop --keep-depth or choose --format png|tif")
        if self.format is OutputFormat.JPG and self.keep_alpha:
            raise UsageError("JPEG has no alpha: drop --keep-alpha or choose --format png|tif")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality {self.quality} is not between 1 and 100")

    def to_json(self) -> dict:
        """Settings as recorded in the manifest (the factor is recorded on its own)."""
        return {
            "method": self.method.value,
            "format": self.format.value,
            "quality": self.quality if self.format is OutputFormat.JPG else None,
            "keep_depth": self.keep_depth,
            "keep_alpha": self.keep_alpha,
            "channels": list(self.channels) if self.channels else None,
            "normalise": self._normalise_json(),
            "orientation": None if self.orientations.is_identity else self.orientations.to_json(),
        }

    def _normalise_json(self) -> dict:
        mode = "none" if self.keep_depth else self.normalisation.mode
        series = self.windows.series if self.windows else None
        return {"mode": mode, "percentiles": list(self.normalisation.percentiles),
                "window": series.to_json() if series and mode != "image" else None}


@dataclass(frozen=True)
class SeriesPlan:
    """A series as found on disk: readable images, problems, and its one factor."""

    images: list[ImageInfo]
    problems: list[InputError]
    skipped: list[Path]
    factor: float
    max_size: Size | None
    orientations: OrientationPlan = OrientationPlan()

    def output_size(self, info: ImageInfo) -> Size:
        """The size this image gets under the series factor, as oriented."""
        return self.orientations.for_stem(info.stem).size(scaled_size(info.size, self.factor))


def read_series(sources: Iterable[Path]) -> tuple[list[ImageInfo], list[InputError], list[Path]]:
    """Discover the images among the sources and read every header; collect failures."""
    found = discover(sources)
    infos: list[ImageInfo] = []
    problems = list(found.problems)
    for path in found.images:
        try:
            infos.append(read_info(path))
        except InputError as error:
            problems.append(error)
    return infos, problems, found.skipped


def plan_series(sources: Iterable[Path], *, factor: float | None = None,
                max_size: Size | None = None, orientation: Orientation = Orientation(),
                orientation_csv: Path | None = None) -> SeriesPlan:
    """Read a series and settle its one factor: the given one, or the one that fits max_size.

    The box applies to the sections as oriented (a 90-degree turn swaps width and height).
    """
    if (factor is None) == (max_size is None):
        raise UsageError("give exactly one of --factor or --max-size")
    infos, problems, skipped = read_series(sources)
    if not infos:
        if problems:
            return SeriesPlan([], problems, skipped, factor or 1.0, max_size)
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    per_section = (read_orientation_csv(orientation_csv, [i.stem for i in infos])
                   if orientation_csv else {})
    orientations = OrientationPlan(orientation, per_section)
    if max_size is not None:
        factor = series_factor(max_size, [orientations.for_stem(i.stem).size(i.size) for i in infos])
    return SeriesPlan(infos, problems, skipped, check_factor(float(factor)), max_size, orientations)


@dataclass(frozen=True)
class ImageResult:
    """What happened to one image of the series."""

    source: Path
    status: str  # "written", "up-to-date" or "failed"
    output: Path | None = None
    source_size: Size | None = None
    output_size: Size | None = None
    section: int | None = None
    load: str = ""
    seconds: float = 0.0
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``downscale --json``)."""
        return {
            "source": str(self.source),
            "status": self.status,
            "output": str(self.output) if self.output else None,
            "source_width": self.source_size.width if self.source_size else None,
            "source_height": self.source_size.height if self.source_size else None,
            "width": self.output_size.width if self.output_size else None,
            "height": self.output_size.height if self.output_size else None,
            "section": self.section,
            "load": self.load,
            "seconds": round(self.seconds, 3),
            "error": self.message or None,
            "warnings": list(self.warnings),
        }


def output_name(info: ImageInfo, fmt: OutputFormat) -> str:
    """The output file name: the source's stem with the output format's extension."""
    return f"{info.stem}.{fmt.value}"


def image_warnings(info: ImageInfo) -> tuple[str, ...]:
    """Things worth telling the user about one source that do not stop it."""
    return tuple(f"name: {problem}" for problem in name_problems(info.stem)) + file_notes(info)


def duplicate_sections(infos: Iterable[ImageInfo]) -> dict[int, list[str]]:
    """Section numbers used by more than one image of the series, with the images' names."""
    by_number: dict[int, list[str]] = {}
    for info in infos:
        if info.section is not None:
            by_number.setdefault(info.section.value, []).append(info.name)
    return {number: names for number, names in by_number.items() if len(names) > 1}


def _is_up_to_date(record: ImageRecord | None, info: ImageInfo, output: Path) -> bool:
    if record is None or not output.exists():
        return False
    stat = info.path.stat()
    return (record.source == str(info.path.resolve()) and record.source_bytes == stat.st_size
            and record.source_mtime_ns == stat.st_mtime_ns)


def _save(image: pyvips.Image, path: Path, settings: DownscaleSettings) -> None:
    if settings.format is OutputFormat.PNG:
        image.pngsave(str(path), compression=settings.png_compression, keep="none")
    elif settings.format is OutputFormat.JPG:
        image.jpegsave(str(path), Q=settings.quality, keep="none")
    else:
        image.tiffsave(str(path), compression="deflate", predictor="horizontal", keep="none")


def _with_resolution(image: pyvips.Image, info: ImageInfo, target: Size) -> pyvips.Image:
    if info.microns_per_pixel is None:
        return image
    scale = target.width / info.size.width
    source = pyvips.Image.new_from_file(str(info.path))
    return image.copy(xres=source.xres * scale, yres=source.yres * scale)


def _oriented(image: pyvips.Image, orientation: Orientation, scratch: Path,
              stack: ExitStack) -> pyvips.Image:
    """Apply the orientation; rotations and vertical flips read out of order, so the
    (already downscaled) image is first written to an uncompressed scratch file in the output
    folder, which libvips maps for random access. The scratch file goes when the stack closes."""
    if orientation.is_identity:
        return image
    if orientation.needs_random_access:
        temporary = temporary_path(scratch)
        stack.callback(lambda: temporary.unlink(missing_ok=True))
        image.write_to_file(str(temporary))
        image = pyvips.Image.new_from_file(str(temporary), access="random")
    return orientation.apply(image)


def downscale_one(info: ImageInfo, output: Path, target: Size, settings: DownscaleSettings,
                  on_progress: Callable[[float], None] | None = None) -> str:
    """Write one downscaled (and oriented) image atomically; return how its pixels were loaded.

    ``target`` is the size before orientation. Raises InputError when the source cannot be
    decoded or the output cannot be written.
    """
    image, plan = downscale_pipeline(info, target, settings.method,
                                     keep_depth=settings.keep_depth, keep_alpha=settings.keep_alpha,
                                     window=settings.window_for(info), channels=settings.channels)
    image = _with_resolution(image, info, target)
    if on_progress is not None:
        image.set_progress(True)
        image.signal_connect("eval", lambda _image, progress: on_progress(progress.percent / 100))
    orientation = settings.orientations.for_stem(info.stem)
    try:
        with ExitStack() as stack:
            image = _oriented(image, orientation, output.with_suffix(".v"), stack)
            with atomic_output(output) as temporary:
                _save(image, temporary, settings)
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or writing: {vips_reason(error)}", info.path) from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}", info.path) from error
    return plan.description


def downscale_series(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                     sources: Iterable[Path] = (), overwrite: bool = False,
                     registration: RegistrationSettings | None = None,
                     progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None = None,
                     ) -> Iterator[ImageResult]:
    """Downscale every image of the plan into output_dir, yielding one result per image.

    Up-to-date outputs (same source size and time, same settings, per the manifest) are
    skipped unless ``overwrite``; a file in the way that quint-prep did not write is refused
    unless ``overwrite``. With ``registration``, each section's registration image is derived
    from its written output and a QuickNII descriptor is written. The manifest is updated even
    when the run is interrupted.
    """
    source_list = list(sources) or [i.path for i in plan.images]
    output_dir = guard_output_dir(output_dir, source_list)
    if registration is not None:
        guard_output_dir(registration.folder, source_list)
        if registration.folder.resolve() == output_dir.resolve():
            raise UsageError("the registration folder must differ from the output folder "
                             "(both series keep the same file names)")
        remove_stale_temporaries(registration.folder)
        # QuickNII orders sections by number: refuse unnumbered or duplicate numbers up front.
        slice_entries([(f"{i.stem}.{registration.format.value}", plan.output_size(i))
                       for i in plan.images])
    remove_stale_temporaries(output_dir)
    run = _SeriesRun(plan, output_dir, settings, registration, overwrite, progress_for)
    try:
        for info in plan.images:
            yield run.process(info)
    finally:
        run.finish()


class _SeriesRun:
    """State of one downscale run: previous and new manifest, output names, registration."""

    def __init__(self, plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings,
                 registration: RegistrationSettings | None, overwrite: bool,
                 progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None) -> None:
        self.plan, self.output_dir, self.settings = plan, output_dir, settings
        self.registration, self.overwrite, self.progress_for = registration, overwrite, progress_for
        self.previous = load_or_new(output_dir)
        self.manifest = Manifest(factor=plan.factor,
                                 max_size=str(plan.max_size) if plan.max_size else None,
                                 settings=settings.to_json(), extra=dict(self.previous.extra))
        self.same_settings = (self.previous.factor == plan.factor
                              and self.previous.settings == self.manifest.settings)
        if self.same_settings:
            self.manifest.images = dict(self.previous.images)
        self.names: dict[str, list[ImageInfo]] = {}
        for info in plan.images:
            self.names.setdefault(output_name(info, settings.format), []).append(info)
        self.registration_factor = None
        self.registration_images: dict[str, dict] = {}
        if registration is not None:
            self.registration_factor = registration_factor(
                registration.box, [plan.output_size(i) for i in plan.images])
            old = self.previous.extra.get("registration") or {}
            if old.get("factor") == self.registration_factor and old.get("settings") == registration.to_json():
                self.registration_images = dict(old.get("images") or {})

    def process(self, info: ImageInfo) -> ImageResult:
        """Bring one image (and its registration image) up to date."""
        result = self._segmentation_image(info)
        if self.registration is None or result.status == "failed" or result.output is None:
            return result
        try:
            self._registration_image(info, result)
        except QuintPrepError as error:
            return replace(result, status="failed", message=error.message)
        return result

    def _segmentation_image(self, info: ImageInfo) -> ImageResult:
        settings = self.settings
        name = output_name(info, settings.format)
        output = self.output_dir / name
        target = scaled_size(info.size, settings.factor)
        section = info.section.value if info.section else None
        base = dict(source=info.path, output=output, source_size=info.size,
                    output_size=self.plan.output_size(info), section=section,
                    warnings=image_warnings(info))
        if len(self.names[name]) > 1:
            others = ", ".join(i.name for i in self.names[name] if i is not info)
            return ImageResult(status="failed", message=f"output {name} would also come from "
                               f"{others}; keep one of them", **base)
        record = self.previous.images.get(name)
        if not self.overwrite and self.same_settings and _is_up_to_date(record, info, output):
            return ImageResult(status="up-to-date", load=record.load if record else "", **base)
        if output.exists() and record is None and not self.overwrite:
            return ImageResult(status="failed", message=f"{output} exists and was not written by "
                               "quint-prep; pass --overwrite to replace it", **base)
        started = time.perf_counter()
        progress = None
        if self.progress_for is not None and info.size.megapixels > PROGRESS_MEGAPIXELS:
            progress = self.progress_for(info)
        try:
            load = downscale_one(info, output, target, settings, progress)
        except QuintPrepError as error:
            self.manifest.images.pop(name, None)
            return ImageResult(status="failed", message=error.message, **base)
        stat = info.path.stat()
        oriented = self.plan.output_size(info)
        window = settings.window_for(info)
        self.manifest.images[name] = ImageRecord(
            name=name, stem=info.stem, section=section, source=str(info.path.resolve()),
            source_bytes=stat.st_size, source_mtime_ns=stat.st_mtime_ns,
            source_width=info.size.width, source_height=info.size.height,
            width=oriented.width, height=oriented.height, load=load,
            window=window.to_json() if window else None,
            orientation=None if (o := settings.orientations.for_stem(info.stem)).is_identity else o.to_json())
        return ImageResult(status="written", load=load, seconds=time.perf_counter() - started, **base)

    def _registration_image(self, info: ImageInfo, result: ImageResult) -> None:
        registration = self.registration
        if registration is None or self.registration_factor is None or result.output is None:
            return
        name = f"{info.stem}.{registration.format.value}"
        target = registration.folder / name
        size = registration_size(self.plan.output_size(info), self.registration_factor)
        recorded = self.registration_images.get(name)
        if (result.status == "up-to-date" and target.exists() and recorded
                and recorded == {"width": size.width, "height": size.height}):
            return
        write_registration_image(result.output, target, size, registration)
        self.registration_images[name] = {"width": size.width, "height": size.height}

    def finish(self) -> None:
        """Write the manifest (and the QuickNII descriptor) with what is done so far."""
        if self.registration is not None:
            self.manifest.extra["registration"] = {
                "settings": self.registration.to_json(),
                "factor": self.registration_factor,
                "images": dict(sorted(self.registration_images.items())),
            }
            files = [(name, Size(v["width"], v["height"]))
                     for name, v in sorted(self.registration_images.items())]
            if files:
                write_descriptor(self.registration.folder, self.output_dir.name or "series",
                                 files, filename=DESCRIPTOR_NAME)
        write_manifest(self.output_dir, self.manifest)
