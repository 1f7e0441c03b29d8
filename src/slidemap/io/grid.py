"""Target grids and warping rasters onto them.

A :class:`Grid` is a CRS, a north-up affine transform and a size. Every band,
the DEM-derived slope and the labels of a prepared area share one grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import WindowError
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window, from_bounds

#: Share of a pixel that bounds may overlap it by without the pixel counting as covered.
PIXEL_SLACK = 1e-6
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
        """The sub-grid of whole pixels covering ``bounds`` ∩ this grid; None if they don't meet."""
        b = self.bounds
        left, bottom = max(bounds[0], b.left), max(bounds[1], b.bottom)
        right, top = min(bounds[2], b.right), min(bounds[3], b.top)
        if right <= left or top <= bottom:
            return None
        win = covering_pixels((left, bottom, right, top), self.transform)
        try:
            win = win.intersection(Window(0, 0, self.width, self.height))
        except WindowError:
            return None
        corner = self.transform @ Affine.translation(win.col_off, win.row_off)
        return Grid(self.crs, corner, int(win.width), int(win.height))


def covering_pixels(bounds: tuple[float, float, float, float], transform: Affine) -> Window:
    """The whole pixels of a grid with ``transform`` that cover ``bounds`` (at least one).

    A pixel counts when ``bounds`` reach into it by more than :data:`PIXEL_SLACK`
    of a pixel, so bounds lying on pixel edges (up to floating-point error) add
    no sliver of pixels. The window may extend beyond the grid.
    """
    win = from_bounds(*bounds, transform=transform)
    col0 = math.floor(win.col_off + PIXEL_SLACK)
    row0 = math.floor(win.row_off + PIXEL_SLACK)
    col1 = max(math.ceil(win.col_off + win.width - PIXEL_SLACK), col0 + 1)
    row1 = max(math.ceil(win.row_off + win.height - PIXEL_SLACK), row0 + 1)
    return Window(col0, row0, col1 - col0, row1 - row0)


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
