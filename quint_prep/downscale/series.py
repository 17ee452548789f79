"""The downscale of a whole series: decide per image (new, changed, up to date), write here or
in worker processes, record in the manifest, and make the registration series alongside."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from quint_prep.downscale.colour_model import ColourModel
from quint_prep.downscale.image import (PROGRESS_MEGAPIXELS, DownscaleSettings, ImageResult, OutputFormat,
                        downscale_one, image_warnings, output_name, settle_colour_model,
                        with_windows)
from quint_prep.errors import QuintPrepError, UsageError
from quint_prep.check.findings import CheckReport
from quint_prep.folder_lock import folder_lock
from quint_prep.downscale.normalise import Normalisation, parse_normalisation, window_from_manifest
from quint_prep.orientation import Orientation
from quint_prep.journal import clear as clear_journal, publish
from quint_prep.manifest import (IMAGE_KIND, ImageRecord, Manifest, load_or_new, manifest_path,
                       write_manifest, write_merged)
from quint_prep.one_series import (existing, other_series, remove_replaced, settings_differences,
                         short_differences)
from quint_prep.outputs import guard_output_dir, remove_stale_temporaries, staged_path
from quint_prep.parallel import (Cancellation, Workers, cpu_cores, default_jobs,
                                 interrupts_deferred, run_tasks)
from quint_prep.progress import Listener
from quint_prep.registration.quicknii import DESCRIPTOR_NAME, series_name, slice_entries, write_descriptor
from quint_prep.registration.series import (RegistrationSettings, registration_factor, registration_image,
                                  registration_size, save_registration_image,
                                  write_registration_image)
from quint_prep.downscale.resample import Method, downscale_pipeline, estimate_memory, plan_load
from quint_prep.resume import Action, Decision, PlanStatus, decide, source_stamp
from quint_prep.scale import Size, scaled_size
from quint_prep.series import ImageInfo
from quint_prep.check.files import check_downscaled
from quint_prep.sections.detect import DetectSettings
from quint_prep.series_plan import SeriesPlan, duplicate_sections, plan_series
from quint_prep.status import Status, StatusCounts


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
    other_series: tuple[str, ...] = ()  # files of a series made with other settings
    differences: tuple[str, ...] = ()  # what differs from that series (see one_series)


def plan_outputs(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                 overwrite: bool = False) -> OutputPlan:
    """Decide for every image whether its output is new, changed or up to date (no writes)."""
    settings = settle_colour_model(settings, plan.images)
    previous = load_or_new(output_dir) if Path(output_dir).is_dir() else Manifest()
    same_settings = previous.factor == plan.factor and previous.settings == settings.to_json()
    other = () if same_settings else tuple(existing(output_dir, [*previous.images, *previous.stale]))
    differences = tuple(settings_differences({"factor": previous.factor, **previous.settings},
                                             {"factor": plan.factor, **settings.to_json()})
                        if other else ())
    refused = Decision(Action.FAIL, PlanStatus.REFUSED, f"the folder holds another series "
                       f"({short_differences(differences)}): --overwrite replaces it")
    names: dict[str, list[ImageInfo]] = {}
    for info in plan.images:
        names.setdefault(output_name(info, settings.format), []).append(info)
    entries = []
    for info in plan.images:
        name = output_name(info, settings.format)
        output = Path(output_dir) / name
        decision = refused if other and not overwrite else decide(
            output_name=name, output_exists=output.exists(), record=previous.images.get(name),
            source=source_stamp(info.path), same_settings=same_settings, overwrite=overwrite,
            clashes=[i.name for i in names[name] if i is not info], box=_box(info),
            stale=name in previous.stale)
        entries.append(PlannedOutput(info, output, scaled_size(info.size, plan.factor),
                                     plan.output_size(info), decision))
    return OutputPlan(previous, same_settings, tuple(entries), other, differences)


def downscale_series(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings, *,
                     sources: Iterable[Path] = (), overwrite: bool = False,
                     registration: RegistrationSettings | None = None,
                     progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None = None,
                     workers: Workers | None = None) -> Iterator[ImageResult]:
    """Downscale every image of the plan into output_dir, yielding one result per image.

    Up-to-date outputs (same source size and time, same settings, per the manifest) are
    skipped unless ``overwrite``; a file in the way that quint-prep did not write is refused
    unless ``overwrite``. With ``workers`` (jobs > 1 or a Dask scheduler) images are written
    several at once (locally in threads of this process, see ``parallel``), widest first, and
    results come in the order they finish; ``Workers()`` without jobs writes one image per core
    when every image to write is small (``local_jobs``). With
    ``registration``, each section's registration image is derived from its written output
    and a QuickNII descriptor is written. The manifest is written here only, and updated even
    when the run is interrupted. A folder that holds a series made with other settings is
    refused here, before any result is asked for (without ``overwrite``).
    """
    settings = settle_colour_model(settings, plan.images)  # one colour model, before writing
    source_list = [*sources, *(i.path for i in plan.images)]  # plan rows: guard the slides too
    output_dir = guard_output_dir(output_dir, (), images=source_list)
    folders = [output_dir, *([guard_output_dir(registration.folder, (), images=source_list)]
                             if registration is not None else [])]
    outputs = plan_outputs(plan, output_dir, settings, overwrite=overwrite)
    if outputs.other_series and not overwrite:  # said before any per-image line
        raise other_series(output_dir, len(outputs.other_series), "image", outputs.differences)
    return _downscale_series(plan, output_dir, settings, source_list, overwrite, registration,
                             progress_for, workers, folders)


def _downscale_series(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings,
                      source_list: Sequence[Path], overwrite: bool,
                      registration: RegistrationSettings | None,
                      progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None,
                      workers: Workers | None, folders: Sequence[Path]) -> Iterator[ImageResult]:
    with folder_lock(*folders):  # one writer per folder (see folder_lock)
        yield from _downscale_locked(plan, output_dir, settings, source_list, overwrite,
                                     registration, progress_for, workers)


def _downscale_locked(plan: SeriesPlan, output_dir: Path, settings: DownscaleSettings,
                      source_list: Sequence[Path], overwrite: bool,
                      registration: RegistrationSettings | None,
                      progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None,
                      workers: Workers | None) -> Iterator[ImageResult]:
    remove_stale_temporaries(output_dir)
    outputs = plan_outputs(plan, output_dir, settings, overwrite=overwrite)
    if outputs.other_series and not overwrite:
        raise other_series(output_dir, len(outputs.other_series), "image", outputs.differences)
    companion = (RegistrationCompanion(plan, settings, registration, output_dir, source_list,
                                       outputs.previous,
                                       replacing=bool(outputs.other_series) and overwrite)
                 if registration is not None else None)
    manifest = Manifest(factor=plan.factor,
                        max_size=str(plan.max_size) if plan.max_size else None,
                        settings=settings.to_json(), extra=dict(outputs.previous.extra))
    if outputs.same_settings:
        manifest.images, manifest.stale = dict(outputs.previous.images), set(outputs.previous.stale)
    elif outputs.other_series:  # --overwrite: this run replaces that series whole
        keep = {entry.output.name for entry in outputs.entries}
        remove_replaced(output_dir, outputs.other_series, keep)
        manifest.stale = set(outputs.other_series) & keep
    write_manifest(output_dir, manifest)  # this run's settings, before any output (journal)
    clear_journal(output_dir)  # what a killed run recorded there is in the manifest now
    if workers is not None:
        workers = local_jobs(workers, outputs.entries)
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
        write_merged(output_dir, manifest)


class RegistrationCompanion:
    """The registration series made alongside a downscale: one factor for the whole series,
    and the QuickNII XML. Each image is derived from its written segmentation-size output, or,
    when the source stores a pyramid, from its small stored level through the same pipeline
    (same window, channels and orientation): the gigapixel level 0 is never decoded twice."""

    def __init__(self, plan: SeriesPlan, settings: DownscaleSettings,
                 registration: RegistrationSettings, output_dir: Path,
                 sources: Sequence[Path], previous: Manifest, *, replacing: bool = False) -> None:
        """``replacing``: this run replaces the folder's series (--overwrite, other settings):
        the registration images quint-prep recorded for sections this run drops are deleted."""
        guard_output_dir(registration.folder, (), images=sources)
        if registration.folder.resolve() == output_dir.resolve():
            raise UsageError("the registration folder must differ from the output folder "
                             "(both series keep the same file names)")
        remove_stale_temporaries(registration.folder)
        # QuickNII orders sections by number: refuse unnumbered or duplicate numbers up front.
        slice_entries([(f"{i.stem}.{registration.format.value}", plan.output_size(i))
                       for i in plan.images])
        self.registration = registration
        self.series_name = series_name([i.stem for i in plan.images], output_dir.name or "series")
        self.settings = settings
        self.infos = {info.stem: info for info in plan.images}
        self.factor = registration_factor(registration.box, [plan.output_size(i) for i in plan.images])
        old = previous.extra.get("registration") or {}
        same = old.get("factor") == self.factor and old.get("settings") == registration.to_json()
        self.images: dict[str, dict] = dict(old.get("images") or {}) if same else {}
        if replacing:
            keep = {f"{i.stem}.{registration.format.value}" for i in plan.images}
            recorded_folder = Path(str((old.get("settings") or {}).get("folder")))
            if recorded_folder.resolve() == registration.folder.resolve():
                remove_replaced(registration.folder, old.get("images") or {}, keep)
            self.images = {name: size for name, size in self.images.items() if name in keep}

    def add(self, result: ImageResult) -> ImageResult:
        """Bring the registration image of one finished section up to date."""
        if result.status == Status.FAILED or result.output is None or result.output_size is None:
            return result
        name = f"{result.output.stem}.{self.registration.format.value}"
        target = self.registration.folder / name
        size = registration_size(result.output_size, self.factor)
        wanted = {"width": size.width, "height": size.height}
        if result.status == Status.UP_TO_DATE and target.exists() and self.images.get(name) == wanted:
            return result
        try:
            info = self.infos.get(result.output.stem)
            if info is None or not self._from_pyramid(info, target, size):
                write_registration_image(result.output, target, size, self.registration)
        except QuintPrepError as error:
            self.images.pop(name, None)
            return replace(result, status=Status.FAILED, message=error.message)
        self.images[name] = wanted
        return result

    def _from_pyramid(self, info: ImageInfo, target: Path, size: Size) -> bool:
        """Write the registration image from a small stored pyramid level; False when the
        source has no level small enough (then the segmentation output is used)."""
        orientation = self.settings.orientations.for_stem(info.stem)
        unoriented = orientation.size(size)  # a quarter turn swaps the sides back
        if not {"page", "subifd", "level"} & set(plan_load(info, unoriented).options):
            return False
        image, _ = downscale_pipeline(info, unoriented, self.settings.method,
                                      window=self.settings.window_for(info),
                                      channels=self.settings.channels)
        image = orientation.apply(image.copy_memory())  # at most the registration box
        save_registration_image(registration_image(image, size), target, self.registration,
                                info.path)
        return True

    def finish(self, manifest: Manifest) -> None:
        """Record the registration series in the manifest and write the QuickNII XML."""
        manifest.extra["registration"] = {"settings": self.registration.to_json(),
                                          "factor": self.factor,
                                          "images": dict(sorted(self.images.items()))}
        files = [(name, Size(v["width"], v["height"])) for name, v in sorted(self.images.items())]
        if files:
            write_descriptor(self.registration.folder, self.series_name, files,
                             filename=DESCRIPTOR_NAME)


def _box(info: ImageInfo) -> dict | None:
    """What the manifest records of a plan row's box (None for a whole image)."""
    return None if info.crop is None else {**info.crop.to_json(), "scene": info.scene}


def _base(entry: PlannedOutput) -> dict:
    info = entry.info
    return dict(source=info.path, output=entry.output, source_size=info.size,
                output_size=entry.oriented, section=info.section.value if info.section else None,
                warnings=image_warnings(info))


def _not_written(entry: PlannedOutput, manifest: Manifest) -> ImageResult:
    if entry.decision.action == Action.SKIP:
        record = manifest.images.get(entry.output.name)
        return ImageResult(status=Status.UP_TO_DATE, load=record.load if record else "", **_base(entry))
    return ImageResult(status=Status.FAILED, message=entry.decision.reason, **_base(entry))


def _image_record(entry: PlannedOutput, load: str, settings: DownscaleSettings) -> ImageRecord:
    info, name = entry.info, entry.output.name
    stat = info.path.stat()
    window = settings.window_for(info)
    orientation = settings.orientations.for_stem(info.stem)
    return ImageRecord(
        name=name, stem=info.stem, section=info.section.value if info.section else None,
        source=str(info.path.resolve()), source_bytes=stat.st_size,
        source_mtime_ns=stat.st_mtime_ns, source_width=info.size.width,
        source_height=info.size.height, width=entry.oriented.width, height=entry.oriented.height,
        load=load, window=window.to_json() if window else None,
        orientation=None if orientation.is_identity else orientation.to_json(),
        scene=info.scene, **output_pixel_size(info, entry.oriented, orientation), box=_box(info))


def output_pixel_size(info: ImageInfo, oriented: Size, orientation: Orientation) -> dict:
    """Manifest fields: the source's µm/px and the output's (source size / factor), or None."""
    if info.pixel_size is None:
        return {"source_um_per_px": None, "um_per_px": None}
    unoriented = orientation.size(oriented)  # a quarter turn swaps the sides back
    width, height = unoriented.width, unoriented.height
    x, y = info.pixel_size
    return {"source_um_per_px": [round(x, 6), round(y, 6)],
            "um_per_px": [round(x * info.size.width / width, 6),
                          round(y * info.size.height / height, 6)]}


def _failed(entry: PlannedOutput, message: str, manifest: Manifest) -> ImageResult:
    if manifest.images.pop(entry.output.name, None) is not None and entry.output.exists():
        manifest.stale.add(entry.output.name)  # the earlier output stays: ours, not current
    return ImageResult(status=Status.FAILED, message=message, **_base(entry))


def _write_here(entry: PlannedOutput, settings: DownscaleSettings, manifest: Manifest,
                progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None,
                ) -> ImageResult:
    if entry.decision.action != Action.WRITE:
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
    """Record a finished output in the folder's journal, rename it into place and add it to
    the manifest, as one step: Ctrl-C waits for all three, and a kill leaves the output either
    recorded or not in place (never in place without its record, which would make the next run
    refuse it as a file quint-prep did not write)."""
    with interrupts_deferred():
        try:
            record = _image_record(entry, load, settings)
            publish(staged, entry.output, IMAGE_KIND, asdict(record))
        except OSError as error:
            return _failed(entry, f"cannot write {entry.output.name}: {error.strerror}", manifest)
        manifest.images[record.name] = record
        return ImageResult(status=Status.WRITTEN, load=load, seconds=seconds, **_base(entry))


@dataclass(frozen=True)
class DownscaleTask:
    """One image for a worker: it writes the output under ``staged``, the parent renames it."""

    info: ImageInfo
    staged: Path
    target: Size
    settings: DownscaleSettings


def local_jobs(workers: Workers, entries: Sequence[PlannedOutput]) -> Workers:
    """The workers with their default jobs when none were asked for: one image per core when
    at least two images are to be written and none is above PROGRESS_MEGAPIXELS (those run one
    at a time, with their progress bar, at the peak memory of one image), else 1."""
    todo = [e.info.size.megapixels for e in entries if e.decision.action == Action.WRITE]
    return workers.with_default_jobs(default_jobs(todo, cpu_cores(), largest=PROGRESS_MEGAPIXELS))


def run_downscale_task(task: DownscaleTask,
                       cancellation: Cancellation | None = None) -> tuple[str, str, float]:
    """Worker side of a parallel run: (load description, error message or "", seconds).
    ``cancellation``: the task runs in a thread of the parent and stops when it is cancelled."""
    started = time.perf_counter()
    try:
        load = downscale_one(task.info, task.staged, task.target, task.settings,
                             cancellation=cancellation)
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
        if entry.decision.action == Action.WRITE:
            todo.append(entry)
        else:
            yield _not_written(entry, manifest)
    todo, costs = widest_first(todo, settings.method)
    # Absolute paths: Dask workers may run elsewhere, in another working folder.
    tasks = [DownscaleTask(replace(e.info, path=e.info.path.absolute()),
                           staged_path(e.output.absolute()), e.target, settings) for e in todo]
    # Locally in threads: a downscale runs in libvips, which releases the GIL (see parallel).
    cancellation = None if workers.scheduler else Cancellation()
    function = (run_downscale_task if cancellation is None
                else partial(run_downscale_task, cancellation=cancellation))
    again = []
    for done in run_tasks(function, tasks, costs=costs, workers=workers,
                          cancellation=cancellation):
        entry, task = todo[done.index], tasks[done.index]
        load, message, seconds = done.value if not done.error else ("", done.error, 0.0)
        if message and not done.error and cancellation is not None:
            again.append(entry)  # libvips' reason: see below
        elif message:
            yield _failed(entry, message, manifest)
        else:
            yield _publish(entry, task.staged, load, manifest, seconds, settings)
    # libvips keeps ONE error buffer per process, and a pipeline running in another thread
    # clears it: the reason an image failed in a thread is often lost ("unable to call
    # pngsave" instead of "Not enough data at scanline ...") or another image's. So an image
    # that failed in a thread is run again alone, which gives its own reason.
    for entry in again:
        yield _write_here(entry, settings, manifest, None)


@dataclass(frozen=True)
class DownscaleRequest:
    """Everything one downscale of a series is asked to do: the options of ``downscale``, the
    keys of a series config (``runner.downscale_request``). The one factor comes from
    ``factor`` or ``max_size``, exactly one (checked by ``plan_series``)."""

    sources: tuple[Path, ...]
    output: Path
    factor: float | None = None
    max_size: Size | None = None
    orientation: Orientation = Orientation()
    orientation_csv: Path | None = None  # per-section rotate/flip
    scene: int | None = None
    trim: bool = False  # cut each image to its tissue box first
    format: OutputFormat = OutputFormat.PNG
    quality: int = 90
    method: Method = Method.AREA
    keep_depth: bool = False
    keep_alpha: bool = False
    normalisation: Normalisation = parse_normalisation("auto")
    normalise_from: Path | None = None  # a manifest whose intensity window is reused
    channels: tuple[str, ...] | None = None
    colour_model: ColourModel = ColourModel.AUTO
    registration: RegistrationSettings | None = None
    overwrite: bool = False

    def read_series(self) -> SeriesPlan:
        """Read the series' headers and settle its one factor and orientations."""
        return plan_series(self.sources, factor=self.factor, max_size=self.max_size,
                           orientation=self.orientation, orientation_csv=self.orientation_csv,
                           scene=self.scene, trim=DetectSettings() if self.trim else None)

    def settings_for(self, plan: SeriesPlan) -> DownscaleSettings:
        """The downscale settings under the series' factor: its intensity windows (from the
        histograms, or the window ``normalise_from`` recorded) and its one colour model."""
        given = window_from_manifest(self.normalise_from) if self.normalise_from else None
        settings = with_windows(
            DownscaleSettings(factor=plan.factor, format=self.format, quality=self.quality,
                              method=self.method, keep_depth=self.keep_depth,
                              keep_alpha=self.keep_alpha, normalisation=self.normalisation,
                              channels=self.channels, orientations=plan.orientations,
                              colour_model=self.colour_model),
            plan, given=given)
        return settle_colour_model(settings, plan.images)


def in_plan_order(results: Sequence[ImageResult], plan: SeriesPlan) -> list[ImageResult]:
    """The results in the order of the plan's images (parallel runs finish out of order)."""
    position: dict[tuple[Path, str], int] = {}
    for index, info in enumerate(plan.images):
        position.setdefault((info.path, info.stem), index)
    return sorted(results, key=lambda r: position.get(
        (r.source, r.output.stem if r.output else ""), len(position)))


@dataclass(frozen=True)
class DownscaleOutcome:
    """What a downscale did: one result per image, the counts (unreadable sources count as
    failed), and the check of the folder as written (None when nothing usable was written)."""

    plan: SeriesPlan
    output: Path
    results: tuple[ImageResult, ...]
    counts: StatusCounts
    check: CheckReport | None

    @property
    def failed(self) -> bool:
        """True when an image failed, or the check of what was written found an error
        (warnings alone pass): what exit 1 says."""
        return bool(self.counts.failed) or (self.check is not None and not self.check.ok)

    @property
    def usable(self) -> bool:
        """False when every image failed (nothing written or up to date)."""
        return not (self.counts.failed and not self.counts.ok_outputs)

    def to_json(self) -> dict:
        """The summary ``downscale --json`` prints (``run`` nests it under its stage)."""
        plan = self.plan
        return {
            "factor": plan.factor, "max_size": str(plan.max_size) if plan.max_size else None,
            "output": str(self.output), "manifest": str(manifest_path(self.output)),
            "counts": self.counts.to_json(),
            "images": [r.to_json() for r in self.results],
            "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                       for p in plan.problems],
            "check": self.check.to_json() if self.check else None,
        }


def downscale_checked(request: DownscaleRequest, plan: SeriesPlan,
                      settings: DownscaleSettings | None = None, *,
                      progress_for: Callable[[ImageInfo], Callable[[float], None] | None] | None = None,
                      workers: Workers | None = None,
                      listener: Listener = Listener()) -> DownscaleOutcome:
    """Downscale the series ``plan`` (``request.read_series()``) as asked, under ``settings``
    (default: ``request.settings_for(plan)``), then check the folder as written: names, and
    every output's size under the one factor, as the manifest records them. Unreadable sources
    and failed images go to ``listener.error`` as they come, each image's warnings to
    ``listener.note``."""
    settings = settings if settings is not None else request.settings_for(plan)
    output_dir = request.output
    # Refuses a folder of another series at once, before any per-file line.
    results = downscale_series(plan, output_dir, settings, sources=request.sources,
                               overwrite=request.overwrite, registration=request.registration,
                               progress_for=progress_for, workers=workers)
    for problem in plan.problems:
        listener.error(str(problem))
    for note in plan.notes:
        listener.warn(note)
    for number, names in duplicate_sections(plan.images).items():
        listener.warn(f"section number {number} is used by {', '.join(names)}: QUINT pairs "
                      "files by number, so each must be unique (see `quint-prep rename`)")
    done: list[ImageResult] = []
    with closing(results), listener.steps(len(plan.images), "image") as bar:
        for result in results:
            done.append(result)
            if result.status == Status.FAILED:
                listener.error(f"{result.source}: {result.message}")
            else:
                for note in result.warnings:
                    listener.note(f"{result.source.name}: {note}")
            bar.update(1)
    done = in_plan_order(done, plan)
    counts = StatusCounts.of((r.status for r in done), failed=len(plan.problems))
    check = (check_downscaled(output_dir)
             if counts.ok_outputs and manifest_path(output_dir).exists() else None)
    return DownscaleOutcome(plan, Path(output_dir), tuple(done), counts, check)
