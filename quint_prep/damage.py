"""Why a file cannot be read: its content sniffed from the first bytes, its end from the last.

Used when libvips refuses a file (to say "not an image", "misnamed" or "damaged" instead of a
libvips message) and by ``series.read_info`` to catch PNG and JPEG files a copy cut short,
without decoding them.
"""

from __future__ import annotations

from pathlib import Path

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
]
_EXPECTED = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def unreadable_reason(path: Path) -> str:
    """Why libvips does not recognise a file: damaged, misnamed, or not an image at all."""
    found = _sniff(path)
    expected = _EXPECTED.get(path.suffix.lower(), "TIFF")
    if found is None:
        return f"not an image: the content is not TIFF, JPEG or PNG despite the {path.suffix} name"
    if found.replace("Big", "") != expected:
        return f"the content is {found} but the name ends in {path.suffix}; rename it to match"
    return f"damaged or truncated {found} file (its header or directory cannot be read)"


TAIL_BYTES = 65536  # the end marker of a PNG or JPEG must lie in this many last bytes
_END_MARKERS = {"png": (b"IEND", "IEND chunk"), "jpeg": (b"\xff\xd9", "end-of-image marker")}


def truncation_reason(path: Path, kind: str) -> str | None:
    """Why a PNG or JPEG file is cut off (its end marker is missing from its last bytes), else None.

    Reads at most TAIL_BYTES from the end, so headers-only commands (``check``) catch files a
    copy cut short without decoding them. JPEG entropy-coded data never holds the end marker
    (0xFF is always followed by 0x00 or a restart marker there), so a cut file has none.
    """
    marker = _END_MARKERS.get(kind)
    if marker is None:
        return None
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, 2)
            handle.seek(max(0, end - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None  # unreadable bytes are reported by whoever decodes them
    if marker[0] in tail:
        return None
    return (f"truncated {kind.upper()} file: it ends before its {marker[1]} (an interrupted copy "
            "or export); copy it again")
