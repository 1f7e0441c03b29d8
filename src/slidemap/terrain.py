"""Slope from a DEM with Horn's method, in degrees, correct in any CRS.

In a projected CRS the pixel size is converted to metres with the CRS's linear
unit. In a geographic CRS the east-west and north-south pixel sizes in metres
are computed per row from the latitude on the WGS 84 ellipsoid, so slope stays
right away from the equator and for non-square pixels.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from rasterio.crs import CRS

_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def metres_per_degree(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of one degree of longitude and of latitude (m) at ``lat_deg`` on WGS 84."""
    phi = np.radians(lat_deg)
    w = np.sqrt(1.0 - _WGS84_E2 * np.sin(phi) ** 2)
    per_lon = np.pi / 180.0 * _WGS84_A * np.cos(phi) / w
    per_lat = np.pi / 180.0 * _WGS84_A * (1.0 - _WGS84_E2) / w**3
    return per_lon, per_lat


def pixel_size_m(
    shape: tuple[int, int], transform: Affine, crs: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel width and height in metres, each (H, 1) so they broadcast over rows.

    Raises:
        ValueError: a rotated transform (slidemap grids are north-up).
    """
    if transform.b != 0 or transform.d != 0:
        raise ValueError("rotated grids are not supported")
    height = shape[0]
    if crs.is_geographic:
        rows = np.arange(height) + 0.5
        lat = transform.f + transform.e * rows
        per_lon, per_lat = metres_per_degree(lat)
        dx = abs(transform.a) * per_lon
        dy = abs(transform.e) * per_lat
    else:
        factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
        dx = np.full(height, abs(transform.a) * factor)
        dy = np.full(height, abs(transform.e) * factor)
    return dx[:, None], dy[:, None]


def slope_deg(dem: np.ndarray, transform: Affine, crs: CRS) -> np.ndarray:
    """Slope (degrees) of ``dem`` by Horn's 3 × 3 method.

    Args:
        dem: (H, W) elevation in metres, NaN = nodata.
        transform: north-up affine transform of the DEM grid.
        crs: the DEM's CRS (projected or geographic).

    Returns:
        (H, W) float32 slope in degrees; NaN where the DEM is NaN. Beyond the
        edges the DEM is extrapolated linearly; a nodata neighbour is replaced
        by the mirror of the opposite neighbour through the centre. A
        difference of Horn's weighted mean whose neighbours stay missing (both
        of a mirror pair are nodata) is left out of the mean; an axis with no
        difference left has no gradient. Edges and pixels beside nodata so
        keep an estimate, and planes stay exact.
    """
    z = np.asarray(dem, dtype=np.float64)
    # outside the DEM: linear extrapolation per axis (exact for planes, corners too)
    padded = (
        np.pad(z, 1, mode="reflect", reflect_type="odd")
        if min(z.shape) > 1
        else (np.pad(z, 1, mode="edge"))
    )
    h, w = z.shape
    centre = z

    def raw(dr: int, dc: int) -> np.ndarray:
        return padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]

    def n(dr: int, dc: int) -> np.ndarray:
        """The neighbour at (dr, dc), mirrored through the centre when missing (NaN if both)."""
        win, opposite = raw(dr, dc), raw(-dr, -dc)
        return np.where(np.isnan(win), 2 * centre - opposite, win)

    def horn(diffs: list[np.ndarray], spacing: np.ndarray) -> np.ndarray:
        """Horn's 1-2-1 weighted mean of three differences across two pixels, per metre."""
        num = np.zeros_like(centre)
        den = np.zeros_like(centre)
        for weight, diff in zip((1.0, 2.0, 1.0), diffs, strict=True):
            known = ~np.isnan(diff)
            num += weight * np.where(known, diff, 0.0)
            den += weight * known
        return num / np.maximum(den, 1.0) / (2.0 * spacing)

    dx, dy = pixel_size_m(z.shape, transform, crs)
    dzdx = horn([n(r, 1) - n(r, -1) for r in (-1, 0, 1)], dx)
    dzdy = horn([n(1, c) - n(-1, c) for c in (-1, 0, 1)], dy)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    slope[np.isnan(z)] = np.nan
    return slope.astype(np.float32)
