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
from quint_prep.sweep_series import SweepSettings, plan_sweep, run_sweep


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
