"""Land cover of a synthetic area: vegetation and the landslide look-alikes.

Besides forest, every area has surfaces whose spectra resemble fresh landslide
scars but which are *not* landslides, as in the paper's study areas: gravel
bars along the rivers, bare fields and villages on gentle land, roads (the
valley road and winding mountain roads) and, in the China-like area, bare rock
on the high ridges. They are where a spectral threshold fails and where slope
and shape must help.

Landslide scars are painted in later (:mod:`slidemap.synth.landslides`) over
vegetation, roads and fields, never over water, gravel, villages or rock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slidemap.synth.areas import AreaSpec
from slidemap.synth.noise import fractal_noise, sigmoid
from slidemap.synth.terrain import Terrain, arc_length, meander, trace

VEGETATION, WATER, GRAVEL, BARE_FIELD, CROP, ROAD, ROOF, ROCK, SCAR = range(9)
#: Class code → name, for the quick-look legend and messages.
CLASSES = ("vegetation", "water", "gravel", "bare field", "crop", "road", "roof", "rock", "scar")
_FARM_SLOPE_DEG = 8.0  # fields only on gentler land


@dataclass
class LandCover:
    """Per-pixel land cover on the working grid; mutable so scars can be painted in.

    Attributes:
        cover: (H, W) uint8 class code (module constants).
        veg_mix: (H, W) float64 in [0, 1]: share of vegetation type B (vs A).
        veg_share: (H, W) float64 in [0, 1]: vegetation mixed into a non-vegetation
            pixel (gardens between roofs, plants on old scars).
        brightness: (H, W) float64 multiplicative brightness of each object
            (a field, a roof, a landslide) around 1.
    """

    cover: np.ndarray
    veg_mix: np.ndarray
    veg_share: np.ndarray
    brightness: np.ndarray


def make_landcover(
    spec: AreaSpec, terrain: Terrain, slope_deg: np.ndarray, rng: np.random.Generator
) -> LandCover:
    """Lay out vegetation, rivers, fields, villages, roads and rock for ``spec``."""
    shape = terrain.dem_m.shape
    cover = np.full(shape, VEGETATION, np.uint8)
    veg_share = np.zeros(shape)
    brightness = np.ones(shape)
    elevation = (terrain.dem_m - terrain.dem_m.mean()) / terrain.dem_m.std()
    veg_mix = sigmoid(1.8 * fractal_noise(rng, shape, 3.0, 4.0) + spec.veg_b_uphill * elevation)

    across = terrain.river_dist_px / terrain.river_width
    floodplain = across < spec.floodplain_px
    bars = fractal_noise(rng, shape, 1.8, 3.0)
    gravel = floodplain & (bars < np.quantile(bars[floodplain], spec.gravel_share))
    cover[gravel] = GRAVEL
    brightness[gravel] = 1.0 + 0.08 * bars[gravel]
    # side channels braiding through the bars: zero crossings of a smooth field
    braids = gravel & (np.abs(fractal_noise(rng, shape, 3.0, 6.0)) < 0.06)

    gentle = (slope_deg < _FARM_SLOPE_DEG) & ~gravel & (across >= spec.channel_px + 1.0)
    _fields(spec, cover, brightness, gentle, rng)
    _rock(spec, cover, veg_share, elevation, floodplain, rng)
    _villages(spec, cover, veg_share, brightness, gentle, across, rng)
    for road in _roads(spec, terrain, rng):
        cols, rows, _ = trace(road)
        inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        cover[rows[inside], cols[inside]] = ROAD
    cover[(across < spec.channel_px) | braids] = WATER
    return LandCover(cover=cover, veg_mix=veg_mix, veg_share=veg_share, brightness=brightness)


def _fields(
    spec: AreaSpec,
    cover: np.ndarray,
    brightness: np.ndarray,
    gentle: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Rectangular parcels (rotated grid) on the farmed share of the gentle land."""
    shape = cover.shape
    zone = fractal_noise(rng, shape, 3.5)
    farmed = (
        gentle & (zone < np.quantile(zone[gentle], spec.farm_share)) if gentle.any() else gentle
    )
    rows, cols = np.indices(shape, dtype=np.float64)
    angle = rng.uniform(0.0, np.pi)
    u = cols * np.cos(angle) + rows * np.sin(angle)
    v = -cols * np.sin(angle) + rows * np.cos(angle)
    length, width = rng.uniform(18.0, 30.0), rng.uniform(8.0, 14.0)
    iu = np.floor(u / length).astype(np.int64)
    iv = np.floor(v / width).astype(np.int64)
    parcel = (iu - iu.min()) * (iv.max() - iv.min() + 1) + (iv - iv.min())
    n_parcels = int(parcel.max()) + 1
    bare = rng.random(n_parcels) < spec.bare_share
    shade = rng.uniform(0.8, 1.2, n_parcels)
    cover[farmed] = np.where(bare[parcel[farmed]], BARE_FIELD, CROP)
    brightness[farmed] = shade[parcel[farmed]]


def _rock(
    spec: AreaSpec,
    cover: np.ndarray,
    veg_share: np.ndarray,
    elevation: np.ndarray,
    floodplain: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Bare rock outcrops on the highest, most exposed ground (``spec.rock_share``)."""
    if spec.rock_share <= 0:
        return
    score = elevation + 0.6 * fractal_noise(rng, cover.shape, 2.4)
    rock = (score > np.quantile(score, 1.0 - spec.rock_share)) & ~floodplain
    cover[rock] = ROCK
    veg_share[rock] = np.clip(0.3 * rng.random(int(rock.sum())), 0.0, 1.0)


def _villages(
    spec: AreaSpec,
    cover: np.ndarray,
    veg_share: np.ndarray,
    brightness: np.ndarray,
    gentle: np.ndarray,
    across: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Clusters of roofs (2 × 2 px blocks) with gardens, on gentle land near a river."""
    height, width = cover.shape
    near_river = gentle & (across < spec.floodplain_px + 30.0)
    sites = np.flatnonzero(near_river)
    if sites.size == 0:
        return
    rows, cols = np.indices(cover.shape)
    blocks = rng.random(((height + 1) // 2, (width + 1) // 2))
    block_shade = rng.uniform(0.75, 1.35, blocks.shape)
    roofs = np.repeat(np.repeat(blocks < 0.55, 2, 0), 2, 1)[:height, :width]
    shade = np.repeat(np.repeat(block_shade, 2, 0), 2, 1)[:height, :width]
    for site in rng.choice(sites, size=min(spec.settlements, sites.size), replace=False):
        r0, c0 = divmod(int(site), width)
        radius = rng.uniform(7.0, 14.0)
        village = (np.hypot(rows - r0, cols - c0) < radius) & roofs & (cover != WATER)
        cover[village] = ROOF
        veg_share[village] = 0.2
        brightness[village] = shade[village]


def _roads(spec: AreaSpec, terrain: Terrain, rng: np.random.Generator) -> list[np.ndarray]:
    """The valley road beside the main river and winding roads up the slopes.

    Returns:
        Centrelines, each (N, 2) ``(col, row)``.
    """
    main = terrain.rivers[0]
    tangent = np.gradient(main, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
    side = rng.choice([-1.0, 1.0])
    valley_road = main + side * (spec.floodplain_px + 3.0) * normal
    roads = [valley_road]
    shape = terrain.dem_m.shape
    along = arc_length(valley_road)
    for _ in range(spec.mountain_roads):
        start = valley_road[np.searchsorted(along, rng.uniform(0.2, 0.8) * along[-1])]
        direction = rng.uniform(0.0, 2 * np.pi)
        reach = rng.uniform(0.25, 0.45) * min(shape)
        end = start + reach * np.array([np.cos(direction), np.sin(direction)])
        end = np.clip(end, 0.0, np.array([shape[1] - 1.0, shape[0] - 1.0]))
        roads.append(meander(rng, start, end, shape, wander=0.15))
    return roads
