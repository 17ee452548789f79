"""masks --jobs N and --scheduler: the same PNGs and counts as one at a time, in series order;
a masks run killed with SIGKILL or interrupted resumes with the same command."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyvips
import pytest

from conftest import from_array, save
from mixed_masks import mixed_folder
from quint_prep.journal import JOURNAL_NAME
from quint_prep.outputs import TEMP_MARKER


def pngs(folder: Path) -> dict[str, str]:
    """sha256 of every mask PNG of a folder."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("*.png"))}


def comparable(document: dict) -> list[dict]:
    """Each mask's summary without what differs between two runs (output folder, time)."""
    return [{k: v for k, v in m.items() if k not in ("output", "seconds")}
            for m in document["masks"]]


def masks_json(cli, *args):
    result = cli("masks", *args, "--labels-table", LABELS, "-q", "--json")
    return result, json.loads(result.stdout) if result.stdout.strip() else None


LABELS = Path(__file__)  # replaced per test by a real table (see labels_table)


@pytest.fixture(autouse=True)
def labels_table(tmp_path, monkeypatch):
    table = tmp_path / "labels.csv"
    table.write_text("name,labels\nilastik,1\nm_s002_Simple Segmentation.tif,2\n")
    monkeypatch.setattr(sys.modules[__name__], "LABELS", table)


def test_jobs_2_writes_the_same_bytes_and_counts_in_series_order(cli, tmp_path):
    mixed_folder(tmp_path / "seg")
    one, doc_one = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "one")
    two, doc_two = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "two", "--jobs", "2")
    assert one.exit_code == two.exit_code == 0, two.stderr
    assert len(pngs(tmp_path / "one")) == 6
    assert pngs(tmp_path / "one") == pngs(tmp_path / "two")
    assert comparable(doc_one) == comparable(doc_two)  # statuses, counts, warnings, order
    assert doc_one["totals"] == doc_two["totals"] and doc_one["counts"] == doc_two["counts"]
    assert [Path(m["output"]).name for m in doc_two["masks"]] == [
        f"m_s{n:03d}.png" for n in range(1, 7)]  # the series' order, not the finishing order
    manifests = [json.loads((tmp_path / d / "quint-prep.json").read_text())["masks"]
                 for d in ("one", "two")]
    assert manifests[0] == manifests[1]
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.name.startswith(".")) == []
    again, doc = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "two", "--jobs", "2")
    assert again.exit_code == 0 and doc["counts"] == {"written": 0, "up-to-date": 6, "failed": 0}


def test_jobs_with_a_memory_budget_and_a_bad_file(cli, tmp_path):
    mixed_folder(tmp_path / "seg")
    cut = tmp_path / "seg" / "m_s004_mask.png"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    # 1M is below every mask's estimate: each still runs, one at a time.
    result, doc = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "out", "--jobs", "2",
                             "--memory", "1M")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "m_s004_mask.png" in result.stderr
    assert doc["counts"]["written"] == 5 and doc["counts"]["failed"] == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        f"m_s{n:03d}.png" for n in (1, 2, 3, 5, 6)]


def test_masks_worker_option_errors_exit_2(cli, tmp_path):
    mixed_folder(tmp_path / "seg")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--memory", "lots")
    assert result.exit_code == 2 and "--memory: memory 'lots' is not a size" in result.stderr
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--scheduler", "localhost")
    assert result.exit_code == 2 and "is not an address such as tcp://HOST:8786" in result.stderr


def test_masks_on_a_dask_cluster_and_run_uses_the_scheduler(cli, tmp_path):
    distributed = pytest.importorskip("distributed")
    mixed_folder(tmp_path / "seg")
    here, doc_here = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "here")
    assert here.exit_code == 0, here.stderr
    for n in range(1, 7):  # a downscaled series for the run's masks stage to pair with
        save(from_array(np.full((40, 60, 3), 200, np.uint8)), tmp_path / f"src/m_s{n:03d}.png")
    config = tmp_path / "m.toml"
    config.write_text(f'name = "m"\nimages = "src"\noutput = "run"\nfactor = 1.0\n'
                      f'segmentations = "seg"\nlabels_table = "{LABELS}"\n')
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        there, doc_there = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "there",
                                      "--scheduler", cluster.scheduler_address)
        assert there.exit_code == 0, there.stderr
        run = cli("run", config, "--scheduler", cluster.scheduler_address, "--json")
        assert run.exit_code == 0, run.output
    assert pngs(tmp_path / "there") == pngs(tmp_path / "here")
    assert comparable(doc_there) == comparable(doc_here)
    stage = json.loads(run.stdout)["stages"]["masks"]
    assert stage["counts"] == {"written": 6, "up-to-date": 0, "failed": 0}
    assert pngs(tmp_path / "run" / "segmentations") == pngs(tmp_path / "here")


def test_run_masks_stage_takes_the_config_jobs(cli, tmp_path, monkeypatch):
    from quint_prep.masks import convert as masks_module

    seen = []
    original = masks_module._convert_in_workers

    def spy(planned, output_dir, settings, record, workers):
        seen.append(workers)
        return original(planned, output_dir, settings, record, workers)

    monkeypatch.setattr(masks_module, "_convert_in_workers", spy)
    mixed_folder(tmp_path / "seg")
    for n in range(1, 7):
        save(from_array(np.full((40, 60, 3), 200, np.uint8)), tmp_path / f"src/m_s{n:03d}.png")
    config = tmp_path / "m.toml"
    config.write_text(f'name = "m"\nimages = "src"\noutput = "run"\nfactor = 1.0\njobs = 2\n'
                      f'memory = "4G"\nsegmentations = "seg"\nlabels_table = "{LABELS}"\n')
    result = cli("run", config, "--json")
    assert result.exit_code == 0, result.output
    assert [(w.jobs, w.memory) for w in seen] == [(2, 4 * 1024**3)]
    assert json.loads(result.stdout)["stages"]["masks"]["counts"]["written"] == 6


def noise_masks(folder: Path, count: int, side: int = 2500) -> None:
    """Binary masks slow enough to write (noise does not compress) to be cut off half-way."""
    folder.mkdir(parents=True)
    noise = (pyvips.Image.gaussnoise(side, side, mean=128, sigma=60) > 128).ifthenelse(255, 0)
    noise.cast("uchar").pngsave(str(folder / "n_s001_mask.png"), compression=1)
    data = (folder / "n_s001_mask.png").read_bytes()
    for index in range(2, count + 1):
        (folder / f"n_s{index:03d}_mask.png").write_bytes(data)


def wait_for_first_mask(process: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.suffix == ".png" and not p.name.startswith(".")
                                    for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)


def test_sigkilled_masks_run_resumes_with_the_same_command(tmp_path):
    noise_masks(tmp_path / "seg", 6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "quint_prep", "masks", str(tmp_path / "seg"), "-o",
               str(out), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_first_mask(process, out)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("n_s*.png")}
    assert 1 <= len(finished) < 6  # killed after the first mask, before the last
    rerun = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "not written by quint-prep" not in rerun.stderr
    document = json.loads(rerun.stdout)
    assert document["counts"] == {"written": 6 - len(finished), "up-to-date": len(finished),
                                  "failed": 0}
    assert [m["status"] for m in document["masks"]][:len(finished)] == ["up-to-date"] * len(finished)
    assert {n: (out / n).stat().st_mtime_ns for n in finished} == finished  # not rewritten
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"n_s{n:03d}.png" for n in range(1, 7)), "quint-prep-consumers.json",
        "quint-prep.json"]  # no temporaries, no journal left
    assert not (out / JOURNAL_NAME).exists()
    manifest = json.loads((out / "quint-prep.json").read_text())
    assert [f["name"] for f in manifest["masks"]["files"]] == [f"n_s{n:03d}.png" for n in range(1, 7)]


@pytest.mark.parametrize("jobs", [1, 2], ids=["ctrl-c", "ctrl-c-jobs-2"])
def test_interrupted_masks_run_exits_130_and_resumes(tmp_path, cli, jobs):
    noise_masks(tmp_path / "seg", 8)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "quint_prep", "masks", str(tmp_path / "seg"), "-o",
               str(out), "-q", "--jobs", str(jobs)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    wait_for_first_mask(process, out)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    _stdout, stderr = process.communicate(timeout=180)  # at most the mask in flight
    assert process.returncode == 130, stderr
    assert b"rerun the same command to continue" in stderr
    time.sleep(0.2)  # terminated workers are gone; nothing may appear after the parent exits
    names = sorted(p.name for p in out.iterdir())
    assert not any(TEMP_MARKER in name for name in names), names
    written = [name for name in names if name.endswith(".png")]
    assert 1 <= len(written) < 8 and "quint-prep.json" in names
    recorded = json.loads((out / "quint-prep.json").read_text())["masks"]["files"]
    assert sorted(f["name"] for f in recorded) == written  # every mask is complete, recorded
    for name in written:
        assert pyvips.Image.new_from_file(str(out / name)).avg() > 0  # decodes to the end
    resumed = cli("masks", tmp_path / "seg", "-o", out, "-q", "--json", "--jobs", str(jobs))
    assert json.loads(resumed.stdout)["counts"] == {
        "written": 8 - len(written), "up-to-date": len(written), "failed": 0}


def test_mask_memory_estimate_follows_the_width(tmp_path):
    from quint_prep.masks.convert import MaskSettings, estimate_mask_memory, plan_masks

    save(from_array(np.zeros((100, 4000), np.uint8)), tmp_path / "seg/w_s001_mask.png")
    save(from_array(np.zeros((4000, 100), np.uint8)), tmp_path / "seg/w_s002_mask.png")
    save(from_array(np.zeros((400, 4000), np.uint8)), tmp_path / "seg/w_s003_mask.png")
    wide, tall, wider_area = (estimate_mask_memory(job) for job in
                              plan_masks([tmp_path / "seg"], MaskSettings()).jobs)
    assert wide == wider_area > tall  # strips: the width counts, the height does not
    assert wide - tall == 3900 * 8 * 1024
