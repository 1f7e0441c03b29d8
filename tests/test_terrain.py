"""Slope (Horn) against analytic tilted planes in projected and geographic CRSs."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.crs import CRS

from slidemap.terrain import metres_per_degree, slope_deg

UTM54 = CRS.from_epsg(32654)


def plane_projected(angle_deg: float, azimuth_deg: float, size: int, res: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] * res
    az = np.radians(azimuth_deg)
    return np.tan(np.radians(angle_deg)) * (xx * np.sin(az) - yy * np.cos(az))


@settings(max_examples=25, deadline=None)
@given(
    angle=st.floats(0.0, 70.0),
    azimuth=st.floats(0.0, 360.0),
    res=st.sampled_from([5.0, 10.0, 30.0]),
)
def test_slope_of_projected_plane_is_exact(angle: float, azimuth: float, res: float) -> None:
    dem = plane_projected(angle, azimuth, 12, res)
    slope = slope_deg(dem, Affine(res, 0, 500000, 0, -res, 4700000), UTM54)
    assert np.allclose(slope, angle, atol=0.5)
    # Horn is exact on planes away from the edges
    assert np.allclose(slope[1:-1, 1:-1], angle, atol=1e-6)


def test_slope_of_plane_in_geographic_crs() -> None:
    """A 20° plane defined in UTM, sampled on a lat/lon grid at 42.7° N (non-square pixels)."""
    res_deg = 2.695e-4
    lon0, lat0, n = 141.9, 42.77, 60
    lon = lon0 + (np.arange(n) + 0.5) * res_deg
    lat = lat0 - (np.arange(n) + 0.5) * res_deg
    lon2, lat2 = np.meshgrid(lon, lat)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32654", always_xy=True)
    x, y = to_utm.transform(lon2, lat2)
    angle = 20.0
    dem = np.tan(np.radians(angle)) * ((x - x.min()) * 0.6 + (y - y.min()) * 0.8)
    slope = slope_deg(dem, Affine(res_deg, 0, lon0, 0, -res_deg, lat0), CRS.from_epsg(4326))
    assert abs(float(np.median(slope)) - angle) < 0.5
    assert np.abs(slope[1:-1, 1:-1] - angle).max() < 0.5


def test_geographic_slope_needs_latitude_correction() -> None:
    """Ignoring the cos(latitude) shrink of a degree of longitude would be visibly wrong."""
    per_lon, per_lat = metres_per_degree(np.array([0.0, 42.7, 60.0]))
    assert per_lon[0] == pytest.approx(111319.5, rel=1e-4)
    assert per_lon[2] == pytest.approx(55800.0, rel=5e-3)
    assert per_lat[1] == pytest.approx(111080.0, rel=2e-3)


def test_nodata_stays_nodata_and_edges_are_estimated() -> None:
    dem = plane_projected(30.0, 90.0, 10, 10.0)
    dem[5, 5] = np.nan
    slope = slope_deg(dem, Affine(10, 0, 0, 0, -10, 0), UTM54)
    assert np.isnan(slope[5, 5])
    assert np.isfinite(np.delete(slope.ravel(), 55)).all()
    assert slope[0, 0] == pytest.approx(30.0, abs=0.5)
