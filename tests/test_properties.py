"""Property-based tests: names, section numbers, factors and the output-size rule."""

from hypothesis import given, settings, strategies as st

from quint_prep.naming import name_problems, parse_section_number
from quint_prep.scale import Size, factor_for_display, scaled_size, series_factor

prefixes = st.text(alphabet="abcdefghijklmnopqrtuvwxyzABCDEFGHIJKLMNOPQRTUVWXYZ0123456789-",
                   min_size=1, max_size=12)
sizes = st.builds(Size, st.integers(1, 200_000), st.integers(1, 200_000))


@given(prefix=prefixes, number=st.integers(0, 99_999), width=st.integers(1, 6),
       tail=st.sampled_from(["", "_left", "-x20"]))
def test_section_number_round_trips(prefix, number, width, tail):
    digits = f"{number:0{width}d}"
    stem = f"{prefix}_s{digits}{tail}"
    parsed = parse_section_number(stem)
    assert parsed is not None and parsed.value == number and parsed.digits == digits
    assert f"{prefix}_s{parsed.digits}{tail}" == stem
    assert not any("section number" in p for p in name_problems(stem))


@given(size=sizes, factor=st.floats(1e-4, 1.0))
def test_output_size_rule(size, factor):
    out = scaled_size(size, factor)
    assert out.width == max(1, int(size.width * factor + 0.5))
    assert abs(out.width - size.width * factor) <= 0.5 or out.width == 1
    assert abs(out.height - size.height * factor) <= 0.5 or out.height == 1
    # Proportions within the one-pixel rounding: the true aspect lies between the rounded ones.
    if out.width > 1 and out.height > 1:
        low = (out.width - 0.5) / (out.height + 0.5)
        high = (out.width + 0.5) / (out.height - 0.5)
        assert low <= size.width / size.height <= high


@settings(max_examples=200)
@given(series=st.lists(sizes, min_size=1, max_size=20), box=sizes)
def test_series_factor_fits_every_image_and_is_tight(series, box):
    factor = series_factor(box, series)
    assert 0 < factor <= 1
    for size in series:
        out = scaled_size(size, factor)
        assert out.width <= max(box.width, 1) or out.width == 1
        assert out.height <= max(box.height, 1) or out.height == 1
    # Tight: some image touches the box (or nothing needed shrinking).
    if factor < 1:
        assert any(abs(s.width * factor - box.width) < 1e-6 * box.width + 1e-9
                   or abs(s.height * factor - box.height) < 1e-6 * box.height + 1e-9 for s in series)


@given(factor=st.floats(1e-6, 1.0))
def test_display_factor_never_exceeds(factor):
    shown = factor_for_display(factor)
    assert shown <= factor and shown >= factor * (1 - 1e-5)
