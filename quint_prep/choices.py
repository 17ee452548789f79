"""The values the command line offers: the enums and defaults of the commands' options.

Parsing options and printing ``--help`` need these and nothing else, so they live here, in a
module that imports neither numpy nor pyvips (tests/test_startup.py): a command's start-up does
not pay for the library behind it. Each enum is also importable from the module that uses it
(``quint_prep.downscale.resample.Method``, ``quint_prep.masks.select.MaskResample``, ...),
next to its dispatch table.
"""

from __future__ import annotations

from enum import Enum

# --- downscale ------------------------------------------------------------------------------


class OutputFormat(str, Enum):
    """Output file formats: PNG (default; what ilastik and the QUINT tools read best), JPEG, TIFF."""

    PNG = "png"
    JPG = "jpg"
    TIF = "tif"


class Method(str, Enum):
    """Image resampling methods (masks use their own label-safe methods).

    - ``area``: box ``shrinkh``/``shrinkv`` by the integer part of the scale (every source pixel
      counts once: area-correct), then ``reduceh``/``reducev`` with a lanczos3 kernel for the
      remaining fraction (< 2x). Cheapest antialiased reduction; the default.
    - ``lanczos3``: libvips ``resize`` with ``kernel="lanczos3"`` (box shrink only to 2x the
      target, lanczos3 for the rest): slightly sharper, slower on large factors.
    Both start from the smallest stored pyramid level, or JPEG shrink-on-load, that is still at
    least the target size.
    """

    AREA = "area"
    LANCZOS3 = "lanczos3"


class ColourModel(str, Enum):
    """The bands of every output: ``rgb`` (3 bands), ``grey`` (1 band), or ``auto``: RGB when
    any section of the series is colour, else grey."""

    AUTO = "auto"
    RGB = "rgb"
    GREY = "grey"


DEFAULT_PERCENTILES = (0.1, 99.9)  # low, high: the window of every mode but fixed
DEFAULT_PERCENTILES_TEXT = ",".join(f"{p:g}" for p in DEFAULT_PERCENTILES)  # as --percentiles takes it

# --- registration series --------------------------------------------------------------------


class RegistrationFormat(str, Enum):
    """QuickNII and VisuAlign read 24-bit PNG or JPEG."""

    PNG = "png"
    JPG = "jpg"


DESCRIPTOR_NAME = "quicknii-series.xml"  # the series file written beside the registration images

# --- masks ----------------------------------------------------------------------------------


class SourceKind(str, Enum):
    """Where a segmentation comes from; decides how its pixels are read and the default labels.

    - ``ilastik``: label values 1..N; which ones are objects must be given with ``--labels``.
    - ``cellpose``: instance labels, 0 = background; default objects: every non-zero label.
    - ``qupath``: indexed (palette) label image; default objects: every index but 0.
    - ``binary``: 0/255 (or 0/1) mask; default objects: non-zero.
    - ``rgb``: coloured RGB/RGBA image; objects chosen with ``--object-colour``.
    """

    ILASTIK = "ilastik"
    CELLPOSE = "cellpose"
    QUPATH = "qupath"
    BINARY = "binary"
    RGB = "rgb"


class SizeMode(str, Enum):
    """Output size: ``mask`` keeps the segmentation's own size; ``image`` takes its image's."""

    MASK = "mask"
    IMAGE = "image"


class MaskResample(str, Enum):
    """Label-safe resampling of the 0/255 object selection (never invents colours).

    - ``area``: box average (``shrinkh``/``shrinkv`` by the integer part of the scale, then
      ``reduceh``/``reducev`` with a linear kernel for the rest, in float), then objects where
      the average is at least 50%: keeps the object area fraction. The default.
    - ``any``: the same average, objects where it is above 0: an output pixel is an object if
      any input pixel under it is. Keeps small objects; inflates their area.
    - ``nearest``: ``reduceh``/``reducev`` with the nearest kernel: one input pixel per output
      pixel. Fastest; small objects are kept or dropped at random.
    Enlarging (``--size image`` on a smaller mask) always repeats pixels (nearest).
    """

    AREA = "area"
    ANY = "any"
    NEAREST = "nearest"


# --- sweep ----------------------------------------------------------------------------------

DEFAULT_FACTORS = (0.5, 0.25, 0.125, 0.0625)
DEFAULT_FACTORS_TEXT = ",".join(f"{f:g}" for f in DEFAULT_FACTORS)  # as --factors takes it
DEFAULT_SECTIONS = 3

# --- sections -------------------------------------------------------------------------------


class Background(str, Enum):
    """What the slide looks like where there is no tissue."""

    AUTO = "auto"
    WHITE = "white"  # brightfield: dark tissue on a bright slide
    DARK = "dark"  # fluorescence: bright tissue on a dark slide


class Order(str, Enum):
    """How sections are ordered on one slide: in rows (top to bottom, each left to right) or
    in columns (left to right, each top to bottom)."""

    ROWS = "rows"
    COLUMNS = "columns"


# --- run ------------------------------------------------------------------------------------


class Stage(str, Enum):
    """Stages of a series run; ``all`` runs every stage the config asks for, in order."""

    DOWNSCALE = "downscale"
    MASKS = "masks"
    CHECK = "check"
    SWEEP = "sweep"  # trial factors on a sample (make sweep); not part of ``all``
    ALL = "all"
