"""The quint-prep command line: parses options, calls the library, reports.

Each command lives in its own module (``COMMAND_MODULES``), imported only when that command
is run or its help shown: ``quint-prep --help`` and a command's start-up do not pay for the
imports of the other commands (numpy, pyvips and the library behind them).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
from pathlib import Path
from typing import Annotated, Any, Iterator, Mapping

import typer

from quint_prep import __version__
from quint_prep.cli.common import Command, Group, sigterm_as_interrupt

# Command name -> module of quint_prep.cli defining the command function of that name, in the
# order of the help listing.
COMMAND_MODULES = {
    "inspect": "inspect_cmd",
    "factor": "factor_cmd",
    "downscale": "downscale_cmd",
    "masks": "masks_cmd",
    "check": "check_cmd",
    "rename": "rename_cmd",
    "descriptor": "descriptor_cmd",
    "sections": "sections_cmd",
    "sweep": "sweep_cmd",
    "run": "run_cmd",
}
RICH_MARKUP_MODE = "markdown"


def load_command(name: str) -> Any:
    """Import the module of command ``name`` and build its click command (as typer builds it)."""
    module = importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}")
    single = typer.Typer(rich_markup_mode=RICH_MARKUP_MODE, add_completion=False)
    single.command(name, cls=Command)(getattr(module, name))
    return typer.main.get_command(single)


def command_summary(name: str) -> Any:
    """A stand-in for the help listing of the group: command ``name`` with its docstring as help
    and no options, read from the module's source without importing it (imported when the
    source is not there)."""
    import ast  # the root help only

    spec = importlib.util.find_spec(f"{__name__}.{COMMAND_MODULES[name]}")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None or origin.suffix != ".py" or not origin.is_file():
        return load_command(name)
    tree = ast.parse(origin.read_text(encoding="utf-8"))
    function = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == name)
    return Command(name=name, help=ast.get_docstring(function, clean=True),
                   rich_markup_mode=RICH_MARKUP_MODE)


class LazyCommands(Mapping[str, Any]):
    """The commands of the group by name; each is imported and built when first looked up."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = tuple(names)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = load_command(name)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class LazyGroup(Group):
    """The quint-prep group: commands imported on use; the help listing reads their
    docstrings only (``command_summary``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(COMMAND_MODULES)  # type: ignore[assignment]

    def list_commands(self, ctx: Any) -> list[str]:
        """The command names, in the order of COMMAND_MODULES (nothing imported)."""
        return list(self.commands)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The group's help, listing every command from its docstring."""
        listing = copy.copy(self)
        listing.commands = {name: command_summary(name) for name in self.commands}
        Group.format_help(listing, ctx, formatter)


app = typer.Typer(
    name="quint-prep",
    help="Prepare histology section series for QUINT: one consistent downscale factor for the "
         "whole series, single-colour segmentation PNGs, checks before upload.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=RICH_MARKUP_MODE,
    add_completion=False,
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        import pyvips

        libvips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
        typer.echo(f"quint-prep {__version__} (pyvips {pyvips.__version__}, libvips {libvips})")
        raise typer.Exit()


@app.callback()
def root(
    context: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print versions and exit.")] = False,
) -> None:
    """Prepare histology section series for the QUINT workflow."""
    context.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point (a command's work starts with ``common.start_work``)."""
    sigterm_as_interrupt()
    app()
