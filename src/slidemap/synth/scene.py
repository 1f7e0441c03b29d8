"""One synthetic area in memory: grid, terrain, land cover, landslides, digital numbers.

The image grid is ``side × side`` pixels of 10 m in the area's UTM zone,
centred near the real place. Terrain and land cover are generated on a larger
working grid (a margin on every side) so that a DEM in another CRS can cover
the image completely after reprojection.

Random streams: one ``SeedSequence`` per area from ``(seed, crc32(name))``,
split into independent streams for terrain, land cover, landslides, ground,
sky and nodata, so that the same seed always gives the same area and changing
one step does not reshuffle the others.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from slidemap.synth.areas import AreaSpec
from slidemap.synth.landcover import (
    GRAVEL,
    ROCK,
    ROOF,
    SCAR,
    WATER,
    LandCover,
    make_landcover,
)
from slidemap.synth.landslides import (
    Slopes,
    footprint_mask,
    landslide_areas_m2,
    place_landslides,
)
from slidemap.synth.noise import fractal_noise
from slidemap.synth.spectra import observe, surface_reflectance, to_dn
from slidemap.synth.terrain import downslope, make_terrain
from slidemap.terrain import slope_deg

RES_M = 10.0
SIDE_PX = 512  # image side at scale 1
MIN_SIDE_PX = 128
#: Memory taken to generate an area, per image pixel (measured: 0.63 GB at scale 2,
#: 1.8 GB at scale 4, for the largest, japan-like).
BYTES_PER_PX = 400
#: Largest image side (scale 8): about 7 GB of memory per area. A fixed bound rather
#: than the machine's memory, so that a seed and scale write the same areas, or are
#: refused, on every machine; the paper's areas are scale 1.
MAX_SIDE_PX = 4096


@dataclass(frozen=True)
class Scene:
    """One synthetic area, ready to be written.

    Attributes:
        spec: its profile.
        crs: the bands' CRS (UTM).
        transform: the image grid's transform (10 m pixels).
        dn: (4, H, W) uint16 L2A digital numbers (B2, B3, B4, B8), 0 = nodata.
        dem_m: (H + 2m, W + 2m) float64 elevation in metres on the working grid.
        dem_transform: the working grid's transform (same CRS and pixel size).
        landslides: polygons in ``crs`` (metres).
    """

    spec: AreaSpec
    crs: CRS
    transform: Affine
    dn: np.ndarray
    dem_m: np.ndarray
    dem_transform: Affine
    landslides: list[shapely.Polygon]


def side_px(scale: float) -> int:
    """Image side in pixels for ``scale`` (512 at scale 1)."""
    return round(SIDE_PX * scale)


def make_scene(spec: AreaSpec, seed: int, scale: float) -> Scene:
    """Generate the area ``spec`` for ``seed`` at ``scale`` (side = 512 × scale pixels)."""
    streams = np.random.SeedSequence([seed, zlib.crc32(spec.name.encode())]).spawn(6)
    rng_terrain, rng_cover, rng_slides, rng_ground, rng_sky, rng_nodata = (
        np.random.default_rng(s) for s in streams
    )
    side = side_px(scale)
    margin = max(32, side // 8)
    shape = (side + 2 * margin, side + 2 * margin)
    crs = CRS.from_epsg(spec.epsg)
    transform = _image_transform(spec, crs, side)
    work_transform = transform @ Affine.translation(-margin, -margin)
    image = np.zeros(shape, bool)
    image[margin:-margin, margin:-margin] = True

    terrain = make_terrain(spec, shape, RES_M, rng_terrain)
    slope = slope_deg(terrain.dem_m, work_transform, crs)
    land = make_landcover(spec, terrain, slope, rng_cover)
    nodata = _swath_edge(rng_nodata, image, margin, side)
    # runouts may bury roads and field edges, never rivers, villages or rock
    allowed = image & ~nodata & ~np.isin(land.cover, (WATER, GRAVEL, ROOF, ROCK))
    pixel_m2 = RES_M * RES_M
    areas = landslide_areas_m2(spec, side * side * pixel_m2, pixel_m2, rng_slides)
    slopes = Slopes(terrain.dem_m, slope, downslope(terrain.dem_m), RES_M)
    region = shapely.box(margin, margin, margin + side, margin + side)
    polygons = place_landslides(spec, areas, slopes, allowed, region, rng_slides)
    _paint_scars(land, polygons, rng_slides)

    ground = surface_reflectance(spec, land, rng_ground)
    top = observe(spec, ground, terrain.dem_m, RES_M, rng_sky)
    window = (slice(margin, margin + side), slice(margin, margin + side))
    dn = to_dn(top[(slice(None), *window)], nodata[window])
    to_map = work_transform  # pixel (col, row) → map (x, y)
    landslides = [
        shapely.orient_polygons(shapely.transform(p, lambda xy: np.column_stack(to_map @ xy.T)))
        for p in polygons
    ]
    return Scene(
        spec=spec,
        crs=crs,
        transform=transform,
        dn=dn,
        dem_m=terrain.dem_m,
        dem_transform=work_transform,
        landslides=landslides,
    )


def _image_transform(spec: AreaSpec, crs: CRS, side: int) -> Affine:
    """North-up 10 m grid of ``side`` pixels centred near ``spec.centre_lonlat``."""
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_utm.transform(*spec.centre_lonlat)
    half = side * RES_M / 2.0
    left = round((x - half) / RES_M) * RES_M
    top = round((y + half) / RES_M) * RES_M
    return Affine(RES_M, 0.0, left, 0.0, -RES_M, top)


def _swath_edge(rng: np.random.Generator, image: np.ndarray, margin: int, side: int) -> np.ndarray:
    """A nodata wedge in one corner of the image, like the edge of a satellite swath.

    Returns:
        (H, W) bool on the working grid, True = no data (2–4 % of the image).
    """
    rows, cols = np.indices(image.shape, dtype=np.float64)
    y = (rows - margin + 0.5) / side
    x = (cols - margin + 0.5) / side
    if rng.random() < 0.5:
        x = 1.0 - x
    if rng.random() < 0.5:
        y = 1.0 - y
    return image & (x + y < rng.uniform(0.2, 0.28))


def _paint_scars(
    land: LandCover, polygons: list[shapely.Polygon], rng: np.random.Generator
) -> None:
    """Turn the landslides' pixels into scars: bare, each with its own brightness and
    some regrowing vegetation (patchy, more on older landslides)."""
    index = footprint_mask(polygons, land.cover.shape)
    scar = index > 0
    patchy = fractal_noise(rng, land.cover.shape, 2.0)
    brightness = rng.uniform(0.85, 1.2, len(polygons) + 1)
    regrowth = rng.uniform(0.0, 0.2, len(polygons) + 1)
    land.cover[scar] = SCAR
    land.brightness[scar] = brightness[index[scar]]
    land.veg_share[scar] = np.clip(regrowth[index[scar]] + 0.1 * patchy[scar], 0.0, 0.5)
