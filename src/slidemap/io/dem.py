"""Slope from a DEM onto the image grid, whole or block by block.

Slope (degrees, Horn; :func:`slidemap.terrain.slope_deg`) is computed on the
DEM's own grid, then resampled bilinearly onto the image grid.
:func:`slope_on_grid` does it for a whole grid (``prepare``);
:class:`DemSlope` for one block at a time (``predict``), reading only a DEM
window around the block with a margin wide enough that the block's values
equal the whole-grid ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from slidemap.config import DemConfig
from slidemap.errors import SlidemapError
from slidemap.io.bands import covering_window, sub_grid
from slidemap.io.grid import Grid, warp_to
from slidemap.io.rasters import open_raster, read_band, require_crs
from slidemap.terrain import slope_deg

#: Share of the valid image pixels that may lack DEM data (a sliver along an edge).
MAX_UNCOVERED = 0.005
#: DEM pixels read around a block: Horn's 3 × 3 stencil + the bilinear kernel.
_MARGIN_PX = 3


def uncovered_error(dem_path: Path, dem_grid: Grid, grid: Grid, fraction: float) -> SlidemapError:
    """The error for a DEM that misses ``fraction`` of the image's valid pixels."""
    return SlidemapError(
        f"DEM {dem_path} does not cover the image: DEM bounds "
        f"{tuple(round(v, 4) for v in dem_grid.bounds)} ({dem_grid.crs.to_string()}), image "
        f"bounds {tuple(round(v, 4) for v in grid.bounds)} ({grid.crs.to_string()}); "
        f"{fraction:.1%} of the image has no DEM"
    )


def _require_crs(src: rasterio.DatasetReader, path: Path) -> None:
    require_crs(src, path, "DEM", f"DEM {path} has no CRS; georeference it first")


def slope_on_grid(dem_cfg: DemConfig, grid: Grid, image_valid: np.ndarray) -> np.ndarray:
    """Slope (degrees) at the DEM's resolution, bilinearly resampled onto ``grid``; (H, W).

    Raises:
        SlidemapError: the DEM's extent misses more than 0.5 % of the valid image
            pixels (a sliver along the edge is tolerated and becomes nodata).
    """
    with open_raster(dem_cfg.path, "DEM") as src:
        _require_crs(src, dem_cfg.path)
        dem_grid = Grid.of(src)
        dem = read_band(src, 1, dem_cfg.path, "DEM").astype(np.float64)
        nodata = dem_cfg.nodata if dem_cfg.nodata is not None else src.nodata
    footprint = warp_to(np.ones(dem_grid.shape), dem_grid, grid, Resampling.nearest)
    uncovered = image_valid & np.isnan(footprint)
    if uncovered.sum() > MAX_UNCOVERED * image_valid.sum():
        raise uncovered_error(dem_cfg.path, dem_grid, grid, uncovered.sum() / image_valid.sum())
    if np.isinf(dem).any():
        raise SlidemapError(f"DEM {dem_cfg.path} contains infinite values")
    if nodata is not None:
        dem[dem == nodata] = np.nan
    if not np.isfinite(dem).any():
        raise SlidemapError(f"DEM {dem_cfg.path} has no valid pixel (all nodata)")
    slope = slope_deg(dem, dem_grid.transform, dem_grid.crs)
    return warp_to(slope, dem_grid, grid, Resampling.bilinear)


class DemSlope:
    """Slope of a DEM onto blocks of an image grid, reading one DEM window per block.

    Args:
        dem_cfg: the DEM file, nodata override.

    Raises:
        SlidemapError: missing or unreadable DEM, no CRS.
    """

    def __init__(self, dem_cfg: DemConfig) -> None:
        self.path = dem_cfg.path
        with open_raster(dem_cfg.path, "DEM") as src:
            _require_crs(src, dem_cfg.path)
            self.grid = Grid.of(src)
            self.nodata = dem_cfg.nodata if dem_cfg.nodata is not None else src.nodata

    def read(self, block: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Slope on ``block`` (a sub-grid of the image grid) and where the DEM covers it.

        Returns:
            ``(slope, covered)``: (h, w) float32 degrees with NaN outside the DEM
            or at DEM nodata, and (h, w) bool, true inside the DEM's extent.

        Raises:
            SlidemapError: the DEM window is unreadable or holds infinite values.
        """
        slope = np.full(block.shape, np.nan, np.float32)
        win = covering_window(self.grid, block, _MARGIN_PX)
        if win is None:
            return slope, np.zeros(block.shape, bool)
        dem_grid = sub_grid(self.grid, win)
        footprint = warp_to(np.ones(dem_grid.shape), dem_grid, block, Resampling.nearest)
        dem = self._read(win)
        if np.isinf(dem).any():
            raise SlidemapError(f"DEM {self.path} contains infinite values")
        if self.nodata is not None:
            dem[dem == self.nodata] = np.nan
        if np.isfinite(dem).any():
            slope = warp_to(
                slope_deg(dem, dem_grid.transform, dem_grid.crs),
                dem_grid,
                block,
                Resampling.bilinear,
            )
        return slope, np.isfinite(footprint)

    def _read(self, win: Window) -> np.ndarray:
        with open_raster(self.path, "DEM") as src:
            return read_band(src, 1, self.path, "DEM", win).astype(np.float64)
