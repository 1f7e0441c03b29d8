"""Raw inputs → prepared area: grid, reflectance, slope, labels, split, statistics.

``prepare_area`` reads an area file (:mod:`slidemap.config`) and writes a
prepared area (:mod:`slidemap.area`) atomically. Steps:

1. bands → reflectance on one grid (:mod:`slidemap.io.bands`), optionally
   clipped to an AOI;
2. slope (degrees, Horn) computed on the DEM's own grid, then resampled
   bilinearly onto the image grid;
3. inventory polygons reprojected, repaired and rasterised to ``label.tif``;
4. split into train / validation / test blocks (:mod:`slidemap.split`);
5. band statistics over the train part, inventory statistics in m².
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize

from slidemap.area import (
    LABEL_NODATA,
    SPLIT_NAMES,
    TRAIN,
    AreaMeta,
    InventoryStats,
    band_stats,
    write_area,
)
from slidemap.config import DemConfig, InventoryConfig, SplitConfig, load_area_config
from slidemap.errors import SlidemapError
from slidemap.io.atomic import check_writable_target
from slidemap.io.bands import band_sources, read_bands, target_grid
from slidemap.io.grid import Grid, warp_to
from slidemap.io.rasters import open_raster, read_band
from slidemap.io.vectors import areas_m2, read_polygons
from slidemap.split import split_by_direction, split_from_roles
from slidemap.terrain import slope_deg

log = logging.getLogger("slidemap")


def prepare_area(area_file: Path, out: Path, overwrite: bool = False) -> Path:
    """Prepare the area described by ``area_file`` into directory ``out``.

    Raises:
        SlidemapError: any problem with the inputs; nothing is written then.
    """
    cfg = load_area_config(area_file)
    check_writable_target(Path(out), overwrite)
    sources, radiometry, files = band_sources(cfg.bands)
    grid = target_grid(cfg.bands, sources)
    aoi = None
    if cfg.aoi is not None:
        aoi_polys = read_polygons(cfg.aoi, grid.crs, what="AOI")
        aoi = shapely.union_all(aoi_polys.geometries)
        cropped = None if aoi.is_empty else grid.crop(aoi.bounds)
        if cropped is None:
            raise SlidemapError(
                f"AOI {cfg.aoi} does not overlap the image; check its CRS and extent"
            )
        grid = cropped
        files.append(cfg.aoi)
    image, _ = read_bands(cfg.bands, sources, radiometry, grid)
    names = list(cfg.bands.names)
    valid = np.isfinite(image).all(axis=0)
    if aoi is not None:
        valid &= _burn([aoi], grid, all_touched=False)
    if cfg.dem is not None:
        if cfg.dem.slope:
            slope = _slope_on_grid(cfg.dem, grid, valid)
            image = np.concatenate([image, slope[None]], axis=0)
            names.append("slope")
            valid &= np.isfinite(slope)
        files.append(cfg.dem.path)
    if not valid.any():
        raise SlidemapError(
            f"{cfg.source}: no pixel has valid data in every band"
            + (" and the DEM" if cfg.dem else "")
            + (" inside the AOI" if aoi is not None else "")
        )
    image[:, ~valid] = np.nan
    label, inventory = (
        _labels(cfg.inventory, grid, valid, aoi)
        if cfg.inventory
        else (np.full(grid.shape, LABEL_NODATA, np.uint8), None)
    )
    if cfg.inventory:
        files.append(cfg.inventory.path)
    split = _split(cfg.split, grid, valid)
    if cfg.split.path is not None:
        files.append(cfg.split.path)
    meta = AreaMeta(
        name=cfg.name,
        crs_wkt=grid.crs.to_wkt(),
        transform=tuple(grid.transform)[:6],
        width=grid.width,
        height=grid.height,
        band_names=tuple(names),
        band_stats=band_stats(image, split == TRAIN, tuple(names)),
        inventory=inventory,
        sources={str(p): _sha256(p) for p in files},
        split_pixels={SPLIT_NAMES[c]: int((split == c).sum()) for c in SPLIT_NAMES},
        synthetic=cfg.synthetic,
    )
    write_area(out, meta, image, label, split, overwrite=overwrite)
    log.info(
        "prepared area %s: %d x %d px, bands %s",
        cfg.name,
        grid.width,
        grid.height,
        ", ".join(names),
    )
    return Path(out)


def _slope_on_grid(dem_cfg: DemConfig, grid: Grid, image_valid: np.ndarray) -> np.ndarray:
    """Slope (degrees) at the DEM's resolution, bilinearly resampled onto ``grid``; (H, W).

    Raises:
        SlidemapError: the DEM's extent misses more than 0.5 % of the valid image
            pixels (a sliver along the edge is tolerated and becomes nodata).
    """
    with open_raster(dem_cfg.path, "DEM") as src:
        if src.crs is None:
            raise SlidemapError(f"DEM {dem_cfg.path} has no CRS; georeference it first")
        dem_grid = Grid.of(src)
        dem = read_band(src, 1, dem_cfg.path, "DEM").astype(np.float64)
        nodata = dem_cfg.nodata if dem_cfg.nodata is not None else src.nodata
    footprint = warp_to(np.ones(dem_grid.shape), dem_grid, grid, Resampling.nearest)
    uncovered = image_valid & np.isnan(footprint)
    if uncovered.sum() > 0.005 * image_valid.sum():
        raise SlidemapError(
            f"DEM {dem_cfg.path} does not cover the image: DEM bounds "
            f"{tuple(round(v, 4) for v in dem_grid.bounds)} ({dem_grid.crs.to_string()}), image "
            f"bounds {tuple(round(v, 4) for v in grid.bounds)} ({grid.crs.to_string()}); "
            f"{uncovered.sum() / image_valid.sum():.1%} of the image has no DEM"
        )
    if np.isinf(dem).any():
        raise SlidemapError(f"DEM {dem_cfg.path} contains infinite values")
    if nodata is not None:
        dem[dem == nodata] = np.nan
    if not np.isfinite(dem).any():
        raise SlidemapError(f"DEM {dem_cfg.path} has no valid pixel (all nodata)")
    slope = slope_deg(dem, dem_grid.transform, dem_grid.crs)
    return warp_to(slope, dem_grid, grid, Resampling.bilinear)


def _burn(geometries: list[shapely.Geometry], grid: Grid, all_touched: bool) -> np.ndarray:
    """Rasterise polygons onto ``grid``; (H, W) bool."""
    if not geometries:
        return np.zeros(grid.shape, bool)
    return rasterize(
        ((g, 1) for g in geometries),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        all_touched=all_touched,
        dtype=np.uint8,
    ).astype(bool)


def _labels(
    cfg: InventoryConfig, grid: Grid, valid: np.ndarray, aoi: shapely.Geometry | None
) -> tuple[np.ndarray, InventoryStats]:
    """Rasterised inventory ((H, W) uint8 0/1/255) and its statistics over the area."""
    polys = read_polygons(cfg.path, grid.crs, cfg.layer, what="inventory")
    footprint = shapely.box(*grid.bounds)
    if aoi is not None:
        footprint = footprint.intersection(aoi)
    clipped = shapely.intersection(polys.geometries, footprint)
    inside = (
        np.array([not g.is_empty for g in clipped], dtype=bool)
        if len(clipped)
        else np.zeros(0, bool)
    )
    clipped = clipped[inside]
    if len(clipped) == 0:
        raise SlidemapError(
            f"inventory {cfg.path} has no landslide polygon inside the area"
            + (
                f" ({len(polys.geometries)} polygons lie elsewhere; check the CRS)"
                if len(polys.geometries)
                else " (the layer is empty)"
            )
            + "; remove [inventory] to prepare an area without labels"
        )
    label = _burn(list(clipped), grid, cfg.all_touched).astype(np.uint8)
    label[~valid] = LABEL_NODATA
    area = areas_m2(clipped, grid.crs)
    stats = InventoryStats(
        count=len(clipped),
        total_m2=float(area.sum()),
        min_m2=float(area.min()),
        mean_m2=float(area.mean()),
        max_m2=float(area.max()),
        repaired=polys.repaired,
        dropped_empty=polys.dropped_empty,
    )
    return label, stats


def _split(cfg: SplitConfig, grid: Grid, valid: np.ndarray) -> np.ndarray:
    if cfg.path is None:
        return split_by_direction(valid, cfg.fraction, cfg.direction, cfg.validation)
    polys = read_polygons(cfg.path, grid.crs, what="split")
    if cfg.field not in polys.fields:
        raise SlidemapError(f"split file {cfg.path} has no field '{cfg.field}'")
    roles = np.array([str(v).strip().lower() for v in polys.fields[cfg.field]])
    bad = sorted(set(roles) - {"train", "test"})
    if bad:
        raise SlidemapError(
            f"split file {cfg.path}: field '{cfg.field}' must be 'train' or 'test', found {bad}"
        )
    train = _burn(list(polys.geometries[roles == "train"]), grid, False)
    test = _burn(list(polys.geometries[roles == "test"]), grid, False)
    return split_from_roles(valid, train, test, cfg.validation)


def _sha256(path: Path) -> str:
    """sha256 of a file's bytes; of a directory (a .SAFE), over its files' names and bytes."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
