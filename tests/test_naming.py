import pytest

from quint_prep.naming import name_problems, parse_section_number


@pytest.mark.parametrize("stem, value, digits", [
    ("mouse12_s001", 1, "001"),
    ("tg2345_MMSH_s045", 45, "045"),
    ("brain_s7_right", 7, "7"),
], ids=["padded", "prefix-with-underscores", "suffix-after-number"])
def test_section_number_is_read(stem, value, digits):
    number = parse_section_number(stem)
    assert number is not None and number.value == value and number.digits == digits


@pytest.mark.parametrize("stem", ["mouse12", "a_s001_s002", "s001", "mouse_S001"],
                         ids=["none", "two-numbers", "no-underscore", "capital-S"])
def test_no_or_ambiguous_number_gives_none(stem):
    assert parse_section_number(stem) is None


def test_safe_name_has_no_problems():
    assert name_problems("tg2345_MMSH_s001") == []


@pytest.mark.parametrize("stem, fragment", [
    ("mouse12", "no section number"),
    ("a_s001_s002", "Nutil takes the first"),
    ("tg2345_MMSH_ss_s001", "an '_s' before the section number"),
    ("brain_s001_mask", "Nutil skips"),
    ("brain.v2_s001", "Nutil cuts report names"),
    ("brain s001_s002 x", "characters other than"),
], ids=["missing", "two", "early-s", "mask", "dot", "space"])
def test_name_problems_explain_what_breaks(stem, fragment):
    assert any(fragment in problem for problem in name_problems(stem))


def test_name_issues_carry_codes_and_blocking():
    from quint_prep.naming import name_issues
    issues = {i.code: i.blocking for i in name_issues("a_ss_s001_mask")}
    assert issues == {"early-s": True, "mask": False}


def test_strip_section_padding_and_natural_order():
    from quint_prep.naming import SectionNumber, natural_key, padding_outliers, strip_section
    assert strip_section("mouse12_s007_right") == "mouse12_right"
    numbers = {"a_s001": SectionNumber(1, "001"), "a_s002": SectionNumber(2, "002"),
               "a_s3": SectionNumber(3, "3")}
    assert padding_outliers(numbers) == (3, ["a_s3"])
    assert sorted(["s10", "s9", "S1"], key=natural_key) == ["S1", "s9", "s10"]
