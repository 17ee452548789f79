"""Pixel size recorded in an image file libvips reads (OME-XML or TIFF resolution tags)."""

from __future__ import annotations

import re

import pyvips

_OME_SIZE = re.compile(r"<(?:\w+:)?Pixels\b[^>]*>", re.S)
_UM = {"µm": 1.0, "um": 1.0, "\u00b5m": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def recorded_pixel_size(image: pyvips.Image) -> tuple[float, float] | None:
    """µm/px (x, y) from OME-XML ``PhysicalSizeX/Y`` or the TIFF resolution tags, else None.

    libvips reports 1 px/mm (or less) when a file records no resolution: that is unknown.
    """
    description = str(image.get("image-description")) if image.get_typeof("image-description") else ""
    pixels = _OME_SIZE.search(description) if "<OME" in description else None
    if pixels:
        attributes = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(0)))
        try:
            x = float(attributes["PhysicalSizeX"]) * _UM.get(attributes.get("PhysicalSizeXUnit", "µm"), 1.0)
            y = float(attributes.get("PhysicalSizeY", x)) * _UM.get(
                attributes.get("PhysicalSizeYUnit", "µm"), 1.0)
            if x > 0 and y > 0:
                return (x, y)
        except (KeyError, ValueError):
            pass
    xres, yres = float(image.xres or 0.0), float(image.yres or 0.0)
    if xres > 1.0 and yres > 1.0:
        return (1000.0 / xres, 1000.0 / yres)
    return None
