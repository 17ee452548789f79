"""Downscale a whole series with one factor: plan it, then stream each image to its output."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import pyvips

from .errors import InputError, QuintPrepError, UsageError
from .manifest import ImageRecord, Manifest, load_or_new, write_manifest
from .naming import name_problems
from .normalise import Normalisation, Window, WindowPlan, plan_windows
from .orientation import Orientation, OrientationPlan, read_orientation_csv
from .outputs import (atomic_output, guard_output_dir, remove_stale_temporaries, staged_path,
                      temporary_path)
from .parallel import Workers, interrupts_deferred, run_interruptibly, run_tasks
from .quicknii import slice_entries, write_descriptor
from .registration_series import (RegistrationSettings, registration_factor, registration_size,
                                  write_registration_image)
from .resample import Method, downscale_pipeline, estimate_memory
from .resume import SKIP, WRITE, Decision, decide, source_stamp
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
    png_compression: int = 3  # measured: 28% less encode CPU than 6 for 5% larger files
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


def with_windows(settings: DownscaleSettings, plan: SeriesPlan,
                 given: Window | None = None) -> DownscaleSettings:
    """The settings with the series' intensity windows computed (none when depth is kept).

    ``given`` is a window from ``--normalise-from``; it is used instead of the histograms.
    """
    if settings.keep_depth:
        return settings
    windows = plan_windows(plan.images, settings.normalisation, settings.channels, given=given)
    return replace(settings, windows=windows)


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


def _save(image: pyvips.Image, path: Path, settings: DownscaleSettings) -> None:
    if settings.format is OutputFormat.PNG:
        image.pngsave(str(path), compression=settings.png_compression, keep="none")
    elif settings.format is OutputFormat.JPG:
        image.jpegsave(str(path), Q=settings.quality, keep="none")
    else:
        image.tiffsave(str(path), compression="deflate", predictor="horizontal", keep="none")


def _save_described(built: tuple[pyvips.Image, str], path: Path, settings: DownscaleSettings,
                    orientation: Orientation) -> str:
    with ExitStack() as stack:
        image = _oriented(built[0], orientation, path.with_suffix(".v"), stack)
        _save(image, path, settings)
    return built[1]


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


def _with_resolution(image: pyvips.Image, info: ImageInfo, target: Size) -> pyvips.Image:
    if info.microns_per_pixel is None:
        return image
    scale = target.width / info.size.width
    source = pyvips.Image.new_from_file(str(info.path))
    return image.copy(xres=source.xres * scale, yres=source.yres * scale)


def downscale_one(info: ImageInfo, output: Path, target: Size, settings: DownscaleSettings,
                  on_progress: Callable[[float], None] | None = None) -> str:
    """Write one downscaled (and oriented) image atomically; return how its pixels were loaded.

    ``target`` is the size before orientation. Raises InputError when the source cannot be
    decoded or the output cannot be written.
    """
    orientation = settings.orientations.for_stem(info.stem)

    def build() -> tuple[pyvips.Image, str]:
        image, plan = downscale_pipeline(info, target, settings.method,
                                         keep_depth=settings.keep_depth,
                                         keep_alpha=settings.keep_alpha,
                                         window=settings.window_for(info),
                                         channels=settings.channels)
        image = _with_resolution(image, info, target)
        if on_progress is not None:
            image.set_progress(True)
            image.signal_connect("eval", lambda _image, progress: on_progress(progress.percent / 100))
        return image, plan.description

    try:
        with atomic_output(output) as temporary:
            return run_interruptibly(build, lambda built: _save_described(built, temporary, settings,
                                                                          orientation),
                                     kill=lambda built: built[0].set_kill(True))
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or writing: {vips_reason(error)}", info.path) from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}", info.path) from error


# --- The series: decide, then write (here or in workers), recording in the parent ---------

@dataclass(frozen=True)
class PlannedOutput:
    """One image of the series, its output and what must be done with it."""

    info: ImageInfo
    output: Path
    target: Size  # before orientation
    oriented: Size  # the output's size as written
    decision: Decision


@dataclass(frozen=True)
class OutputPlan:
    """What a run would do in an output folder, decided without writing anything."""

    previous: Manifest
    same_settings: bool
    entries: tuple[PlannedOutput, ...]


def plan_outputs(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                 overwrite: bool = False) -> OutputPlan:
    """Decide for every image whether its output is new, changed or up to date (no writes)."""
    previous = load_or_new(output_dir) if Path(output_dir).is_dir() else Manifest()
    same_settings = previous.factor == plan.factor and previous.settings == settings.to_json()
    names: dict[str, list[ImageInfo]] = {}
    for info in plan.images:
        names.setdefault(output_name(info, settings.format), []).append(info)
    entries = []
    for info in plan.images:
        name = output_name(info, settings.format)
        output = Path(output_dir) / name
        decision = decide(output_name=name, output_exists=output.exists(),
                          record=previous.images.get(name), source=source_stamp(info.path),
                          same_settings=same_settings, overwrite=overwrite,
                          clashes=[i.name for i in names[name] if i is not info])
        entries.append(PlannedOutput(info, output, scaled_size(info.size, plan.factor),
                                     plan.output_size(info), decision))
    return OutputPlan(previous, same_settings, tuple(entries))


def downscale_series(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                     sources: Iterable[Path] = (), overwrite: bool = False,
                     registration: RegistrationSettings | None = None,
                     progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None = None,
                     workers: Workers | None = None) -> Iterator[ImageResult]:
    """Downscale every image of the plan into output_dir, yielding one result per image.

    Up-to-date outputs (same source size and time, same settings, per the manifest) are
    skipped unless ``overwrite``; a file in the way that quint-prep did not write is refused
    unless ``overwrite``. With ``workers`` (jobs > 1 or a Dask scheduler) images are written
    by worker processes, widest first, and results come in the order they finish. With
    ``registration``, each section's registration image is derived from its written output
    and a QuickNII descriptor is written. The manifest is written here only, and updated even
    when the run is interrupted.
    """
    source_list = list(sources) or [i.path for i in plan.images]
    output_dir = guard_output_dir(output_dir, source_list)
    remove_stale_temporaries(output_dir)
    outputs = plan_outputs(plan, output_dir, settings, overwrite=overwrite)
    companion = (RegistrationCompanion(plan, registration, output_dir, source_list, outputs.previous)
                 if registration is not None else None)
    manifest = Manifest(factor=plan.factor,
                        max_size=str(plan.max_size) if plan.max_size else None,
                        settings=settings.to_json(), extra=dict(outputs.previous.extra))
    if outputs.same_settings:
        manifest.images = dict(outputs.previous.images)
    try:
        if workers is None or workers.in_process:
            results = (_write_here(entry, settings, manifest, progress_for)
                       for entry in outputs.entries)
        else:
            results = _write_in_workers(outputs.entries, settings, manifest, workers)
        for result in results:
            yield companion.add(result) if companion is not None else result
    finally:
        remove_stale_temporaries(output_dir)  # after an interruption: what workers left
        if companion is not None:
            companion.finish(manifest)
        write_manifest(output_dir, manifest)


class RegistrationCompanion:
    """The registration series made alongside a downscale: one factor for the whole series,
    each image derived from its written segmentation-size output, and the QuickNII XML."""

    def __init__(self, plan: SeriesPlan, registration: RegistrationSettings, output_dir: Path,
                 sources: Sequence[Path], previous: Manifest) -> None:
        guard_output_dir(registration.folder, sources)
        if registration.folder.resolve() == output_dir.resolve():
            raise UsageError("the registration folder must differ from the output folder "
                             "(both series keep the same file names)")
        remove_stale_temporaries(registration.folder)
        # QuickNII orders sections by number: refuse unnumbered or duplicate numbers up front.
        slice_entries([(f"{i.stem}.{registration.format.value}", plan.output_size(i))
                       for i in plan.images])
        self.registration, self.series_name = registration, output_dir.name or "series"
        self.factor = registration_factor(registration.box, [plan.output_size(i) for i in plan.images])
        old = previous.extra.get("registration") or {}
        same = old.get("factor") == self.factor and old.get("settings") == registration.to_json()
        self.images: dict[str, dict] = dict(old.get("images") or {}) if same else {}

    def add(self, result: ImageResult) -> ImageResult:
        """Bring the registration image of one finished section up to date."""
        if result.status == "failed" or result.output is None or result.output_size is None:
            return result
        name = f"{result.source.stem}.{self.registration.format.value}"
        target = self.registration.folder / name
        size = registration_size(result.output_size, self.factor)
        wanted = {"width": size.width, "height": size.height}
        if result.status == "up-to-date" and target.exists() and self.images.get(name) == wanted:
            return result
        try:
            write_registration_image(result.output, target, size, self.registration)
        except QuintPrepError as error:
            self.images.pop(name, None)
            return replace(result, status="failed", message=error.message)
        self.images[name] = wanted
        return result

    def finish(self, manifest: Manifest) -> None:
        """Record the registration series in the manifest and write the QuickNII XML."""
        manifest.extra["registration"] = {"settings": self.registration.to_json(),
                                          "factor": self.factor,
                                          "images": dict(sorted(self.images.items()))}
        files = [(name, Size(v["width"], v["height"])) for name, v in sorted(self.images.items())]
        if files:
            write_descriptor(self.registration.folder, self.series_name, files,
                             filename=DESCRIPTOR_NAME)


def _base(entry: PlannedOutput) -> dict:
    info = entry.info
    return dict(source=info.path, output=entry.output, source_size=info.size,
                output_size=entry.oriented, section=info.section.value if info.section else None,
                warnings=image_warnings(info))


def _not_written(entry: PlannedOutput, manifest: Manifest) -> ImageResult:
    if entry.decision.action == SKIP:
        record = manifest.images.get(entry.output.name)
        return ImageResult(status="up-to-date", load=record.load if record else "", **_base(entry))
    return ImageResult(status="failed", message=entry.decision.reason, **_base(entry))


def _record(entry: PlannedOutput, load: str, manifest: Manifest, seconds: float,
            settings: DownscaleSettings) -> ImageResult:
    info, name = entry.info, entry.output.name
    stat = info.path.stat()
    window = settings.window_for(info)
    orientation = settings.orientations.for_stem(info.stem)
    manifest.images[name] = ImageRecord(
        name=name, stem=info.stem, section=info.section.value if info.section else None,
        source=str(info.path.resolve()), source_bytes=stat.st_size,
        source_mtime_ns=stat.st_mtime_ns, source_width=info.size.width,
        source_height=info.size.height, width=entry.oriented.width, height=entry.oriented.height,
        load=load, window=window.to_json() if window else None,
        orientation=None if orientation.is_identity else orientation.to_json())
    return ImageResult(status="written", load=load, seconds=seconds, **_base(entry))


def _failed(entry: PlannedOutput, message: str, manifest: Manifest) -> ImageResult:
    manifest.images.pop(entry.output.name, None)
    return ImageResult(status="failed", message=message, **_base(entry))


def _write_here(entry: PlannedOutput, settings: DownscaleSettings, manifest: Manifest,
                progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None,
                ) -> ImageResult:
    if entry.decision.action != WRITE:
        return _not_written(entry, manifest)
    started = time.perf_counter()
    progress = None
    if progress_for is not None and entry.info.size.megapixels > PROGRESS_MEGAPIXELS:
        progress = progress_for(entry.info)
    staged = staged_path(entry.output)
    try:
        load = downscale_one(entry.info, staged, entry.target, settings, progress)
    except QuintPrepError as error:
        return _failed(entry, error.message, manifest)
    return _publish(entry, staged, load, manifest, time.perf_counter() - started, settings)


def _publish(entry: PlannedOutput, staged: Path, load: str, manifest: Manifest,
             seconds: float, settings: DownscaleSettings) -> ImageResult:
    """Rename a finished output into place and record it, as one step: Ctrl-C waits for both,
    so an output never appears without its manifest record (which would make the next run
    refuse it as a file quint-prep did not write)."""
    with interrupts_deferred():
        try:
            os.replace(staged, entry.output)
        except OSError as error:
            return _failed(entry, f"cannot write {entry.output.name}: {error.strerror}", manifest)
        return _record(entry, load, manifest, seconds, settings)


@dataclass(frozen=True)
class DownscaleTask:
    """One image for a worker: it writes the output under ``staged``, the parent renames it."""

    info: ImageInfo
    staged: Path
    target: Size
    settings: DownscaleSettings


def run_downscale_task(task: DownscaleTask) -> tuple[str, str, float]:
    """Worker side of a parallel run: (load description, error message or "", seconds)."""
    started = time.perf_counter()
    try:
        load = downscale_one(task.info, task.staged, task.target, task.settings)
    except QuintPrepError as error:
        return "", error.message, time.perf_counter() - started
    return load, "", time.perf_counter() - started


def widest_first(entries: Sequence[PlannedOutput],
                 method: Method) -> tuple[list[PlannedOutput], list[int]]:
    """The order in which workers start images: the widest decoded image (the largest memory
    estimate) first, so a huge section does not start last; with each one's estimate."""
    costed = [(estimate_memory(e.info, e.target, method), e) for e in entries]
    costed.sort(key=lambda pair: (pair[0], pair[1].info.size.width), reverse=True)
    return [e for _, e in costed], [cost for cost, _ in costed]


def _write_in_workers(entries: Sequence[PlannedOutput], settings: DownscaleSettings,
                      manifest: Manifest, workers: Workers) -> Iterator[ImageResult]:
    todo = []
    for entry in entries:
        if entry.decision.action == WRITE:
            todo.append(entry)
        else:
            yield _not_written(entry, manifest)
    todo, costs = widest_first(todo, settings.method)
    # Absolute paths: Dask workers may run elsewhere, in another working folder.
    tasks = [DownscaleTask(replace(e.info, path=e.info.path.absolute()),
                           staged_path(e.output.absolute()), e.target, settings) for e in todo]
    for done in run_tasks(run_downscale_task, tasks, costs=costs, workers=workers):
        entry, task = todo[done.index], tasks[done.index]
        load, message, seconds = done.value if not done.error else ("", done.error, 0.0)
        if message:
            yield _failed(entry, message, manifest)
        else:
            yield _publish(entry, task.staged, load, manifest, seconds, settings)
