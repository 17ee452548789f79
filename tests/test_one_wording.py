"""One concept, one syntax and one wording wherever a user meets it: on any command line
and in a series config (issue 15)."""

from __future__ import annotations

import pytest
import typer

from quint_prep.cli import app
from quint_prep.masks.colours import parse_rgb
from quint_prep.config import resolve
from quint_prep.errors import UsageError

BAD_COLOUR = "is not R,G,B with three numbers 0-255, e.g. 255,0,0"


def _help_of(option: str) -> dict[str, str]:
    """The help text of ``option`` in every command that has it."""
    group = typer.main.get_command(app)
    found = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            if option in getattr(param, "opts", ()):
                found[name] = param.help
    return found


@pytest.mark.parametrize("option", ["--overwrite", "--max-size"])
def test_a_shared_option_says_the_same_everywhere(option):
    helps = _help_of(option)
    assert len(helps) >= 3 and len(set(helps.values())) == 1, helps


def test_parse_rgb_reads_text_and_lists():
    assert parse_rgb("255, 0,7") == (255, 0, 7) and parse_rgb([1, 2, 3]) == (1, 2, 3)
    for bad in ("red", "1,2", "256,0,0", "-1,0,0", [1, 2], [True, 0, 0]):
        with pytest.raises(ValueError, match="is not R,G,B"):
            parse_rgb(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [
    ["check", "IMG", "--colour", "300,0,0"],
    ["masks", "IMG", "-o", "OUT", "--colour", "300,0,0"],
    ["masks", "IMG", "-o", "OUT", "--object-colour", "300,0,0"],
    ["sweep", "IMG", "-o", "OUT", "--object-colour", "300,0,0"],
])
def test_a_bad_colour_reads_the_same_on_every_command(tmp_path, cli, command):
    (tmp_path / "img").mkdir()
    args = [str(tmp_path / "img") if a == "IMG" else str(tmp_path / "out") if a == "OUT" else a
            for a in command]
    result = cli(*args)
    assert result.exit_code == 2
    option = command[-2]
    assert f"error: {option}: '300,0,0' {BAD_COLOUR}" in result.stderr


def test_a_bad_colour_in_a_config_reads_as_on_the_command_line(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text('name = "m"\nimages = "scans"\noutput = "out"\nfactor = 0.5\n'
                      'colour = "300,0,0"\n')
    with pytest.raises(UsageError, match=f"colour: '300,0,0' {BAD_COLOUR}"):
        resolve(config)


def test_one_factor_is_named_by_flag_on_the_command_line_and_by_key_in_a_config(tmp_path, cli):
    (tmp_path / "scans").mkdir()
    result = cli("downscale", tmp_path / "scans", "-o", tmp_path / "out", "--factor", "0.5",
                 "--max-size", "10x10")
    assert result.exit_code == 2
    assert "give exactly one of --factor F or --max-size WxH" in result.stderr
    config = tmp_path / "m.toml"
    config.write_text('name = "m"\nimages = "scans"\noutput = "out"\n')
    with pytest.raises(UsageError, match='factor: give exactly one of factor = 0.25 or '
                                         'max_size = "14000x10000"'):
        resolve(config)
