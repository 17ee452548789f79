"""quint-prep sweep: try several factors on a sample of the series, with pictures and numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from quint_prep.choices import (DEFAULT_FACTORS_TEXT, DEFAULT_PERCENTILES_TEXT, DEFAULT_SECTIONS, Method,
                                SourceKind)
from quint_prep.cli.common import (InstanceIds, Invert, JsonOutput, Labels, LabelsTableOption, MaskSource,
                     MaxSize, ObjectColour, Overwrite, Quiet,
                     Sources, Wait, colour_option, labels_option, listener, reported,
                     size_option, table_option, writing)
from quint_prep.errors import EXIT_FAILED
from quint_prep.scale import DEFAULT_MAX_SIZE

if TYPE_CHECKING:  # the library is imported where the work starts: --help stays light
    from quint_prep.masks.labels import LabelsTable
    from quint_prep.sweep.sample import ObjectSettings


def _objects(labels: str | None, object_colour: str | None, source: SourceKind | None,
             invert: bool, instance_ids: str | None,
             labels_table: Path | LabelsTable | None) -> ObjectSettings:
    from quint_prep.masks.labels import LabelsTable
    from quint_prep.sweep.sample import ObjectSettings

    colour = colour_option(object_colour, "--object-colour") if object_colour else None
    table = labels_table if isinstance(labels_table, LabelsTable) else table_option(labels_table)
    return ObjectSettings(labels_option(labels), colour, source, invert,
                          labels_option(instance_ids, "--instance-ids"), table)


@reported
def sweep(
    sources: Sources,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (not a source folder).",
                                         show_default=False)],
    factors: Annotated[str, typer.Option("--factors", metavar="F1,F2,...",
                                         help="Factors to try.")] = DEFAULT_FACTORS_TEXT,
    sections: Annotated[Optional[int], typer.Option(
        "--sections", metavar="N", help=f"Try N sections spread over the series (default {DEFAULT_SECTIONS}).",
        show_default=False)] = None,
    pick: Annotated[Optional[str], typer.Option(
        "--pick", metavar="s010,s050", help="Try these sections (by section number) instead.")] = None,
    segmentations: Annotated[Optional[list[Path]], typer.Option(
        "--segmentations", metavar="SEG", help="Full-resolution segmentations (files or folders, "
        "anything `masks` reads): count objects at every factor.")] = None,
    labels: Labels = None,
    instance_ids: InstanceIds = None,
    labels_table: LabelsTableOption = None,
    object_colour: ObjectColour = None,
    source: MaskSource = None,
    invert: Invert = False,
    region: Annotated[Optional[str], typer.Option(
        "--region", metavar="x,y,w,h", help="Region to show, in full-resolution pixels "
        "(default: the most detailed one).")] = None,
    keep_objects: Annotated[float, typer.Option(
        "--keep-objects", help="Share of objects a factor must keep.")] = 0.95,
    area_tolerance: Annotated[float, typer.Option(
        "--area-tolerance", help="Allowed relative change of the object area fraction.")] = 0.05,
    max_size: MaxSize = DEFAULT_MAX_SIZE,
    min_object_um: Annotated[Optional[float], typer.Option(
        "--min-object-um", metavar="D", help="Warn at factors where objects of D µm are under 3 px.")] = None,
    method: Annotated[Method, typer.Option("--method", help="Image resampling (as `downscale`).")] = Method.AREA,
    normalise: Annotated[str, typer.Option(
        "--normalise", metavar="MODE", help="Intensity to 8 bits, as `downscale` (window from "
        "the WHOLE series).")] = "auto",
    percentiles: Annotated[str, typer.Option(
        "--percentiles", metavar="LO,HI", help="Percentiles that define the window.")] = DEFAULT_PERCENTILES_TEXT,
    overwrite: Overwrite = False,
    wait: Wait = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Downscale a few sections by several factors and show what each factor keeps.

    Writes OUT/fFACTOR/NAME.png (as `downscale` would), one contact sheet per section
    (OUT/NAME_sweep.png: the same region at every factor, real pixels enlarged), OUT/index.html,
    and with --segmentations OUT/objects.csv; prints the recommended factor.

    Example: quint-prep sweep scans/mouse12/ -o sweep/mouse12 --segmentations seg/mouse12 --labels 2
    """
    from quint_prep.cli.reports import report_sweep
    from quint_prep.downscale.normalise import parse_normalisation
    from quint_prep.sweep.decide import parse_factors, parse_picks, parse_region
    from quint_prep.sweep.series import SweepSettings, plan_sweep, run_sweep

    objects = _objects(labels, object_colour, source, invert, instance_ids, labels_table)
    settings = SweepSettings(
        sources=tuple(sources), output=output, factors=parse_factors(factors), sections=sections,
        picks=parse_picks(pick) if pick is not None else None,
        segmentations=tuple(segmentations or ()), objects=objects,
        region=parse_region(region) if region is not None else None, keep_objects=keep_objects,
        area_tolerance=area_tolerance, max_size=size_option(max_size),
        min_object_um=min_object_um, method=method,
        normalisation=parse_normalisation(normalise, percentiles), overwrite=overwrite)
    plan = plan_sweep(settings, listener(quiet))
    if not plan.usable:
        raise typer.Exit(EXIT_FAILED)
    with writing(output, wait=wait):
        outcome = run_sweep(plan, listener(quiet))
    report_sweep(outcome, json_output=json_output)
    if outcome.failed:
        raise typer.Exit(EXIT_FAILED)
