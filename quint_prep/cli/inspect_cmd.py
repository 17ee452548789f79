"""quint-prep inspect: one row per image, from headers only."""

from __future__ import annotations

from typing import Annotated

import typer

from ..downscale import read_series
from ..errors import EXIT_FAILED
from .common import (JsonOutput, Percentiles, Sources, error_line, format_table, human_bytes,
                     intensity_json, intensity_table, intensity_windows, print_json, reported)

# Not common.Intensity: inspect reads only headers unless asked, whatever the bit depth.
Intensity = Annotated[bool, typer.Option(
    "--intensity/--no-intensity", help="Show each image's intensity range and the series window "
    "(reads pixel histograms from a reduced level).")]


@reported
def inspect(sources: Sources, intensity: Intensity = False, percentiles: Percentiles = "0.1,99.9",
            json_output: JsonOutput = False) -> None:
    """List each image's name, section number, format, size, channels (with OME names), bit
    depth, tiling, pyramid levels and file size. Reads headers only: instant even on gigapixel
    files (--intensity adds pixel histograms from a reduced level).

    Example: quint-prep inspect scans/mouse12/
    """
    infos, problems, _skipped = read_series(sources)
    windows = intensity_windows(infos, percentiles) if intensity else None
    if json_output:
        print_json({"images": [info.to_json() for info in infos],
                    "intensity": intensity_json(windows) if windows else None,
                    "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                               for p in problems]})
    else:
        rows = []
        for info in infos:
            section = info.section
            layout = (f"tiled {info.tile_size}" if info.tiled and info.tile_size
                      else "striped" if info.format in ("tiff", "bigtiff") else "-")
            channels = f"{info.bands}" + (f" ({', '.join(info.channel_names)})"
                                          if info.channel_names else "")
            rows.append([info.name, section.digits if section else "-", info.format, str(info.size),
                         channels, info.bit_depth, layout, len(info.levels),
                         human_bytes(info.file_bytes)])
        if rows:
            typer.echo(format_table(["name", "section", "format", "size", "channels", "bits",
                                     "layout", "levels", "file"], rows))
        if windows is not None:
            typer.echo(intensity_table(windows))
        for problem in problems:
            error_line(str(problem))
        typer.echo(f"{len(infos)} images, {len(problems)} unreadable")
    if problems:
        raise typer.Exit(EXIT_FAILED)
