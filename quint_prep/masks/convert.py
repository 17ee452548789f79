"""Turn segmentations into single-colour RGB PNGs named and proportioned like their images.

The pipeline: find the segmentation files -> read each header and decide its tool
(masks.sources) -> name it after its image (strip the tool suffix, match the image series by
stem, then by section number) -> check proportions -> decide the output size -> select the
object pixels and resample them label-safely (masks.select) -> write an 8-bit RGB PNG with
exactly the object and background colours, atomically -> count what was written as the
quantifiers will (masks.counts). Instance labels are resampled by id and touching instances
separated first (masks.flatten, instances).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import pyvips

from quint_prep.choices import SizeMode  # light: for --help
from quint_prep.errors import InputError, QuintPrepError, UsageError
from quint_prep.folder_lock import folder_lock
from quint_prep.journal import clear as clear_journal, publish
from quint_prep.masks.counts import MaskCounts, count_mask, count_warnings
from quint_prep.masks.flatten import (Flattened, FlattenOptions, flatten, scratch_file, selection_and_ids,
                            settle_resampled_ids)
from quint_prep.masks.stream import StreamedCounts, write_counted
from quint_prep.masks.judge import MaskFacts, judge_and_record, judge_mask
from quint_prep.masks.labels import (LabelChoice, LabelSelection, LabelsTable, blanket_notes, choose_labels,
                           instances_present, label_shares)
from quint_prep.masks.record import (MASK_KIND, MaskRecord, MasksRecord, load_record, other_masks,
                             replace_masks, save_record, with_journal)
from quint_prep.one_series import other_series
from quint_prep.masks.select import Colour, MaskResample
from quint_prep.masks.matching import SeriesImage, match_image
from quint_prep.masks.sources import NPY_REFUSAL, MaskFile, SourceKind, read_mask_file, strip_tool_suffix
from quint_prep.naming import name_problems
from quint_prep.outputs import atomic_output, guard_output_dir, remove_stale_temporaries, staged_path
from quint_prep.parallel import Workers, interrupts_deferred, run_interruptibly, run_tasks
from quint_prep.resume import Action, Decision, decide, source_stamp
from quint_prep.scale import Size, same_proportions, scaled_size, series_factor
from quint_prep.series import ImageInfo, discover, file_notes, vips_reason
from quint_prep.status import Status

Progress = Callable[[float], None]

PROGRESS_MEGAPIXELS = 100.0  # masks larger than this report progress while they are written


Planned = tuple[MaskFile, str, "SeriesImage | None"]  # a mask, its output name, its image


@dataclass(frozen=True)
class MaskSettings:
    """What the user chose: objects, colours, source kind, resampling and output size."""

    colour: Colour = (255, 0, 0)
    background: Colour = (0, 0, 0)
    labels: tuple[int, ...] | None = None
    object_colour: Colour | None = None
    source: SourceKind | None = None
    invert: bool = False
    resample: MaskResample = MaskResample.AREA
    size_mode: SizeMode = SizeMode.MASK
    max_size: Size | None = None
    instances: bool = False
    keep_touching: bool = False
    overwrite: bool = False
    png_compression: int = 6
    instance_ids: tuple[int, ...] | None = None
    labels_table: LabelsTable = LabelsTable()

    def label_selection(self) -> LabelSelection:
        """The label choices: --labels, --instance-ids and the labels table (masks.labels)."""
        return LabelSelection(self.labels, self.instance_ids, self.labels_table, self.instances)

    def flatten_options(self, choice: LabelChoice) -> FlattenOptions:
        """The choices that decide which pixels of one file are objects."""
        return FlattenOptions(choice.labels, self.object_colour, self.invert, self.resample,
                              self.instances, self.keep_touching)

    def to_json(self) -> dict:
        """The settings that decide the pixels of an output (recorded in the manifest)."""
        return {
            "colour": list(self.colour), "background": list(self.background),
            "labels": list(self.labels) if self.labels is not None else None,
            "object_colour": list(self.object_colour) if self.object_colour else None,
            "source": self.source.value if self.source else None, "invert": self.invert,
            "resample": self.resample.value, "size": self.size_mode.value,
            "max_size": str(self.max_size) if self.max_size else None,
            "instances": self.instances, "keep_touching": self.keep_touching,
            **self.label_selection().to_json(),
        }

    def __post_init__(self) -> None:
        if self.colour == self.background:
            raise UsageError("--colour and --background are the same; objects would vanish")
        if self.labels is not None and self.object_colour is not None:
            raise UsageError("give --labels or --object-colour, not both")
        if self.size_mode is SizeMode.IMAGE and self.max_size is not None:
            raise UsageError("give --size image or --max-size, not both")
        if self.instances and (self.invert or self.object_colour is not None):
            raise UsageError("--instances reads one id per cell: it does not go with --invert "
                             "or --object-colour")


@dataclass(frozen=True)
class MaskJob:
    """One planned conversion: the file, its output name and size, its image if matched."""

    mask: MaskFile
    output_name: str
    target: Size
    image: SeriesImage | None
    warnings: tuple[str, ...] = ()
    choice: LabelChoice | None = None  # the values that are objects (None: the file's default)


@dataclass(frozen=True)
class MaskPlan:
    """Every planned conversion, the files that cannot be converted, and the series factor."""

    jobs: list[MaskJob]
    problems: list[InputError]
    factor: float | None = None
    set_aside: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # where the label options did not apply


# Cellpose writes these next to its masks (matplotlib figure, outlines, flows), all ending in
# its mask suffix: <image>_cp_output_cp_masks.png, <image>_outlines_cp_masks.png, ...
CELLPOSE_BY_PRODUCTS = ("_cp_output", "_outlines", "_flows", "_dP")


@dataclass(frozen=True)
class Found:
    """Segmentation files among the sources, refusals, and files set aside with the reason."""

    masks: list[Path]
    problems: list[InputError]
    set_aside: list[tuple[Path, str]]


def find_mask_files(sources: Iterable[Path]) -> Found:
    """Segmentation images among files and folders, and the refusals (``_seg.npy`` pickles).

    Set aside: Cellpose by-products (``_outlines_cp_masks.png``, ...) and original images that
    lie next to their own segmentation (Cellpose saves next to the images by default). A
    ``_seg.npy`` in a folder next to a mask of the same section is skipped quietly; one without
    such a mask, or one named on the command line, is refused with how to export.
    """
    sources = [Path(s) for s in sources]
    refused = [InputError(NPY_REFUSAL, s) for s in sources if s.suffix.lower() == ".npy" and s.exists()]
    found = discover([s for s in sources if s.suffix.lower() != ".npy" or not s.exists()])
    names = {path: strip_tool_suffix(path.stem) for path in found.images}
    set_aside = [(p, "a Cellpose by-product, not a mask") for p, n in names.items()
                 if n.suffix and n.stem.endswith(CELLPOSE_BY_PRODUCTS)]
    masks = [p for p in found.images if p not in dict(set_aside)]
    owners = {names[p].stem: p for p in masks if names[p].suffix}
    for path in list(masks):
        owner = owners.get(path.stem)
        if not names[path].suffix and owner is not None:
            set_aside.append((path, f"the image segmented in {owner.name}"))
            masks.remove(path)
    stems = {names[p].stem for p in masks}
    for skipped in found.skipped:
        if skipped.suffix.lower() == ".npy" and not skipped.name.startswith("."):
            if strip_tool_suffix(skipped.stem).stem not in stems:
                refused.append(InputError(NPY_REFUSAL, skipped))
    return Found(masks, [*found.problems, *refused], set_aside)


def plan_masks(sources: Iterable[Path], settings: MaskSettings,
               series: Sequence[SeriesImage] | None = None) -> MaskPlan:
    """Read every segmentation, decide its name and output size; collect per-file problems."""
    if settings.size_mode is SizeMode.IMAGE and series is None:
        raise UsageError("--size image needs the images: give --images DIR or --manifest FILE")
    found = find_mask_files(sources)
    paths, problems = found.masks, list(found.problems)
    if not paths and not problems:
        raise UsageError("no segmentation images found (PNG or TIFF) in the given sources")
    planned: list[Planned] = []
    for path in paths:
        try:
            mask = read_mask_file(path, settings.source)
            image = _matched_image(mask, series)
        except InputError as error:
            problems.append(error if error.path else InputError(error.message, path))
            continue
        planned.append((mask, (image.stem if image else mask.name.stem) + ".png", image))
    factor = None
    if settings.max_size is not None and planned:
        factor = series_factor(settings.max_size, [m.info.size for m, _, _ in planned])
    jobs = []
    selection = settings.label_selection()
    for mask, name, image in _unique_names(planned, problems):
        target = (image.size if settings.size_mode is SizeMode.IMAGE and image
                  else scaled_size(mask.info.size, factor) if factor is not None else mask.info.size)
        warnings = tuple(f"name: {p}" for p in name_problems(name[:-4])) if image is None else ()
        warnings += file_notes(mask.info)
        jobs.append(MaskJob(mask, name, target, image, warnings, choose_labels(mask, selection)))
    notes = blanket_notes([m for m, _, _ in planned], selection)
    return MaskPlan(jobs, problems, factor, found.set_aside, notes)


def _matched_image(mask: MaskFile, series: Sequence[SeriesImage] | None) -> SeriesImage | None:
    if series is None:
        return None
    image = match_image(mask.name.stem, series)
    size = mask.info.size
    if not same_proportions(image.size, size):
        raise InputError(
            f"proportions differ from its image {image.name}: mask {size} "
            f"(width/height {size.width / size.height:.4f}), image {image.size} "
            f"(width/height {image.size.width / image.size.height:.4f}); segment the image "
            "downscaled with one factor, without cropping or padding", mask.path)
    return image


def _unique_names(planned: list[Planned], problems: list[InputError]) -> Iterator[Planned]:
    by_name: dict[str, list[Path]] = {}
    for mask, name, _ in planned:
        by_name.setdefault(name, []).append(mask.path)
    for mask, name, image in planned:
        if len(by_name[name]) > 1:
            others = ", ".join(p.name for p in by_name[name] if p != mask.path)
            problems.append(InputError(f"output {name} would also come from {others}; keep one "
                                       "segmentation per section", mask.path))
        else:
            yield mask, name, image


@dataclass(frozen=True)
class MaskResult:
    """What happened to one segmentation."""

    source: Path
    status: Status
    kind: str = ""
    labels: str = ""
    output: Path | None = None
    mask_size: Size | None = None
    output_size: Size | None = None
    counts: MaskCounts | None = None
    image: str | None = None
    seconds: float = 0.0
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    facts: dict = field(default_factory=dict)  # what judge_mask was told (masks.judge)

    @property
    def object_fraction(self) -> float | None:
        """Share of the written mask's pixels in the object colour."""
        return self.counts.object_fraction if self.counts is not None else None

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``masks --json``)."""
        return {
            "source": str(self.source), "status": self.status, "kind": self.kind or None,
            "labels": self.labels or None, "output": str(self.output) if self.output else None,
            "image": self.image,
            "mask_width": self.mask_size.width if self.mask_size else None,
            "mask_height": self.mask_size.height if self.mask_size else None,
            "width": self.output_size.width if self.output_size else None,
            "height": self.output_size.height if self.output_size else None,
            "object_fraction": self.object_fraction,
            "counts": self.counts.to_json() if self.counts is not None else None,
            "seconds": round(self.seconds, 3), "error": self.message or None,
            "warnings": list(self.warnings),
        }


def convert_masks(plan: MaskPlan, output_dir: Path, settings: MaskSettings, *,
                  sources: Iterable[Path] = (),
                  progress_for: Callable[[ImageInfo], Progress | None] | None = None,
                  workers: Workers | None = None) -> Iterator[MaskResult]:
    """Write every planned mask into output_dir; the returned iterator yields one result per
    file, in the plan's order.

    Masks recorded as up to date in the folder's manifest (same source file, same settings)
    are skipped unless ``overwrite``; files quint-prep did not write are never replaced
    without ``overwrite`` (``resume.decide``, as for images). A folder that holds masks made
    with other settings is refused here, before any result is asked for. With ``workers``
    (jobs > 1 or a Dask scheduler) masks are written by worker processes, and still reported
    and recorded in the plan's order. ``progress_for`` gives a callback for masks over
    PROGRESS_MEGAPIXELS (in this process only). Each mask is recorded as it is published, so
    a killed run resumes (``journal``); the manifest is written even when the run is
    interrupted.
    """
    output_dir = guard_output_dir(output_dir, list(sources) or [j.mask.path for j in plan.jobs])
    refuse_other_masks(load_record(output_dir, plan.factor), output_dir, settings, plan.factor)
    return _convert(plan, output_dir, settings, progress_for, workers)


def refuse_other_masks(record: MasksRecord, output_dir: Path, settings: MaskSettings,
                       factor: float | None) -> tuple[list[str], list[str]]:
    """The folder's masks of another series and what differs; UsageError unless
    ``overwrite`` (a folder holds one series, see one_series)."""
    other, differences = other_masks(record, output_dir, settings.to_json(), factor)
    if other and not settings.overwrite:
        raise other_series(output_dir, len(other), "mask", differences)
    return other, differences


def _convert(plan: MaskPlan, output_dir: Path, settings: MaskSettings,
             progress_for: Callable[[ImageInfo], Progress | None] | None,
             workers: Workers | None) -> Iterator[MaskResult]:
    with folder_lock(output_dir):  # one writer per folder (see folder_lock)
        yield from _convert_locked(plan, output_dir, settings, progress_for, workers)


def _convert_locked(plan: MaskPlan, output_dir: Path, settings: MaskSettings,
                    progress_for: Callable[[ImageInfo], Progress | None] | None,
                    workers: Workers | None) -> Iterator[MaskResult]:
    remove_stale_temporaries(output_dir)
    record = load_record(output_dir, plan.factor)  # again, under the lock
    other, _ = refuse_other_masks(record, output_dir, settings, plan.factor)
    if other:
        replace_masks(record, output_dir, other, {job.output_name for job in plan.jobs})
    save_record(output_dir, record)  # this run's factor, before any mask (journal)
    clear_journal(output_dir)  # what a killed run recorded there is in the manifest now
    planned = [(job, decide_mask(job, output_dir, record, settings)) for job in plan.jobs]
    try:
        if workers is None or workers.in_process:
            for job, decision in planned:
                yield _convert_here(job, decision, output_dir, settings, record, progress_for)
        else:
            yield from _convert_in_workers(planned, output_dir, settings, record, workers)
    finally:
        remove_stale_temporaries(output_dir)  # after an interruption: what workers left
        save_record(output_dir, with_journal(record, output_dir))
        clear_journal(output_dir)


def decide_mask(job: MaskJob, output_dir: Path, record: MasksRecord | None,
                settings: MaskSettings) -> Decision:
    """Whether one mask must be written, is up to date or is refused (``resume.decide``, the
    one decision of images and masks): up to date when recorded with the same settings and
    size, from the same unchanged source file."""
    entry = record.files.get(job.output_name) if record is not None else None
    same = (entry is not None and entry.settings == settings.to_json()
            and Size(entry.width, entry.height) == job.target
            and _recorded_counts(entry) is not None)
    return decide(output_name=job.output_name,
                  output_exists=(Path(output_dir) / job.output_name).exists(), record=entry,
                  source=source_stamp(job.mask.path), same_settings=same,
                  overwrite=settings.overwrite,
                  stale=record is not None and job.output_name in record.manifest.stale)


def _base(job: MaskJob, output: Path) -> dict:
    return dict(source=job.mask.path, kind=job.mask.kind.value, output=output,
                mask_size=job.mask.info.size, output_size=job.target,
                image=job.image.name if job.image else None, warnings=job.warnings)


def _not_written(job: MaskJob, decision: Decision, output_dir: Path,
                 record: MasksRecord) -> MaskResult:
    """The result of a mask that is up to date (with its recorded judgement) or refused."""
    base = _base(job, output_dir / job.output_name)
    entry = record.files.get(job.output_name)
    if decision.action != Action.SKIP or entry is None:
        return MaskResult(status=Status.FAILED, message=decision.reason, **base)
    facts = MaskFacts.from_json(entry.facts)
    if facts is not None:
        base["warnings"] += tuple(j.message for j in judge_mask(facts))
    return MaskResult(status=Status.UP_TO_DATE, labels=entry.labels, counts=_recorded_counts(entry),
                      facts=entry.facts, **base)


def _convert_here(job: MaskJob, decision: Decision, output_dir: Path, settings: MaskSettings,
                  record: MasksRecord,
                  progress_for: Callable[[ImageInfo], Progress | None] | None) -> MaskResult:
    if decision.action != Action.WRITE:
        return _not_written(job, decision, output_dir, record)
    large = job.mask.info.size.megapixels > PROGRESS_MEGAPIXELS
    progress = progress_for(job.mask.info) if progress_for is not None and large else None
    output = output_dir / job.output_name
    staged = staged_path(output)
    # In a helper thread while this one waits, so Ctrl-C lands here and is never swallowed by
    # a libvips callback (see parallel.run_interruptibly); the mask in flight is finished, then
    # left unpublished (a temporary, removed).
    result = run_interruptibly(lambda: None, lambda _: convert_one(
        job, staged, settings, progress, final=output), kill=lambda _: None)
    return _publish(job, staged, result, record, settings)


def _publish(job: MaskJob, staged: Path, result: MaskResult, record: MasksRecord,
             settings: MaskSettings) -> MaskResult:
    """Record a written mask in the folder's journal, rename it into place and add it to the
    record, as one step: Ctrl-C waits for all three, and a kill leaves the mask either
    recorded or not in place (never in place without its record). A failed mask leaves the
    previous file (atomic writes) and so its entry in place."""
    if result.status != Status.WRITTEN:
        staged.unlink(missing_ok=True)
        return result
    with interrupts_deferred():
        try:
            entry = _mask_record(job, result, settings)
            publish(staged, staged.parent / job.output_name, MASK_KIND, asdict(entry))
        except OSError as error:
            staged.unlink(missing_ok=True)
            return replace(result, status=Status.FAILED, counts=None,
                           message=f"cannot write {job.output_name}: {error.strerror}")
        record.manifest.stale.discard(job.output_name)
        record.files[job.output_name] = entry
        return result


def _mask_record(job: MaskJob, result: MaskResult, settings: MaskSettings) -> MaskRecord:
    stat = job.mask.path.stat()
    return MaskRecord(
        name=job.output_name, source=str(job.mask.path.resolve()), source_bytes=stat.st_size,
        source_mtime_ns=stat.st_mtime_ns, kind=result.kind, labels=result.labels,
        image=result.image, mask_width=job.mask.info.size.width,
        mask_height=job.mask.info.size.height, width=job.target.width,
        height=job.target.height, object_fraction=result.object_fraction or 0.0,
        counts=result.counts.to_json() if result.counts else {}, settings=settings.to_json(),
        facts=result.facts)


# --- masks in worker processes (--jobs N, --scheduler) ------------------------------------

MASK_BASE_MEMORY = 160 * 1024**2  # interpreter, numpy, libvips and its buffers in one worker
MASK_BYTES_PER_COLUMN = 8 * 1024  # libvips' strips of a mask pipeline, per pixel of width


def estimate_mask_memory(job: MaskJob) -> int:
    """The memory one mask's conversion needs, in bytes, for --memory. The pipelines stream in
    strips, so it follows the mask's width, not its area. Peak RSS of ``quint-prep masks`` on
    uint16 Cellpose labels (/usr/bin/time %M): 182 MiB at 4000 x 3000, 189 MiB at 4000 x 12000
    (the height hardly counts), 217 MiB at 12000 x 3000 keeping the size, 304 MiB resampled by
    0.5; about 400 MiB at 30000 x 20000 resampled (bench_masks). This estimate: 191, 191, 254
    and 394 MiB."""
    return MASK_BASE_MEMORY + MASK_BYTES_PER_COLUMN * job.mask.info.size.width


@dataclass(frozen=True)
class MaskTask:
    """One mask for a worker: it writes the PNG under ``staged``, the parent publishes it."""

    job: MaskJob
    staged: Path
    settings: MaskSettings


def run_mask_task(task: MaskTask) -> MaskResult:
    """Worker side of a parallel run: convert one mask into its staged file."""
    return convert_one(task.job, task.staged, task.settings)


def _convert_in_workers(planned: Sequence[tuple[MaskJob, Decision]], output_dir: Path,
                        settings: MaskSettings, record: MasksRecord,
                        workers: Workers) -> Iterator[MaskResult]:
    """Masks written by workers, as many at once as ``workers`` and its memory budget allow,
    started, reported and recorded in the plan's order."""
    todo = [index for index, (_, decision) in enumerate(planned)
            if decision.action == Action.WRITE]
    task_of = {index: position for position, index in enumerate(todo)}
    # Absolute paths: Dask workers may run elsewhere, in another working folder.
    tasks = [MaskTask(_absolute(planned[i][0]), staged_path((output_dir / planned[i][0]
                                                              .output_name).absolute()), settings)
             for i in todo]
    costs = [estimate_mask_memory(planned[i][0]) for i in todo]
    finished: dict[int, MaskResult | str] = {}
    following = 0  # the next plan index to report

    def ready() -> Iterator[MaskResult]:
        nonlocal following
        while following < len(planned):
            job, decision = planned[following]
            if decision.action != Action.WRITE:
                yield _not_written(job, decision, output_dir, record)
            elif following in finished:
                yield _worker_result(job, task_of[following], finished.pop(following),
                                     tasks, output_dir, record, settings)
            else:
                return
            following += 1

    yield from ready()
    for done in run_tasks(run_mask_task, tasks, costs=costs, workers=workers):
        finished[todo[done.index]] = done.error or done.value
        yield from ready()


def _absolute(job: MaskJob) -> MaskJob:
    mask = replace(job.mask, info=replace(job.mask.info, path=job.mask.path.absolute()))
    return replace(job, mask=mask)


def _worker_result(job: MaskJob, task_index: int, outcome: MaskResult | str,
                   tasks: Sequence[MaskTask], output_dir: Path, record: MasksRecord,
                   settings: MaskSettings) -> MaskResult:
    """A worker's result as if written here (the paths as given), published in order."""
    output = output_dir / job.output_name
    if isinstance(outcome, str):  # the worker failed or died
        return MaskResult(status=Status.FAILED, message=outcome, **_base(job, output))
    result = replace(outcome, source=job.mask.path, output=output)
    return _publish(job, tasks[task_index].staged, result, record, settings)


def convert_one(job: MaskJob, output: Path, settings: MaskSettings,
                on_progress: Progress | None = None, *, final: Path | None = None) -> MaskResult:
    """Convert one segmentation into ``output``; failures become a failed result, never an
    exception. ``final``: the name the caller publishes ``output`` (a staged file) under, which
    the result reports (default: ``output`` itself)."""
    base = _base(job, final or output)
    started = time.perf_counter()
    try:
        with scratch_file(output, "-ids.tif") as scratch:
            flattened = flatten(job.mask, job.target,
                                settings.flatten_options(job.choice or _default_choice(job)))
            flattened = settle_resampled_ids(flattened, scratch, job.mask.path)
            streamed = write_counted_png(flattened, output, settings, on_progress)
            counts = count_mask(flattened, output, settings.colour, job.mask.path,
                                streamed.objects, streamed.census, streamed.before)
    except QuintPrepError as error:
        return MaskResult(status=Status.FAILED, message=error.message, **base)
    judged, facts = judge_and_record(_facts(job, counts), lambda: label_shares(job.mask))
    base["warnings"] = job.warnings + flattened.notes + tuple(j.message for j in judged) \
        + count_warnings(counts, flattened.separated)
    return MaskResult(status=Status.WRITTEN, labels=flattened.description, counts=counts,
                      seconds=time.perf_counter() - started, facts=facts.to_json(), **base)


def _default_choice(job: MaskJob) -> LabelChoice:
    return choose_labels(job.mask, LabelSelection())


def _facts(job: MaskJob, counts: MaskCounts) -> MaskFacts:
    """What the judgement of a written mask needs (a census of the source only on demand)."""
    choice = job.choice or _default_choice(job)
    present = instances_present(job.mask, choice)
    return MaskFacts(job.mask.path.name, choice, counts.object_fraction, counts.objects,
                     counts.instances, present if present is not None else counts.instances)


def _recorded_counts(record: MaskRecord | None) -> MaskCounts | None:
    # Entries written before counts were recorded (or with other keys) are redone.
    try:
        return MaskCounts.from_json(record.counts) if record is not None else None
    except TypeError:
        return None


def write_mask_png(selection: pyvips.Image, output: Path, settings: MaskSettings,
                   on_progress: Progress | None = None) -> None:
    """Write the 0/255 selection as an 8-bit RGB PNG in the two colours, atomically."""
    image = selection.ifthenelse(list(settings.colour), list(settings.background))
    image = image.cast("uchar").copy(interpretation="srgb")
    if on_progress is not None:
        image.set_progress(True)
        image.signal_connect("eval", lambda _image, progress: on_progress(progress.percent / 100))
    try:
        with atomic_output(output) as temporary:
            _save(image, temporary, settings.png_compression)
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or writing: {vips_reason(error)}") from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}") from error


def write_counted_png(flattened: Flattened, output: Path, settings: MaskSettings,
                      on_progress: Progress | None = None) -> StreamedCounts:
    """Write the selection as ``write_mask_png`` does and count its objects (and the census of
    its 8/16-bit instance ids) in the same pass (masks.stream); atomically."""
    source = selection_and_ids(flattened)
    try:
        with atomic_output(output) as temporary:
            return write_counted(source, temporary, list(settings.colour),
                                 list(settings.background),
                                 lambda image, path: _save(image, path, settings.png_compression),
                                 on_progress)
    except pyvips.Error as error:
        raise InputError(f"failed while decoding or writing: {vips_reason(error)}") from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}") from error


def _save(image: pyvips.Image, path: Path, compression: int) -> None:
    """Write one mask PNG (the single place masks write pixels)."""
    image.pngsave(str(path), compression=compression, keep="none")
