"""What a sweep shows: one contact sheet per section, ``objects.csv`` and ``index.html``.

A sheet puts the same region of a section side by side at every factor, cut from the written
(small) outputs and enlarged with nearest neighbour to one display size, so each output pixel
is a visible block; each panel is labelled (libvips ``text``) with factor, output size,
megapixels and micrometres per pixel.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Sequence

import pyvips

from quint_prep.outputs import atomic_output, write_text_atomic
from quint_prep.scale import Size
from quint_prep.errors import OutputError
from quint_prep.series import open_image, vips_reason
from quint_prep.sweep.decide import DISPLAY_SIDE, Recommendation, Region
from quint_prep.sweep.sample import FactorOutput, SectionSweep, factor_folder, written

GAP = 12  # px between panels
LABEL_DPI = 96


def sheet_name(section: SectionSweep) -> str:
    """``<stem>_sweep.png``."""
    return f"{section.info.stem}_sweep.png"


def display_size(region: Region, side: int = DISPLAY_SIDE) -> Size:
    """The size every crop is enlarged to: ``side`` px on the longer side of the region."""
    scale = side / max(region.width, region.height)
    return Size(max(1, round(region.width * scale)), max(1, round(region.height * scale)))


def panel_label(output: FactorOutput, microns: float | None) -> str:
    """``factor 0.25 / 2500x1875 px, 4.7 MP / 1.76 µm/px`` (one item per line)."""
    size = output.size
    lines = [f"factor {output.factor:g}"]
    if size is not None:
        lines.append(f"{size.width}x{size.height} px, {size.megapixels:.3g} MP")
    lines.append(microns_text(microns))
    return "\n".join(lines)


def _rgb(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image.copy(interpretation="srgb")


def crop_panel(output: Path, output_size: Size, source: Size, region: Region,
               display: Size) -> pyvips.Image:
    """The region cut from one written output and enlarged to ``display`` (nearest neighbour)."""
    part = region.scaled(source, output_size)
    image = open_image(output, access="sequential")
    crop = _rgb(image.crop(part.x, part.y, part.width, part.height)).copy_memory()
    enlarged = crop.resize(display.width / crop.width, vscale=display.height / crop.height,
                           kernel="nearest")
    if enlarged.width < display.width or enlarged.height < display.height:
        enlarged = enlarged.embed(0, 0, display.width, display.height, extend="copy")
    return enlarged.crop(0, 0, display.width, display.height)


def text_image(text: str, width: int) -> pyvips.Image | None:
    """Black text on white, ``width`` px wide; None when libvips cannot render text here."""
    try:
        ink = pyvips.Image.text(text, dpi=LABEL_DPI, width=width, font="sans 11")
    except pyvips.Error:
        return None
    grey = (255 - ink).cast("uchar")
    grey = grey.embed(0, 4, width, grey.height + 8, extend="white")
    return grey.bandjoin([grey, grey]).copy(interpretation="srgb")


def labelled(panel: pyvips.Image, label: str) -> tuple[pyvips.Image, bool]:
    """The panel with its label underneath; False when the label could not be drawn."""
    text = text_image(label, panel.width)
    if text is None:
        return panel, False
    return panel.join(text, "vertical", background=[255, 255, 255], expand=True), True


def overview_panel(section: SectionSweep, region: Region, display: Size) -> pyvips.Image | None:
    """The whole section fitted into the display box, with the region outlined in red; made
    from the smallest output at least as wide as the box (or the largest output)."""
    existing = sorted(written(section.outputs), key=lambda o: o.size.width)
    if not existing:
        return None
    wide = [o for o in existing if o.size.width >= display.width]
    chosen = wide[0] if wide else existing[-1]
    image = open_image(chosen.result.output, access="sequential")
    scale = min(display.width / image.width, display.height / image.height)
    image = _rgb(image.resize(scale)).copy_memory()
    box = region.scaled(section.info.size, Size(image.width, image.height))
    return image.draw_rect([255, 0, 0], box.x, box.y, box.width, box.height, fill=False)


def microns_text(microns: float | None) -> str:
    """0.504 -> '0.504 µm/px'; 1000 -> '1000 µm/px'; None -> 'pixel size unknown'."""
    if not microns:
        return "pixel size unknown"
    return f"{microns:.0f} µm/px" if microns >= 100 else f"{microns:.3g} µm/px"


def draw_sheet(section: SectionSweep, region: Region, path: Path) -> bool:
    """Write the section's contact sheet; return True when the labels are in the image."""
    display = display_size(region)
    panels: list[pyvips.Image] = []
    drawn = True
    overview = overview_panel(section, region, display)
    if overview is not None:
        panel, drawn = labelled(overview, f"{section.info.name}\nregion {region}\n(red box)")
        panels.append(panel)
    for output in written(section.outputs):
        crop = crop_panel(output.result.output, output.size, section.info.size, region, display)
        panel, ok = labelled(crop, panel_label(output, output.microns_per_pixel(section.info)))
        panels.append(panel)
        drawn = drawn and ok
    height = max(p.height for p in panels)
    panels = [p.embed(0, 0, p.width, height, extend="white") for p in panels]
    sheet = pyvips.Image.arrayjoin(panels, across=len(panels), shim=GAP, background=[255, 255, 255])
    sheet = sheet.embed(GAP, GAP, sheet.width + 2 * GAP, sheet.height + 2 * GAP, extend="white")
    with atomic_output(path) as temporary:
        _save(sheet, temporary)
    return drawn


def _save(sheet: pyvips.Image, path: Path) -> None:
    """Write one contact sheet PNG (the single place sweep writes a sheet)."""
    sheet.pngsave(str(path), compression=6, keep="none")


CSV_FIELDS = ("section", "factor", "mode", "width", "height", "objects", "objects_ratio",
              "mean_object_px", "mean_size_ratio", "area_fraction", "area_fraction_ratio")


NOT_APPLICABLE = "n/a"
NO_OBJECTS_NOTE = ("n/a: the section has no objects at full resolution, so there is nothing to "
                   "keep or lose; it is left out of the recommendation")


def _ratio(value: float | None) -> str:
    return NOT_APPLICABLE if value is None else f"{value:.4f}"


def comparison_rows(sections: Sequence[SectionSweep]) -> list[dict[str, str]]:
    """One row per section at full resolution (mode ``full``) and per factor and mode."""
    rows = []
    for section in sections:
        if section.full is None:
            continue
        full, size = section.full, section.mask_size
        same = "1.0000" if full.objects else NOT_APPLICABLE  # no objects: nothing to compare
        rows.append({"section": section.info.stem, "factor": "1", "mode": "full",
                     "width": str(size.width) if size else "", "height": str(size.height) if size else "",
                     "objects": str(full.objects), "objects_ratio": same,
                     "mean_object_px": f"{full.mean_size:.2f}", "mean_size_ratio": same,
                     "area_fraction": f"{full.area_fraction:.6f}", "area_fraction_ratio": same})
        for c in section.comparisons:
            rows.append({"section": c.section, "factor": f"{c.factor:g}", "mode": c.mode,
                         "width": str(c.size.width), "height": str(c.size.height),
                         "objects": str(c.counts.objects), "objects_ratio": _ratio(c.objects_ratio),
                         "mean_object_px": f"{c.counts.mean_size:.2f}",
                         "mean_size_ratio": _ratio(c.size_ratio),
                         "area_fraction": f"{c.counts.area_fraction:.6f}",
                         "area_fraction_ratio": _ratio(c.area_ratio)})
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write ``objects.csv`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


LEGEND = ("Each segmentation shrunk by each factor with each masks --resample mode, compared with "
          "full resolution: objects are 4-connected regions (as Nutil and PyNutil count them), "
          "objects_ratio = objects kept; mean_size_ratio = mean object size against the "
          "full-resolution mean scaled by the factor squared; area_fraction_ratio = share of "
          "the section covered by objects against full resolution.")
PAGE_STYLE = ("body{font-family:sans-serif;margin:1.5em}img{max-width:100%;image-rendering:pixelated}"
              "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
              "padding:2px 8px;text-align:right}th{background:#eee}.rec{font-size:1.2em;font-weight:bold}")


def write_page(path: Path, sections: Sequence[SectionSweep], sheets: dict[str, str],
               recommendation: Recommendation, object_rows: Sequence[dict[str, str]],
               warnings: Sequence[str], labels_in_image: bool) -> None:
    """Write ``index.html``: the recommendation, every sheet, its labels, the object table."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>quint-prep sweep</title>",
             f"<style>{PAGE_STYLE}</style></head><body><h1>quint-prep sweep</h1>",
             f"<p class='rec'>{html.escape(recommendation_text(recommendation))}</p>"]
    parts += [f"<p>left out of the recommendation: {html.escape(r)}</p>"
              for r in recommendation.left_out]
    parts += [f"<p>warning: {html.escape(w)}</p>" for w in warnings]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.info.name)}</h2>")
        if section.info.stem in sheets:
            src = html.escape(sheets[section.info.stem], quote=True)
            parts.append(f"<p><a href='{src}'><img src='{src}' alt='{src}'></a></p>")
        if not labels_in_image:
            parts.append("<p>(labels could not be drawn into the sheet; they are in this table)</p>")
        parts.append(_table(["factor", "output size", "megapixels", "µm/px", "file"], [
            [f"{o.factor:g}", str(o.size) if o.size else "", f"{o.size.megapixels:.3g}" if o.size else "",
             microns_text(o.microns_per_pixel(section.info)).removesuffix(" µm/px"),
             o.result.message or (f"{factor_folder(o.factor)}/{o.result.output.name}"
                                  if o.result.output else "")]
            for o in section.outputs]))
        parts += [f"<p>{html.escape(p)}</p>" for p in section.problems + section.notes]
        if section.left_out:
            parts.append(f"<p>left out of the recommendation: {html.escape(section.left_out)}</p>")
    if object_rows:
        parts.append("<h2>Objects at each factor (<a href='objects.csv'>objects.csv</a>)</h2>")
        parts.append(f"<p>{html.escape(LEGEND)}</p>")
        if any(row["objects_ratio"] == NOT_APPLICABLE for row in object_rows):
            parts.append(f"<p>{html.escape(NO_OBJECTS_NOTE)}</p>")
        parts.append(_table(CSV_FIELDS, [[row[f] for f in CSV_FIELDS] for row in object_rows]))
    parts.append("</body></html>\n")
    write_text_atomic(path, "\n".join(parts))


def recommendation_text(recommendation: Recommendation) -> str:
    """The one recommendation line, the same in the terminal and on the page."""
    if recommendation.factor is None:
        return f"no factor qualifies: {recommendation.reason}"
    mode = f" (masks --resample {recommendation.mode})" if recommendation.mode else ""
    return (f"recommended factor {recommendation.factor:g}{mode}: {recommendation.reason}"
            + _image_factor_text(recommendation))


def _image_factor_text(recommendation: Recommendation) -> str:
    """What the factor is for the images, when the segmentations are at another scale."""
    scale = recommendation.mask_scale
    if scale == 1.0:
        return ""
    if scale is None or recommendation.image_factor is None:
        return (". The segmentations are not at one scale of their images, so the factor "
                "(applied to each segmentation's own size) cannot be stated for the images")
    return (f". The segmentations are {scale:.4g} x the size of their images and the factor "
            "applies to their own size: for the images (downscale --factor) it is "
            f"{recommendation.image_factor:.4g}")


def write_report(output_dir: Path, sections: Sequence[SectionSweep], recommendation: Recommendation,
                 warnings: Sequence[str]) -> tuple[dict[str, str], bool, bool]:
    """Draw every sheet, write ``objects.csv`` (when there are counts) and ``index.html``.

    Returns the sheets by section stem (file names relative to ``output_dir``), whether labels
    are drawn into the sheets, and whether a CSV was written.
    """
    sheets: dict[str, str] = {}
    labels_in_image = True
    for section in sections:
        if section.region is None or not written(section.outputs):
            continue
        name = sheet_name(section)
        try:
            labels_in_image = draw_sheet(section, section.region, output_dir / name) and labels_in_image
        except pyvips.Error as error:
            raise OutputError(f"cannot draw the sheet: {vips_reason(error)}", output_dir / name) from error
        except OSError as error:
            raise OutputError(f"cannot write the sheet: {error.strerror}", output_dir / name) from error
        sheets[section.info.stem] = name
    rows = comparison_rows(sections)
    if rows:
        write_csv(output_dir / "objects.csv", rows)
    else:  # a table from an earlier sweep must not pass for this one's
        (output_dir / "objects.csv").unlink(missing_ok=True)
    write_page(output_dir / "index.html", sections, sheets, recommendation, rows, warnings,
               labels_in_image)
    return sheets, labels_in_image, bool(rows)


def sweep_json(output_dir: Path, factors: Sequence[float], sections: Sequence[SectionSweep],
               sheets: dict[str, str], recommendation: Recommendation, warnings: Sequence[str],
               csv_written: bool) -> dict:
    """The ``--json`` summary."""
    return {
        "output": str(output_dir), "page": str(output_dir / "index.html"),
        "objects_csv": str(output_dir / "objects.csv") if csv_written else None,
        "factors": list(factors),
        "recommendation": {"factor": recommendation.factor, "mode": recommendation.mode,
                           "reason": recommendation.reason,
                           "mask_scale": recommendation.mask_scale,
                           "image_factor": recommendation.image_factor,
                           "left_out": list(recommendation.left_out)},
        "warnings": list(warnings),
        "sections": [_section_json(s, output_dir, sheets) for s in sections],
    }


def _section_json(section: SectionSweep, output_dir: Path, sheets: dict[str, str]) -> dict:
    return {
        "name": section.info.name,
        "section": section.info.section.value if section.info.section else None,
        "width": section.info.size.width, "height": section.info.size.height,
        "sheet": str(output_dir / sheets[section.info.stem]) if section.info.stem in sheets else None,
        "region": section.region.to_json() if section.region else None,
        "segmentation": str(section.mask) if section.mask else None,
        "outputs": [{"factor": o.factor, "status": o.result.status,
                     "path": str(o.result.output) if o.result.output else None,
                     "width": o.size.width if o.size else None,
                     "height": o.size.height if o.size else None,
                     "microns_per_pixel": o.microns_per_pixel(section.info),
                     "error": o.result.message or None} for o in section.outputs],
        "objects": [row for row in comparison_rows([section])],
        "problems": list(section.problems), "notes": list(section.notes),
        "left_out": section.left_out,
        "judgements": [{"concern": j.concern.value, "message": j.message}
                       for j in section.judgements],
    }
