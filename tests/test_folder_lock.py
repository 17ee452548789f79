"""One writer per output folder: a second run exits 1 naming the holder, or waits with --wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from quint_prep.folder_lock import LOCK_NAME, FolderBusy, folder_lock, read_holder

HOLD = """
import sys
from pathlib import Path
from quint_prep.folder_lock import folder_lock
with folder_lock(*map(Path, sys.argv[1:])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder():
    """Start a process that holds the lock of the given folders until its stdin is closed."""
    started: list[subprocess.Popen] = []

    def start(*folders: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, folders)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline() == "held\n"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_lock_is_reentrant_and_leaves_no_file(tmp_path):
    with folder_lock(tmp_path):
        holder = read_holder(tmp_path)
        assert holder.pid == os.getpid() and holder.since.endswith("UTC")
        with folder_lock(tmp_path, tmp_path / "."):  # run -> stage, same folder twice
            assert (tmp_path / LOCK_NAME).exists()
        assert (tmp_path / LOCK_NAME).exists()  # still held by the outer block
    assert not (tmp_path / LOCK_NAME).exists()


def test_another_thread_does_not_share_the_lock(tmp_path):
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with folder_lock(tmp_path):
                pass
        except FolderBusy as error:
            errors.append(error)

    with folder_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])


def test_second_run_exits_1_naming_folder_and_holder(tmp_path, make_image, cli, holder):
    make_image("src/a_s001.png")
    out = tmp_path / "out"
    out.mkdir()
    process = holder(out)
    result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q")
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert line.startswith(f"error: {out}: another quint-prep run is writing into this folder: "
                           f"pid {process.pid} on ")
    assert "since " in line and line.endswith("wait until it ends, or rerun with --wait")
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written


@pytest.mark.parametrize("command", ["masks", "descriptor", "sweep", "rename"])
def test_every_writing_command_takes_the_lock(tmp_path, make_image, cli, holder, command):
    make_image("src/a_s001.png")
    folders = {"masks": tmp_path / "out", "descriptor": tmp_path / "src",
               "sweep": tmp_path / "out", "rename": tmp_path / "src"}
    arguments = {"masks": ("masks", tmp_path / "src", "-o", tmp_path / "out"),
                 "descriptor": ("descriptor", tmp_path / "src"),
                 "sweep": ("sweep", tmp_path / "src", "-o", tmp_path / "out", "--factors", "0.5"),
                 "rename": ("rename", tmp_path / "src", "--pattern", "b_s{n:03d}")}
    folders[command].mkdir(exist_ok=True)
    process = holder(folders[command])
    quiet = ("-q",) if command in ("masks", "sweep") else ()
    result = cli(*arguments[command], *quiet)
    assert result.exit_code == 1, result.output
    assert f"{folders[command]}: another quint-prep run" in result.stderr
    assert f"pid {process.pid}" in result.stderr
    assert (tmp_path / "src/a_s001.png").exists()  # rename did nothing


def test_wait_waits_until_the_other_run_ends(tmp_path, make_image, cli, holder):
    make_image("src/a_s001.png")
    out = tmp_path / "out"
    out.mkdir()
    process = holder(out)
    release = threading.Timer(0.5, process.stdin.close)
    release.start()
    try:
        result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q", "--wait")
    finally:
        release.cancel()
    assert result.exit_code == 0, result.output
    assert f"waiting: {out} is being written by pid {process.pid}" in result.stderr
    assert (out / "a_s001.png").exists() and not (out / LOCK_NAME).exists()


def test_a_killed_holder_never_blocks_the_next_run(tmp_path, make_image, cli, holder):
    make_image("src/a_s001.png")
    out = tmp_path / "out"
    out.mkdir()
    process = holder(out)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == process.pid  # left behind
    result = cli("downscale", tmp_path / "src", "-o", out, "--factor", "0.5", "-q")
    assert result.exit_code == 0, result.output
    assert not (out / LOCK_NAME).exists()


def test_registration_folder_is_locked_too(tmp_path, make_image, cli, holder):
    make_image("src/a_s001.png")
    reg = tmp_path / "reg"
    reg.mkdir()
    holder(reg)
    result = cli("downscale", tmp_path / "src", "-o", tmp_path / "out", "--factor", "0.5",
                 "--registration", reg, "-q")
    assert result.exit_code == 1
    assert f"{reg}: another quint-prep run" in result.stderr


def test_run_holds_its_folders_and_its_stages_do_not_deadlock(tmp_path, make_image, cli, holder):
    make_image("scans/m_s001.png")
    config = tmp_path / "series.toml"
    config.write_text(f'name = "m"\nimages = "{tmp_path / "scans"}"\n'
                      f'output = "{tmp_path / "prepared"}"\nfactor = 0.5\n')
    result = cli("run", config, "-q", "--jobs", "2")
    assert result.exit_code == 0, result.output
    process = holder(tmp_path / "prepared")
    busy = cli("run", config, "-q")
    assert busy.exit_code == 1 and f"pid {process.pid}" in busy.stderr


def test_run_waits_for_a_busy_registration_folder(tmp_path, make_image, cli, holder):
    make_image("scans/m_s001.png")
    reg = tmp_path / "registration"
    reg.mkdir()
    config = tmp_path / "series.toml"
    config.write_text(f'name = "m"\nimages = "{tmp_path / "scans"}"\n'
                      f'output = "{tmp_path / "prepared"}"\nfactor = 0.5\nregistration = "{reg}"\n')
    process = holder(reg)
    busy = cli("run", config, "-q")  # refused at the start, before any stage wrote anything
    assert busy.exit_code == 1 and f"{reg}: another quint-prep run" in busy.stderr
    assert not (tmp_path / "prepared" / "m_s001.png").exists()
    release = threading.Timer(0.5, process.stdin.close)
    release.start()
    try:
        result = cli("run", config, "-q", "--wait")
    finally:
        release.cancel()
    assert result.exit_code == 0, result.output
    assert f"waiting: {reg} is being written by pid {process.pid}" in result.stderr
    assert (reg / "m_s001.png").exists() and not (reg / LOCK_NAME).exists()
