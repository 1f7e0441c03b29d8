"""A scene to predict: its bands and DEM, read block by block onto the output grid.

The preprocessing is ``prepare``'s, block-wise: the same band sources, target
grid and DN → reflectance scaling (:mod:`slidemap.io.bands`), and slope on the
DEM's own grid resampled bilinearly (:mod:`slidemap.io.dem`). A block read by
:meth:`Scene.read` holds the values ``prepare`` would write at those pixels
(without an AOI: ``prepare`` makes the pixels outside it nodata).

Inputs come from an area file (its ``[bands]``, ``[dem]`` and ``[aoi]``;
inventory and split are ignored) or from files given on the command line
(:func:`inputs_from_files`). An AOI clips the map, not what the model sees:
the output grid is ``prepare``'s crop of the image grid to the AOI's bounds,
blocks are read with the real pixels around them, and :attr:`SceneBlock.inside`
marks the pixels whose centre lies in the AOI polygons (the others become
nodata in the outputs).
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slidemap.config import BandsConfig, DemConfig, load_area_config
from slidemap.errors import SlidemapError
from slidemap.infer import mirror_pad
from slidemap.io.aoi import read_aoi
from slidemap.io.bands import (
    band_sources,
    check_resampling,
    covering_window,
    dn_scaling,
    read_bands_window,
    scaling_note,
    sub_grid,
    target_grid,
)
from slidemap.io.dem import DemSlope
from slidemap.io.rasters import open_raster
from slidemap.io.sentinel2 import band_name
from slidemap.tiling import Window

log = logging.getLogger("slidemap")

SLOPE = "slope"
#: A Sentinel-2 band named at the end of a file name: ``…_B02.jp2``, ``download.B2.tif``.
_BAND_IN_NAME = re.compile(r"[._-](B(?:0?[1-9]|1[0-2]|8A))(?:_(?:10|20|60)m)?$", re.IGNORECASE)


@dataclass(frozen=True)
class SceneInputs:
    """Where a scene's bands and DEM come from.

    Attributes:
        bands: the band files and their scaling (as in an area file).
        dem: the DEM, or None for a model without slope.
        source: what to name in messages ("area file X", "--bands").
        aoi: polygons limiting the map (an area file's ``[aoi]``), or None.
    """

    bands: BandsConfig
    dem: DemConfig | None
    source: str
    aoi: Path | None = None


@dataclass(frozen=True)
class SceneBlock:
    """Pixels of a scene read for one block.

    Attributes:
        image: (C, h, w) float32 reflectance bands then slope (degrees), NaN = nodata.
        covered: (h, w) bool, inside the DEM's extent (all true without a DEM).
        inside: (h, w) bool, pixel centre inside the AOI (all true without an AOI).
    """

    image: np.ndarray
    covered: np.ndarray
    inside: np.ndarray


def inputs_from_area(area_file: Path) -> SceneInputs:
    """The ``[bands]``, ``[dem]`` and ``[aoi]`` of an area file (``slidemap prepare --help``)."""
    cfg = load_area_config(area_file)
    return SceneInputs(cfg.bands, cfg.dem, f"area file {area_file}", cfg.aoi)


def _is_product(path: Path) -> bool:
    return path.is_dir() or (path.suffix.lower() == ".zip" and zipfile.is_zipfile(path))


def inputs_from_files(
    files: list[Path], dem: Path | None, image_bands: tuple[str, ...]
) -> SceneInputs:
    """Scene inputs from ``--bands`` files and ``--dem``.

    Args:
        files: one file per band in ``image_bands`` order, one multi-band
            stack holding them in that order, or one ``.SAFE`` directory / zip.
        dem: the DEM, or None.
        image_bands: the model's bands without slope, in channel order.

    Bands of different resolutions are resampled bilinearly onto the finest;
    integer bands are digital numbers scaled to reflectance (offset from the
    product metadata, or ``MTD_MSIL*.xml`` beside the files, else 0).

    Raises:
        SlidemapError: a wrong number of files, a stack with another band count,
            file names naming other bands than the model's.
    """
    expected = f"{len(image_bands)} band(s) {','.join(image_bands)}"
    if not files:
        raise SlidemapError(f"--bands: give the model's {expected}")
    dem_cfg = DemConfig(Path(dem)) if dem is not None else None
    first = Path(files[0])
    if len(files) == 1 and _is_product(first):
        cfg = BandsConfig(names=image_bands, product=first, resampling="bilinear")
        return SceneInputs(cfg, dem_cfg, "--bands")
    if len(files) == 1 and len(image_bands) > 1:
        _check_stack(first, image_bands)
        indexes = tuple((n, i + 1) for i, n in enumerate(image_bands))
        cfg = BandsConfig(names=image_bands, stack=first, indexes=indexes, resampling="bilinear")
        return SceneInputs(cfg, dem_cfg, "--bands")
    if len(files) != len(image_bands):
        raise SlidemapError(
            f"--bands: the model expects {expected}, one file each in this order (or one "
            f"multi-band stack, or a .SAFE/.zip product); got {len(files)} files"
        )
    named = [_BAND_IN_NAME.search(Path(f).stem) for f in files]
    if all(named):
        found = tuple(band_name(m.group(1)) for m in named if m)
        if found != image_bands:
            raise SlidemapError(
                f"--bands: the file names say bands {','.join(found)} but the model expects "
                f"{','.join(image_bands)} in this order; give the files in that order"
            )
    pairs = tuple(zip(image_bands, map(Path, files), strict=True))
    cfg = BandsConfig(names=image_bands, files=pairs, resampling="bilinear")
    return SceneInputs(cfg, dem_cfg, "--bands")


def _check_stack(path: Path, image_bands: tuple[str, ...]) -> None:
    with open_raster(path, "band stack") as src:
        count, descriptions = src.count, src.descriptions
    if count != len(image_bands):
        raise SlidemapError(
            f"--bands: {path} has {count} band(s) but the model expects {len(image_bands)} "
            f"({','.join(image_bands)}); give one file per band or a stack of exactly these"
        )
    if all(descriptions) and tuple(descriptions) != image_bands:
        raise SlidemapError(
            f"--bands: {path} describes its bands as {','.join(d or '' for d in descriptions)} "
            f"but the model expects {','.join(image_bands)} in this order"
        )


class Scene:
    """Opened scene inputs on their output grid, read block by block.

    Args:
        inputs: band and DEM sources.

    Attributes:
        grid: the output grid (``prepare``'s target grid for these bands,
            cropped to the AOI if there is one).
        source_grid: the target grid before the crop, where pixels are read.
        band_names: channel names, image bands then ``slope`` when a DEM is used.
        image_bands: the number of image bands (the channels before slope).

    Raises:
        SlidemapError: unreadable files, bands in different CRSs or extents,
            mixed DN/reflectance bands, a DEM that does not meet the image,
            an AOI without polygons or outside the image.
    """

    def __init__(self, inputs: SceneInputs) -> None:
        self.inputs = inputs
        cfg = inputs.bands
        self.sources, self.radiometry, _ = band_sources(cfg)
        self.source_grid = self.grid = target_grid(cfg, self.sources)
        for s in self.sources:
            check_resampling(cfg, s, self.grid)
        self.aoi = read_aoi(inputs.aoi, self.grid) if inputs.aoi is not None else None
        if self.aoi is not None:
            self.grid = self.aoi.grid
        inv, x, y = ~self.source_grid.transform, self.grid.transform.c, self.grid.transform.f
        col, row = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
        self.origin = (round(row), round(col))  # the output grid's pixel (0, 0) in source_grid
        self.scaled = dn_scaling(cfg, self.sources)
        self.image_bands = len(self.sources)
        names = list(cfg.names)
        self.dem: DemSlope | None = None
        if inputs.dem is not None and inputs.dem.slope:
            self.dem = DemSlope(inputs.dem)
            if covering_window(self.dem.grid, self.grid, 0) is None:
                raise SlidemapError(
                    f"DEM {inputs.dem.path} does not cover the image: DEM bounds "
                    f"{tuple(round(v, 4) for v in self.dem.grid.bounds)} "
                    f"({self.dem.grid.crs.to_string()}) and image bounds "
                    f"{tuple(round(v, 4) for v in self.grid.bounds)} "
                    f"({self.grid.crs.to_string()}) do not overlap"
                )
            names.append(SLOPE)
        self.band_names = tuple(names)
        log.info(
            "scene %d x %d px, bands %s (%s)",
            self.grid.width,
            self.grid.height,
            ",".join(self.band_names),
            scaling_note(cfg, self.sources, self.radiometry, self.scaled),
        )

    def read(self, box: Window) -> SceneBlock:
        """Read ``box`` (output grid pixels) from the source grid: the real pixels
        where it has them, mirrored beyond its edges (:func:`slidemap.infer.mirror_pad`,
        as for the margin of the window layout)."""
        row0, col0 = self.origin
        wanted = Window(box.row_off + row0, box.col_off + col0, box.height, box.width)
        grid = self.source_grid
        top, left = max(wanted.row_off, 0), max(wanted.col_off, 0)
        bottom = min(wanted.row_off + wanted.height, grid.height)
        right = min(wanted.col_off + wanted.width, grid.width)
        there = Window(top, left, bottom - top, right - left)
        block = sub_grid(grid, there.to_rasterio())
        image = read_bands_window(
            self.inputs.bands, self.sources, self.radiometry, grid, there.to_rasterio(), self.scaled
        )
        covered = np.ones(block.shape, bool)
        if self.dem is not None:
            slope, covered = self.dem.read(block)
            image = np.concatenate([image, slope[None]])
        inside = (
            self.aoi.mask(sub_grid(grid, wanted.to_rasterio()))
            if self.aoi is not None
            else np.ones((box.height, box.width), bool)
        )
        return SceneBlock(
            mirror_pad(image, wanted, there), mirror_pad(covered, wanted, there), inside
        )
