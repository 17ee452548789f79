"""Downscale a series with one factor: its settings and the streamed pipeline that writes one
image; the series and its one factor are planned by ``series_plan``, ``downscale.series`` runs
the whole series."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import pyvips

from quint_prep.choices import OutputFormat  # light: for --help
from quint_prep.downscale.colour_model import ColourModel, series_bit_depth, series_colour_model
from quint_prep.errors import InputError, UsageError
from quint_prep.naming import name_problems
from quint_prep.downscale.normalise import Normalisation, Window, WindowPlan, plan_windows
from quint_prep.orientation import Orientation, OrientationPlan
from quint_prep.outputs import atomic_output, temporary_path
from quint_prep.parallel import Cancellation, run_interruptibly
from quint_prep.downscale.resample import Method, downscale_pipeline
from quint_prep.scale import Size, check_factor
from quint_prep.series import ImageInfo, file_notes, vips_reason
from quint_prep.series_plan import SeriesPlan
from quint_prep.status import Status
from quint_prep.slides.tiffstream import stream_error

PROGRESS_MEGAPIXELS = 100.0  # images larger than this report progress while they are written


@dataclass(frozen=True)
class DownscaleSettings:
    """Everything that decides the pixels of an output besides the source itself."""

    factor: float
    format: OutputFormat = OutputFormat.PNG
    quality: int = 90
    method: Method = Method.AREA
    keep_depth: bool = False
    keep_alpha: bool = False
    png_compression: int = 3  # measured: 28% less encode CPU than 6 for 5% larger files
    normalisation: Normalisation = Normalisation()
    channels: tuple[str, ...] | None = None
    windows: WindowPlan | None = None  # computed by normalise.plan_windows before the run
    orientations: OrientationPlan = OrientationPlan()
    colour_model: ColourModel = ColourModel.AUTO  # settled per series by settle_colour_model
    bit_depth: int | None = None  # 8 or 16 once settled

    def window_for(self, info: ImageInfo) -> Window | None:
        """The intensity window applied to this image (None: plain 8-bit or kept depth)."""
        if self.keep_depth or self.windows is None:
            return None
        return self.windows.window_for(info, self.normalisation)

    def __post_init__(self) -> None:
        check_factor(self.factor)
        if self.format is OutputFormat.JPG and self.keep_depth:
            raise UsageError("JPEG holds 8 bits only: drop --keep-depth or choose --format png|tif")
        if self.format is OutputFormat.JPG and self.keep_alpha:
            raise UsageError("JPEG has no alpha: drop --keep-alpha or choose --format png|tif")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality {self.quality} is not between 1 and 100")

    def to_json(self) -> dict:
        """Settings as recorded in the manifest (the factor is recorded on its own)."""
        return {
            "method": self.method.value,
            "format": self.format.value,
            "quality": self.quality if self.format is OutputFormat.JPG else None,
            "keep_depth": self.keep_depth,
            "keep_alpha": self.keep_alpha,
            "channels": list(self.channels) if self.channels else None,
            "normalise": self._normalise_json(),
            "orientation": None if self.orientations.is_identity else self.orientations.to_json(),
            "colour_model": self.colour_model.value,
            "bit_depth": self.bit_depth,
        }

    def _normalise_json(self) -> dict:
        mode = "none" if self.keep_depth else self.normalisation.mode
        series = self.windows.series if self.windows else None
        return {"mode": mode, "percentiles": list(self.normalisation.percentiles),
                "window": series.to_json() if series and mode != "image" else None}


def with_windows(settings: DownscaleSettings, plan: SeriesPlan,
                 given: Window | None = None) -> DownscaleSettings:
    """The settings with the series' intensity windows computed (none when depth is kept).

    ``given`` is a window from ``--normalise-from``; it is used instead of the histograms.
    """
    if settings.keep_depth:
        return settings
    windows = plan_windows(plan.images, settings.normalisation, settings.channels, given=given)
    return replace(settings, windows=windows)


def settle_colour_model(settings: DownscaleSettings,
                        infos: Sequence[ImageInfo]) -> DownscaleSettings:
    """The settings with the series' one colour model and bit depth decided from the headers
    (``auto``: RGB when any section is colour); settled settings are returned unchanged."""
    if settings.colour_model is not ColourModel.AUTO and settings.bit_depth is not None:
        return settings
    return replace(settings,
                   colour_model=series_colour_model(infos, settings.colour_model, settings.channels),
                   bit_depth=series_bit_depth(infos, settings.keep_depth))


@dataclass(frozen=True)
class ImageResult:
    """What happened to one image of the series."""

    source: Path
    status: Status
    output: Path | None = None
    source_size: Size | None = None
    output_size: Size | None = None
    section: int | None = None
    load: str = ""
    seconds: float = 0.0
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``downscale --json``)."""
        return {
            "source": str(self.source),
            "status": self.status,
            "output": str(self.output) if self.output else None,
            "source_width": self.source_size.width if self.source_size else None,
            "source_height": self.source_size.height if self.source_size else None,
            "width": self.output_size.width if self.output_size else None,
            "height": self.output_size.height if self.output_size else None,
            "section": self.section,
            "load": self.load,
            "seconds": round(self.seconds, 3),
            "error": self.message or None,
            "warnings": list(self.warnings),
        }


def output_name(info: ImageInfo, fmt: OutputFormat) -> str:
    """The output file name: the source's stem with the output format's extension."""
    return f"{info.stem}.{fmt.value}"


def image_warnings(info: ImageInfo) -> tuple[str, ...]:
    """Things worth telling the user about one source that do not stop it."""
    return tuple(f"name: {problem}" for problem in name_problems(info.stem)) + file_notes(info)


def _save(image: pyvips.Image, path: Path, settings: DownscaleSettings) -> None:
    if settings.format is OutputFormat.PNG:
        image.pngsave(str(path), compression=settings.png_compression, keep="none")
    elif settings.format is OutputFormat.JPG:
        image.jpegsave(str(path), Q=settings.quality, keep="none")
    else:
        image.tiffsave(str(path), compression="deflate", predictor="horizontal", keep="none")


def _save_described(built: tuple[pyvips.Image, str], path: Path, settings: DownscaleSettings,
                    orientation: Orientation) -> str:
    with ExitStack() as stack:
        image = _oriented(built[0], orientation, path.with_suffix(".v"), stack)
        _save(image, path, settings)
    return built[1]


def _oriented(image: pyvips.Image, orientation: Orientation, scratch: Path,
              stack: ExitStack) -> pyvips.Image:
    """Apply the orientation; rotations and vertical flips read out of order, so the
    (already downscaled) image is first written to an uncompressed scratch file in the output
    folder, which libvips maps for random access. The scratch file goes when the stack closes."""
    if orientation.is_identity:
        return image
    if orientation.needs_random_access:
        temporary = temporary_path(scratch)
        stack.callback(lambda: temporary.unlink(missing_ok=True))
        image.write_to_file(str(temporary))
        image = pyvips.Image.new_from_file(str(temporary), access="random")
    return orientation.apply(image)


def _with_resolution(image: pyvips.Image, info: ImageInfo, target: Size) -> pyvips.Image:
    if info.pixel_size is None:
        return image
    scale_x, scale_y = target.width / info.size.width, target.height / info.size.height
    return image.copy(xres=1000.0 / info.pixel_size[0] * scale_x,
                      yres=1000.0 / info.pixel_size[1] * scale_y)


def downscale_one(info: ImageInfo, output: Path, target: Size, settings: DownscaleSettings,
                  on_progress: Callable[[float], None] | None = None,
                  cancellation: Cancellation | None = None) -> str:
    """Write one downscaled (and oriented) image atomically; return how its pixels were loaded.

    ``target`` is the size before orientation. ``cancellation`` (a run in threads) stops the
    pipeline when the run is cancelled. Raises InputError when the source cannot be decoded,
    the output cannot be written or the run was cancelled.
    """
    orientation = settings.orientations.for_stem(info.stem)
    made: list[pyvips.Image] = []

    def build() -> tuple[pyvips.Image, str]:
        image, plan = downscale_pipeline(info, target, settings.method,
                                         keep_depth=settings.keep_depth,
                                         keep_alpha=settings.keep_alpha,
                                         window=settings.window_for(info),
                                         channels=settings.channels,
                                         colour=settings.colour_model,
                                         bit_depth=settings.bit_depth)
        image = _with_resolution(image, info, target)
        made.append(image)
        if cancellation is not None:
            cancellation.watch(image)
        if on_progress is not None:
            image.set_progress(True)
            image.signal_connect("eval", lambda _image, progress: on_progress(progress.percent / 100))
        return image, plan.description

    try:
        with atomic_output(output) as temporary:
            described = run_interruptibly(build, lambda built: _save_described(
                built, temporary, settings, orientation), kill=lambda built: built[0].set_kill(True))
            failed = stream_error(made[0]) if made else None
            if failed is not None:  # a vendor read failed: libvips went on, the output is bad
                raise failed
            return described
    except pyvips.Error as error:
        raise (stream_error(made[0]) if made else None) or InputError(
            f"failed while decoding or writing: {vips_reason(error)}", info.path) from error
    except OSError as error:
        raise InputError(f"cannot write {output.name}: {error.strerror}", info.path) from error
    finally:
        if cancellation is not None and made:
            cancellation.release(made[0])
