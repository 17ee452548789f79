"""Every stage of a run is a core function: called without the command line, it returns
frozen results (states as the Status enum) and tells its errors to a Listener."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from quint_prep.config import resolve
from quint_prep.errors import UsageError
from quint_prep.progress import Listener
from quint_prep.runner import run_sweep_stage, sweep_settings
from quint_prep.status import Status
from quint_prep.sweep.series import SweepSettings, plan_sweep, run_sweep


def _config(tmp_path: Path, make_image, count: int = 2) -> Path:
    for index in range(1, count + 1):
        make_image(f"scans/m_s{index:03d}.png", 80 + 10 * index, 60)
    config = tmp_path / "configs" / "m.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text('name = "m"\nimages = "../scans"\noutput = "../prepared"\nfactor = 0.5\n')
    return config


def test_the_sweep_stage_is_a_core_function(tmp_path, make_image):
    config = resolve(_config(tmp_path, make_image))
    errors: list[str] = []
    outcome = run_sweep_stage(config, Listener(error=errors.append))
    assert errors == [] and outcome.failed == 0
    assert outcome.output == tmp_path / "prepared" / "sweep"
    assert (outcome.output / "index.html").exists()
    assert outcome.recommendation is not None and outcome.recommendation.factor == 0.5
    statuses = {o.result.status for s in outcome.sections for o in s.outputs}
    assert statuses == {Status.WRITTEN}
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.failed = 1  # type: ignore[misc]
    again = run_sweep_stage(config)
    assert {o.result.status for s in again.sections for o in s.outputs} == {Status.UP_TO_DATE}


def test_sweep_settings_of_a_config_are_the_sweep_commands_defaults(tmp_path, make_image):
    config = resolve(_config(tmp_path, make_image))
    settings = sweep_settings(config, overwrite=True)
    default = SweepSettings(sources=settings.sources, output=settings.output, overwrite=True)
    assert settings == default


def test_sweep_settings_check_themselves(tmp_path):
    with pytest.raises(UsageError, match="--keep-objects 1.5"):
        SweepSettings(sources=(tmp_path,), output=tmp_path / "out", keep_objects=1.5)
    with pytest.raises(UsageError, match="--sections N or --pick"):
        SweepSettings(sources=(tmp_path,), output=tmp_path / "out", sections=2, picks=(1,))


def test_a_sweep_of_unreadable_images_fails_without_writing(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "bad_s001.png").write_bytes(b"not a png")
    errors: list[str] = []
    plan = plan_sweep(SweepSettings(sources=(tmp_path / "scans",), output=tmp_path / "out"),
                      Listener(error=errors.append))
    assert not plan.usable and len(errors) == 1 and "bad_s001.png" in errors[0]
    outcome = run_sweep(plan)
    assert outcome.failed == 1 and outcome.recommendation is None
    assert not (tmp_path / "out" / "index.html").exists()


def test_status_is_its_json_text():
    assert json.dumps([Status.WRITTEN, Status.UP_TO_DATE, Status.FAILED]) == \
        '["written", "up-to-date", "failed"]'
    assert f"{Status.UP_TO_DATE}" == "up-to-date" and Status.FAILED == "failed"
    assert not Status.FAILED.ok and Status.WRITTEN.ok


def test_downscale_is_one_core_call_that_checks_what_it_wrote(tmp_path, make_image):
    from quint_prep.downscale.series import DownscaleRequest, downscale_checked

    for index in (1, 2):
        make_image(f"scans/m_s{index:03d}.png", 80, 60)
    request = DownscaleRequest(sources=(tmp_path / "scans",), output=tmp_path / "out", factor=0.5)
    plan = request.read_series()
    outcome = downscale_checked(request, plan)
    assert outcome.counts.to_json() == {"written": 2, "up-to-date": 0, "failed": 0}
    assert outcome.check is not None and outcome.check.ok and not outcome.failed
    assert [r.status for r in outcome.results] == [Status.WRITTEN] * 2
    again = downscale_checked(request, request.read_series())
    assert again.counts.up_to_date == 2 and again.usable
    assert json.loads(json.dumps(again.to_json()))["counts"]["up-to-date"] == 2


def test_the_masks_stage_checks_and_writes_the_consumers_file(tmp_path, make_image):
    from quint_prep.runner import plan_masks_stage, run_downscale, run_masks
    from quint_prep.parallel import Workers

    import numpy as np

    from conftest import from_array, save

    config_path = _config(tmp_path, make_image)
    seg = tmp_path / "seg"
    for index, width in ((1, 45), (2, 50)):  # Cellpose masks made on the downscaled images
        labels = np.zeros((30, width), np.uint16)
        labels[5:15, 5:15] = 1
        labels[18:25, 20:30] = 2
        save(from_array(labels), seg / f"m_s{index:03d}_cp_masks.png")
    config_path.write_text(config_path.read_text() + 'segmentations = "../seg"\n')
    config = resolve(config_path)
    assert not run_downscale(config, plan_downscale_of(config), Workers()).failed
    warnings: list[str] = []
    outcome = run_masks(config, plan_masks_stage(config), listener=Listener(warn=warnings.append))
    assert outcome.counts.written == 2 and outcome.check is not None
    assert outcome.check.ok and not outcome.failed and outcome.consumers is not None
    assert (config.masks_output / "quint-prep-consumers.json").exists()
    assert outcome.totals["objects"] == 4
    assert json.loads(json.dumps(outcome.to_json()))["counts"] == {
        "written": 2, "up-to-date": 0, "failed": 0}


def plan_downscale_of(config):
    from quint_prep.runner import plan_downscale

    return plan_downscale(config)
