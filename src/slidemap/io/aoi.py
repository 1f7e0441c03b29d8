"""The area of interest (an area file's ``[aoi]``, ``predict --aoi``): its polygons,
the grid they crop, their mask.

``prepare`` and ``predict`` both keep the image grid's whole pixels
that cover the AOI's bounding box and treat pixels whose centre lies outside
the AOI polygons as nodata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from slidemap.errors import SlidemapError
from slidemap.io.grid import Grid, burn
from slidemap.io.vectors import read_polygons


@dataclass(frozen=True)
class Aoi:
    """An AOI on an image grid.

    Attributes:
        geometry: the union of its polygons, in the grid's CRS.
        grid: the image grid cropped to the AOI's bounds (whole pixels).
    """

    geometry: shapely.Geometry
    grid: Grid

    def mask(self, grid: Grid) -> np.ndarray:
        """(H, W) bool: pixels of ``grid`` (any grid in the AOI's CRS) whose centre is inside."""
        return burn([self.geometry], grid, all_touched=False)


def read_aoi(path: Path, grid: Grid) -> Aoi:
    """Read the AOI polygons of ``path`` onto the image ``grid`` (any OGR format, any CRS).

    Raises:
        SlidemapError: unreadable file, no polygon with an area, no overlap with ``grid``.
    """
    polys = read_polygons(path, grid.crs, what="AOI")
    if len(polys.geometries) == 0:
        raise SlidemapError(
            f"AOI {path} has no polygon with an area {polys.why_none()}; "
            "draw the AOI as a polygon or remove [aoi]"
        )
    geometry = shapely.union_all(polys.geometries)
    cropped = None if geometry.is_empty else grid.crop(geometry.bounds)
    if cropped is None:
        raise SlidemapError(f"AOI {path} does not overlap the image; check its CRS and extent")
    return Aoi(geometry, cropped)
