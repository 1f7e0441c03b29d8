"""Target grids and warping rasters onto them.

A :class:`Grid` is a CRS, a north-up affine transform and a size. Every band,
the DEM-derived slope and the labels of a prepared area share one grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window, from_bounds

RESAMPLING = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
}


@dataclass(frozen=True)
class Grid:
    """A raster grid: ``crs``, ``transform`` and size (``height``, ``width`` in pixels)."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def bounds(self) -> BoundingBox:
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return BoundingBox(min(left, right), min(top, bottom), max(left, right), max(top, bottom))

    @property
    def res(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @classmethod
    def of(cls, src: rasterio.DatasetReader) -> Grid:
        return cls(src.crs, src.transform, src.width, src.height)

    def reprojected(self, crs: CRS, resolution: float | None) -> Grid:
        """The grid covering this one in ``crs`` (at ``resolution`` CRS units, if given)."""
        transform, width, height = calculate_default_transform(
            self.crs,
            crs,
            self.width,
            self.height,
            *self.bounds,
            resolution=resolution,
        )
        return Grid(crs, transform, int(width), int(height))

    def with_resolution(self, resolution: float) -> Grid:
        """Same CRS and origin, pixel size ``resolution``, covering the same bounds."""
        b = self.bounds
        width = max(1, round((b.right - b.left) / resolution))
        height = max(1, round((b.top - b.bottom) / resolution))
        return Grid(self.crs, Affine(resolution, 0, b.left, 0, -resolution, b.top), width, height)

    def crop(self, bounds: tuple[float, float, float, float]) -> Grid | None:
        """The sub-grid (whole pixels) covering ``bounds`` ∩ this grid; None if they don't meet."""
        b = self.bounds
        left, bottom = max(bounds[0], b.left), max(bounds[1], b.bottom)
        right, top = min(bounds[2], b.right), min(bounds[3], b.top)
        if right <= left or top <= bottom:
            return None
        win = from_bounds(left, bottom, right, top, self.transform)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        win = win.intersection(Window(0, 0, self.width, self.height))
        if win.width < 1 or win.height < 1:
            return None
        return Grid(
            self.crs,
            rasterio.windows.transform(win, self.transform),
            int(win.width),
            int(win.height),
        )


def burn(geometries: list[shapely.Geometry], grid: Grid, all_touched: bool = False) -> np.ndarray:
    """Rasterise polygons (in ``grid``'s CRS) onto ``grid``; (H, W) bool.

    Args:
        all_touched: burn every pixel a polygon touches, not only those whose
            centre it covers.
    """
    if not geometries:
        return np.zeros(grid.shape, bool)
    return rasterize(
        ((g, 1) for g in geometries),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        all_touched=all_touched,
        dtype=np.uint8,
    ).astype(bool)


def warp_to(
    source: np.ndarray,
    source_grid: Grid,
    target: Grid,
    resampling: Resampling,
) -> np.ndarray:
    """Warp ``source`` ((H, W) float, NaN = nodata) onto ``target``; (h, w) float32, NaN outside."""
    out = np.full(target.shape, np.nan, np.float32)
    reproject(
        source=np.ascontiguousarray(source, dtype=np.float32),
        destination=out,
        src_transform=source_grid.transform,
        src_crs=source_grid.crs,
        src_nodata=np.nan,
        dst_transform=target.transform,
        dst_crs=target.crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return out


def same_grid(a: Grid, b: Grid) -> bool:
    """Exactly the same CRS, size and transform (to 1e-9 of a pixel)."""
    return (
        a.shape == b.shape
        and a.crs == b.crs
        and a.transform.almost_equals(b.transform, precision=1e-9 * max(a.res))
    )
