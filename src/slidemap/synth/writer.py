"""Write synthetic areas as a user would bring them: GeoTIFF bands, a DEM, a GeoPackage.

Per area, in ``DIR/<name>/``:

* ``B2.tif B3.tif B4.tif B8.tif``: uint16 L2A digital numbers, nodata 0, 10 m
  in the area's UTM zone;
* ``MTD_MSIL2A.xml``: baseline 04.00 radiometry (``BOA_ADD_OFFSET`` −1000);
* ``dem.tif``: float32 elevation (m) in another CRS or at another resolution
  (EPSG:4326 at 1″ ≈ 30 m, or UTM at 30 m), averaged from the 10 m terrain;
* ``landslides.gpkg``: layer ``landslides`` (``id``, ``area_m2``), in the
  area's inventory CRS (the national grid, WGS 84 or JGD2011);
* ``area.toml``: the area file for ``slidemap prepare``, marked ``synthetic = true``;
* ``quicklook.png`` with ``quicklook=True``.

Every raster carries the GDAL metadata tag ``SYNTHETIC=yes``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from slidemap.errors import SlidemapError
from slidemap.io.atomic import OutputKind, atomic_dir
from slidemap.io.rasters import write_geotiff
from slidemap.io.vectors import write_polygons
from slidemap.progress import track
from slidemap.synth.areas import AREAS, BANDS, SPECS
from slidemap.synth.product import area_toml, mtd_msil2a
from slidemap.synth.scene import (
    BYTES_PER_PX,
    MAX_SIDE_PX,
    MIN_SIDE_PX,
    SIDE_PX,
    Scene,
    make_scene,
    side_px,
)

log = logging.getLogger("slidemap")

DEM_NODATA = -9999.0
#: The output directory of ``synth``: its README (a common name) starts with this line.
SYNTHETIC = OutputKind(
    "a set of synthetic areas", "README.txt", "SYNTHETIC study areas written by `slidemap synth`"
)
_README = """\
SYNTHETIC study areas written by `slidemap synth` (seed {seed}, scale {scale:g}).
They are not real data. Each folder holds Sentinel-2 L2A-style bands, a DEM, a
landslide inventory and an area file; prepare one with

    slidemap prepare {first}/area.toml --out prepared/{first}
"""


def synthesize(
    out: Path,
    seed: int = 0,
    scale: float = 1.0,
    areas: tuple[str, ...] = AREAS,
    overwrite: bool = False,
    quicklook: bool = False,
) -> list[Path]:
    """Write the synthetic study areas into directory ``out`` (all or nothing).

    Args:
        out: directory to create, with one folder per area.
        seed: random seed (≥ 0); the same seed writes the same areas.
        scale: image side = 512 × ``scale`` pixels of 10 m.
        areas: which of :data:`AREAS` to write, in this order.
        overwrite: replace an existing ``out``.
        quicklook: also write ``quicklook.png`` per area (RGB + inventory outlines).

    Returns:
        The area files (``out/<name>/area.toml``), one per area.

    Raises:
        SlidemapError: unknown or repeated area, negative seed, scale too small,
            too large (over 8) or not finite, ``out`` exists without ``overwrite``.
    """
    _check(seed, scale, areas)
    out = Path(out)
    with atomic_dir(out, SYNTHETIC, overwrite=overwrite) as tmp:
        first = areas[0]
        (tmp / "README.txt").write_text(
            _README.format(seed=seed, scale=scale, first=first), encoding="utf-8"
        )
        for name in track(areas, total=len(areas), desc="synth", unit="area"):
            scene = make_scene(SPECS[name], seed, scale)
            write_scene(scene, tmp / name, seed, scale)
            if quicklook:
                from slidemap.synth.quicklook import write_quicklook

                write_quicklook(scene, tmp / name / "quicklook.png", seed)
            log.info("synthetic area %s: %d landslides", name, len(scene.landslides))
    return [out / name / "area.toml" for name in areas]


def write_scene(scene: Scene, folder: Path, seed: int, scale: float) -> Path:
    """Write one area's files into a new ``folder``; returns its ``area.toml``."""
    spec = scene.spec
    folder.mkdir()
    tags = {"SYNTHETIC": "yes", "AREA": spec.name, "SEED": str(seed)}
    for i, band in enumerate(BANDS):
        path = folder / f"{band}.tif"
        write_geotiff(path, scene.dn[i], scene.crs, scene.transform, 0, [band], tags=tags)
    (folder / "MTD_MSIL2A.xml").write_text(mtd_msil2a(spec, seed), encoding="utf-8")
    _write_dem(scene, folder / "dem.tif", tags)
    _write_inventory(scene, folder / "landslides.gpkg")
    toml = folder / "area.toml"
    toml.write_text(area_toml(spec, seed, scale), encoding="utf-8")
    return toml


def _check(seed: int, scale: float, areas: tuple[str, ...]) -> None:
    if seed < 0:
        raise SlidemapError(f"--seed must be 0 or more, got {seed}")
    if not math.isfinite(scale) or side_px(scale) < MIN_SIDE_PX:
        raise SlidemapError(
            f"--scale {scale:g} gives areas of {side_px(scale) if math.isfinite(scale) else '?'} "
            f"px; use a scale of at least {MIN_SIDE_PX / SIDE_PX:g} "
            f"({MIN_SIDE_PX} px, 1 = {SIDE_PX} px)"
        )
    side = side_px(scale)
    if side > MAX_SIDE_PX:
        raise SlidemapError(
            f"--scale {scale:g} gives areas of {side} x {side} px, which would take about "
            f"{side * side * BYTES_PER_PX / 1e9:,.0f} GB of memory to generate; use a scale of "
            f"at most {MAX_SIDE_PX / SIDE_PX:g} ({MAX_SIDE_PX} px, 1 = {SIDE_PX} px)"
        )
    if not areas:
        raise SlidemapError(f"no area to write; choose from {', '.join(AREAS)}")
    unknown = [a for a in areas if a not in SPECS]
    if unknown:
        raise SlidemapError(
            f"unknown synthetic area {', '.join(unknown)}; choose from {', '.join(AREAS)}"
        )
    if len(set(areas)) != len(areas):
        raise SlidemapError(f"an area is listed twice: {', '.join(areas)}")


def _write_dem(scene: Scene, path: Path, tags: dict[str, str]) -> None:
    """Average the 10 m working-grid DEM onto the area's DEM grid and write it (float32)."""
    spec = scene.spec
    crs = CRS.from_user_input(spec.dem_crs)
    res = spec.dem_res
    height, width = scene.dn.shape[1:]
    left, top = scene.transform @ (0, 0)
    right, bottom = scene.transform @ (width, height)
    x0, y0, x1, y1 = transform_bounds(scene.crs, crs, left, bottom, right, top, densify_pts=21)
    col0, row0 = math.floor(x0 / res) - 2, math.floor(-y1 / res) - 2
    col1, row1 = math.ceil(x1 / res) + 2, math.ceil(-y0 / res) + 2
    transform = Affine(res, 0.0, col0 * res, 0.0, -res, -row0 * res)
    dem = np.full((row1 - row0, col1 - col0), DEM_NODATA, np.float32)
    reproject(
        source=scene.dem_m.astype(np.float32),
        destination=dem,
        src_transform=scene.dem_transform,
        src_crs=scene.crs,
        dst_transform=transform,
        dst_crs=crs,
        dst_nodata=DEM_NODATA,
        resampling=Resampling.average,
    )
    write_geotiff(path, dem, crs, transform, DEM_NODATA, ["elevation_m"], tags=tags)


def _write_inventory(scene: Scene, path: Path) -> None:
    """Landslide polygons in the area's inventory CRS, with ``id`` and ``area_m2``."""
    crs = CRS.from_epsg(scene.spec.inventory_epsg)
    to_inventory = Transformer.from_crs(scene.crs, crs, always_xy=True)
    polygons = [
        shapely.transform(p, lambda xy: np.column_stack(to_inventory.transform(*xy.T)))
        for p in scene.landslides
    ]
    fields: dict[str, np.ndarray] = {
        "id": np.arange(1, len(polygons) + 1, dtype=np.int32),
        "area_m2": np.array([p.area for p in scene.landslides], dtype=np.float64),
    }
    write_polygons(path, polygons, crs, fields, layer="landslides")
