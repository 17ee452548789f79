"""``run --dry-run``: what each stage of a series run would do, writing nothing.

Each later stage is planned on what the stages before it would leave: the masks are matched
to the series the downscale stage would write (not to a manifest that does not exist yet).
Every stage's plan counts the files the run would fail (``failed``) and says why
(``errors``); the command line prints them (``cli/run_plan.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from quint_prep.config import SeriesConfig
from quint_prep.downscale.series import OutputPlan
from quint_prep.errors import InputError
from quint_prep.masks.convert import MaskPlan
from quint_prep.resume import Decision, PlanStatus
from quint_prep.runner import (PlannedMask, RegistrationPlan, Stage, dry_run_downscale, plan_downscale,
                     plan_mask_outputs, plan_masks_stage, plan_registration, projected_series,
                     sweep_sample)
from quint_prep.series import ImageInfo
from quint_prep.series_plan import SeriesPlan
from quint_prep.status import Status
from quint_prep.sweep.decide import DEFAULT_FACTORS


class _PlannedOutputs:
    """A stage that decides per output (``resume.decide``): its counts, errors and failures
    from the decisions and from the problems found while reading its inputs."""

    def decisions(self) -> list[tuple[Path, Decision]]:
        """(source, decision) per planned output."""
        raise NotImplementedError

    def problems(self) -> Sequence[InputError]:
        """Inputs the stage cannot use."""
        raise NotImplementedError

    @property
    def counts(self) -> dict[PlanStatus, int]:
        """Outputs per planned status: new, changed, up to date, refused (in the order met)."""
        counts: dict[PlanStatus, int] = {}
        for _, decision in self.decisions():
            counts[decision.status] = counts.get(decision.status, 0) + 1
        return counts

    @property
    def errors(self) -> list[str]:
        """The unusable inputs, then the refused outputs."""
        return [*map(str, self.problems()),
                *(f"{path}: {decision.reason}" for path, decision in self.decisions()
                  if decision.status == PlanStatus.REFUSED)]

    @property
    def failed(self) -> int:
        """Files the run would fail."""
        return len(self.errors)


@dataclass(frozen=True)
class DownscaleDryRun(_PlannedOutputs):
    """The downscale stage's plan: per image new, changed, up to date or refused, and the
    registration series it would make alongside."""

    plan: SeriesPlan
    output: Path
    outputs: OutputPlan
    registration: RegistrationPlan | None

    def decisions(self) -> list[tuple[Path, Decision]]:
        """(source image, decision) per output."""
        return [(e.info.path, e.decision) for e in self.outputs.entries]

    def problems(self) -> Sequence[InputError]:
        """Unreadable images."""
        return self.plan.problems

    def to_json(self) -> dict:
        """The stage's part of ``run --dry-run --json``."""
        registration = self.registration
        return {"factor": self.plan.factor, "output": str(self.output),
                "counts": {**self.counts, Status.FAILED.value: self.failed},
                "registration": None if registration is None else {
                    "folder": str(registration.settings.folder), "factor": registration.factor,
                    "images": registration.images},
                "images": [{"source": str(e.info.path), "output": str(e.output),
                            "width": e.oriented.width, "height": e.oriented.height,
                            "status": e.decision.status, "reason": e.decision.reason}
                           for e in self.outputs.entries]}


@dataclass(frozen=True)
class MasksDryRun(_PlannedOutputs):
    """The masks stage's plan: the segmentations read, matched, and per mask what it would do;
    ``after_downscale`` when matched to the series the downscale stage would leave."""

    masks: MaskPlan
    planned: tuple[PlannedMask, ...]
    output: Path
    after_downscale: bool

    def decisions(self) -> list[tuple[Path, Decision]]:
        """(segmentation, decision) per mask."""
        return [(p.job.mask.path, p.decision) for p in self.planned]

    def problems(self) -> Sequence[InputError]:
        """Segmentations that cannot be read or match no image."""
        return self.masks.problems

    def to_json(self) -> dict:
        """The stage's part of ``run --dry-run --json``."""
        return {"output": str(self.output),
                "counts": {**self.counts, Status.FAILED.value: self.failed},
                "masks": [{"source": str(p.job.mask.path), "output": str(p.output),
                           "width": p.job.target.width, "height": p.job.target.height,
                           "status": p.decision.status, "reason": p.decision.reason}
                          for p in self.planned]}


@dataclass(frozen=True)
class CheckDryRun:
    """The check stage's plan: what it would check (``images``: how many the downscale stage
    would leave, None when it does not run first); it fails when the registration is missing."""

    output: Path
    masks: Path | None
    registration: Path | None
    images: int | None

    @property
    def errors(self) -> list[str]:
        """A missing registration file."""
        if self.registration is not None and not Path(self.registration).is_file():
            return [f"{self.registration}: no such file ([check] registration): the check "
                    "would fail"]
        return []

    @property
    def failed(self) -> int:
        """1 when the check would fail for certain."""
        return len(self.errors)

    def to_json(self) -> dict:
        """The stage's part of ``run --dry-run --json``."""
        return {"output": str(self.output),
                "segmentations": str(self.masks) if self.masks else None,
                "registration": str(self.registration) if self.registration else None,
                "counts": {Status.FAILED.value: self.failed}}


@dataclass(frozen=True)
class SweepDryRun:
    """The sweep stage's plan: the factors it would try on which sample of the series."""

    plan: SeriesPlan
    output: Path
    sample: tuple[ImageInfo, ...]
    factors: tuple[float, ...] = DEFAULT_FACTORS

    @property
    def errors(self) -> list[str]:
        """Unreadable images (the sweep fails them, as the downscale stage does)."""
        return [str(problem) for problem in self.plan.problems]

    @property
    def failed(self) -> int:
        """Files the run would fail."""
        return len(self.errors)

    def to_json(self) -> dict:
        """The stage's part of ``run --dry-run --json``."""
        return {"output": str(self.output), "factors": list(self.factors),
                "sections": [str(i.path) for i in self.sample],
                "counts": {Status.FAILED.value: self.failed}}


StageDryRun = Union[DownscaleDryRun, MasksDryRun, CheckDryRun, SweepDryRun]


def series_for_dry_run(config: SeriesConfig,
                       stages: Sequence[Stage]) -> tuple[SeriesPlan | None, SeriesPlan | None]:
    """The series read once for the stages that need it (downscale, sweep), and what the later
    stages will find: that series when the downscale stage runs first, else None."""
    plan = plan_downscale(config) if {Stage.DOWNSCALE, Stage.SWEEP} & set(stages) else None
    return plan, plan if Stage.DOWNSCALE in stages else None


def dry_run_stage(config: SeriesConfig, stage: Stage, plan: SeriesPlan | None,
                  after: SeriesPlan | None, *, overwrite: bool = False) -> StageDryRun | None:
    """The plan of one stage (``series_for_dry_run`` gives ``plan`` and ``after``); None for
    a stage that needs the series when none was read."""
    if stage is Stage.MASKS:
        series = projected_series(config, after) if after is not None else None
        masks = plan_masks_stage(config, overwrite=overwrite, series=series)
        return MasksDryRun(masks, tuple(plan_mask_outputs(config, masks, overwrite=overwrite)),
                           config.masks_output, after is not None)
    if stage is Stage.CHECK:
        return CheckDryRun(config.output,
                           config.masks_output if config.segmentations is not None else None,
                           config.check.registration, len(after.images) if after else None)
    if plan is None:
        return None
    if stage is Stage.DOWNSCALE:
        outputs = dry_run_downscale(config, plan, overwrite=overwrite)
        return DownscaleDryRun(plan, config.output, outputs, plan_registration(config, plan))
    return SweepDryRun(plan, config.sweep_output,
                       tuple(sweep_sample(plan)) if plan.images else ())
