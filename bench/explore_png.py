"""What PNG encoding costs for a downscaled section: compression level and row filter.

Builds the 0.25x output of a cached bench source in memory once (quint-prep's own pipeline),
then times ``pngsave`` alone for each setting. Single process; run after `make bench` has
generated the inputs:  .venv/bin/python bench/explore_png.py [SOURCE.tif]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyvips

from quint_prep.downscale.resample import Method, downscale_pipeline
from quint_prep.scale import scaled_size
from quint_prep.series import read_info

DEFAULT = Path(__file__).resolve().parent / "cache" / "images" / "tiled_40000x30000.tif"
SETTINGS = [(6, "none"), (0, "none"), (1, "none"), (2, "none"), (3, "none"), (4, "none"),
            (1, "sub"), (1, "up"), (3, "up"), (6, "all")]


def main() -> None:
    """Print seconds and size for every (compression, filter) pair."""
    pyvips.cache_set_max(0)
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    info = read_info(source)
    image, _ = downscale_pipeline(info, scaled_size(info.size, 0.25), Method.AREA)
    started = time.perf_counter()
    image = image.copy_memory()
    print(f"{source.name} -> {image.width} x {image.height} in memory "
          f"({time.perf_counter() - started:.2f} s)")
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.png"
        for compression, row_filter in SETTINGS:
            started, cpu = time.perf_counter(), time.process_time()
            image.pngsave(str(target), compression=compression, filter=row_filter, keep="none")
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            print(f"pngsave compression={compression} filter={row_filter:<5} {seconds:6.2f} s "
                  f"(CPU {cpu:5.2f} s) "
                  f"{target.stat().st_size / 1e6:7.1f} MB "
                  f"({image.width * image.height / 1e6 / seconds:5.1f} MP/s)", flush=True)
        for label, save in [("jpegsave Q=90", lambda p: image.jpegsave(p, Q=90, keep="none")),
                            ("tiffsave deflate", lambda p: image.tiffsave(
                                p, compression="deflate", predictor="horizontal", keep="none"))]:
            started = time.perf_counter()
            save(str(target.with_suffix(".jpg" if "jpeg" in label else ".tif")))
            print(f"{label:<32} {time.perf_counter() - started:6.2f} s")


if __name__ == "__main__":
    main()
