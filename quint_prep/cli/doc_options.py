"""The "## Options" tables of docs/<command>.md, generated from the command line itself.

Each command page holds its table between ``<!-- options:begin -->`` and
``<!-- options:end -->``; ``make docs`` (``python -m quint_prep.cli.doc_options docs``) rewrites
those blocks from the typer app, and tests/test_docs.py fails when one is out of date.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any

import typer

BEGIN = "<!-- options:begin -->"
END = "<!-- options:end -->"
HEADER = ["| option | value | what it does | default |", "|---|---|---|---|"]
# typer's generic type labels, in the words the manual uses.
VALUE_WORDS = {"path": "PATH", "list[Path]": "PATH", "str": "TEXT", "int": "N", "int range": "N",
               "float": "F", "float range": "F"}
SWITCH_DEFAULTS = {None: "auto", False: "off", True: "on"}


def cli_command(command_name: str) -> Any:
    """The click command typer builds for one quint-prep command (KeyError when unknown)."""
    from quint_prep.cli import app  # the group; each command's module is imported when it is looked up

    return typer.main.get_command(app).commands[command_name]


def options_table(command_name: str, command: Any = None) -> str:
    """The block of docs/<command_name>.md: the arguments line and the options table.

    ``command`` (the click command) defaults to the registered one of that name.
    """
    command = command if command is not None else cli_command(command_name)
    context = typer.Context(command, info_name=command_name)
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    options = [param for param in command.params
               if param.param_type_name == "option" and not param.hidden]
    intro = f"As `quint-prep {command_name} --help` prints them."
    if arguments:
        intro += " Arguments: " + "; ".join(_argument_text(param) for param in arguments)
    rows = [_option_row(param, context) for param in options]
    return "\n".join([intro, "", *HEADER, *rows])


def _argument_text(param: Any) -> str:
    dots = "..." if param.nargs != 1 else ""
    return f"`{param.metavar or param.name.upper()}`{dots}: {_one_line(param.help)}"


def _option_row(param: Any, context: typer.Context) -> str:
    names = sorted([*param.opts, *param.secondary_opts], key=lambda opt: not opt.startswith("--"))
    value = "" if param.is_flag else _value_text(param, context)
    help_text = _one_line(param.help) + (" Required." if param.required else "")
    cells = [", ".join(f"`{name}`" for name in names), _code(value), help_text,
             _default_text(param)]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _value_text(param: Any, context: typer.Context) -> str:
    shown = param.make_metavar(ctx=context) or ""  # what the value column of --help shows
    if param.metavar is None and shown.startswith("<") and shown.endswith(">"):
        shown = shown[1:-1]
    return VALUE_WORDS.get(shown, shown)


def _default_text(param: Any) -> str:
    if param.secondary_opts:  # --x/--no-x: None means the command decides
        return SWITCH_DEFAULTS.get(param.default, str(param.default))
    if param.is_flag or param.default is None or not param.show_default:
        return ""
    default = param.default
    if isinstance(default, enum.Enum):
        default = default.value
    elif isinstance(default, (list, tuple)):
        default = ",".join(str(item) for item in default)
    return _code(str(default))


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def with_table(page: str, table: str) -> str:
    """The page text with the block between the markers replaced by ``table``.

    ValueError when the page does not have both markers, in that order.
    """
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block")
    # The blank line ends the table before the closing marker in every Markdown renderer.
    return page[:start + len(BEGIN)] + "\n" + table + "\n\n" + page[end:]


def write_pages(docs: Path, command_names: list[str]) -> list[str]:
    """Rewrite the options block of docs/<name>.md for every command; the problems, if any.

    Only pages whose block changed are written. A missing page or block is a problem line.
    """
    problems = []
    for name in command_names:
        path = docs / f"{name}.md"
        if not path.is_file():
            problems.append(f"{path}: no page for the command {name}")
            continue
        page = path.read_text(encoding="utf-8")
        try:
            updated = with_table(page, options_table(name))
        except ValueError as error:
            problems.append(f"{path}: {error}")
            continue
        if updated != page:
            path.write_text(updated, encoding="utf-8")
            print(f"updated {path}")
    return problems


def main(argv: list[str]) -> int:
    """``python -m quint_prep.cli.doc_options DOCS``: regenerate every command page's table."""
    from quint_prep.cli import app

    docs = Path(argv[0]) if argv else Path("docs")
    problems = write_pages(docs, sorted(typer.main.get_command(app).commands))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
