"""The registration series: small images for QuickNII / VisuAlign / DeepSlice, made in the
same run as the segmentation series and derived from its outputs (the gigapixel source is
never decoded a second time).

One factor for the whole registration series: the largest that makes every (oriented)
segmentation-size image fit the box, so registration images keep the series' relative sizes.
Each registration image is round(w*Fr) x round(h*Fr) of its segmentation image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pyvips

from quint_prep.choices import RegistrationFormat  # light: for --help
from quint_prep.errors import InputError
from quint_prep.outputs import atomic_output
from quint_prep.downscale.resample import Method, RESAMPLERS, exact_size
from quint_prep.scale import Size, scaled_size, series_factor
from quint_prep.series import open_image, vips_reason

DEFAULT_REGISTRATION_BOX = Size(1500, 1000)


@dataclass(frozen=True)
class RegistrationSettings:
    """Where and how the registration series is written."""

    folder: Path
    box: Size = DEFAULT_REGISTRATION_BOX
    format: RegistrationFormat = RegistrationFormat.PNG
    quality: int = 90

    def to_json(self) -> dict:
        """JSON form for the manifest."""
        return {"folder": str(self.folder), "max_size": str(self.box), "format": self.format.value}


def registration_factor(box: Size, segmentation_sizes: Sequence[Size]) -> float:
    """The one factor that fits every segmentation-size image (as oriented) into the box."""
    return series_factor(box, segmentation_sizes)


def registration_size(segmentation_size: Size, factor: float) -> Size:
    """The registration image size of one section."""
    return scaled_size(segmentation_size, factor)


def registration_image(image: pyvips.Image, size: Size) -> pyvips.Image:
    """An image brought to its registration size as 8-bit RGB (24-bit, what QuickNII reads)."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.format != "uchar":
        image = image.linear(1 / 257, 0.5).cast("uchar")
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return exact_size(RESAMPLERS[Method.AREA](image, size), size).copy(interpretation="srgb")


def save_registration_image(image: pyvips.Image, target: Path, settings: RegistrationSettings,
                            source: Path) -> None:
    """Write a registration image atomically; failures name the section's source."""
    try:
        with atomic_output(target) as temporary:
            if settings.format is RegistrationFormat.JPG:
                image.jpegsave(str(temporary), Q=settings.quality, keep="none")
            else:
                image.pngsave(str(temporary), compression=6, keep="none")
    except pyvips.Error as error:
        raise InputError(f"cannot write the registration image {target.name}: "
                         f"{vips_reason(error)}", source) from error
    except OSError as error:
        raise InputError(f"cannot write the registration image {target.name}: "
                         f"{error.strerror}", source) from error


def write_registration_image(segmentation_output: Path, target: Path, size: Size,
                             settings: RegistrationSettings) -> None:
    """Shrink a written segmentation-size image to its registration size, 8-bit RGB."""
    image = open_image(segmentation_output, access="sequential", fail_on="truncated")
    save_registration_image(registration_image(image, size), target, settings, segmentation_output)
