"""quint-prep inspect: one row per image, from headers only."""

from __future__ import annotations

import typer

from ..downscale import read_series
from ..errors import EXIT_FAILED
from .common import JsonOutput, Sources, error_line, format_table, human_bytes, print_json, reported


@reported
def inspect(sources: Sources, json_output: JsonOutput = False) -> None:
    """List each image's name, section number, format, size, bands, bit depth, tiling,
    pyramid levels and file size. Reads headers only: instant even on gigapixel files.

    Example: quint-prep inspect scans/mouse12/
    """
    infos, problems, _skipped = read_series(sources)
    if json_output:
        print_json({"images": [info.to_json() for info in infos],
                    "errors": [{"path": str(p.path) if p.path else None, "error": p.message}
                               for p in problems]})
    else:
        rows = []
        for info in infos:
            section = info.section
            layout = (f"tiled {info.tile_size}" if info.tiled and info.tile_size
                      else "striped" if info.format in ("tiff", "bigtiff") else "-")
            rows.append([info.name, section.digits if section else "-", info.format, str(info.size),
                         info.bands, info.bit_depth, layout, len(info.levels),
                         human_bytes(info.file_bytes)])
        if rows:
            typer.echo(format_table(["name", "section", "format", "size", "bands", "bits",
                                     "layout", "levels", "file"], rows))
        for problem in problems:
            error_line(str(problem))
        typer.echo(f"{len(infos)} images, {len(problems)} unreadable")
    if problems:
        raise typer.Exit(EXIT_FAILED)
