"""Parallel runs: a spawned process pool, a Dask cluster, and real interruptions."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyvips
import pytest

from quint_prep import parallel
from quint_prep.manifest import read_manifest
from quint_prep.outputs import TEMP_MARKER
from conftest import from_array, gradient, save, tree_hashes


def mixed_series(folder: Path) -> None:
    """Several kinds and widths, so workers see different loaders and run out of order."""
    save(gradient(900, 500), folder / "k_s001.tif", tile=True, pyramid=True, compression="jpeg")
    save(gradient(300, 700), folder / "k_s002.tif", compression="lzw")
    save(gradient(640, 480), folder / "k_s003.jpg", Q=90)
    save(gradient(1200, 300), folder / "k_s004.png")
    rng = np.random.default_rng(4)
    save(from_array(rng.integers(0, 65535, (200, 260, 3), dtype=np.uint16)), folder / "k_s005.tif")
    save(gradient(100, 80, bands=1), folder / "k_s006.png")


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "quint-prep.json"}


def records(folder: Path) -> dict:
    return read_manifest(folder).images


def test_two_jobs_give_the_same_bytes_as_one(tmp_path, cli):
    mixed_series(tmp_path / "src")
    before = tree_hashes(tmp_path / "src")
    args = ("downscale", tmp_path / "src", "--factor", "0.3", "-q", "--json")
    one = cli(*args, "-o", tmp_path / "one")
    two = cli(*args, "-o", tmp_path / "two", "--jobs", "2")
    assert one.exit_code == two.exit_code == 0, two.output
    assert len(outputs(tmp_path / "one")) == 6
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert records(tmp_path / "one") == records(tmp_path / "two")
    assert tree_hashes(tmp_path / "src") == before
    # Widest first: the 1200 px wide image is started first (results come as they finish).
    assert json.loads(two.stdout)["counts"] == {"written": 6, "up-to-date": 0, "failed": 0}
    again = cli(*args, "-o", tmp_path / "two", "--jobs", "2")
    assert json.loads(again.stdout)["counts"] == {"written": 0, "up-to-date": 6, "failed": 0}


def test_default_runs_images_in_threads_with_the_bytes_and_order_of_one_job(tmp_path, cli,
                                                                            monkeypatch):
    import quint_prep.downscale.series as downscale_series

    monkeypatch.setattr(downscale_series, "cpu_cores", lambda: 2)  # also on a 1-core machine
    started = []
    original = downscale_series.run_downscale_task

    def noted(task, cancellation=None):
        started.append((task.info.name, cancellation is not None))
        return original(task, cancellation)

    monkeypatch.setattr(downscale_series, "run_downscale_task", noted)
    mixed_series(tmp_path / "src")
    args = ("downscale", tmp_path / "src", "--factor", "0.3", "-q", "--json")
    one = cli(*args, "-o", tmp_path / "one", "--jobs", "1")
    assert one.exit_code == 0 and started == []  # --jobs 1: in this thread, one at a time
    default = cli(*args, "-o", tmp_path / "default")
    assert default.exit_code == 0, default.output
    assert len(started) == 6 and all(threaded for _, threaded in started)
    assert started[0][0] == "k_s004.png"  # the widest first
    assert outputs(tmp_path / "default") == outputs(tmp_path / "one")
    assert records(tmp_path / "default") == records(tmp_path / "one")
    names = [Path(i["source"]).name for i in json.loads(default.stdout)["images"]]
    assert names == [Path(i["source"]).name for i in json.loads(one.stdout)["images"]]
    assert names == sorted(names)  # reported in the series' order, not as they finished


def test_an_image_that_failed_in_a_thread_is_run_again_alone_for_its_reason(tmp_path, cli,
                                                                            monkeypatch):
    import quint_prep.downscale.series as downscale_series
    from badfiles import make_bad

    # libvips' one error buffer per process: a pipeline in another thread can clear the reason.
    original = downscale_series.run_downscale_task

    def reason_lost(task, cancellation=None):
        load, message, seconds = original(task, cancellation)
        return (load, "failed while decoding or writing: unable to call pngsave", seconds) \
            if message else (load, message, seconds)

    monkeypatch.setattr(downscale_series, "run_downscale_task", reason_lost)
    save(gradient(300, 200), tmp_path / "src/good_s001.png")
    save(gradient(300, 200), tmp_path / "src/good_s003.tif", tile=True)
    name, fragment = make_bad("corrupt-lzw", tmp_path / "src")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--jobs", "2", "--json")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and fragment in errors[0], result.stderr
    assert json.loads(result.stdout)["counts"] == {"written": 2, "up-to-date": 0, "failed": 1}


def test_default_jobs_are_one_for_large_images_and_single_images(tmp_path, monkeypatch):
    from dataclasses import replace

    import quint_prep.downscale.series as downscale_series
    from quint_prep.downscale.image import DownscaleSettings
    from quint_prep.parallel import Workers
    from quint_prep.scale import Size
    from quint_prep.series_plan import plan_series

    monkeypatch.setattr(downscale_series, "cpu_cores", lambda: 4)
    for index in range(1, 4):
        save(gradient(60, 40), tmp_path / f"src/d_s00{index}.png")
    plan = plan_series([tmp_path / "src"], factor=0.5)
    entries = downscale_series.plan_outputs(plan, tmp_path / "out",
                                            DownscaleSettings(factor=0.5)).entries
    assert downscale_series.local_jobs(Workers(), entries).jobs == 3  # one per image, <= cores
    assert downscale_series.local_jobs(Workers(), entries[:1]).jobs == 1
    assert downscale_series.local_jobs(Workers(jobs=2), entries).jobs == 2  # as asked
    huge = replace(entries[0], info=replace(entries[0].info, size=Size(20000, 15000)))
    assert downscale_series.local_jobs(Workers(), [huge, *entries[1:]]).jobs == 1


def test_memory_budget_and_bad_files_with_jobs(tmp_path, cli):
    save(gradient(300, 200), tmp_path / "src/b_s001.png")
    save(gradient(200, 300), tmp_path / "src/b_s002.png")
    cut = save(gradient(400, 300), tmp_path / "src/b_s003.png")
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    # 1M is below any image's estimate: every image still runs, one at a time.
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--jobs", "2", "--memory", "1M", "-q")
    assert result.exit_code == 1
    assert "b_s003.png" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "b_s001.png", "b_s002.png", "quint-prep.json"]


@pytest.mark.parametrize("args, message", [
    (["--memory", "lots"], "--memory: memory 'lots' is not a size such as 8G"),
    (["--jobs", "0"], "Invalid value for '--jobs'"),
    (["--scheduler", "tcp://127.0.0.1:1", "--memory", "1G"], "on a Dask cluster set each worker's memory"),
], ids=["memory", "jobs", "memory-with-scheduler"])
def test_worker_option_errors_exit_2(tmp_path, cli, args, message):
    save(gradient(30, 20), tmp_path / "src/e_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_dask_local_cluster_gives_the_same_outputs(tmp_path, cli):
    distributed = pytest.importorskip("distributed")
    mixed_series(tmp_path / "src")
    config = tmp_path / "k.toml"
    config.write_text('name = "k"\nimages = "src"\noutput = "cluster"\nfactor = 0.3\n')
    assert cli("downscale", tmp_path / "src", "-o", tmp_path / "here", "--factor", "0.3",
               "-q").exit_code == 0
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        result = cli("run", config, "--scheduler", cluster.scheduler_address, "--json")
        assert result.exit_code == 0, result.output
        counts = json.loads(result.stdout)["stages"]["downscale"]["counts"]
        assert counts == {"written": 6, "up-to-date": 0, "failed": 0}
    assert outputs(tmp_path / "cluster") == outputs(tmp_path / "here")
    assert records(tmp_path / "cluster") == records(tmp_path / "here")


def test_unreachable_scheduler_is_a_clear_error(tmp_path, cli, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "DASK_CONNECT_TIMEOUT", "1s")
    save(gradient(30, 20), tmp_path / "src/e_s001.png")
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr


def noise_series(folder: Path, count: int) -> None:
    """Images slow enough to write (noise does not compress) that a run can be interrupted."""
    folder.mkdir(parents=True)
    noise = pyvips.Image.gaussnoise(2000, 2000, mean=128, sigma=40).cast("uchar")
    noise.bandjoin([noise, noise]).copy(interpretation="srgb").tiffsave(str(folder / "n_s001.tif"))
    for index in range(2, count + 1):
        shutil.copy(folder / "n_s001.tif", folder / f"n_s{index:03d}.tif")


@pytest.mark.parametrize("sig, jobs", [(signal.SIGINT, 1), (signal.SIGINT, 2), (signal.SIGTERM, 2),
                                       (signal.SIGINT, None)],
                         ids=["ctrl-c", "ctrl-c-jobs-2", "sigterm-jobs-2", "ctrl-c-default"])
def test_interrupted_run_leaves_no_partial_file_and_resumes(tmp_path, cli, sig, jobs):
    noise_series(tmp_path / "src", 8)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "quint_prep", "downscale", str(tmp_path / "src"), "-o",
               str(out), "--factor", "0.95", "-q", *(["--jobs", str(jobs)] if jobs else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.suffix == ".png" and not p.name.startswith(".")
                                    for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    if sig == signal.SIGINT:
        os.killpg(process.pid, sig)  # a terminal's Ctrl-C reaches the whole process group
    else:
        process.send_signal(sig)  # kill PID / a batch system's time limit: the parent only
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted: finished outputs are kept, no partial file is left" in stderr
    assert b"rerun the same command to continue" in stderr  # what to do next
    time.sleep(0.2)  # terminated workers are gone; nothing may appear after the parent exits
    names = sorted(p.name for p in out.iterdir())
    assert not any(TEMP_MARKER in name for name in names), names
    written = [name for name in names if name.endswith(".png")]
    assert 1 <= len(written) < 8 and "quint-prep.json" in names
    assert sorted(read_manifest(out).images) == written  # every output is complete and recorded
    for name in written:
        assert pyvips.Image.new_from_file(str(out / name)).avg() > 0  # decodes to the end
    resumed = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.95", "-q", "--json")
    assert json.loads(resumed.stdout)["counts"] == {
        "written": 8 - len(written), "up-to-date": len(written), "failed": 0}


def test_memory_estimate_follows_the_decoded_width(tmp_path):
    from quint_prep.downscale.resample import estimate_memory
    from quint_prep.downscale.resample import Method
    from quint_prep.scale import Size
    from quint_prep.series import read_info

    flat = read_info(save(gradient(4000, 100), tmp_path / "f_s001.tif"))
    pyramid = read_info(save(gradient(4000, 100), tmp_path / "p_s001.tif", tile=True, pyramid=True))
    wide = estimate_memory(flat, Size(1000, 25), Method.AREA)
    assert wide == 100 * 1024**2 + 4000 * 3500
    assert estimate_memory(flat, Size(1000, 25), Method.LANCZOS3) > wide
    assert estimate_memory(pyramid, Size(1000, 25), Method.AREA) == 100 * 1024**2 + 1000 * 3500


def test_widest_images_start_first(tmp_path):
    from quint_prep.downscale.image import DownscaleSettings
    from quint_prep.downscale.series import plan_outputs, widest_first
    from quint_prep.downscale.resample import Method
    from quint_prep.series_plan import plan_series

    save(gradient(300, 50), tmp_path / "src/w_s001.png")
    save(gradient(900, 50), tmp_path / "src/w_s002.png")
    save(gradient(2000, 100), tmp_path / "src/w_s003.tif", tile=True, pyramid=True)  # decoded: 500 px level
    save(gradient(600, 50), tmp_path / "src/w_s004.png")
    plan = plan_series([tmp_path / "src"], factor=0.25)
    entries = plan_outputs(plan, tmp_path / "out", DownscaleSettings(factor=0.25)).entries
    ordered, costs = widest_first(entries, Method.AREA)
    assert [e.info.name for e in ordered] == ["w_s002.png", "w_s004.png", "w_s003.tif", "w_s001.png"]
    assert costs == sorted(costs, reverse=True)
