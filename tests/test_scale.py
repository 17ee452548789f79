import pytest

from quint_prep.errors import UsageError
from quint_prep.scale import (Size, check_factor, factor_for_display, parse_size, scaled_size,
                              series_factor)


def test_parse_size():
    assert parse_size("14000x10000") == Size(14000, 10000)
    assert parse_size(" 10X20 ") == Size(10, 20)


@pytest.mark.parametrize("text", ["14000", "0x10", "axb", "10x-3", ""])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError):
        parse_size(text)


@pytest.mark.parametrize("factor", [0, -0.5, 1.5, float("nan"), float("inf")])
def test_factor_must_shrink(factor):
    with pytest.raises(UsageError):
        check_factor(factor)


def test_scaled_size_rounds_half_up_and_never_zero():
    assert scaled_size(Size(1001, 3), 0.5) == Size(501, 2)  # 500.5 -> 501, 1.5 -> 2
    assert scaled_size(Size(10, 10), 0.001) == Size(1, 1)


def test_series_factor_fits_the_largest_image():
    box = Size(1000, 1000)
    sizes = [Size(3000, 2000), Size(1200, 4000), Size(500, 500)]
    factor = series_factor(box, sizes)
    assert factor == pytest.approx(0.25)
    for size in sizes:
        out = scaled_size(size, factor)
        assert out.width <= box.width and out.height <= box.height


def test_series_factor_never_enlarges():
    assert series_factor(Size(14000, 10000), [Size(100, 100)]) == 1.0


def test_series_factor_needs_images():
    with pytest.raises(UsageError):
        series_factor(Size(10, 10), [])


def test_display_factor_rounds_down():
    assert factor_for_display(0.2976190476) == 0.297619
    assert factor_for_display(0.25) == 0.25
