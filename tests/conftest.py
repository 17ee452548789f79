"""Shared fixtures: tiny synthetic images made with pyvips, a CLI runner, input hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import pyvips
import pytest
from typer.testing import CliRunner

from quint_prep.cli import app


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")
    pyvips.cache_set_max(0)


@pytest.fixture
def cli() -> Callable[..., object]:
    """Invoke the CLI with a list of arguments; returns the click Result (stdout, stderr split)."""
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def gradient(width: int, height: int, bands: int = 3) -> pyvips.Image:
    """A horizontal 0..255 gradient (each band the same), 8-bit."""
    ramp = pyvips.Image.xyz(width, height)[0] * (255.0 / max(width - 1, 1))
    image = ramp.bandjoin([ramp] * (bands - 1)) if bands > 1 else ramp
    interpretation = "srgb" if bands >= 3 else "b-w"
    return image.cast("uchar").copy(interpretation=interpretation)


def from_array(array: np.ndarray) -> pyvips.Image:
    """A pyvips image from a small numpy array (H x W or H x W x bands)."""
    image = pyvips.Image.new_from_array(array)
    if array.ndim == 2 or array.shape[2] <= 2:
        interpretation = "grey16" if array.dtype == np.uint16 else "b-w"
    else:
        interpretation = "rgb16" if array.dtype == np.uint16 else "srgb"
    return image.copy(interpretation=interpretation)


def save(image: pyvips.Image, path: Path, **options) -> Path:
    """Save by extension (.png, .jpg, .tif) with options; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.write_to_file(str(path), **options)
    return path


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """make_image("src/a_s001.tif", width, height, bands=3, **save_options) -> path."""

    def make(relative: str, width: int = 64, height: int = 48, bands: int = 3, **options) -> Path:
        return save(gradient(width, height, bands), tmp_path / relative, **options)

    return make


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder (to prove inputs are untouched)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_array(path: Path) -> np.ndarray:
    """Decode a small output image to numpy (tests only; outputs are tiny)."""
    return pyvips.Image.new_from_file(str(path)).numpy()
