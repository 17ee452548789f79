"""Downscale a whole series with one factor: plan it, then stream each image to its output."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import pyvips

from .errors import InputError, QuintPrepError, UsageError
from .manifest import ImageRecord, Manifest, load_or_new, write_manifest
from .naming import name_problems
from .outputs import atomic_output, guard_output_dir, remove_stale_temporaries, staged_path
from .parallel import Workers, interrupts_deferred, run_interruptibly, run_tasks
from .resample import Method, downscale_pipeline, estimate_memory
from .resume import SKIP, WRITE, Decision, decide, source_stamp
from .scale import Size, check_factor, scaled_size, series_factor
from .series import ImageInfo, discover, read_info, vips_reason

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
        }


@dataclass(frozen=True)
class SeriesPlan:
    """A series as found on disk: readable images, problems, and its one factor."""

    images: list[ImageInfo]
    problems: list[InputError]
    skipped: list[Path]
    factor: float
    max_size: Size | None

    def output_size(self, info: ImageInfo) -> Size:
        """The size this image gets under the series factor."""
        return scaled_size(info.size, self.factor)


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
                max_size: Size | None = None) -> SeriesPlan:
    """Read a series and settle its one factor: the given one, or the one that fits max_size."""
    if (factor is None) == (max_size is None):
        raise UsageError("give exactly one of --factor or --max-size")
    infos, problems, skipped = read_series(sources)
    if not infos:
        if problems:
            return SeriesPlan([], problems, skipped, factor or 1.0, max_size)
        raise UsageError("no images found (TIFF, JPEG or PNG) in the given sources")
    if factor is None:
        assert max_size is not None
        factor = series_factor(max_size, [info.size for info in infos])
    return SeriesPlan(infos, problems, skipped, check_factor(factor), max_size)


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
    notes = [f"name: {problem}" for problem in name_problems(info.stem)]
    if info.interlaced:
        notes.append("interlaced/progressive file: libvips must decode it whole into memory")
    if info.pages > 1 and info.level_kind == "none":
        notes.append(f"{info.pages} pages and no pyramid: only the first page is used")
    return tuple(notes)


def _save(image: pyvips.Image, path: Path, settings: DownscaleSettings) -> None:
    if settings.format is OutputFormat.PNG:
        image.pngsave(str(path), compression=settings.png_compression, keep="none")
    elif settings.format is OutputFormat.JPG:
        image.jpegsave(str(path), Q=settings.quality, keep="none")
    else:
        image.tiffsave(str(path), compression="deflate", predictor="horizontal", keep="none")


def _save_described(built: tuple[pyvips.Image, str], path: Path,
                    settings: DownscaleSettings) -> str:
    _save(built[0], path, settings)
    return built[1]


def _with_resolution(image: pyvips.Image, info: ImageInfo, target: Size) -> pyvips.Image:
    if info.microns_per_pixel is None:
        return image
    scale = target.width / info.size.width
    source = pyvips.Image.new_from_file(str(info.path))
    return image.copy(xres=source.xres * scale, yres=source.yres * scale)


def downscale_one(info: ImageInfo, output: Path, target: Size, settings: DownscaleSettings,
                  on_progress: Callable[[float], None] | None = None) -> str:
    """Write one downscaled image atomically; return how its pixels were loaded.

    Raises InputError when the source cannot be decoded or the output cannot be written.
    """
    def build() -> tuple[pyvips.Image, str]:
        image, plan = downscale_pipeline(info, target, settings.method,
                                         keep_depth=settings.keep_depth,
                                         keep_alpha=settings.keep_alpha)
        image = _with_resolution(image, info, target)
        if on_progress is not None:
            image.set_progress(True)
            image.signal_connect("eval", lambda _image, progress: on_progress(progress.percent / 100))
        return image, plan.description

    try:
        with atomic_output(output) as temporary:
            return run_interruptibly(build, lambda built: _save_described(built, temporary, settings),
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
    target: Size
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
        entries.append(PlannedOutput(info, output, scaled_size(info.size, plan.factor), decision))
    return OutputPlan(previous, same_settings, tuple(entries))


def downscale_series(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                     sources: Iterable[Path] = (), overwrite: bool = False,
                     progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None = None,
                     workers: Workers | None = None) -> Iterator[ImageResult]:
    """Downscale every image of the plan into output_dir, yielding one result per image.

    Up-to-date outputs (same source size and time, same settings, per the manifest) are
    skipped unless ``overwrite``; a file in the way that quint-prep did not write is refused
    unless ``overwrite``. With ``workers`` (jobs > 1 or a Dask scheduler) images are written
    by worker processes, widest first, and results come in the order they finish; the
    manifest is still written here only, and updated even when the run is interrupted.
    """
    output_dir = guard_output_dir(output_dir, list(sources) or [i.path for i in plan.images])
    remove_stale_temporaries(output_dir)
    outputs = plan_outputs(plan, output_dir, settings, overwrite=overwrite)
    manifest = Manifest(factor=plan.factor,
                        max_size=str(plan.max_size) if plan.max_size else None,
                        settings=settings.to_json(), extra=outputs.previous.extra)
    if outputs.same_settings:
        manifest.images = dict(outputs.previous.images)
    try:
        if workers is None or workers.in_process:
            for entry in outputs.entries:
                yield _write_here(entry, settings, manifest, progress_for)
        else:
            yield from _write_in_workers(outputs.entries, settings, manifest, workers)
    finally:
        remove_stale_temporaries(output_dir)  # after an interruption: what workers left
        write_manifest(output_dir, manifest)


def _base(entry: PlannedOutput) -> dict:
    info = entry.info
    return dict(source=info.path, output=entry.output, source_size=info.size,
                output_size=entry.target, section=info.section.value if info.section else None,
                warnings=image_warnings(info))


def _not_written(entry: PlannedOutput, manifest: Manifest) -> ImageResult:
    if entry.decision.action == SKIP:
        record = manifest.images.get(entry.output.name)
        return ImageResult(status="up-to-date", load=record.load if record else "", **_base(entry))
    return ImageResult(status="failed", message=entry.decision.reason, **_base(entry))


def _record(entry: PlannedOutput, load: str, manifest: Manifest, seconds: float) -> ImageResult:
    info, name = entry.info, entry.output.name
    stat = info.path.stat()
    manifest.images[name] = ImageRecord(
        name=name, stem=info.stem, section=info.section.value if info.section else None,
        source=str(info.path.resolve()), source_bytes=stat.st_size,
        source_mtime_ns=stat.st_mtime_ns, source_width=info.size.width,
        source_height=info.size.height, width=entry.target.width, height=entry.target.height,
        load=load)
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
    return _publish(entry, staged, load, manifest, time.perf_counter() - started)


def _publish(entry: PlannedOutput, staged: Path, load: str, manifest: Manifest,
             seconds: float) -> ImageResult:
    """Rename a finished output into place and record it, as one step: Ctrl-C waits for both,
    so an output never appears without its manifest record (which would make the next run
    refuse it as a file quint-prep did not write)."""
    with interrupts_deferred():
        try:
            os.replace(staged, entry.output)
        except OSError as error:
            return _failed(entry, f"cannot write {entry.output.name}: {error.strerror}", manifest)
        return _record(entry, load, manifest, seconds)


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
            yield _publish(entry, task.staged, load, manifest, seconds)
