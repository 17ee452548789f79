"""The masks of a series, start to finish: convert the planned segmentations
(``masks.convert_masks``), check what was written against its images (the upload checks), and
write the quantifiers' settings (``quint-prep-consumers.json``). ``quint-prep masks`` and the
masks stage of ``run`` both call ``convert_and_check``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from quint_prep.masks.consumers import ConsumerSettings, consumer_settings, series_factor_of, write_consumer_settings
from quint_prep.check.findings import CheckReport
from quint_prep.manifest import manifest_path
from quint_prep.masks.convert import MaskPlan, MaskResult, MaskSettings, Progress, convert_masks
from quint_prep.masks.record import series_totals
from quint_prep.parallel import Workers
from quint_prep.progress import Listener
from quint_prep.registration.files import Registration
from quint_prep.series import ImageInfo
from quint_prep.check.files import check_series
from quint_prep.status import Status, StatusCounts


@dataclass(frozen=True)
class MasksOutcome:
    """What a masks run did: one result per segmentation, the counts (problems of the plan
    count as failed), the series totals, the upload check of what was written (None without
    a series to pair with, or when nothing was written) and the quantifiers' settings saved
    next to the masks (None when no mask exists)."""

    plan: MaskPlan
    output: Path
    settings: MaskSettings
    results: tuple[MaskResult, ...]
    counts: StatusCounts
    totals: dict
    check: CheckReport | None
    consumers: ConsumerSettings | None

    @property
    def failed(self) -> bool:
        """True when a mask failed, or the check of what was written found an error (warnings
        alone pass): what exit 1 says."""
        return bool(self.counts.failed) or (self.check is not None and not self.check.ok)

    def to_json(self) -> dict:
        """The summary ``masks --json`` prints (``run`` nests it under its stage)."""
        return {
            "output": str(self.output), "factor": self.plan.factor,
            "colour": list(self.settings.colour), "background": list(self.settings.background),
            "resample": self.settings.resample.value,
            "counts": self.counts.to_json(),
            "totals": self.totals,
            "manifest": str(manifest_path(self.output)),
            "masks": [r.to_json() for r in self.results],
            "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                       for p in self.plan.problems],
            "check": self.check.to_json() if self.check else None,
            "consumers": self.consumers.to_json() if self.consumers else None,
        }


def convert_and_check(plan: MaskPlan, output_dir: Path, settings: MaskSettings, *,
                      sources: Iterable[Path] = (), series_folder: Path | None = None,
                      registration: Registration | None = None,
                      progress_for: Callable[[ImageInfo], Progress | None] | None = None,
                      listener: Listener = Listener(),
                      workers: Workers | None = None) -> MasksOutcome:
    """Write the planned masks into ``output_dir`` (N at once with ``workers``), then check
    them against the images in ``series_folder`` (format, colours, names, pairing,
    proportions) and write the quantifiers' settings for what exists. A folder that holds
    masks of another series is refused first; then skipped files, the plan's notes and every
    mask's warnings go to ``listener.warn``, failures to ``listener.error``, as they come."""
    results = convert_masks(plan, output_dir, settings, sources=sources,
                            progress_for=progress_for, workers=workers)
    for path, reason in plan.set_aside:
        listener.warn(f"{path}: skipped: {reason}")
    for note in plan.notes:
        listener.warn(note)
    for problem in plan.problems:
        listener.error(str(problem))
    done: list[MaskResult] = []
    with listener.steps(len(plan.jobs), "mask") as bar:
        for result in results:
            done.append(result)
            if result.status == Status.FAILED:
                listener.error(f"{result.source}: {result.message}")
            for note in result.warnings:  # told even to a quiet caller: they concern the result
                listener.warn(f"{result.source.name}: {note}")
            bar.update(1)
    check = None
    if series_folder is not None and any(r.status != Status.FAILED for r in done):
        check = check_series([series_folder], [output_dir], colour=settings.colour)
    consumers = _consumers(done, output_dir, settings, plan, registration, series_folder)
    counts = StatusCounts.of((r.status for r in done), failed=len(plan.problems))
    totals = series_totals([r.counts.to_json() for r in done if r.counts is not None])
    return MasksOutcome(plan, Path(output_dir), settings, tuple(done), counts, totals, check,
                        consumers)


def _consumers(results: list[MaskResult], output: Path, settings: MaskSettings, plan: MaskPlan,
               registration: Registration | None,
               series_folder: Path | None) -> ConsumerSettings | None:
    """The quantifiers' settings for what was written, saved next to the masks."""
    names = [r.output.name for r in results if r.status != Status.FAILED and r.output]
    if not names:
        return None
    consumers = consumer_settings(names, settings.colour, settings.background,
                                  series_factor_of(series_folder), registration,
                                  folder=str(output), masks_factor=plan.factor)
    write_consumer_settings(output, consumers)
    return consumers
