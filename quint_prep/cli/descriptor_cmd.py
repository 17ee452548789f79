"""quint-prep descriptor: the QuickNII series XML for an existing folder of images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from quint_prep.choices import DESCRIPTOR_NAME
from quint_prep.cli.common import Wait, listener, reported, writing
from quint_prep.errors import EXIT_FAILED, UsageError


@reported
def descriptor(
    folder: Annotated[Path, typer.Argument(help="Folder of registration images (PNG or JPEG).",
                                           metavar="FOLDER", show_default=False)],
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Series name (default: the sections' common name before _sNNN, else "
        "the folder's name).")] = None,
    filename: Annotated[str, typer.Option("--filename", help="File name of the XML in the folder.")] = DESCRIPTOR_NAME,
    wait: Wait = False,
) -> None:
    """Write the QuickNII series file (the XML FileBuilder makes) for a folder of images:
    one slice per image with its file name, section number (from _sNNN) and size.

    Example: quint-prep descriptor prepared/mouse12-registration
    """
    from quint_prep.registration.quicknii import describe_folder

    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    with writing(folder, wait=wait):
        written = describe_folder(folder, name=name, filename=filename, listener=listener(False))
    typer.echo(f"wrote {written.path} ({written.sections} sections)")
    if written.problems:
        raise typer.Exit(EXIT_FAILED)
