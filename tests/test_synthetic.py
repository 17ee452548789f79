"""The synthetic section generator must stay lazy: the benchmark writes gigapixel images with it."""

from __future__ import annotations

import time

import numpy as np

from quint_prep.scale import Size
from quint_prep.synthetic import section_image


def test_huge_section_is_lazy_and_a_crop_computes_quickly() -> None:
    started = time.perf_counter()
    image = section_image(Size(200_000, 150_000), seed=3, cells=5000, grain=2)
    centre = image.crop(99_500, 74_500, 1000, 1000)
    mean = centre.avg()
    assert time.perf_counter() - started < 5  # 30 gigapixels held in memory would take minutes
    assert (image.width, image.height, image.bands, image.format) == (200_000, 150_000, 3, "uchar")
    assert 60 < mean < 235


def test_section_has_slide_tissue_and_cells() -> None:
    pixels = section_image(Size(600, 400), seed=1, cells=40).numpy()
    assert pixels.shape == (400, 600, 3)
    assert np.all(pixels[0, 0] == 235)  # bare slide in the corner
    green = pixels[..., 1]
    tissue = green[150:250, 250:350]
    assert 120 < np.median(tissue) < 160  # stained tissue in the middle
    assert (green < 60).sum() > 40 * 50  # dark cells: about 40 discs of radius 10


def test_section_is_reproducible_and_grain_adds_noise() -> None:
    plain = section_image(Size(300, 200), seed=2).numpy()
    assert np.array_equal(plain, section_image(Size(300, 200), seed=2).numpy())
    grainy = section_image(Size(300, 200), seed=2, grain=3).numpy().astype(int)
    difference = grainy - plain
    assert 1.5 < difference.std() < 4.5
    assert np.array_equal(difference[..., 0], difference[..., 2])  # monochrome grain
