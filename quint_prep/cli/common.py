"""What every command shares: option aliases, error reporting, tables, progress bars."""

from __future__ import annotations

import functools
import inspect
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Optional, Sequence, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from quint_prep.choices import SourceKind
from quint_prep.errors import EXIT_FAILED, EXIT_INTERRUPTED, QuintPrepError, UsageError, exit_code_for
from quint_prep.folder_lock import LockHolder, folder_lock
from quint_prep.progress import Listener
from quint_prep.scale import Size, parse_size

if TYPE_CHECKING:  # imported where used: the start-up of a command stays light
    from tqdm import tqdm

    from quint_prep.masks.colours import Colour
    from quint_prep.masks.labels import LabelsTable
    from quint_prep.downscale.normalise import WindowPlan
    from quint_prep.parallel import Workers

Sources = Annotated[list[Path], typer.Argument(
    help="Image files or folders of a series (folders are read one level deep).",
    metavar="IMAGES", show_default=False)]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; only errors and the summary.")]
_MAX_SIZE = typer.Option("--max-size", metavar="WxH", help="Box the largest image of the series "
                         "must fit under its one factor, e.g. 14000x10000.")
MaxSize = Annotated[str, _MAX_SIZE]
OptionalMaxSize = Annotated[Optional[str], _MAX_SIZE]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Redo every output, even up-to-date ones, and replace files quint-prep "
    "did not write.")]
Labels = Annotated[Optional[str], typer.Option(
    "--labels", help="Class label values that are objects in class-label files (ilastik, "
    "QuPath classes), e.g. 2 or 2,3 or 2-5 (default: every non-zero label; ilastik files "
    "need it).")]
ObjectColour = Annotated[Optional[str], typer.Option(
    "--object-colour", metavar="R,G,B", help="Colour of the objects in coloured inputs.")]
Invert = Annotated[bool, typer.Option("--invert", help="Swap objects and background (for "
                                      "files whose LUT or photometric tag lies).")]
InstanceIds = Annotated[Optional[str], typer.Option(
    "--instance-ids", help="Instance ids to keep in instance-label files (Cellpose, QuPath "
    "instances), e.g. 3 or 2-5 (default: every instance).")]
LabelsTableOption = Annotated[Optional[Path], typer.Option(
    "--labels-table", metavar="CSV", help="Labels per file or per tool: a CSV name,labels (name: "
    "a file name or stem, a glob like `*_cp_masks*`, or a tool: ilastik, cellpose, qupath, "
    "binary, rgb).")]

Intensity = Annotated[Optional[bool], typer.Option(
    "--intensity/--no-intensity", help="Show each image's intensity range and the series window "
    "(reads pixel histograms from a reduced level; default: on for 16-bit and float series).")]
Percentiles = Annotated[str, typer.Option("--percentiles", metavar="LO,HI",
                                          help="Percentiles that define intensity windows.")]
Jobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Images processed at once, each in its own process (default 1; "
    "with --scheduler: every worker thread of the cluster).", show_default=False)]
ImageJobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Images downscaled at once, in threads of this process (default: "
    "one per CPU core when no image to write is over 100 megapixels, else 1; with --scheduler: "
    "every worker thread of the cluster).", show_default=False)]
RunJobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Images processed at once: downscaled in threads, masks each in "
    "its own process (default: the config's jobs, else for downscale one per CPU core when no "
    "image is over 100 megapixels, for masks 1; with --scheduler: every worker thread of the "
    "cluster).", show_default=False)]
Memory = Annotated[Optional[str], typer.Option(
    "--memory", metavar="SIZE", help="Memory budget for the images running at once, e.g. 8G: "
    "huge images wait until enough of it is free (default: no limit).", show_default=False)]
SceneOption = Annotated[Optional[int], typer.Option(
    "--scene", metavar="N", min=0, help="Use scene N (0-based, see inspect) of multi-scene files such "
    "as CZI; without it a multi-scene file is refused.")]
Scheduler = Annotated[Optional[str], typer.Option(
    "--scheduler", metavar="tcp://HOST:PORT", help="Run the images on this Dask distributed "
    "cluster (needs the optional dask extra; workers must see the same paths).", show_default=False)]

Wait = Annotated[bool, typer.Option(
    "--wait", help="When another run is writing into the output folder, wait until it ends "
    "(default: exit 1 at once).")]


MaskSource = Annotated[Optional[SourceKind], typer.Option(
    "--source", help="Force the tool the segmentations come from (default: detected).")]


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class _PlainHelp:
    """Help in the usual terminal style: switches (and --help) without a ``<bool>`` type, and
    a usage line without typer's braces around required arguments, with ``...`` after those
    that take several values (``IMAGES...``, which typer 0.28 leaves out for a metavar)."""

    params: list[Any]  # typer's own (vendored) click parameters

    def _plain_switches(self) -> None:
        for param in self.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""  # typer shows a metavar instead of the type; empty: nothing

    def get_help_option(self, ctx: Any) -> Any:
        """The --help option, shown as a plain switch."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line's pieces, required arguments without braces."""
        pieces = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        several = {param.metavar for param in self.params
                   if param.param_type_name == "argument" and param.nargs != 1 and param.metavar}
        plain = [piece.replace("{", "").replace("}", "") for piece in pieces]
        return [piece + "..." if piece.strip("[]") in several and not piece.endswith("...")
                else piece for piece in plain]


class Command(_PlainHelp, TyperCommand):
    """Every quint-prep command (see _PlainHelp); its work starts with ``start_work``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_switches()

    def invoke(self, ctx: Any) -> Any:
        """Run the command, its options parsed: first ``start_work`` (which --help and usage
        errors never reach, so they start no library)."""
        start_work()
        return super().invoke(ctx)


class Group(_PlainHelp, TyperGroup):
    """The quint-prep command group (see _PlainHelp)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_switches()


def reported(command: F) -> F:
    """Run a command and turn every quint-prep error into a one-line message and an exit code.

    This is the one place where errors become exit codes: 1 failed, 2 usage, 130 interrupted.
    Tracebacks are shown only with the global ``--debug``.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        context: typer.Context | None = kwargs.pop("_quint_context", None)
        debug = bool(context and (context.find_root().obj or {}).get("debug"))
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except QuintPrepError as error:
            if debug:
                traceback.print_exc()
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(exit_code_for(error)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished outputs are kept, no partial file is left; rerun "
                       "the same command to continue", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # noqa: BLE001 - last line of defence, reported not hidden
            if debug:
                traceback.print_exc()
            typer.echo(f"internal error: {type(error).__name__}: {error} "
                       "(rerun with --debug for the traceback and report it)", err=True)
            raise typer.Exit(EXIT_FAILED) from None

    # Let typer hand us its Context (for the global --debug) without every command declaring it.
    signature = inspect.signature(command, eval_str=True)
    extra = inspect.Parameter("_quint_context", inspect.Parameter.KEYWORD_ONLY,
                              annotation=typer.Context)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra])
    return wrapper  # type: ignore[return-value]


def _option_value(parse: Callable[[str], T], text: str, option: str) -> T:
    """``parse(text)``; a UsageError (exit 2) naming the option when it refuses the text."""
    try:
        return parse(text)
    except QuintPrepError as error:
        raise UsageError(f"{option}: {error.message}") from None
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


def size_option(text: str, option: str = "--max-size") -> Size:
    """Parse a WxH option value; a UsageError (exit 2) naming the option when it is not one."""
    return _option_value(parse_size, text, option)


def colour_option(text: str, option: str) -> Colour:
    """Parse an R,G,B option value (``colours.parse_rgb``, as a config reads it); a UsageError
    (exit 2) naming the option when it is not one."""
    from quint_prep.masks.colours import parse_rgb

    return _option_value(parse_rgb, text, option)


def labels_option(text: str | None, option: str = "--labels") -> tuple[int, ...] | None:
    """``"2,3"`` / ``"2-5"`` -> label values (as a config reads them); UsageError naming the
    option otherwise."""
    from quint_prep.masks.select import parse_labels

    return None if text is None else _option_value(parse_labels, text, option)


def table_option(path: Path | None) -> LabelsTable:
    """The --labels-table CSV (an empty table when not given)."""
    from quint_prep.masks.labels import LabelsTable, read_labels_table

    return read_labels_table(path) if path is not None else LabelsTable()


def workers_option(jobs: int | None, memory: str | None, scheduler: str | None) -> Workers:
    """The Workers of --jobs/--memory/--scheduler; UsageError (exit 2) on a bad --memory."""
    from quint_prep.parallel import Workers, parse_memory

    try:
        budget = parse_memory(memory) if memory is not None else None
    except QuintPrepError as error:
        raise UsageError(f"--memory: {error.message}") from None
    return Workers(jobs=jobs, memory=budget, scheduler=scheduler)


def start_work() -> None:
    """Set the process up for a command's work: glibc's malloc arenas capped (before libvips
    starts its threads: bounded memory across passes), libvips' operation cache off."""
    from quint_prep.parallel import limit_malloc_arenas, turn_off_vips_cache

    limit_malloc_arenas()
    turn_off_vips_cache()


def sigterm_as_interrupt() -> None:
    """Turn SIGTERM (kill, SLURM time limit) into KeyboardInterrupt, so it cleans up like Ctrl-C."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def exit_if_failed(failed: bool) -> None:
    """Exit 1 when a command failed a file or its check found an error, so a Makefile or a
    batch script sees what the user reads."""
    if failed:
        raise typer.Exit(EXIT_FAILED)


def writing(*folders: Path, wait: bool = False) -> Any:
    """Hold the writer lock of the output folders for a command's work (call after
    ``guard_output_dir``); with --wait, say once on stderr whom it waits for."""

    def waiting(folder: Path, holder: LockHolder) -> None:
        typer.echo(f"waiting: {folder} is being written by {holder.describe()}", err=True)

    return folder_lock(*folders, wait=wait, on_wait=waiting)


def warn(message: str) -> None:
    """A warning line on stderr (does not disturb progress bars)."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def error_line(message: str) -> None:
    """An error line on stderr (does not disturb progress bars)."""
    from tqdm import tqdm

    tqdm.write(f"error: {message}", file=sys.stderr)


def listener(quiet: bool) -> Listener:
    """Errors and warnings as stderr lines and progress as bars, for a core function; with
    --quiet no bars and no per-file notes."""
    return Listener(error=error_line, warn=warn, note=(lambda _message: None) if quiet else warn,
                    steps=lambda total, unit: series_bar(total, quiet, unit=unit))


def print_json(document: Any) -> None:
    """Print a JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2))


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain fixed-width text table (numbers right-aligned)."""
    text_rows = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [all(_is_number(row[i]) for row in text_rows if row[i]) and bool(text_rows)
               for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in text_rows)
    return "\n".join(out)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def human_bytes(count: int) -> str:
    """1536 -> '1.5 KB'."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def bars_off(quiet: bool) -> bool:
    """True when no progress bar is drawn: with --quiet, or when stderr is not a terminal (a
    redirected log gets the messages, not the cursor codes of a bar)."""
    return quiet or not sys.stderr.isatty()


def series_bar(total: int, quiet: bool, unit: str = "image") -> tqdm:
    """The progress bar over a series (on stderr, on a terminal only; silent with --quiet)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=bars_off(quiet), file=sys.stderr,
                dynamic_ncols=True)


def image_bar_factory(quiet: bool) -> Callable[[Any], Callable[[float], None] | None]:
    """A factory of per-image progress callbacks for gigapixel images (None when quiet)."""

    def make(info: Any) -> Callable[[float], None] | None:
        if bars_off(quiet):
            return None
        from tqdm import tqdm  # when a bar is drawn: tqdm costs a command's start-up 0.04 s

        bar = tqdm(total=100, desc=info.name, unit="%", leave=False, position=1,
                   file=sys.stderr, dynamic_ncols=True)

        def update(fraction: float) -> None:
            bar.n = int(round(fraction * 100))
            bar.refresh()
            if fraction >= 1.0:
                bar.close()

        return update

    return make


def intensity_windows(images: Sequence[Any], percentiles: str) -> WindowPlan:
    """Series and per-image windows for display (``factor``/``inspect --intensity``)."""
    from quint_prep.downscale.normalise import parse_normalisation, plan_windows

    normalisation = parse_normalisation("image", percentiles)
    return plan_windows(images, normalisation)


def intensity_table(windows: WindowPlan) -> str:
    """Per-image intensity ranges, outliers flagged, and the series window."""
    from quint_prep.downscale.normalise import describe_window, intensity_note

    rows = [[r.path.name, describe_window(r.window), f"{r.saturated:.2%}",
             intensity_note(r, windows.reference_for(r)) or "ok"] for r in windows.ranges]
    lines = [format_table(["name", "window", "saturated", "note"], rows)] if rows else []
    if windows.series is not None:
        lines.append(f"series window: {describe_window(windows.series)}")
    lines.extend(f"error: {problem}" for problem in windows.problems)
    return "\n".join(lines)


def intensity_json(windows: WindowPlan) -> dict:
    """JSON form of the intensity overview."""
    from quint_prep.downscale.normalise import intensity_note

    return {
        "series_window": windows.series.to_json() if windows.series else None,
        "images": [{"path": str(r.path), "window": r.window.to_json(), "saturated": r.saturated,
                    "note": intensity_note(r, windows.reference_for(r)) or None}
                   for r in windows.ranges],
    }
