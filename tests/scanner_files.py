"""Real scanner files made in tmp_path with the vendors' own writers (pylibCZIrw, tifffile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SVS_TILE = 256


def textured_section(width: int, height: int, seed: int = 0) -> np.ndarray:
    """RGB (H x W x 3, uint8): near-white glass, a red section with texture in the middle."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 238, np.uint8)
    image[height // 4:3 * height // 4, width // 4:3 * width // 4] = (205, 45, 50)
    noise = rng.integers(-25, 26, (height, width, 1))
    return (image.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)


def write_czi_rgb(path: Path, rgb: np.ndarray, mpp: float = 0.5, tile: int = 512,
                  scenes: tuple[tuple[int, int], ...] = ((0, 0),)) -> Path:
    """A brightfield Bgr24 CZI: ``rgb`` written as B,G,R tiles at each scene's position."""
    from pylibCZIrw import czi
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    with czi.create_czi(str(path), exist_ok=True) as writer:
        for scene, (x0, y0) in enumerate(scenes):
            for y in range(0, bgr.shape[0], tile):
                for x in range(0, bgr.shape[1], tile):
                    writer.write(data=np.ascontiguousarray(bgr[y:y + tile, x:x + tile]),
                                 plane={"C": 0}, scene=scene, location=(x0 + x, y0 + y))
        writer.write_metadata(document_name=path.stem, channel_names={0: "TL Brightfield"},
                              scale_x=mpp * 1e-6, scale_y=mpp * 1e-6)
    return path


def write_czi_fluorescence(path: Path, planes: list[np.ndarray], names: list[str],
                           mpp: float = 0.325) -> Path:
    """A fluorescence CZI: one Gray16 plane per named channel."""
    from pylibCZIrw import czi
    with czi.create_czi(str(path), exist_ok=True) as writer:
        for channel, plane in enumerate(planes):
            writer.write(data=plane, plane={"C": channel}, location=(0, 0))
        writer.write_metadata(document_name=path.stem,
                              channel_names=dict(enumerate(names)), scale_x=mpp * 1e-6,
                              scale_y=mpp * 1e-6)
    return path


def write_svs(path: Path, rgb: np.ndarray, mpp: float = 0.5) -> Path:
    """An Aperio SVS: tiled JPEG level 0 with the Aperio description and MPP, a 1/4 level, a
    green label page and a blue macro page (what OpenSlide reads as ``aperio``)."""
    import tifffile
    height, width = rgb.shape[:2]
    head = "Aperio Image Library v12.0.15\r\n"
    tiled = {"tile": (SVS_TILE, SVS_TILE), "compression": "jpeg", "photometric": "rgb",
             "metadata": None}
    with tifffile.TiffWriter(path) as tif:
        tif.write(rgb, description=f"{head}{width}x{height} [0,0 {width}x{height}] "
                  f"({SVS_TILE}x{SVS_TILE}) JPEG/RGB Q=90|AppMag = 20|MPP = {mpp}", **tiled)
        small = np.ascontiguousarray(rgb[::4, ::4])
        tif.write(small, description=f"{head}{width}x{height} -> {small.shape[1]}x{small.shape[0]}",
                  **tiled)
        label = np.zeros((200, 300, 3), np.uint8)
        label[..., 1] = 255
        tif.write(label, subfiletype=1, photometric="rgb", description=f"{head}label 300x200",
                  metadata=None)
        macro = np.zeros((250, 700, 3), np.uint8)
        macro[..., 2] = 255
        tif.write(macro, subfiletype=9, photometric="rgb", description=f"{head}macro 700x250",
                  metadata=None)
    return path


def damage_svs_tile(path: Path, tile: int) -> None:
    """Overwrite the start of one level-0 JPEG tile with zeros (a damaged tile)."""
    import tifffile
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[tile]
    with open(path, "r+b") as handle:
        handle.seek(offset + 2)
        handle.write(bytes(200))


def write_ome_tiff(path: Path, rgb: np.ndarray, size_x: float, size_y: float) -> Path:
    """An OME-TIFF with PhysicalSizeX/Y in µm."""
    import tifffile
    tifffile.imwrite(path, rgb, photometric="rgb", tile=(256, 256), ome=True,
                     metadata={"axes": "YXS", "PhysicalSizeX": size_x, "PhysicalSizeY": size_y,
                               "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"})
    return path
