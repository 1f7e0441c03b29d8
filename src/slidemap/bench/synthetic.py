"""Synthetic inputs for the bench: a learnable prepared area and whole scenes of any size.

One recipe serves both, so a model trained on the area finds landslides in
the scenes: landslides are small ellipses that are bright in the visible
bands and dark in the near infrared; bare fields are bright in both (the
confounder); slope is smooth terrain, independent of the landslides. Values
are deterministic per seed. These are benchmark inputs, not the study areas
of ``slidemap synth``.

Scenes are written strip by strip (:func:`write_scene`), so a 10980 × 10980
scene never sits in memory: four uint16 bands (digital numbers, reflectance
× 10000, nodata 0) in one stack and a 30 m DEM over the same extent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window as RioWindow

from slidemap.area import (
    TEST,
    TRAIN,
    VALIDATION,
    AreaMeta,
    InventoryStats,
    band_stats,
    write_area,
)
from slidemap.io.rasters import GTIFF_PROFILE, write_geotiff

IMAGE_BANDS = ("B2", "B3", "B4", "B8")
BANDS = (*IMAGE_BANDS, "slope")
CRS_EPSG = 32654
PIXEL_M = 10.0
DEM_PIXEL_M = 30.0
ORIGIN = (500000.0, 4000000.0)
#: Rows generated and written at once by :func:`write_scene`.
STRIP_ROWS = 512
#: Pixels per landslide and per bare field (their densities).
_PX_PER_SLIDE, _PX_PER_FIELD = 2500, 12000


@dataclass(frozen=True)
class Tile:
    """A synthetic piece of land.

    Attributes:
        reflectance: (4, H, W) float32, bands B2, B3, B4, B8.
        slope_deg: (H, W) float32 terrain slope in degrees.
        label: (H, W) uint8, 1 landslide, 0 not.
    """

    reflectance: np.ndarray
    slope_deg: np.ndarray
    label: np.ndarray


def _ellipses(
    rng: np.random.Generator, shape: tuple[int, int], count: int, radii: tuple[int, int]
) -> np.ndarray:
    """(H, W) bool: ``count`` random axis-aligned ellipses with radii in ``radii`` px."""
    h, w = shape
    mask = np.zeros(shape, bool)
    lo, hi = radii
    for _ in range(count):
        ry, rx = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        r0, r1, c0, c1 = max(cy - ry, 0), min(cy + ry + 1, h), max(cx - rx, 0), min(cx + rx + 1, w)
        yy, xx = np.ogrid[r0 - cy : r1 - cy, c0 - cx : c1 - cx]
        mask[r0:r1, c0:c1] |= (yy / ry) ** 2 + (xx / rx) ** 2 <= 1.0
    return mask


def make_tile(
    seed: int | tuple[int, ...], height: int, width: int, row0: int = 0, col0: int = 0
) -> Tile:
    """A synthetic tile; ``row0``/``col0`` place it in a larger scene (continuous background).

    Args:
        seed: random seed (or seed sequence) of the tile's landslides, fields and noise.
        height, width: size in pixels.
        row0, col0: position of the tile's top-left pixel in its scene.
    """
    rng = np.random.default_rng(seed)
    shape = (height, width)
    yy, xx = np.mgrid[row0 : row0 + height, col0 : col0 + width].astype(np.float32)
    smooth = 0.5 + 0.25 * np.sin(xx / 41.0) * np.cos(yy / 57.0) + 0.25 * np.sin((xx + yy) / 97.0)
    slide = _ellipses(rng, shape, max(1, height * width // _PX_PER_SLIDE), (3, 8))
    field = _ellipses(rng, shape, max(1, height * width // _PX_PER_FIELD), (5, 14)) & ~slide
    refl = np.empty((4, height, width), np.float32)
    for k in range(3):  # visible: bright on landslides and fields
        base = 0.04 + 0.015 * k + 0.03 * smooth
        refl[k] = base + 0.15 * slide + 0.12 * field + rng.normal(0, 0.015, shape)
    refl[3] = 0.28 + 0.06 * smooth - 0.15 * slide + 0.02 * field + rng.normal(0, 0.02, shape)
    np.clip(refl, 0.0001, 1.0, out=refl)
    slope = 12.0 + 10.0 * np.cos(xx / 73.0) * np.sin(yy / 61.0) + rng.normal(0, 1.0, shape)
    return Tile(refl, np.abs(slope).astype(np.float32), slide.astype(np.uint8))


def write_bench_area(
    out: Path, rows: int, train_cols: int, val_cols: int, test_cols: int, seed: int = 0
) -> Path:
    """Write a prepared area whose columns are train | validation | test, left to right.

    Args:
        out: area directory to create (its name is the area's name).
        rows: height in pixels.
        train_cols, val_cols, test_cols: widths of the three parts in pixels.
        seed: random seed.

    Returns:
        ``out``.
    """
    width = train_cols + val_cols + test_cols
    tile = make_tile(seed, rows, width)
    image = np.concatenate([tile.reflectance, tile.slope_deg[None]])
    split = np.full((rows, width), TEST, np.uint8)
    split[:, :train_cols] = TRAIN
    split[:, train_cols : train_cols + val_cols] = VALIDATION
    meta = AreaMeta(
        name=out.name,
        crs_wkt=CRS.from_epsg(CRS_EPSG).to_wkt(),
        transform=_transform(PIXEL_M, 0.0),
        width=width,
        height=rows,
        band_names=BANDS,
        band_stats=band_stats(image, split == TRAIN, BANDS),
        inventory=InventoryStats(
            count=0,
            total_m2=float(tile.label.sum()) * PIXEL_M**2,
            min_m2=0.0,
            mean_m2=0.0,
            max_m2=0.0,
        ),
        synthetic=True,
    )
    return write_area(out, meta, image, tile.label, split)


def _transform(pixel_m: float, margin_m: float) -> tuple[float, float, float, float, float, float]:
    a = Affine(pixel_m, 0.0, ORIGIN[0] - margin_m, 0.0, -pixel_m, ORIGIN[1] + margin_m)
    return (a.a, a.b, a.c, a.d, a.e, a.f)


def write_scene(folder: Path, side: int, seed: int = 0) -> tuple[Path, Path]:
    """Write a ``side`` × ``side`` px scene: a band stack and a DEM, strip by strip.

    Args:
        folder: existing directory to write into.
        side: scene height and width in 10 m pixels.
        seed: random seed.

    Returns:
        ``(stack, dem)``: ``bands.tif`` (4 × uint16 DN = reflectance × 10000,
        nodata 0, bands described B2, B3, B4, B8) and ``dem.tif`` (float32 m,
        30 m pixels, 300 m beyond the scene on every side).
    """
    crs = CRS.from_epsg(CRS_EPSG)
    stack = folder / "bands.tif"
    profile = dict(GTIFF_PROFILE)
    profile.update(
        count=len(IMAGE_BANDS),
        height=side,
        width=side,
        dtype="uint16",
        crs=crs,
        transform=Affine(*_transform(PIXEL_M, 0.0)),
        nodata=0,
        predictor=2,
    )
    with rasterio.open(stack, "w", **profile) as dst:
        for i, name in enumerate(IMAGE_BANDS, start=1):
            dst.set_band_description(i, name)
        for strip, row0 in enumerate(range(0, side, STRIP_ROWS)):
            rows = min(STRIP_ROWS, side - row0)
            tile = make_tile((seed, strip), rows, side, row0=row0)
            dn = np.clip(np.rint(tile.reflectance * 10000), 1, 10000).astype(np.uint16)
            dst.write(dn, window=RioWindow(0, row0, side, rows))
    margin_m = 300.0
    n = int(np.ceil((side * PIXEL_M + 2 * margin_m) / DEM_PIXEL_M))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) * DEM_PIXEL_M
    elevation_m = 200.0 + 0.3 * xx + 150.0 * np.sin(xx / 900.0) * np.cos(yy / 1100.0)
    dem = folder / "dem.tif"
    write_geotiff(
        dem, elevation_m.astype(np.float32), crs, Affine(*_transform(DEM_PIXEL_M, margin_m)), None
    )
    return stack, dem
