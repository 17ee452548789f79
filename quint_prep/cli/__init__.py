"""The quint-prep command line: parses options, calls the library, reports."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import (check_cmd, descriptor_cmd, downscale_cmd, factor_cmd, inspect_cmd, masks_cmd,
               rename_cmd, run_cmd, sections_cmd, sweep_cmd)
from ..parallel import limit_malloc_arenas, turn_off_vips_cache
from .common import Command, Group, sigterm_as_interrupt

app = typer.Typer(
    name="quint-prep",
    help="Prepare histology section series for QUINT: one consistent downscale factor for the "
         "whole series, single-colour segmentation PNGs, checks before upload.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    add_completion=False,
    cls=Group,
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


app.command("inspect", cls=Command)(inspect_cmd.inspect)
app.command("factor", cls=Command)(factor_cmd.factor)
app.command("downscale", cls=Command)(downscale_cmd.downscale)
app.command("masks", cls=Command)(masks_cmd.masks)
app.command("check", cls=Command)(check_cmd.check)
app.command("rename", cls=Command)(rename_cmd.rename)
app.command("descriptor", cls=Command)(descriptor_cmd.descriptor)
app.command("sections", cls=Command)(sections_cmd.sections)
app.command("sweep", cls=Command)(sweep_cmd.sweep)
app.command("run", cls=Command)(run_cmd.run)


def main() -> None:
    """Console-script entry point."""
    limit_malloc_arenas()  # before libvips starts its threads: bounded memory across passes
    turn_off_vips_cache()
    sigterm_as_interrupt()
    app()
