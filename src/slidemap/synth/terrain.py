"""Synthetic terrain: fractal hills with sharp ridges, cut by river valleys.

The hills are spectral noise (``|k| ** -beta``) plus ridged noise (``1 - |n|``,
which gives sharp crests). A main river crosses the area from edge to edge and
tributaries join it; each river cuts a V-shaped valley into the hills: a flat
floodplain along the channel, then walls at the area's valley-wall angle up to
where they meet the hills. Gullies and spurs (short-wavelength relief) roughen
everything outside the floodplains. The relief is scaled so that the median
slope on the 10 m grid matches the area's profile — so the areas differ in
steepness the way the paper's do (China-like steepest, Japan-like rolling hills).

All positions here are pixel coordinates ``(col, row)`` on the working grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from slidemap.synth.areas import AreaSpec
from slidemap.synth.noise import fractal_noise, smoothstep

_HILLSLOPE_PX = 8.0  # no relief at wavelengths below ~80 m (hillslopes are smooth there)
_DETAIL_PX = 40.0  # gullies and spurs: relief at wavelengths below ~400 m ...
_DETAIL_WEIGHT = 0.5  # ... with half the slope of the hills
_SEAM_SMOOTH_PX = 8.0  # river beds and widths blend over this distance
_SOFTNESS_M = 15.0  # valley rims are rounded over about this height
_TRIBUTARY_WIDTH = 0.55  # tributary floodplain/valley/channel width relative to the main river
_MAIN_GRADIENT = 0.004  # main river bed slope (m/m)
_TRIBUTARY_GRADIENT = 0.02  # tributary bed slope (m/m)


@dataclass(frozen=True)
class Terrain:
    """Elevation and drainage of one area on its working grid.

    Attributes:
        dem_m: (H, W) float64 elevation in metres.
        river_dist_px: (H, W) float64 distance to the nearest river centreline, pixels.
        river_width: (H, W) float64 width factor of that river (1 main, < 1 tributary).
        rivers: centrelines, each an (N, 2) float64 array of ``(col, row)``; the main
            river first.
    """

    dem_m: np.ndarray
    river_dist_px: np.ndarray
    river_width: np.ndarray
    rivers: tuple[np.ndarray, ...]


def make_terrain(
    spec: AreaSpec, shape: tuple[int, int], res_m: float, rng: np.random.Generator
) -> Terrain:
    """Generate the terrain of ``spec`` on a grid of ``shape`` pixels of ``res_m`` metres.

    The hills (spectral + ridged noise) are cut by V-shaped valleys: a flat
    floodplain along each river, then walls at ``spec.valley_wall_deg`` up to
    where they meet the hills (a rounded minimum). Small-scale relief (gullies,
    spurs) is added outside the floodplains, and the whole relief is scaled so
    that the median slope is ``spec.median_slope_deg``.
    """
    beta, longest = spec.terrain_beta, spec.relief_wavelength_px
    base = fractal_noise(rng, shape, beta, _HILLSLOPE_PX, longest)
    ridged = 1.0 - np.abs(fractal_noise(rng, shape, beta, _HILLSLOPE_PX, longest))
    surface = base + spec.ridge_weight * (ridged - ridged.mean()) / ridged.std()
    detail = fractal_noise(rng, shape, 3.0, _HILLSLOPE_PX * 0.75, _DETAIL_PX)
    detail *= _DETAIL_WEIGHT * np.median(_gradient(surface)) / np.median(_gradient(detail))
    rivers = _rivers(spec, shape, rng)
    dist, width, bed = _drainage(rivers, shape, res_m, rng)
    floor = spec.elevation_min_m + bed
    above_floodplain = np.maximum(dist - spec.floodplain_px * width, 0.0)
    valley = floor + np.tan(np.radians(spec.valley_wall_deg)) * res_m * above_floodplain
    detail *= smoothstep(above_floodplain / _DETAIL_PX * 5.0)
    level = np.median(floor)

    def dem_for(scale: float) -> np.ndarray:
        hills_m = level + scale * (surface - surface.min())
        return np.maximum(_soft_min(hills_m, valley, _SOFTNESS_M), floor) + scale * detail

    target = np.tan(np.radians(spec.median_slope_deg)) * res_m
    scale = target / np.median(_gradient(surface))
    for _ in range(4):  # valleys and floodplains change the median slope: refine
        scale *= target / np.median(_gradient(dem_for(scale)))
    return Terrain(dem_m=dem_for(scale), river_dist_px=dist, river_width=width, rivers=rivers)


def downslope(dem_m: np.ndarray, smooth_px: float = 2.0) -> np.ndarray:
    """Unit vector of steepest descent ``(d_col, d_row)`` per pixel; (2, H, W) float64.

    The DEM is smoothed by a Gaussian of ``smooth_px`` first so that the
    direction follows the hillside rather than pixel-scale roughness.
    """
    d_row, d_col = np.gradient(ndimage.gaussian_filter(dem_m, smooth_px))
    norm = np.hypot(d_col, d_row)
    norm[norm == 0] = 1.0
    return np.stack([-d_col / norm, -d_row / norm])


def _gradient(z: np.ndarray) -> np.ndarray:
    """Gradient magnitude per pixel (elevation units per pixel); (H, W)."""
    d_row, d_col = np.gradient(z)
    return np.hypot(d_col, d_row)


def _soft_min(a: np.ndarray, b: np.ndarray, softness: float) -> np.ndarray:
    """Elementwise minimum of ``a`` and ``b``, rounded over about ``softness``."""
    low = np.minimum(a, b)
    return low - softness * np.log1p(np.exp(-np.abs(a - b) / softness))


def _rivers(
    spec: AreaSpec, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """The main river from one edge to the opposite one, and tributaries joining it."""
    height, width = shape
    if rng.random() < 0.5:
        start = np.array([0.0, rng.uniform(0.25, 0.75) * height])
        end = np.array([width - 1.0, rng.uniform(0.25, 0.75) * height])
    else:
        start = np.array([rng.uniform(0.25, 0.75) * width, 0.0])
        end = np.array([rng.uniform(0.25, 0.75) * width, height - 1.0])
    if rng.random() < 0.5:
        start, end = end, start
    main = meander(rng, start, end, shape)
    rivers = [main]
    for _ in range(spec.tributaries):
        junction = main[rng.integers(len(main) // 5, 4 * len(main) // 5)]
        source = _edge_point(rng, shape)
        rivers.append(meander(rng, source, junction, shape))
    return tuple(rivers)


def _edge_point(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A random ``(col, row)`` on the grid's edge, away from the corners."""
    height, width = shape
    t = rng.uniform(0.1, 0.9)
    side = rng.integers(4)
    points = [
        (t * width, 0.0),
        (t * width, height - 1.0),
        (0.0, t * height),
        (width - 1.0, t * height),
    ]
    return np.array(points[side])


def meander(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    shape: tuple[int, int],
    wander: float = 0.05,
) -> np.ndarray:
    """A winding path from ``start`` to ``end``: heading with correlated random turns.

    ``wander`` is the standard deviation of the turn per step (radians): 0.05
    gives river meanders, 0.15 switchback roads.

    Returns:
        (N, 2) float64 ``(col, row)`` points about 3 px apart, inside the grid.
    """
    step = 3.0
    points = [start]
    point = start.astype(np.float64)
    heading = np.arctan2(*(end - start)[::-1])
    curvature = 0.0
    limit = 4 * int(np.hypot(*shape) / step)
    for _ in range(limit):
        to_end = end - point
        if np.hypot(*to_end) <= step:
            break
        curvature = 0.85 * curvature + rng.normal(0.0, wander)
        pull = np.angle(np.exp(1j * (np.arctan2(to_end[1], to_end[0]) - heading)))
        near = np.hypot(*to_end) < 10 * step  # close to the end: head straight for it
        heading += pull if near else curvature + 0.25 * pull
        point = point + step * np.array([np.cos(heading), np.sin(heading)])
        point = np.clip(point, 0.0, np.array([shape[1] - 1.0, shape[0] - 1.0]))
        points.append(point)
    points.append(end)
    return np.array(points)


def _drainage(
    rivers: tuple[np.ndarray, ...],
    shape: tuple[int, int],
    res_m: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the nearest river, its width factor and its bed elevation.

    The main river's bed falls downstream at ``_MAIN_GRADIENT``; each tributary's
    bed starts at the main river's bed where it joins and rises upstream at
    ``_TRIBUTARY_GRADIENT``. Widths vary smoothly along each river (± 35 %).

    Returns:
        (distance in px, width factor, bed elevation above the lowest bed in m), each
        (H, W) float64; width and bed are the nearest centreline pixel's, smoothed.
    """
    centre = np.zeros(shape, bool)
    width = np.zeros(shape)
    bed = np.zeros(shape)
    main = rivers[0]
    main_len = arc_length(main)
    main_bed = _MAIN_GRADIENT * res_m * (main_len[-1] - main_len)
    for river, factor in [(r, _TRIBUTARY_WIDTH) for r in rivers[1:]] + [(main, 1.0)]:
        along = arc_length(river)
        if river is main:
            river_bed = main_bed
        else:
            nearest = np.argmin(np.hypot(*(main - river[-1]).T))
            river_bed = main_bed[nearest] + _TRIBUTARY_GRADIENT * res_m * (along[-1] - along)
        series = ndimage.gaussian_filter1d(rng.standard_normal(len(river)), 8.0, mode="nearest")
        widths = factor * np.clip(1.0 + 0.35 * series / max(series.std(), 1e-9), 0.5, 1.6)
        cols, rows, at = trace(river)
        centre[rows, cols] = True
        width[rows, cols] = np.interp(at, along, widths)
        bed[rows, cols] = np.interp(at, along, river_bed)
    dist, (near_row, near_col) = ndimage.distance_transform_edt(~centre, return_indices=True)
    # smoothed, so that valleys have no seams where the nearest river point changes
    return (
        dist,
        ndimage.gaussian_filter(width[near_row, near_col], _SEAM_SMOOTH_PX),
        ndimage.gaussian_filter(bed[near_row, near_col], _SEAM_SMOOTH_PX),
    )


def arc_length(path: np.ndarray) -> np.ndarray:
    """Cumulative length along an (N, 2) path, starting at 0; (N,)."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])


def trace(path: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels a path runs through, sampled every 0.5 px.

    Returns:
        (cols, rows) as intp arrays, and the arc length (px) of each sample, so
        that values given at the path's points can be interpolated with ``np.interp``.
    """
    along = arc_length(path)
    at = np.arange(0.0, along[-1] + 0.5, 0.5)
    cols = np.rint(np.interp(at, along, path[:, 0])).astype(np.intp)
    rows = np.rint(np.interp(at, along, path[:, 1])).astype(np.intp)
    return cols, rows, at
