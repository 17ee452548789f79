"""quint-prep inspect: one row per image, from headers only."""

from __future__ import annotations

from typing import Annotated

import typer

from quint_prep.choices import DEFAULT_PERCENTILES_TEXT
from quint_prep.errors import EXIT_FAILED
from quint_prep.cli.common import (JsonOutput, Percentiles, Sources, error_line, format_table, human_bytes,
                     intensity_json, intensity_table, intensity_windows, print_json, reported)

# Not common.Intensity: inspect reads only headers unless asked, whatever the bit depth.
Intensity = Annotated[bool, typer.Option(
    "--intensity/--no-intensity", help="Show each image's intensity range and the series window "
    "(reads pixel histograms from a reduced level).")]


@reported
def inspect(sources: Sources, intensity: Intensity = False, percentiles: Percentiles = DEFAULT_PERCENTILES_TEXT,
            json_output: JsonOutput = False) -> None:
    """List each image's name, section number, format, size, channels (with OME names), bit
    depth, tiling, pyramid levels, pixel size (um/px) and file size; the scenes of multi-scene
    slides (CZI) and a slide's label/macro pictures. Reads headers only: instant even on gigapixel
    files (--intensity adds pixel histograms from a reduced level).

    Example: quint-prep inspect scans/mouse12/
    """
    from quint_prep.series_plan import read_series

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
                         pixel_size_text(info.pixel_size), human_bytes(info.file_bytes)])
        if rows:
            typer.echo(format_table(["name", "section", "format", "size", "channels", "bits",
                                     "layout", "levels", "um/px", "file"], rows))
        for line in slide_lines(infos):
            typer.echo(line)
        if windows is not None:
            typer.echo(intensity_table(windows))
        for problem in problems:
            error_line(str(problem))
        typer.echo(f"{len(infos)} images, {len(problems)} unreadable")
    if problems:
        raise typer.Exit(EXIT_FAILED)


def pixel_size_text(pixel_size: tuple[float, float] | None) -> str:
    """``0.5`` (square), ``0.5x0.6``, or ``unknown`` when the file records none."""
    if pixel_size is None:
        return "unknown"
    x, y = pixel_size
    return f"{x:.4g}" if abs(x - y) <= 1e-6 * max(x, y) else f"{x:.4g}x{y:.4g}"


def slide_lines(infos) -> list[str]:
    """The scenes of multi-scene files and the pictures of slides that are not sections."""
    lines = []
    for info in infos:
        for scene in info.scenes:
            lines.append(f"{info.name}: scene {scene.index}: {scene.size} at "
                         f"{scene.position[0]},{scene.position[1]}, {info.bands} channels"
                         + (f" ({', '.join(info.channel_names)})" if info.channel_names else ""))
        if info.associated:
            lines.append(f"{info.name}: also holds {', '.join(info.associated)} (never used as "
                         "the section)")
    return lines
