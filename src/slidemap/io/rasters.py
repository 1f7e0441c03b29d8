"""GeoTIFF reading and writing with the profiles slidemap uses.

Arrays are band-first as in rasterio: ``(C, H, W)`` for images, ``(H, W)``
for single-band rasters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.io import MemoryFile
from rasterio.windows import Window

from slidemap.errors import SlidemapError
from slidemap.io.atomic import write_bytes_durably

#: Creation options for every GeoTIFF slidemap writes: tiled, deflate.
GTIFF_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "interleave": "band",
    "BIGTIFF": "IF_SAFER",
}
#: Bytes copied at a time from the in-memory GeoTIFF to its file.
_CHUNK_BYTES = 16 << 20


def open_raster(path: Path, what: str = "raster") -> rasterio.DatasetReader:
    """Open ``path`` with rasterio, turning GDAL failures into a :class:`SlidemapError`.

    Args:
        path: file to open.
        what: what the file is for, used in the message ("DEM", "band B04").
    """
    path = Path(path)
    if not path.exists():
        raise SlidemapError(f"{what} file not found: {path}")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise SlidemapError(
            f"cannot read {what} {path}: not a raster GDAL can open ({_first_line(exc)})"
        ) from exc


def require_crs(src: rasterio.DatasetReader, path: Path, what: str, missing: str) -> None:
    """Refuse a raster without a CRS, telling a truncated file from an ungeoreferenced one.

    GDAL opens a GeoTIFF cut off inside its header without complaint but finds
    no georeferencing there; reading its last pixel tells the two apart.

    Args:
        src: the open raster.
        path: its file, for the messages.
        what: what the file is for ("DEM", "band B3").
        missing: the whole message when the file is readable but has no CRS.

    Raises:
        SlidemapError: no CRS (``missing``), or the file is corrupt or truncated.
    """
    if src.crs is not None:
        return
    last = Window(src.width - 1, src.height - 1, 1, 1)
    try:
        src.read(1, window=last)
    except rasterio.errors.RasterioError as exc:
        raise SlidemapError(f"cannot read {what} {path}: file is corrupt or truncated") from exc
    raise SlidemapError(missing)


def read_band(
    src: rasterio.DatasetReader,
    index: int,
    path: Path | str,
    what: str,
    window: Window | None = None,
) -> np.ndarray:
    """Read band ``index`` (1-based) of an open dataset, whole or a ``window``; (H, W) ndarray.

    Every read of a band or DEM file goes through here, so that a damaged file
    fails the same way in ``prepare`` and ``predict``. GDAL reads in one thread:
    the JPEG 2000 driver decodes the tiles of a large read in worker threads
    when the block cache can hold them, and a tile that fails there (a
    truncated file) is only printed to stderr and read as zeros.

    Args:
        src: the open dataset.
        index: 1-based band index.
        path: its file (or GDAL path), for the message.
        what: what the file is for ("DEM", "band B3").
        window: pixels to read; None reads the whole band.

    Raises:
        SlidemapError: the pixel data cannot be read (corrupt or truncated file).
    """
    try:
        with rasterio.Env(GDAL_NUM_THREADS=1):
            return src.read(index, window=window)
    except rasterio.errors.RasterioError as exc:
        raise SlidemapError(f"cannot read {what} {path}: file is corrupt or truncated") from exc


def write_geotiff(
    path: Path,
    array: np.ndarray,
    crs: CRS,
    transform: Affine,
    nodata: float | int | None,
    descriptions: list[str] | None = None,
    colormap: Mapping[int, tuple[int, ...]] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Write ``array`` ((C, H, W) or (H, W)) as a tiled, deflate-compressed GeoTIFF.

    Float arrays are written with the floating-point predictor, integer arrays
    with the horizontal one. ``descriptions`` names the bands (shown in QGIS),
    ``colormap`` (value → RGB(A)) colours band 1, ``tags`` are dataset metadata.

    The file is built in memory and then written with plain file I/O, because
    GDAL can report a failed write (disk full) without raising.

    Raises:
        OSError: the write failed (``errno`` ENOSPC or EFBIG when out of space).
    """
    data = array[None] if array.ndim == 2 else array
    count, height, width = data.shape
    profile = dict(GTIFF_PROFILE)
    profile.update(
        count=count,
        height=height,
        width=width,
        dtype=data.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
        predictor=3 if np.issubdtype(data.dtype, np.floating) else 2,
    )
    if width < 256 or height < 256:
        profile.update(blockxsize=_block(width), blockysize=_block(height))
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
            for i, name in enumerate(descriptions or [], start=1):
                dst.set_band_description(i, name)
            if colormap is not None:
                dst.write_colormap(1, colormap)
            if tags:
                dst.update_tags(**tags)
        memory.seek(0)
        write_bytes_durably(Path(path), iter(lambda: memory.read(_CHUNK_BYTES), b""))


def _block(n: int) -> int:
    """Largest tile side (multiple of 16, at most 256) fitting ``n`` pixels; 16 at least."""
    return max(16, min(256, (n // 16) * 16))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
