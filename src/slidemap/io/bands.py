"""Sentinel-2 bands of an area file → a reflectance stack on one grid.

Bands come from separate files (one band each), one multi-band stack, or a
SAFE product.
Digital numbers are scaled to reflectance (see :mod:`slidemap.io.sentinel2`);
float inputs are taken as reflectance already. Mixing the two is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, WindowError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from slidemap.config import BandsConfig
from slidemap.errors import SlidemapError
from slidemap.io.grid import RESAMPLING, Grid, covering_pixels, same_grid, warp_to
from slidemap.io.rasters import open_raster, read_band, require_crs
from slidemap.io.sentinel2 import Radiometry, open_product, read_metadata

log = logging.getLogger("slidemap")

#: Most pixels of a grid at a chosen ``[bands] resolution``: 2**32 (65 536 px square,
#: 36 Sentinel-2 tiles at 10 m). A fixed count rather than the machine's memory, so an
#: area file is accepted or refused alike everywhere (``predict`` reads any grid block
#: by block); far above any study area, and far below the grid of a resolution in the
#: wrong unit (0.001 for 10 multiplies the pixels by 10**8).
MAX_GRID_PX = 2**32
#: Fewest pixels along a side of a grid at a chosen resolution: fewer is a resolution
#: meant in another unit (10 meant as metres on a grid in degrees gives 1 x 1 px).
MIN_GRID_SIDE_PX = 4


@dataclass(frozen=True)
class BandSource:
    """One band: a GDAL path (file or /vsizip/…), its 1-based index, and its grid."""

    name: str
    path: str
    index: int
    grid: Grid
    dtype: str
    nodata: float | None


@dataclass(frozen=True)
class BandStack:
    """Bands read onto one grid.

    Attributes:
        image: (C, H, W) float32 reflectance, NaN = nodata.
        grid: the common grid.
        sources: files read (for checksums).
        scaled: whether DN → reflectance scaling was applied.
    """

    image: np.ndarray
    grid: Grid
    sources: tuple[Path, ...]
    scaled: bool


def band_sources(cfg: BandsConfig) -> tuple[list[BandSource], Radiometry | None, list[Path]]:
    """Open every band's file, check it, and collect the product radiometry if any."""
    radiometry: Radiometry | None = None
    files: list[Path] = []
    if cfg.product is not None:
        product = open_product(cfg.product)
        missing = [n for n in cfg.names if n not in product.bands]
        if missing:
            raise SlidemapError(
                f"Sentinel-2 product {cfg.product} has no band file for {', '.join(missing)} "
                f"(found {', '.join(sorted(product.bands))})"
            )
        entries = [(n, product.bands[n], 1) for n in cfg.names]
        radiometry = product.radiometry
        files.append(cfg.product)
    elif cfg.stack is not None:
        entries = [(n, str(cfg.stack), i) for n, i in (cfg.indexes or ())]
        files.append(cfg.stack)
    else:
        entries = [(n, str(p), 1) for n, p in (cfg.files or ())]
        files.extend(Path(p) for _, p, _ in entries)
    sources = []
    for name, path, index in entries:
        with _open(path, f"band {name}") as src:
            require_crs(
                src,
                Path(path),
                f"band {name}",
                f"band {name} file {path} has no CRS; Sentinel-2 bands must be georeferenced",
            )
            if cfg.files is not None and src.count > 1:
                raise SlidemapError(
                    f"band {name}: {path} has {src.count} bands, but a file per band must have "
                    "one; give a multi-band file as a stack ([bands] stack with indexes, or as "
                    "the only --bands file)"
                )
            if index > src.count:
                raise SlidemapError(
                    f"band {name}: {path} has {src.count} band(s), index {index} does not exist"
                )
            nodata = cfg.nodata if cfg.nodata is not None else src.nodatavals[index - 1]
            if nodata is None and cfg.product is not None:
                nodata = 0.0  # DN 0 is nodata in Sentinel-2 products
            sources.append(
                BandSource(name, path, index, Grid.of(src), src.dtypes[index - 1], nodata)
            )
    if radiometry is None:
        mtd = cfg.metadata or _metadata_beside(files)
        if mtd is not None:
            radiometry = read_metadata(mtd)
            files.append(mtd)
    return sources, radiometry, files


def _open(path: str, what: str) -> rasterio.DatasetReader:
    """Open a band file, or a GDAL virtual path (``/vsizip/…``) inside a product."""
    if path.startswith("/vsi"):
        try:
            return rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise SlidemapError(f"cannot read {what} {path}: {exc}") from exc
    return open_raster(Path(path), what)


def _metadata_beside(files: list[Path]) -> Path | None:
    for f in files[:1]:
        for name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
            candidate = f.parent / name
            if candidate.is_file():
                return candidate
    return None


def target_grid(cfg: BandsConfig, sources: list[BandSource]) -> Grid:
    """The grid every band is read onto; checks CRS, extent and resolution agreement.

    Raises:
        SlidemapError: bands in different CRSs or resolutions without ``resampling``,
            band files of different extents, or a ``[bands] resolution`` giving a grid
            of more than :data:`MAX_GRID_PX` pixels or fewer than :data:`MIN_GRID_SIDE_PX`
            along a side (a resolution meant in another unit than the CRS's).
    """
    grid = _target_grid(cfg, sources)
    if cfg.resolution is not None:
        _check_grid_size(cfg.resolution, grid)
    return grid


def _check_grid_size(resolution: float, grid: Grid) -> None:
    """Refuse a grid at ``resolution`` with too many pixels or too few along a side."""
    size = f"{grid.width} x {grid.height} px"
    units = (
        f"the resolution is in the units of the CRS ({grid.crs.to_string()}: "
        f"{_crs_unit(grid.crs)}), e.g. 10 for 10 m pixels in UTM, about 0.0001 in degrees"
    )
    if grid.width * grid.height > MAX_GRID_PX:
        raise SlidemapError(
            f"[bands] resolution = {resolution:g} gives a grid of {size}, more than the "
            f"{MAX_GRID_PX:,} px slidemap reads; {units}"
        )
    if min(grid.width, grid.height) < MIN_GRID_SIDE_PX:
        raise SlidemapError(
            f"[bands] resolution = {resolution:g} gives a grid of only {size}; {units}"
        )


def _crs_unit(crs: CRS) -> str:
    try:
        return str(crs.units_factor[0])
    except CRSError:
        return "unknown unit"


def _target_grid(cfg: BandsConfig, sources: list[BandSource]) -> Grid:
    first = sources[0]
    crss = {s.grid.crs.to_string() for s in sources}
    if len(crss) > 1 and (cfg.crs is None or cfg.resampling is None):
        detail = ", ".join(f"{s.name}: {s.grid.crs.to_string()}" for s in sources)
        raise SlidemapError(
            f"band files are in different CRSs ({detail}); set [bands] crs and resampling "
            "to reproject them onto one grid"
        )
    if len(crss) == 1:
        coarsest = max(max(s.grid.res) for s in sources)
        for s in sources[1:]:
            diffs = np.abs(np.array(s.grid.bounds) - np.array(first.grid.bounds))
            if diffs.max() > coarsest / 2:
                raise SlidemapError(
                    f"band files have different extents: {first.name} ({first.path}) covers "
                    f"{tuple(round(v, 3) for v in first.grid.bounds)}, {s.name} ({s.path}) covers "
                    f"{tuple(round(v, 3) for v in s.grid.bounds)}; clip them to the same area"
                )
        resolutions = {s.grid.res for s in sources}
        if len(resolutions) > 1 and cfg.resampling is None:
            detail = ", ".join(f"{s.name} {s.grid.res[0]:g}" for s in sources)
            raise SlidemapError(
                f"band files have different resolutions ({detail}); set [bands] resampling = "
                '"bilinear" to resample them to the finest one'
            )
    if cfg.crs is not None:
        try:
            crs = CRS.from_user_input(cfg.crs)
        except Exception as exc:
            raise SlidemapError(f"[bands] crs: unknown CRS {cfg.crs!r}") from exc
        if crs != first.grid.crs:
            return first.grid.reprojected(crs, cfg.resolution)
    finest = min(sources, key=lambda s: s.grid.res[0]).grid
    if cfg.resolution is not None and abs(cfg.resolution - finest.res[0]) > 1e-9:
        return finest.with_resolution(cfg.resolution)
    return finest


def dn_scaling(cfg: BandsConfig, sources: list[BandSource]) -> bool:
    """Whether digital numbers are scaled to reflectance (``scale``, or the band dtypes).

    Raises:
        SlidemapError: integer and float bands mixed under ``scale = "auto"``.
    """
    is_int = [np.issubdtype(np.dtype(s.dtype), np.integer) for s in sources]
    if cfg.scale == "auto" and len(set(is_int)) > 1:
        detail = ", ".join(f"{s.name} {s.dtype}" for s in sources)
        raise SlidemapError(
            f"bands mix digital numbers and reflectance ({detail}); set [bands] scale to "
            '"dn" or "reflectance" explicitly'
        )
    return cfg.scale == "dn" or (cfg.scale == "auto" and all(is_int))


def check_resampling(cfg: BandsConfig, source: BandSource, grid: Grid) -> None:
    """Refuse a band at another resolution than ``grid`` when no resampling is set.

    Raises:
        SlidemapError: resolutions differ and ``[bands] resampling`` is not set.
    """
    if not same_grid(source.grid, grid) and cfg.resampling is None and source.grid.res != grid.res:
        raise SlidemapError(
            f"band {source.name} ({source.path}) is at {source.grid.res[0]:g} and the grid at "
            f"{grid.res[0]:g}; set [bands] resampling"
        )


def _reflectance(
    data: np.ndarray,
    cfg: BandsConfig,
    source: BandSource,
    radiometry: Radiometry | None,
    scaled: bool,
) -> np.ndarray:
    """Raw band values (float64) → reflectance (float64) with NaN nodata (``data`` is modified).

    Raises:
        SlidemapError: infinite values.
    """
    if np.isinf(data).any():
        raise SlidemapError(f"band {source.name} ({source.path}) contains infinite values")
    if source.nodata is not None and not np.isnan(source.nodata):
        data[data == source.nodata] = np.nan
    if scaled:
        quant, offset = _dn_scale(cfg, source.name, radiometry)
        data = (data + offset) / quant
    return data


def _dn_scale(cfg: BandsConfig, band: str, radiometry: Radiometry | None) -> tuple[float, float]:
    """``(quantification, offset)`` of ``band``: reflectance = (DN + offset) / quantification."""
    quant = radiometry.quantification if radiometry else 10000.0
    if cfg.offset is not None:
        return quant, cfg.offset
    return quant, radiometry.offset(band) if radiometry else 0.0


def scaling_note(
    cfg: BandsConfig, sources: list[BandSource], radiometry: Radiometry | None, scaled: bool
) -> str:
    """How the bands become reflectance, for the log: the formula and where the offset came
    from ([bands] offset, the product's metadata or its baseline, or 0 without either)."""
    if not scaled:
        return "taken as reflectance"
    scales = {_dn_scale(cfg, s.name, radiometry) for s in sources}
    formula = ", ".join(f"(DN {o:+g}) / {q:g}" for q, o in sorted(scales))
    origin = (
        "[bands] offset"
        if cfg.offset is not None
        else "product metadata"
        if radiometry
        else "no product metadata found: offset 0, right before processing baseline 04.00"
    )
    return f"DN scaled to reflectance as {formula} ({origin})"


def _resampling(cfg: BandsConfig) -> Resampling:
    return RESAMPLING[cfg.resampling] if cfg.resampling else Resampling.nearest


def read_bands(
    cfg: BandsConfig, sources: list[BandSource], radiometry: Radiometry | None, grid: Grid
) -> tuple[np.ndarray, bool]:
    """Read all bands onto ``grid`` and scale digital numbers to reflectance.

    Returns:
        ((C, H, W) float32 reflectance with NaN nodata, whether DN scaling was applied).

    Raises:
        SlidemapError: mixed integer/float inputs under ``scale = "auto"``,
            infinite values, a band with no valid pixel on the grid.
    """
    scaled = dn_scaling(cfg, sources)
    resampling = _resampling(cfg)
    image = np.empty((len(sources), *grid.shape), np.float32)
    for i, s in enumerate(sources):
        with _open(s.path, f"band {s.name}") as src:
            data = read_band(src, s.index, s.path, f"band {s.name}").astype(np.float64)
        data = _reflectance(data, cfg, s, radiometry, scaled)
        check_resampling(cfg, s, grid)
        image[i] = data if same_grid(s.grid, grid) else warp_to(data, s.grid, grid, resampling)
        if not np.isfinite(image[i]).any():
            raise SlidemapError(f"band {s.name} ({s.path}) has no valid pixel (all nodata)")
    log.info(
        "read %d bands onto a %d x %d grid (%s)",
        len(sources),
        grid.width,
        grid.height,
        scaling_note(cfg, sources, radiometry, scaled),
    )
    return image, scaled


def sub_grid(grid: Grid, window: Window) -> Grid:
    """The part of ``grid`` under ``window`` (pixel coordinates of ``grid``)."""
    offset = Affine.translation(window.col_off, window.row_off)
    return Grid(grid.crs, grid.transform @ offset, int(window.width), int(window.height))


def covering_window(source: Grid, target: Grid, margin: int) -> Window | None:
    """Pixels of ``source`` covering ``target``'s extent plus ``margin`` source pixels.

    ``target`` may be in another CRS (its bounds are transformed, densified).
    The margin is widened by the ratio of target to source pixel size, so a
    resampling kernel centred on any target pixel reads only pixels inside
    the window. Returns None when the two grids do not meet.
    """
    bounds = tuple(target.bounds)
    if target.crs != source.crs:
        bounds = transform_bounds(target.crs, source.crs, *bounds, densify_pts=21)
    win = covering_pixels(bounds, source.transform)
    ratio = max(win.width / target.width, win.height / target.height, 1.0)
    pad = margin + int(np.ceil(2 * ratio))
    win = Window(win.col_off - pad, win.row_off - pad, win.width + 2 * pad, win.height + 2 * pad)
    try:
        return win.intersection(Window(0, 0, source.width, source.height))
    except WindowError:
        return None


def read_bands_window(
    cfg: BandsConfig,
    sources: list[BandSource],
    radiometry: Radiometry | None,
    grid: Grid,
    window: Window,
    scaled: bool,
) -> np.ndarray:
    """Read the part ``window`` of ``grid`` exactly as :func:`read_bands` computes it there.

    Bands on ``grid`` itself are read through ``window``; other bands are read
    over the window's footprint plus a margin and warped onto it, so the
    values equal those of :func:`read_bands` (to float rounding in the warp).

    Args:
        cfg, sources, radiometry: as for :func:`read_bands`.
        grid: the full target grid (:func:`target_grid`).
        window: pixels of ``grid`` to read, inside it.
        scaled: :func:`dn_scaling` of the sources (checked once by the caller,
            like :func:`check_resampling`).

    Returns:
        (C, h, w) float32 reflectance, NaN = nodata.

    Raises:
        SlidemapError: unreadable file, infinite values.
    """
    block = sub_grid(grid, window)
    resampling = _resampling(cfg)
    image = np.full((len(sources), block.height, block.width), np.nan, np.float32)
    for i, s in enumerate(sources):
        on_grid = same_grid(s.grid, grid)
        src_win = window if on_grid else covering_window(s.grid, block, 2)
        if src_win is None:
            continue
        with _open(s.path, f"band {s.name}") as src:
            data = read_band(src, s.index, s.path, f"band {s.name}", src_win).astype(np.float64)
        data = _reflectance(data, cfg, s, radiometry, scaled)
        if on_grid:
            image[i] = data
        else:
            image[i] = warp_to(data, sub_grid(s.grid, src_win), block, resampling)
    return image
