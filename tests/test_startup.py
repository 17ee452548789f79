"""Start-up stays light (issue 18 item 3): the command line imports a command's module only
when that command runs or shows its help, and numpy or pyvips only where they are used.
Timings live in `make bench` (bench/bench_startup.py); these tests check what is imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from quint_prep.cli import COMMAND_MODULES, app, command_summary, load_command

HEAVY = ("numpy", "pyvips")


def _modules_after(code: str) -> set[str]:
    """The names in sys.modules after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_importing_the_command_line_imports_neither_numpy_nor_pyvips():
    loaded = _modules_after("import quint_prep.cli")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {f"quint_prep.cli.{module}" for module in COMMAND_MODULES.values()} & loaded


def test_the_help_listing_imports_no_command_module_nor_numpy():
    loaded = _modules_after(
        "from typer.testing import CliRunner\nfrom quint_prep.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'downscale' in result.stdout, result.output")
    assert "numpy" not in loaded and "pyvips" not in loaded
    assert not {f"quint_prep.cli.{module}" for module in COMMAND_MODULES.values()} & loaded


def _console_script(*arguments: str) -> str:
    """Code that runs the console script's ``main`` with ``arguments``, as the shell would,
    and asserts that it exits with ``expected`` (defined by the code put before it)."""
    return (f"import sys\nsys.argv = ['quint-prep', *{list(arguments)!r}]\n"
            "from quint_prep.cli import main\n"
            "try:\n    main()\nexcept SystemExit as stop:\n    code = stop.code\n"
            "else:\n    code = 0\n"
            "assert code == expected, f'exit {code}, expected {expected}'")


@pytest.mark.parametrize("name", ["", *COMMAND_MODULES], ids=["root", *COMMAND_MODULES])
def test_help_through_the_console_script_imports_neither_numpy_nor_pyvips(name):
    arguments = [name, "--help"] if name else ["--help"]
    loaded = _modules_after("expected = 0\n" + _console_script(*arguments))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    others = {f"quint_prep.cli.{module}" for command, module in COMMAND_MODULES.items()
              if command != name}
    assert not others & loaded, sorted(others & loaded)


@pytest.mark.parametrize("name", list(COMMAND_MODULES))
def test_a_usage_error_is_found_without_importing_numpy_nor_pyvips(name):
    # Parsing every option (types, choices, defaults) needs no library: exit 2 before the work.
    loaded = _modules_after("expected = 2\n" + _console_script(name, "--no-such-option"))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_looking_up_one_command_imports_its_module_only():
    loaded = _modules_after(
        "import typer\nfrom quint_prep.cli import app\n"
        "assert typer.main.get_command(app).commands['rename'].name == 'rename'")
    assert "quint_prep.cli.rename_cmd" in loaded
    others = {f"quint_prep.cli.{module}" for name, module in COMMAND_MODULES.items()
              if name != "rename"}
    assert not others & loaded, sorted(others & loaded)


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_the_help_listing_shows_each_command_as_the_command_itself_does(name):
    assert command_summary(name).help == load_command(name).help
    assert load_command(name).help  # every command has a docstring to list


def test_every_command_module_defines_its_command_and_unknown_names_are_none():
    group = typer.main.get_command(app)
    assert list(group.commands) == list(COMMAND_MODULES)
    assert group.commands.get("frobnicate") is None
    assert all(group.commands[name].name == name for name in COMMAND_MODULES)


def test_a_command_not_the_import_nor_help_turns_off_the_libvips_cache(tmp_path):
    # The process set-up (malloc arenas, libvips cache off) comes when a command runs
    # (common.start_work, moved there from main), so --help does not start libvips.
    loaded = _modules_after(
        "import pyvips\npyvips.cache_set_max(100)\nimport quint_prep.cli\n"
        "assert pyvips.cache_get_max() == 100, 'set on import'\n"
        "expected = 0\n" + _console_script("inspect", "--help")
        + "\nassert pyvips.cache_get_max() == 100, 'set by --help'\n"
        + _console_script("inspect", str(tmp_path))
        + "\nassert pyvips.cache_get_max() == 0, pyvips.cache_get_max()")
    assert "quint_prep.cli.inspect_cmd" in loaded


def test_inspect_reads_headers_without_numpy(tmp_path):
    # inspect's work is a header read: its start-up pays for pyvips, never for numpy (tissue
    # detection, which only --trim needs, is imported where series_plan trims).
    import pyvips

    image = tmp_path / "section_s001.png"
    pyvips.Image.black(8, 6).write_to_file(str(image))
    loaded = _modules_after("expected = 0\n" + _console_script("inspect", str(image)))
    assert "pyvips" in loaded and "quint_prep.series_plan" in loaded
    assert "numpy" not in loaded
