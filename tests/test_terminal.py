"""Terminal conventions (issue 14, item 8): progress bars on a terminal only, plain switches
and a readable usage line in --help, run --help pointing to the documented config keys."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from conftest import from_array, gradient, save
from quint_prep.cli import COMMAND_MODULES, app
from quint_prep.cli.common import bars_off

COMMANDS = sorted(COMMAND_MODULES)  # every command, registered by name and imported on use


def _run_logged(tmp_path, *args: object) -> tuple[int, bytes, bytes]:
    """Run quint-prep in a subprocess with stdout and stderr redirected to files (a log)."""
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        code = subprocess.call([sys.executable, "-m", "quint_prep", *map(str, args)],
                               stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    return code, out.read_bytes(), err.read_bytes()


def _no_cursor_codes(log: bytes) -> bool:
    return b"\r" not in log and b"\x1b" not in log


def test_a_redirected_log_gets_no_progress_bar(tmp_path):
    for number in (1, 2, 3):
        save(gradient(80, 60), tmp_path / "src" / f"brainA_s00{number}.png")
    save(gradient(80, 60), tmp_path / "src" / "unnumbered.png")  # a warning line on stderr
    code, stdout, stderr = _run_logged(tmp_path, "downscale", tmp_path / "src", "-o",
                                       tmp_path / "out", "--factor", "0.5")
    assert code == 1, stderr  # the unnumbered name fails the verdict
    assert b"unnumbered.png: name: no section number" in stderr  # messages still come
    assert _no_cursor_codes(stderr) and _no_cursor_codes(stdout), stderr[:200]
    assert b"it/s" not in stderr and b"image/s" not in stderr


def test_masks_log_gets_no_progress_bar(tmp_path):
    save(from_array(np.zeros((30, 40, 3), np.uint8)), tmp_path / "img" / "m_s001.png")
    labels = np.zeros((30, 40), np.uint8)
    labels[5:15, 5:15] = 255
    save(from_array(labels), tmp_path / "seg" / "m_s001_mask.png")
    code, stdout, stderr = _run_logged(tmp_path, "masks", tmp_path / "seg", "-o", tmp_path / "out",
                                       "--images", tmp_path / "img")
    assert code == 0, stderr
    assert _no_cursor_codes(stderr) and b"mask/s" not in stderr, stderr[:200]


def test_bars_only_on_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert bars_off(quiet=False) is False and bars_off(quiet=True) is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file: not a terminal
    assert bars_off(quiet=False) is True


@pytest.mark.parametrize("command", ["", *COMMANDS], ids=["quint-prep", *COMMANDS])
def test_help_shows_plain_switches_and_a_readable_usage_line(cli, command):
    result = cli(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    if command != "rename":  # rename documents its --pattern placeholders {prefix}, {n}, {stem}
        assert "{" not in result.stdout


@pytest.mark.parametrize("command, usage", [
    ("downscale", "quint-prep downscale [OPTIONS] IMAGES..."),
    ("masks", "quint-prep masks [OPTIONS] SEGMENTATIONS..."),
    ("run", "quint-prep run [OPTIONS] CONFIG"),
    ("rename", "quint-prep rename [OPTIONS] [IMAGES]..."),
], ids=["downscale", "masks", "run", "rename"])
def test_usage_lines_name_the_arguments(cli, command, usage):
    assert usage in cli(command, "--help").stdout


def test_switches_are_listed_with_their_negation(cli):
    text = cli("factor", "--help").stdout
    assert "--intensity" in text and "--no-intensity" in text


def test_run_help_points_to_the_documented_config_keys(cli):
    text = " ".join(cli("run", "--help").stdout.split())
    assert "configs/example.toml" in text and "docs/run.md" in text
