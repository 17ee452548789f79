"""The section plan: names, numbers, reading order, and sections.csv read/validate/write."""

from pathlib import Path

import pytest

from quint_prep.errors import UsageError
from quint_prep.orientation import Orientation
from quint_prep.sections.plan import (Box, Order, PlanRow, check_prefix, default_prefix, number_width,
                             plan_text, read_plan, reading_order, section_name, section_numbers)
from quint_prep.scale import Size


def test_numbers_start_and_step():
    assert section_numbers(4, start=1, step=2) == [1, 3, 5, 7]
    assert section_numbers(3, start=10) == [10, 11, 12]
    with pytest.raises(UsageError, match="--step 0"):
        section_numbers(3, step=0)


def test_names_share_one_padding_width():
    numbers = section_numbers(3, start=998)
    width = number_width(numbers)
    assert [section_name("m12", n, width) for n in numbers] == ["m12_s0998", "m12_s0999", "m12_s1000"]
    assert number_width([1, 2]) == 3


@pytest.mark.parametrize("prefix", ["a_sb", "tissue_mask", "a.b", "a/b", ""],
                         ids=["early-s", "mask", "dot", "slash", "empty"])
def test_unsafe_prefix_refused(prefix):
    with pytest.raises(UsageError, match="--prefix"):
        check_prefix(prefix)


def test_default_prefix_is_safe():
    assert default_prefix(Path("mouse12_slide03.tif")) == "mouse12-slide"
    assert default_prefix(Path("Brain masks_s2.tif")) == "Brain-s-s"
    check_prefix(default_prefix(Path("x_sy_mask 01.svs")))


def test_rows_top_to_bottom_each_left_to_right():
    # two rows; the second box of row 1 sits a little lower than the first
    boxes = [Box(500, 40, 100, 100), Box(0, 0, 100, 100), Box(0, 300, 100, 100),
             Box(300, 320, 100, 90)]
    assert reading_order(boxes) == [1, 0, 2, 3]
    assert reading_order(boxes, reverse=True) == [3, 2, 0, 1]
    assert reading_order(boxes, Order.COLUMNS) == [1, 2, 3, 0]


def _row(number, name, slide, box=Box(0, 0, 10, 10)):
    return PlanRow(number, name, slide, None, box, orientation=Orientation(90, "horizontal"))


def test_plan_round_trip(tmp_path):
    slide = tmp_path / "slides" / "a.tif"
    rows = [_row(1, "m_s001", slide), _row(3, "m_s003", slide, Box(5, 6, 7, 8))]
    plan = tmp_path / "plan" / "sections.csv"
    plan.parent.mkdir()
    plan.write_text(plan_text(rows, plan.parent))
    assert "../slides/a.tif" in plan.read_text()
    read = read_plan(plan)
    assert read == rows
    assert [r.line for r in read] == [2, 3]


HEADER = "number,name,slide,scene,x,y,width,height,rotate,flip\n"


@pytest.mark.parametrize("line, message", [
    ("2,m_s002,a.tif,,0,0,10,10,,", "line 3: number 2 is also on line 2"),
    ("3,m_s004,a.tif,,0,0,10,10,,", "line 3: name 'm_s004' carries section number 4"),
    ("3,../m_s003,a.tif,,0,0,10,10,,", "line 3: name '../m_s003' is not a plain file stem"),
    ("3,m_mask_s003,a.tif,,0,0,10,10,,", "line 3: name 'm_mask_s003': 'mask' in the name"),
    ("3,m.x_s003,a.tif,,0,0,10,10,,", "line 3: name 'm.x_s003': a '.' in the name"),
    ("3,m_s03,a.tif,,0,0,10,10,,", "padded to different widths: 2 digits (line 3), 3 digits (line 2)"),
    ("3,m_s003,a.tif,,0,0,-4,10,,", "line 3: width -4 is below 1"),
    ("3,m_s003,a.tif,,0,0,10,10,45,", "line 3: rotate: rotation '45'"),
    ("3,m_s003,nowhere.tif,,0,0,10,10,,", "line 3: unknown slide"),
    ("3,m_s003,a.tif,,95,0,10,10,,", "line 3: box 95,0 10x10 lies outside the slide (100x50)"),
], ids=["dup-number", "number-mismatch", "path", "mask", "dot", "padding", "negative", "rotate",
        "unknown-slide", "outside"])
def test_bad_row_refused_with_its_line(tmp_path, line, message):
    (tmp_path / "a.tif").write_bytes(b"x")
    plan = tmp_path / "sections.csv"
    plan.write_text(HEADER + "2,m_s002,a.tif,,0,0,10,10,,\n" + line + "\n")
    with pytest.raises(UsageError) as caught:
        read_plan(plan, slide_size=lambda slide, scene: Size(100, 50))
    assert message in caught.value.message
    assert "nothing was written" in caught.value.message


def test_not_a_plan(tmp_path):
    plan = tmp_path / "sections.csv"
    plan.write_text("name,rotate,flip\na_s001,90,\n")
    with pytest.raises(UsageError, match="not a section plan: the columns number, slide"):
        read_plan(plan)
