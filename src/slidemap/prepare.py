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

import logging
from pathlib import Path

import numpy as np
import shapely

from slidemap.area import (
    AREA,
    LABEL_NODATA,
    SPLIT_NAMES,
    TRAIN,
    AreaMeta,
    InventoryStats,
    band_stats,
    write_area,
)
from slidemap.config import InventoryConfig, SplitConfig, load_area_config
from slidemap.errors import SlidemapError
from slidemap.io.aoi import read_aoi
from slidemap.io.atomic import check_writable_target
from slidemap.io.bands import band_sources, read_bands, target_grid
from slidemap.io.checksums import sha256
from slidemap.io.dem import slope_on_grid
from slidemap.io.grid import Grid, burn
from slidemap.io.vectors import areas_m2, read_polygons
from slidemap.split import split_by_direction, split_from_roles

log = logging.getLogger("slidemap")


def prepare_area(area_file: Path, out: Path, overwrite: bool = False) -> Path:
    """Prepare the area described by ``area_file`` into directory ``out``.

    Raises:
        SlidemapError: any problem with the inputs; nothing is written then.
    """
    cfg = load_area_config(area_file)
    check_writable_target(Path(out), overwrite, AREA)
    sources, radiometry, files = band_sources(cfg.bands)
    grid = target_grid(cfg.bands, sources)
    aoi = None
    if cfg.aoi is not None:
        aoi = read_aoi(cfg.aoi, grid)
        grid = aoi.grid
        files.append(cfg.aoi)
    image, _ = read_bands(cfg.bands, sources, radiometry, grid)
    names = list(cfg.bands.names)
    valid = np.isfinite(image).all(axis=0)
    if aoi is not None:
        valid &= aoi.mask(grid)
    if cfg.dem is not None:
        if cfg.dem.slope:
            slope = slope_on_grid(cfg.dem, grid, valid)
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
        _labels(cfg.inventory, grid, valid, aoi.geometry if aoi is not None else None)
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
        sources={str(p): sha256(p) for p in files},
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
                else f" {polys.why_none()}"
            )
            + "; remove [inventory] to prepare an area without labels"
        )
    label = burn(list(clipped), grid, cfg.all_touched).astype(np.uint8)
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
    train = burn(list(polys.geometries[roles == "train"]), grid, False)
    test = burn(list(polys.geometries[roles == "test"]), grid, False)
    return split_from_roles(valid, train, test, cfg.validation)
