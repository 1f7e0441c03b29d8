"""Prediction outputs, written block by block: COG rasters, landslide polygons, a quick-look.

* :class:`CogWriter` — a tiled GeoTIFF written block by block under a
  temporary name, turned into a Cloud-Optimized GeoTIFF (GDAL's COG driver:
  512 px tiles, deflate, overviews) when complete.
* :class:`Polygonizer` — 4-connected landslide regions of each block's mask
  become polygons with ``area_m2``, ``mean_prob`` and ``max_prob``. Regions
  touching an edge shared with another block are kept aside and merged with
  their neighbours across the seams at the end of each block row (in pixel
  coordinates, so edges match exactly), so no polygon is cut at a block
  edge. Finished polygons go to the GeoPackage as they come.
* :class:`Quicklook` — a strided sample of the RGB bands and the probability,
  drawn as a PNG with matplotlib's Agg canvas.

Probability encodings (``prob_dtype``): ``uint8`` stores
``round(probability × 254)`` (0–254; probability = value / 254) with 255 =
nodata; ``float32`` stores the probability with NaN = nodata. The mask is
uint8 1 = landslide (probability ≥ threshold), 0 = not, 255 = nodata.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.errors
import pyogrio.raw
import rasterio
import rasterio.shutil
import rasterio.windows
import shapely
import shapely.geometry
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.features import shapes
from scipy import ndimage

from slidemap.io.atomic import WriteError
from slidemap.io.grid import Grid
from slidemap.io.rasters import GTIFF_PROFILE
from slidemap.io.vectors import areas_m2, write_polygons
from slidemap.terrain import metres_per_degree
from slidemap.tiling import Window

PROB_DTYPES = ("uint8", "float32")
UINT8_SCALE = 254
UINT8_NODATA = 255
MASK_NODATA = 255
LAYER = "landslides"
#: Polygons queued before they are appended to the GeoPackage.
WRITE_BATCH = 20_000
FIELDS = ("area_m2", "mean_prob", "max_prob")


def encode_probability(prob: np.ndarray, dtype: str) -> np.ndarray:
    """(h, w) float32 probability with NaN nodata → the stored encoding (module docstring)."""
    if dtype == "float32":
        return prob.astype(np.float32, copy=False)
    out = np.full(prob.shape, UINT8_NODATA, np.uint8)
    valid = np.isfinite(prob)
    out[valid] = np.rint(prob[valid] * UINT8_SCALE).astype(np.uint8)
    return out


def encode_mask(prob: np.ndarray, threshold: float) -> np.ndarray:
    """(h, w) uint8: 1 where probability ≥ ``threshold``, 0 below, 255 where NaN."""
    out = np.full(prob.shape, MASK_NODATA, np.uint8)
    valid = np.isfinite(prob)
    out[valid] = prob[valid] >= threshold
    return out


class CogWriter:
    """One-band raster on ``grid`` written block by block, then converted to a COG.

    Args:
        path: final file; a tiled GeoTIFF ``<path>.tiled.tif`` is written beside
            it first (the caller's directory is temporary until complete).
        grid: CRS, transform and size.
        dtype: numpy dtype name.
        nodata: nodata value (NaN for float).
        description: band description.
        overview_resampling: GDAL resampling for the overviews ("average", "nearest").
    """

    def __init__(
        self,
        path: Path,
        grid: Grid,
        dtype: str,
        nodata: float,
        description: str,
        overview_resampling: str,
    ) -> None:
        self.path = Path(path)
        self.tiled = self.path.with_suffix(".tiled.tif")
        self.overview_resampling = overview_resampling
        profile: dict[str, Any] = dict(GTIFF_PROFILE)
        profile.update(
            count=1,
            height=grid.height,
            width=grid.width,
            dtype=dtype,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
            predictor=3 if dtype.startswith("float") else 2,
        )
        self.dataset = rasterio.open(self.tiled, "w", **profile)
        self.dataset.set_band_description(1, description)

    def write(self, core: Window, data: np.ndarray) -> None:
        """Write (h, w) ``data`` at ``core`` (grid pixels)."""
        self.dataset.write(data, 1, window=core.to_rasterio())

    def finish(self) -> Path:
        """Close the tiled file, convert it to a COG at ``path`` and remove it.

        GDAL does not always raise when a write fails (a full disk), so the COG
        is read back at its last tile, which lies at the end of the file.

        Raises:
            WriteError: writing or reading back failed (disk full, file size limit).
        """
        try:
            self.close()
            rasterio.shutil.copy(
                self.tiled,
                self.path,
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR="YES",
                BLOCKSIZE=512,
                OVERVIEW_RESAMPLING=self.overview_resampling.upper(),
                BIGTIFF="IF_SAFER",
                NUM_THREADS="ALL_CPUS",  # tiles compressed in parallel: the same bytes, sooner
            )
            with rasterio.open(self.path) as cog:
                h, w = cog.block_shapes[0]
                row, col = (cog.height - 1) // h * h, (cog.width - 1) // w * w
                cog.read(1, window=rasterio.windows.Window(col, row, w, h), boundless=False)
        except (RasterioError, CPLE_BaseError, OSError) as exc:
            raise WriteError(f"{self.path.name}: {exc}") from exc
        self.tiled.unlink()
        return self.path

    def close(self) -> None:
        """Close without converting (on errors)."""
        if not self.dataset.closed:
            self.dataset.close()


@dataclass
class _Piece:
    """A landslide region that may continue in another block, in global pixel coordinates.

    Attributes:
        geometry: polygon (x = column, y = row).
        count, total, peak: pixel count, sum and maximum of the probability.
    """

    geometry: shapely.Geometry
    count: int
    total: float
    peak: float


class Polygonizer:
    """Mask blocks → landslide polygons in a GeoPackage layer, merged across block seams.

    Blocks must come in row-major order. A region touching an edge shared with
    another block is kept as a piece of a group. At the end of each block row
    the pieces of that row and the pieces left on the previous row's bottom
    edge are matched (sharing an edge, not just a corner, as 4-connectivity
    demands) and their groups joined; a group with no piece on the new bottom
    edge is complete: its pieces are unioned once and written. Matching only
    looks at one block row, so it costs the same for any scene size.

    Args:
        path: GeoPackage to write (layer ``landslides``).
        grid: the output grid (polygons are in its CRS).
        min_area_m2: drop polygons smaller than this.
        simplify_m: Douglas-Peucker tolerance in metres (0 = none); in a
            geographic CRS converted to degrees at the grid's centre latitude.
            ``area_m2`` is always the area of the unsimplified pixel polygon.
    """

    def __init__(self, path: Path, grid: Grid, min_area_m2: float, simplify_m: float) -> None:
        self.path = Path(path)
        self.grid = grid
        self.min_area_m2 = min_area_m2
        self.tolerance = _tolerance(grid, simplify_m)
        self.groups: dict[int, list[_Piece]] = {}  # open groups: id → pieces
        self.parent: dict[int, int] = {}  # union-find over group ids
        self.row: list[tuple[int, _Piece]] = []  # pieces of the current block row
        self.frontier: list[tuple[int, _Piece]] = []  # pieces on the previous row's bottom edge
        self.count = 0
        self.area_m2 = 0.0
        self._queue: list[tuple[np.ndarray, ...]] = []  # (wkb, area, mean, peak) batches
        self._queued = 0
        self._written = False

    def add(self, core: Window, landslide: np.ndarray, prob: np.ndarray) -> None:
        """Polygonise one block: ``landslide`` (h, w) bool and ``prob`` (h, w) float32 at
        ``core`` (grid pixels)."""
        labels, n = ndimage.label(landslide)
        if n > 0:
            inside = labels > 0
            region, values = labels[inside] - 1, prob[inside].astype(np.float64)
            counts = np.bincount(region, minlength=n)
            totals = np.bincount(region, weights=values, minlength=n)
            peaks = np.full(n, -np.inf)
            np.maximum.at(peaks, region, values)
            edges = self._seam_labels(labels, core)
            offset = Affine.translation(core.col_off, core.row_off)
            done: list[_Piece] = []
            for geom, value in _pixel_shapes(labels, inside, offset):
                k = int(value) - 1
                piece = _Piece(
                    shapely.geometry.shape(geom), int(counts[k]), float(totals[k]), float(peaks[k])
                )
                if k + 1 in edges:
                    gid = len(self.parent)
                    self.parent[gid] = gid
                    self.groups[gid] = [piece]
                    self.row.append((gid, piece))
                else:
                    done.append(piece)
            self._write(done)
        if core.col_off + core.width == self.grid.width:  # the block row is complete
            bottom = core.row_off + core.height
            self._end_row(bottom if bottom < self.grid.height else None)

    def _seam_labels(self, labels: np.ndarray, core: Window) -> set[int]:
        """Labels touching a core edge shared with another block."""
        sides = []
        if core.row_off > 0:
            sides.append(labels[0])
        if core.col_off > 0:
            sides.append(labels[:, 0])
        if core.row_off + core.height < self.grid.height:
            sides.append(labels[-1])
        if core.col_off + core.width < self.grid.width:
            sides.append(labels[:, -1])
        return set(np.unique(np.concatenate(sides)).tolist()) - {0} if sides else set()

    def _root(self, gid: int) -> int:
        while self.parent[gid] != gid:
            self.parent[gid] = self.parent[self.parent[gid]]
            gid = self.parent[gid]
        return gid

    def _join(self, a: int, b: int) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra != rb:
            self.parent[ra] = rb
            self.groups[rb].extend(self.groups.pop(ra))

    def _end_row(self, bottom: int | None) -> None:
        """Join groups across this row's seams; write the groups that end in it (all if None)."""
        candidates = self.row + self.frontier
        if candidates:
            geoms = np.array([piece.geometry for _, piece in candidates], dtype=object)
            left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
            for a, b in zip(left.tolist(), right.tolist(), strict=True):
                if a < b and shapely.intersection(geoms[a], geoms[b]).length > 0:
                    self._join(candidates[a][0], candidates[b][0])
        self.frontier = [
            (gid, piece)
            for gid, piece in self.row
            if bottom is not None and shapely.bounds(piece.geometry)[3] >= bottom
        ]
        self.row = []
        still_open = {self._root(gid) for gid, _ in self.frontier}
        finished = [gid for gid in self.groups if gid not in still_open]
        self._write([_union(self.groups.pop(gid)) for gid in finished])
        if not self.groups:
            self.parent.clear()

    def finish(self) -> None:
        """Write what is left and make sure the layer exists (empty if no landslide)."""
        self._end_row(None)
        self._flush()
        if not self._written:
            empty = {f: np.zeros(0, np.float64) for f in FIELDS}
            write_polygons(self.path, [], self.grid.crs, empty, layer=LAYER)

    def _write(self, pieces: list[_Piece]) -> None:
        """Queue finished regions (pixel space) as CRS polygons with their attributes; the
        queue goes to the file every :data:`WRITE_BATCH` polygons (each write opens the
        GeoPackage, so writing block by block would dominate the run time)."""
        if not pieces:
            return
        t = self.grid.transform
        pixel = np.array([p.geometry for p in pieces], dtype=object)
        geoms = shapely.transform(
            pixel,
            lambda xy: np.column_stack(
                (t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f)
            ),
        )
        area = areas_m2(geoms, self.grid.crs)
        keep = area >= self.min_area_m2
        if not keep.any():
            return
        geoms = geoms[keep]
        if self.tolerance > 0:
            geoms = shapely.simplify(geoms, self.tolerance, preserve_topology=True)
        kept = [p for p, k in zip(pieces, keep, strict=True) if k]
        self.count += len(kept)
        self.area_m2 += float(area[keep].sum())
        self._queue.append(
            (
                shapely.to_wkb(geoms),
                area[keep],
                np.array([p.total / p.count for p in kept], np.float64),
                np.array([p.peak for p in kept], np.float64),
            )
        )
        self._queued += len(kept)
        if self._queued >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        """Append the queued polygons to the GeoPackage."""
        if not self._queue:
            return
        columns = [np.concatenate(parts) for parts in zip(*self._queue, strict=True)]
        try:
            pyogrio.raw.write(
                self.path,
                columns[0],
                columns[1:],
                list(FIELDS),
                layer=LAYER,
                geometry_type="MultiPolygon",
                crs=self.grid.crs.to_wkt(),
                promote_to_multi=True,
                append=self._written,
            )
        except (pyogrio.errors.DataSourceError, pyogrio.errors.FeatureError, OSError) as exc:
            raise WriteError(f"{self.path.name}: {exc}") from exc
        self._queue, self._queued, self._written = [], 0, True


def _pixel_shapes(
    labels: np.ndarray, inside: np.ndarray, offset: Affine
) -> list[tuple[dict[str, Any], float]]:
    """``rasterio.features.shapes`` of ``labels`` ((h, w) int32) where ``inside``, in grid
    pixel coordinates (``offset``: the block's origin). The block at the grid's origin has
    the identity transform, for which rasterio may warn that the array is not
    georeferenced; that is the intent here, so the warning is not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return list(shapes(labels, mask=inside, connectivity=4, transform=offset))


def _union(pieces: list[_Piece]) -> _Piece:
    """One region from the pieces of a group."""
    if len(pieces) == 1:
        return pieces[0]
    return _Piece(
        shapely.union_all([p.geometry for p in pieces]),
        sum(p.count for p in pieces),
        sum(p.total for p in pieces),
        max(p.peak for p in pieces),
    )


def _tolerance(grid: Grid, simplify_m: float) -> float:
    """``simplify_m`` metres in CRS units (degrees of latitude at the centre for lat/lon)."""
    if simplify_m <= 0:
        return 0.0
    if grid.crs.is_geographic:
        bounds = grid.bounds
        _, per_lat = metres_per_degree(np.array([(bounds.top + bounds.bottom) / 2]))
        return float(simplify_m / per_lat[0])
    factor = grid.crs.linear_units_factor[1] if grid.crs.linear_units_factor else 1.0
    return simplify_m / factor


def rgb_channels(band_names: tuple[str, ...]) -> tuple[int, ...]:
    """Channel indexes for a true-colour backdrop: B4, B3, B2 if present, else the first band."""
    if all(b in band_names for b in ("B4", "B3", "B2")):
        return tuple(band_names.index(b) for b in ("B4", "B3", "B2"))
    return (0,)


class Quicklook:
    """A strided sample (every ``step``-th pixel) of the backdrop bands and the probability.

    Args:
        grid: the output grid.
        channels: backdrop channels (3 for RGB, 1 for grey), see :func:`rgb_channels`.
        max_side: longest side of the quick-look in pixels.
    """

    def __init__(self, grid: Grid, channels: tuple[int, ...], max_side: int = 1024) -> None:
        self.step = max(1, -(-max(grid.shape) // max_side))
        shape = (-(-grid.height // self.step), -(-grid.width // self.step))
        self.channels = channels
        self.backdrop = np.full((*shape, len(channels)), np.nan, np.float32)
        self.prob = np.full(shape, np.nan, np.float32)

    def add_backdrop(self, core: Window, image: np.ndarray) -> None:
        """Sample the backdrop of a block: ``image`` (C, h, w) reflectance at ``core``."""
        sample, where = self._sample(core, image)
        self.backdrop[where] = np.moveaxis(sample[list(self.channels)], 0, -1)

    def add_probability(self, core: Window, prob: np.ndarray) -> None:
        """Sample the probability of a block: ``prob`` (h, w) at ``core``."""
        sample, where = self._sample(core, prob)
        self.prob[where] = sample

    def _sample(self, core: Window, array: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
        """Every ``step``-th pixel of ``array`` (..., h, w) at ``core`` (a view) and where
        it goes in the quick-look."""
        r0, c0 = -core.row_off % self.step, -core.col_off % self.step
        sample = array[..., r0 :: self.step, c0 :: self.step]
        top, left = (core.row_off + r0) // self.step, (core.col_off + c0) // self.step
        return sample, (slice(top, top + sample.shape[-2]), slice(left, left + sample.shape[-1]))

    def save(self, path: Path, title: str, threshold: float) -> None:
        """Write a PNG: the backdrop (2–98 % stretch) with the probability blended on top in
        the ``inferno`` colours (opaque from 0.5 up, invisible below 0.1), the pixels at the
        edge of the thresholded mask in cyan, and a title and colour bar above.

        The picture is composed in numpy; only the small legend strip is drawn by
        matplotlib (Agg), whose image drawing needs ~100 MB per megapixel.
        """
        from matplotlib import colormaps
        from PIL import Image

        cmap = colormaps["inferno"]
        prob = np.nan_to_num(self.prob, nan=0.0)
        alpha = (np.clip((prob - 0.1) / 0.4, 0.0, 1.0) * 0.85)[..., None]
        colour = cmap(prob, bytes=True)[..., :3].astype(np.float32) / 255
        picture = (((1 - alpha) * _stretch(self.backdrop) + alpha * colour) * 255).astype(np.uint8)
        picture[_edges(prob >= threshold)] = (0, 255, 255)
        legend = _legend(max(picture.shape[1], _LEGEND_MIN_PX), title)
        canvas = np.full((legend.shape[0] + picture.shape[0], legend.shape[1], 3), 255, np.uint8)
        canvas[: legend.shape[0]] = legend
        canvas[legend.shape[0] :, : picture.shape[1]] = picture
        # a 256-colour adaptive palette: a third of the bytes of RGB for a quick-look
        Image.fromarray(canvas).quantize(256, method=Image.Quantize.FASTOCTREE).save(
            path, optimize=True
        )


_LEGEND_MIN_PX = 480


def _legend(width_px: int, title: str) -> np.ndarray:
    """A (40, width_px, 3) uint8 strip: ``title`` on the left, the probability colour bar right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / 100, 0.4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.01, 0.5, title, fontsize=7, va="center")
    cax = fig.add_axes((1 - 190 / width_px, 0.55, 170 / width_px, 0.3))
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), "inferno"), cax=cax, orientation="horizontal"
    )
    bar.ax.tick_params(labelsize=6, length=2, pad=1)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _edges(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels of ``mask`` with a 4-neighbour outside it."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _stretch(backdrop: np.ndarray) -> np.ndarray:
    """(h, w, c) reflectance → (h, w, 3) float in [0, 1], 2–98 % per channel, nodata grey."""
    channels = []
    for band in np.moveaxis(backdrop, -1, 0):
        finite = band[np.isfinite(band)]
        lo, hi = (float(v) for v in np.percentile(finite, (2, 98))) if finite.size else (0.0, 1.0)
        stretched = np.clip((band - lo) / max(hi - lo, 1e-12), 0, 1)
        stretched[~np.isfinite(band)] = 0.5
        channels.append(stretched)
    if len(channels) == 1:
        channels *= 3
    return np.stack(channels, axis=-1).astype(np.float32)
