"""Landslide polygons: lognormal sizes, placed on steep slopes, elongated downslope.

Sizes follow the area's inventory statistics (paper: mean, minimum, maximum):
lognormal draws, clipped to a visible minimum (4 pixels) and to a maximum of
``min(max_m2, 12 × mean)`` — a single Taiwan-sized 1.5 km² slide would fill a
demo area — then rescaled so that the sample mean equals the target mean (an
area of a few hundred 10 m pixels holds only tens of landslides, too few for
the sample mean to settle by itself). The count follows from the landslide
share of the area: ``fraction × area / mean``.

Each landslide is a teardrop: rounded and widest at the crown (upslope), tapering
along the runout, its long axis along the direction of steepest descent at its
centre, its outline slightly irregular. Centres are drawn where the slope
exceeds the area's threshold, clustered by a smooth random intensity (as
triggered landslides cluster); a candidate is kept only if its mean slope is
steep, hardly any of it is gentle, and it overlaps no river, village, rock,
nodata or other landslide. Large landslides are placed first; one that finds
no place is tried again on less steep ground, then with a more compact shape.

All geometry here is in pixel coordinates ``(col, row)`` of the working grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

from slidemap.synth.areas import AreaSpec
from slidemap.synth.noise import fractal_noise

log = logging.getLogger("slidemap")

_MIN_PIXELS = 4  # smaller landslides do not show at 10 m
_MAX_MEAN_RATIO = 12.0  # largest landslide at most this many times the mean
_ATTEMPTS = 80  # candidate positions per landslide before relaxing the slope rule
_GENTLE_SHARE = 0.1  # at most this share of a landslide may be gentle (< threshold - 10°)
#: Where no place is found: lower the slope threshold (degrees), then try compact shapes.
_RELAXED: tuple[tuple[float, tuple[float, float] | None], ...] = (
    (0.0, None),
    (5.0, None),
    (10.0, None),
    (10.0, (1.2, 1.6)),
)


@dataclass(frozen=True)
class Slopes:
    """What placement needs to know about the terrain (working grid).

    Attributes:
        dem_m: (H, W) elevation, metres.
        slope_deg: (H, W) slope, degrees.
        downslope: (2, H, W) unit vector of steepest descent ``(d_col, d_row)``.
        res_m: pixel size, metres.
    """

    dem_m: np.ndarray
    slope_deg: np.ndarray
    downslope: np.ndarray
    res_m: float

    def elevation_at(self, point: np.ndarray) -> float:
        """Elevation at ``(col, row)`` (nearest pixel, clamped to the grid)."""
        height, width = self.dem_m.shape
        col = int(np.clip(point[0], 0, width - 1))
        row = int(np.clip(point[1], 0, height - 1))
        return float(self.dem_m[row, col])


def landslide_areas_m2(
    spec: AreaSpec, region_m2: float, pixel_m2: float, rng: np.random.Generator
) -> np.ndarray:
    """Areas of the landslides of a region of ``region_m2``; (N,) float64, largest first.

    The sample mean equals ``spec.mean_m2`` (up to clipping at the bounds).
    """
    count = max(3, round(spec.fraction * region_m2 / spec.mean_m2))
    low = max(spec.min_m2, _MIN_PIXELS * pixel_m2)
    high = min(spec.max_m2, _MAX_MEAN_RATIO * spec.mean_m2)
    mu = np.log(spec.mean_m2) - spec.sigma**2 / 2.0
    areas = rng.lognormal(mu, spec.sigma, count)
    for _ in range(50):
        areas = np.clip(areas * spec.mean_m2 / areas.mean(), low, high)
    return np.sort(areas)[::-1]


def teardrop(
    centre: np.ndarray,
    downslope: np.ndarray,
    area_px: float,
    elongation: float,
    rng: np.random.Generator,
) -> shapely.Polygon:
    """A landslide outline of ``area_px`` pixels, long axis along ``downslope``.

    Args:
        centre: ``(col, row)`` of the centroid.
        downslope: unit vector ``(d_col, d_row)`` of steepest descent.
        area_px: area in square pixels.
        elongation: length / width.
        rng: random stream for the irregular outline.
    """
    t = np.linspace(0.0, 1.0, 41)  # 0 at the crown (upslope), 1 at the toe
    along = (t - 0.5) * elongation
    profile = np.sqrt(np.clip(1.0 - (2.0 * t - 1.0) ** 2, 0.0, None)) * (1.5 - t) / 2.0
    bend = rng.normal(0.0, 0.15) * elongation * (t - 0.5) ** 2  # runout curving a little
    left = bend + profile * (1.0 + 0.3 * _wobble(rng, t.size))
    right = -bend + profile * (1.0 + 0.3 * _wobble(rng, t.size))
    u = np.concatenate([along, along[::-1]])
    v = np.concatenate([left, -right[::-1]])
    raw = shapely.Polygon(np.column_stack([u, v]))
    k = np.sqrt(area_px / raw.area)
    u, v = (u - raw.centroid.x) * k, (v - raw.centroid.y) * k
    across = np.array([-downslope[1], downslope[0]])
    points = centre + u[:, None] * downslope + v[:, None] * across
    return shapely.Polygon(points)


def place_landslides(
    spec: AreaSpec,
    areas_m2: np.ndarray,
    terrain: Slopes,
    allowed: np.ndarray,
    region: shapely.Polygon,
    rng: np.random.Generator,
) -> list[shapely.Polygon]:
    """Place landslides of the given areas on steep, allowed ground.

    Args:
        spec: the area profile (slope threshold, elongation range).
        areas_m2: (N,) landslide areas, largest first.
        terrain: elevation, slope and direction of steepest descent.
        allowed: (H, W) bool, where a landslide may lie.
        region: the outline every landslide must lie within (the image, in pixels).
        rng: random stream.

    Returns:
        Polygons in pixel coordinates; a landslide that finds no place (logged)
        is left out.
    """
    steep = np.clip((terrain.slope_deg - spec.min_slope_deg) / 10.0, 0.0, 1.0) ** 2
    cluster = np.exp(0.8 * fractal_noise(rng, allowed.shape, 3.5))
    cdf = np.cumsum(np.where(allowed, steep * cluster, 0.0).ravel())
    free = allowed.copy()
    placed: list[shapely.Polygon] = []
    for area_m2 in areas_m2:
        for relax_deg, elongation in _RELAXED:
            threshold = spec.min_slope_deg - relax_deg
            shape = elongation or spec.elongation
            poly = _try_place(area_m2, threshold, shape, terrain, free, cdf, region, rng)
            if poly is not None:
                break
        if poly is None:
            log.warning("%s: no place for a landslide of %.0f m²", spec.name, area_m2)
            continue
        placed.append(poly)
        footprint, window = _footprint(poly, free.shape)
        free[window] &= ~ndimage.binary_dilation(footprint, iterations=2)
    return placed


def footprint_mask(polygons: list[shapely.Polygon], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: 1-based index of the landslide covering each pixel centre, 0 elsewhere."""
    index = np.zeros(shape, np.int32)
    for i, poly in enumerate(polygons, start=1):
        inside, window = _footprint(poly, shape)
        index[window][inside] = i
    return index


def _try_place(
    area_m2: float,
    threshold_deg: float,
    elongation: tuple[float, float],
    terrain: Slopes,
    free: np.ndarray,
    cdf: np.ndarray,
    region: shapely.Polygon,
    rng: np.random.Generator,
) -> shapely.Polygon | None:
    """One landslide at a random steep place, or None after ``_ATTEMPTS`` failures.

    ``elongation`` is the (min, max) length-to-width ratio drawn from.
    A candidate must lie within ``region`` on free ground, be steeper than
    ``threshold_deg`` on average and hardly gentle anywhere, and drop from crown
    to toe at least half as much as a straight hillside at the threshold would.
    """
    area_px = area_m2 / terrain.res_m**2
    width = free.shape[1]
    picks = np.searchsorted(cdf, rng.random(_ATTEMPTS) * cdf[-1], side="right")
    for pick in picks:
        row, col = divmod(int(pick), width)
        direction = terrain.downslope[:, row, col]
        centre = np.array([col + 0.5, row + 0.5])
        poly = teardrop(centre, direction, area_px, rng.uniform(*elongation), rng)
        if not region.contains(poly):
            continue
        inside, window = _footprint(poly, free.shape)
        if inside.sum() < _MIN_PIXELS or not free[window][inside].all():
            continue
        slopes = terrain.slope_deg[window][inside]
        if slopes.mean() < threshold_deg or (slopes < threshold_deg - 10).mean() > _GENTLE_SHARE:
            continue
        along = (np.asarray(poly.exterior.coords) - centre) @ direction  # px, crown < 0 < toe
        crown = terrain.elevation_at(centre + along.min() * direction)
        toe = terrain.elevation_at(centre + along.max() * direction)
        run_m = (along.max() - along.min()) * terrain.res_m
        if crown - toe < 0.5 * run_m * np.tan(np.radians(threshold_deg)):
            continue
        return poly
    return None


def _footprint(
    poly: shapely.Polygon, shape: tuple[int, int]
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pixels whose centre lies in ``poly``: a bool mask over its bounding window."""
    c0, r0, c1, r1 = poly.bounds
    rows = slice(max(int(np.floor(r0)), 0), min(int(np.ceil(r1)) + 1, shape[0]))
    cols = slice(max(int(np.floor(c0)), 0), min(int(np.ceil(c1)) + 1, shape[1]))
    rr, cc = np.mgrid[rows, cols]
    inside = shapely.contains_xy(poly, cc + 0.5, rr + 0.5)
    return inside, (rows, cols)


def _wobble(rng: np.random.Generator, n: int) -> np.ndarray:
    """A rough random sequence of ``n`` values within [-1, 1], 0 at both ends."""
    walk = np.cumsum(rng.normal(0.0, 1.0, n)) + 0.6 * rng.normal(0.0, 1.0, n)
    walk -= np.linspace(walk[0], walk[-1], n)
    return walk / max(np.abs(walk).max(), 1e-9)
