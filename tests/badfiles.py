"""Makers of bad and unusual input files, shared by the bad-input tests of every command.

``make_bad`` writes a file no command can use (each with the fragment of the error expected);
``make_unusual`` writes an odd but valid file (each with the warning expected, if any).
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pyvips

from conftest import from_array, gradient, save

BAD_KINDS = ["zero-bytes", "half-tiff", "half-bigtiff", "half-striped", "half-png", "half-jpeg",
             "random-bytes", "text-as-png", "float-tiff", "uint32-tiff", "huge-header",
             "huge-png-header", "huge-interlaced-png", "damaged-png-chunk"]
# Files whose header reads fine and whose pixels do not: caught when decoding.
DECODE_KINDS = ["corrupt-lzw"]
UNUSUAL_KINDS = ["png-named-tif", "cmyk-jpeg", "progressive-jpeg", "palette-png", "1bit-png",
                 "16bit-png", "multipage-tiff", "rgba-png"]
JUNK_NAMES = [".DS_Store", "Thumbs.db", ".hidden_s009.png", "._a_s001.png", "notes.txt"]

_DEFAULT_STEMS = {"zero-bytes": "z_s002", "random-bytes": "r_s002", "text-as-png": "t_s002",
                  "float-tiff": "f_s002", "uint32-tiff": "u_s002", "huge-header": "x_s002",
                  "huge-png-header": "y_s002", "huge-interlaced-png": "i_s002",
                  "damaged-png-chunk": "d_s002", "corrupt-lzw": "c_s002"}


def truncated(path: Path) -> None:
    """Cut a file at half its length."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def huge_tiff_header(path: Path) -> None:
    """A tiny TIFF whose header claims 1,000,000 x 1,000,000 pixels."""
    entries = [(256, 4, 1, 1_000_000), (257, 4, 1, 1_000_000), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, 1_000_000),
               (279, 4, 1, 10**12 % 2**32)]
    ifd_offset = 8 + 16
    body = b"II*\x00" + struct.pack("<I", ifd_offset) + b"\x00" * 16
    body += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, count) + packed
    body += struct.pack("<I", 0)
    path.write_bytes(body)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png_header(path: Path, side: int = 1_000_000, interlaced: bool = False) -> None:
    """A tiny PNG whose IHDR claims side x side RGB pixels (CRC correct, almost no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, int(interlaced))
    idat = zlib.compress(b"\x00" * 1001)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))


def noise(width: int = 300, height: int = 200, bands: int = 3) -> pyvips.Image:
    """Incompressible 8-bit noise (the same every time), so that damage hits the pixel data."""
    array = np.random.default_rng(7).integers(0, 256, (height, width), dtype=np.uint8)
    band = pyvips.Image.new_from_array(array)
    if bands == 1:
        return band.copy(interpretation="b-w")
    return band.bandjoin([band] * (bands - 1)).copy(interpretation="srgb")


def make_bad(kind: str, folder: Path, stem: str | None = None, bands: int = 3) -> tuple[str, str]:
    """Write one bad file; return (file name, fragment of the expected error).

    ``stem`` names the file (default: one per kind, e.g. ``z_s002``); ``bands`` is the number of
    bands of the noise written for the truncated kinds (1 gives a label-like image).
    """
    folder.mkdir(parents=True, exist_ok=True)
    image = gradient(300, 200)
    if kind.startswith("half-"):
        stem = stem or "h_s002"
        suffix, options = {
            "half-tiff": (".tif", {"tile": True, "compression": "deflate"}),
            "half-bigtiff": (".tif", {"tile": True, "bigtiff": True}),
            "half-striped": (".tif", {"compression": "lzw"}),
            "half-png": (".png", {}),
            "half-jpeg": (".jpg", {}),
        }[kind]
        path = save(noise(bands=bands), folder / f"{stem}{suffix}", **options)
        truncated(path)
        return path.name, "truncated"
    stem = stem or _DEFAULT_STEMS[kind]
    if kind == "zero-bytes":
        (folder / f"{stem}.tif").write_bytes(b"")
        return f"{stem}.tif", "empty file (0 bytes)"
    if kind == "random-bytes":
        (folder / f"{stem}.tif").write_bytes(np.random.default_rng(1).bytes(5000))
        return f"{stem}.tif", "not an image"
    if kind == "text-as-png":
        (folder / f"{stem}.png").write_text("hello, I am a text file\n")
        return f"{stem}.png", "not an image"
    if kind == "float-tiff":
        save(image.cast("float"), folder / f"{stem}.tif")
        return f"{stem}.tif", "need an intensity window"
    if kind == "uint32-tiff":
        save(image.cast("uint"), folder / f"{stem}.tif")
        return f"{stem}.tif", "need an intensity window"
    if kind == "huge-header":
        huge_tiff_header(folder / f"{stem}.tif")
        return f"{stem}.tif", "the header claims 1000000x1000000 pixels"
    if kind == "huge-png-header":
        huge_png_header(folder / f"{stem}.png")
        return f"{stem}.png", "the header claims 1000000x1000000 pixels"
    if kind == "huge-interlaced-png":  # under the size limits, but decoded whole: 30 GB
        huge_png_header(folder / f"{stem}.png", side=100_000, interlaced=True)
        return f"{stem}.png", "interlaced/progressive 100000x100000 file: libvips must decode it whole"
    if kind == "corrupt-lzw":  # header and directory intact, 2000 bytes of a strip zeroed
        path = save(noise(bands=bands), folder / f"{stem}.tif", compression="lzw")
        data = bytearray(path.read_bytes())
        data[len(data) // 3: len(data) // 3 + 2000] = bytes(2000)
        path.write_bytes(bytes(data))
        return path.name, "Not enough data at scanline"
    if kind == "damaged-png-chunk":  # a chunk before the pixels claims 2 GB
        data = save(gradient(300, 200), folder / f"{stem}.png").read_bytes()
        (folder / f"{stem}.png").write_bytes(data[:33] + struct.pack(">I", 0x7FFFFFF0) + b"zTXtabc"
                                             + data[33:])
        return f"{stem}.png", "damaged or truncated PNG file"
    raise ValueError(kind)


def make_unusual(kind: str, folder: Path, image: pyvips.Image, stem: str = "p_s001") -> str | None:
    """Write ``image`` (8-bit, 1 or 3 bands) as an odd but valid file; return the expected warning.

    For ``1bit-png`` and ``16bit-png`` the image is thresholded / widened; ``cmyk-jpeg`` converts
    it to CMYK; ``multipage-tiff`` stacks it over its inverse.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rgb = image if image.bands >= 3 else image.bandjoin([image, image]).copy(interpretation="srgb")
    grey = image[0].copy(interpretation="b-w")
    if kind == "png-named-tif":
        save(image, folder / f"{stem}.png")
        os.rename(folder / f"{stem}.png", folder / f"{stem}.tif")
        return "the content is PNG although the name ends in .tif"
    if kind == "cmyk-jpeg":
        rgb.colourspace("cmyk").jpegsave(str(folder / f"{stem}.jpg"))
        return None
    if kind == "progressive-jpeg":
        save(image, folder / f"{stem}.jpg", interlace=True)
        return "interlaced/progressive"
    if kind == "palette-png":
        save(rgb, folder / f"{stem}.png", palette=True)
        return None
    if kind == "1bit-png":
        save((grey > 128).ifthenelse(255, 0).cast("uchar"), folder / f"{stem}.png", bitdepth=1)
        return None
    if kind == "16bit-png":
        wide = from_array(grey.numpy().astype(np.uint16) * 257)
        save(wide, folder / f"{stem}.png")
        return None
    if kind == "multipage-tiff":
        pages = image.join(image.invert(), "vertical")
        save(pages.copy(), folder / f"{stem}.tif", page_height=image.height)
        return "2 pages and no pyramid"
    if kind == "rgba-png":
        save(rgb.bandjoin(255), folder / f"{stem}.png")
        return None
    raise ValueError(kind)


def make_junk(folder: Path) -> list[str]:
    """Write the files a lab folder collects besides images; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in JUNK_NAMES:
        (folder / name).write_bytes(b"\x00\x05\x16\x07junk" if name != "notes.txt" else b"notes\n")
    return list(JUNK_NAMES)


def symlink_loops(folder: Path, stem: str = "loop_s002") -> str:
    """A file link pointing at itself and a folder link pointing at its parent; the file's name."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(folder / f"{stem}.png", folder / f"{stem}.png")
    os.symlink(folder, folder / "parent")
    return f"{stem}.png"


def error_lines(stderr: str) -> list[str]:
    """The ``error:`` lines of a command's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_error(result, name: str, fragment: str, exit_code: int = 1) -> None:
    """The command failed with ``exit_code``, one ``error:`` line names the file and the reason,
    and no traceback was printed."""
    assert result.exit_code == exit_code, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and name in errors[0] and fragment in errors[0], result.stderr
    assert "Traceback" not in result.output


def temporaries(folder: Path) -> list[Path]:
    """Temporary files quint-prep left anywhere under a folder (there must be none)."""
    from quint_prep.outputs import TEMP_MARKER

    return [p for p in folder.rglob("*") if TEMP_MARKER in p.name] if folder.exists() else []


def full_disk(*_args, **kwargs) -> None:
    """A save function that writes some bytes, then fails as a full disk does."""
    path = next(a for a in (*_args, *kwargs.values()) if isinstance(a, (str, Path)))
    Path(path).write_bytes(b"\x89PNG partial")
    raise OSError(28, "No space left on device")


def interrupted_at(call: int, real):
    """A save function that works ``call - 1`` times, then writes some bytes and is interrupted
    (Ctrl-C arrives as KeyboardInterrupt in the middle of a write)."""
    calls = []

    def save(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            path = next(a for a in (*args, *kwargs.values()) if isinstance(a, (str, Path)))
            Path(path).write_bytes(b"\x89PNG partial")
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return save


def failing_write_text(folder: Path, code: int = errno.ENOSPC):
    """A Path.write_text that writes part of the text into ``folder``, then fails."""
    real = Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.parent == folder:
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(code, os.strerror(code))
        return real(self, text, *args, **kwargs)

    return write_text
