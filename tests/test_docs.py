"""The manual stays true to the command line: a page per command, and every shown command parses.

Command lines are taken from fenced code blocks of README.md, docs/*.md and bench/README.md:
a line whose first word (after an optional `$ ` prompt) is `quint-prep` or `.venv/bin/quint-prep`.
Lines ending in `\\` continue on the next line; shell comments (`# ...`) are dropped. A line
containing `...` is a placeholder (`quint-prep --debug COMMAND ...`) and is skipped; with
`--help` only the command name is checked. Every other line is parsed by click exactly as the
shell would pass it (`make_context`, which converts values but never runs the command), so an
unknown option, a bad choice or a missing argument fails with the file, the line and click's
message. `docs/notes-*.md` (notes of work in progress) are checked for command lines but are
not command pages. The "## Options" block of every command page is what `make docs` generates
from the command line now (quint_prep/cli/doc_options.py).
"""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.exceptions import TyperException

from quint_prep.cli import app
from quint_prep.cli.doc_options import BEGIN, END, options_table, with_table

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PROGRAMS = ("quint-prep", ".venv/bin/quint-prep")


def doc_files() -> list[Path]:
    """README.md, every page of docs/ and the benchmark journal."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md")), ROOT / "bench" / "README.md"]


def command_pages() -> set[str]:
    """Names of docs/<name>.md pages, without the helpers' notes-*.md."""
    return {page.stem for page in DOCS.glob("*.md") if not page.stem.startswith("notes-")}


def cli_group():
    """The click group typer builds from the app (the commands users can type)."""
    return typer.main.get_command(app)


def shown_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, arguments after the program) of every command line in the code blocks."""
    found, fenced, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        if not pending:
            start = number
        joined = pending + line
        if joined.rstrip().endswith("\\"):
            pending = joined.rstrip()[:-1] + " "
            continue
        pending = ""
        words = joined.strip().removeprefix("$ ").split(maxsplit=1)
        if not words or words[0] not in PROGRAMS or "..." in joined:
            continue
        found.append((start, shlex.split(words[1] if len(words) > 1 else "", comments=True)))
    return found


def parse_problem(args: list[str]) -> str | None:
    """Click's complaint about one command line, or None when it parses."""
    group = cli_group()
    root_options = {opt for param in group.params for opt in param.opts}
    while args and args[0].startswith("-"):
        if args[0] not in root_options:
            return f"No such option: {args[0]}"
        if args[0] in ("--version", "--help"):
            return None
        args = args[1:]
    if not args:
        return "no command"
    name, rest = args[0], args[1:]
    command = group.commands.get(name)
    if command is None:
        return f"No such command '{name}'"
    if "--help" in rest:
        return None
    try:
        command.make_context(name, list(rest), resilient_parsing=False)
    except TyperException as error:
        return error.format_message() if hasattr(error, "format_message") else str(error)
    return None


def problems_in(path: Path, text: str) -> list[str]:
    """One 'file:line: command: message' per command line that does not parse."""
    return [f"{path.name}:{line}: quint-prep {shlex.join(args)}: {problem}"
            for line, args in shown_commands(text)
            if (problem := parse_problem(args)) is not None]


def test_every_registered_command_has_a_page():
    missing = sorted(set(cli_group().commands) - command_pages())
    assert not missing, f"no docs/<command>.md page for: {', '.join(missing)}"


def test_index_links_every_page_and_readme_links_the_index():
    index = (DOCS / "index.md").read_text()
    unlinked = sorted(name for name in command_pages() - {"index"} if f"({name}.md" not in index)
    assert not unlinked, f"docs/index.md does not link: {', '.join(unlinked)}"
    assert "(docs/index.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_shown_command_lines_parse(path):
    text = path.read_text()
    if path.name == "README.md" and path.parent == ROOT:
        assert len(shown_commands(text)) >= 10  # the scan finds the README's commands at all
    problems = problems_in(path, text)
    assert not problems, "\n".join(problems)


def test_a_wrong_command_line_is_reported_with_file_line_and_reason():
    text = "\n".join([
        "Text `quint-prep downscale --bogus` outside code blocks is not read.",
        "```sh",
        "$ quint-prep inspect scans/ --json      # a comment --nothing",
        "quint-prep downscale scans/ -o out \\",
        "    --factor 0.25 --bogus 3",
        ".venv/bin/quint-prep masks seg/ -o m --resample blur",
        "quint-prep check prepared/ ...",
        "quint-prep frobnicate x",
        "quint-prep run",
        "quint-prep --debug sweep scans/ -o s --help",
        "```",
    ])
    problems = problems_in(Path("page.md"), text)
    assert len(problems) == 4, problems
    assert problems[0].startswith("page.md:4: quint-prep downscale scans/ -o out --factor 0.25")
    assert "No such option: --bogus" in problems[0]
    assert problems[1].startswith("page.md:6:") and "'blur' is not one of" in problems[1]
    assert problems[2].startswith("page.md:8:") and "No such command 'frobnicate'" in problems[2]
    assert problems[3].startswith("page.md:9:") and "Missing argument" in problems[3]


def stale_options(name: str, command=None) -> str | None:
    """Why docs/<name>.md's options block is not what the generator makes of ``command``."""
    page = (DOCS / f"{name}.md").read_text()
    if BEGIN not in page or END not in page:
        return f"docs/{name}.md has no {BEGIN} ... {END} block (add them, then run make docs)"
    if with_table(page, options_table(name, command)) != page:
        return (f"docs/{name}.md: the options table differs from `quint-prep {name} --help`; "
                "run make docs")
    return None


def test_every_command_page_shows_the_options_the_command_has():
    problems = [problem for name in sorted(cli_group().commands)
                if (problem := stale_options(name)) is not None]
    assert not problems, "\n".join(problems)


def test_an_option_added_to_a_command_makes_its_page_stale():
    extra = typer.Typer()

    @extra.command()
    def added(new: Annotated[int, typer.Option("--new-thing", help="Added today.")] = 3) -> None:
        """A one-option command whose option is grafted onto factor."""

    factor = copy.copy(cli_group().commands["factor"])
    factor.params = [*factor.params, typer.main.get_command(extra).params[0]]
    assert "| `--new-thing` | `N` | Added today. | `3` |" in options_table("factor", factor)
    assert "run make docs" in stale_options("factor", factor)
