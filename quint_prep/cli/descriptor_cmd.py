"""quint-prep descriptor: the QuickNII series XML for an existing folder of images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_FAILED, UsageError
from ..quicknii import DESCRIPTOR_NAME, series_name, write_descriptor
from ..series_plan import read_series
from .common import Wait, error_line, reported, writing


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
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    with writing(folder, wait=wait):
        infos, problems, _ = read_series([folder])
        for problem in problems:
            error_line(str(problem))
        if not infos:
            raise UsageError(f"{folder}: no images to describe")
        default = series_name([info.stem for info in infos], folder.resolve().name)
        path = write_descriptor(folder, name or default,
                                [(info.name, info.size) for info in infos], filename=filename)
    typer.echo(f"wrote {path} ({len(infos)} sections)")
    if problems:
        raise typer.Exit(EXIT_FAILED)
