"""Write a section plan folder: ``sections.csv`` and ``index.html``, one overview per slide
with every section's box and number drawn over it (SVG over a small JPEG), so the whole series
is checked at a glance in a browser."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pyvips

from quint_prep.errors import OutputError, QuintPrepError, UsageError
from quint_prep.outputs import atomic_output, guard_output_dir, write_text_atomic
from quint_prep.sections.plan import PLAN_NAME, PlanRow, check_prefix, default_prefix, plan_text, section_numbers
from quint_prep.sections.detect import DetectSettings, SlideSections, find_sections, plan_rows

OVERVIEW_WIDTH = 1200  # px: widest overview picture in index.html
INDEX_NAME = "index.html"


def _displayable(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.format != "uchar":
        image = image.scaleimage()
    if image.bands == 2 or image.bands > 3:
        image = image.extract_band(0, n=3) if image.bands > 3 else image.extract_band(0)
    return image


def write_overview(found: SlideSections, path: Path) -> float:
    """Write the slide's overview JPEG; return its level-0 pixels per overview pixel."""
    image = _displayable(found.small.image)
    if image.width > OVERVIEW_WIDTH:
        image = image.resize(OVERVIEW_WIDTH / image.width)
    with atomic_output(path) as temporary:
        try:
            image.jpegsave(str(temporary), Q=85, keep="none")
        except pyvips.Error as error:
            raise OutputError(f"cannot write: {error}", path) from error
    return found.size.width / image.width


def _figure(found: SlideSections, rows: Sequence[PlanRow], picture: str, per_pixel: float) -> str:
    width = round(found.size.width / per_pixel)
    height = round(found.size.height / per_pixel)
    shapes = []
    for row in rows:
        x, y = row.box.x / per_pixel, row.box.y / per_pixel
        w, h = row.box.width / per_pixel, row.box.height / per_pixel
        size = max(12, min(28, round(min(w, h) / 4)))
        shapes.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" class="box"/>'
            f'<text x="{x + 4:.1f}" y="{y + size + 2:.1f}" font-size="{size}">{row.number}</text>')
    title = html.escape(found.slide.name + (f", scene {found.scene}" if found.scene is not None else ""))
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in found.notes)
    return (f"<figure><figcaption>{title}: {len(rows)} sections ({html.escape(found.small.load)}, "
            f"{found.background.value} background, {found.size})</figcaption>{notes}"
            f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
            f'<image href="{html.escape(picture)}" width="{width}" height="{height}"/>'
            f"{''.join(shapes)}</svg></figure>")


STYLE = ("body{font-family:sans-serif;margin:1em}figure{margin:0 0 2em}svg{max-width:100%;"
         "height:auto;border:1px solid #999}.box{fill:none;stroke:#e00;stroke-width:2}"
         "text{fill:#e00;font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3}"
         "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
         ".note{color:#a00}")


def _table(rows: Sequence[PlanRow]) -> str:
    head = "<tr><th>number</th><th>name</th><th>slide</th><th>box (x, y, w x h)</th><th>tissue</th></tr>"
    body = "".join(
        f"<tr><td>{r.number}</td><td>{html.escape(r.name)}</td><td>{html.escape(r.slide.name)}</td>"
        f"<td>{r.box.x}, {r.box.y}, {r.box.width} x {r.box.height}</td>"
        f"<td>{f'{r.tissue_mm2:.2f} mm²' if r.tissue_mm2 is not None else r.tissue_px or ''}</td></tr>"
        for r in rows)
    return f"<table>{head}{body}</table>"


def write_plan(folder: Path, slides: Sequence[SlideSections], rows: Sequence[PlanRow]) -> Path:
    """Write the overviews, ``index.html`` and, last, ``sections.csv``; return the CSV's path."""
    folder = Path(folder)
    figures = []
    for index, found in enumerate(slides, start=1):
        picture = f"overview-{index:02d}.jpg"
        per_pixel = write_overview(found, folder / picture)
        mine = [r for r in rows if r.slide == found.slide and r.scene == found.scene]
        figures.append(_figure(found, mine, picture, per_pixel))
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>sections</title>"
            f"<style>{STYLE}</style></head><body><h1>{len(rows)} sections on {len(slides)} "
            f"slides</h1><p>Edit {PLAN_NAME} to correct them (delete a row, change a number and "
            f"name, move a box, add rotate/flip), then run <code>quint-prep downscale "
            f"{PLAN_NAME} -o OUT --factor F</code>.</p>{''.join(figures)}{_table(rows)}</body></html>")
    write_text_atomic(folder / INDEX_NAME, page)
    plan = folder / PLAN_NAME
    write_text_atomic(plan, plan_text(rows, folder))
    return plan


@dataclass(frozen=True)
class PlanResult:
    """What ``sections`` did: the plan written, the slides read, the slides that failed."""

    plan: Path | None
    slides: tuple[SlideSections, ...]
    rows: tuple[PlanRow, ...]
    problems: tuple[QuintPrepError, ...]


def make_plan(sources: Sequence[Path], folder: Path, settings: DetectSettings, *,
              prefix: str | None = None, start: int = 1, step: int = 1,
              overwrite: bool = False) -> PlanResult:
    """Find the sections of every slide, number them across the series and write the plan
    folder. An existing ``sections.csv`` (perhaps edited) is kept unless ``overwrite``."""
    folder = Path(folder)
    if (folder / PLAN_NAME).exists() and not overwrite:
        raise UsageError(f"{folder / PLAN_NAME} exists (it may hold your edits); pass "
                         "--overwrite to detect again and replace it")
    section_numbers(0, start, step)  # refuse a bad --start/--step before reading any slide
    if prefix is not None:
        check_prefix(prefix)
    guard_output_dir(folder, sources)
    slides: list[SlideSections] = []
    problems: list[QuintPrepError] = []
    for found in find_sections(sources, settings):
        (problems if isinstance(found, QuintPrepError) else slides).append(found)  # type: ignore[arg-type]
    if not slides:
        return PlanResult(None, (), (), tuple(problems))
    rows = plan_rows(slides, prefix or default_prefix(slides[0].slide), start, step)
    plan = write_plan(folder, slides, rows)
    return PlanResult(plan, tuple(slides), tuple(rows), tuple(problems))
