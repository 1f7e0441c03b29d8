"""The prepared area: the on-disk format every later stage reads.

A prepared area is a directory that QGIS opens as is::

    image.tif   (C, H, W) float32, reflectance bands then slope (degrees);
                nodata = NaN; band descriptions = band names
    label.tif   (H, W) uint8, 1 = landslide, 0 = not, 255 = nodata/unknown
    split.tif   (H, W) uint8, 0 = outside, 1 = train, 2 = test, 3 = validation
    area.json   metadata (see :class:`AreaMeta`)

All rasters share one grid (CRS, transform, size).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from slidemap import __version__
from slidemap.errors import SlidemapError
from slidemap.io.atomic import OutputKind, atomic_dir
from slidemap.io.rasters import write_geotiff

SCHEMA_VERSION = 1
#: A prepared area directory, the output of ``prepare`` and ``import-l4s``.
AREA = OutputKind("a prepared area", "area.json")

OUTSIDE, TRAIN, TEST, VALIDATION = 0, 1, 2, 3
SPLIT_NAMES = {OUTSIDE: "outside", TRAIN: "train", TEST: "test", VALIDATION: "validation"}
LABEL_NODATA = 255


@dataclass(frozen=True)
class BandStats:
    """Statistics of one band over the valid pixels of the train part."""

    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class InventoryStats:
    """Landslide inventory statistics, as in the paper's study-area paragraphs (m²)."""

    count: int
    total_m2: float
    min_m2: float
    mean_m2: float
    max_m2: float
    repaired: int = 0
    dropped_empty: int = 0


@dataclass(frozen=True)
class AreaMeta:
    """Contents of ``area.json``.

    ``transform`` is the GDAL/affine 6-tuple ``(a, b, c, d, e, f)``;
    ``band_stats`` maps band name → statistics over the train part;
    ``sources`` maps input path → sha256 of its bytes.
    """

    name: str
    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    band_names: tuple[str, ...]
    band_stats: dict[str, BandStats]
    inventory: InventoryStats | None
    sources: dict[str, str] = field(default_factory=dict)
    split_pixels: dict[str, int] = field(default_factory=dict)
    synthetic: bool = False
    schema_version: int = SCHEMA_VERSION
    slidemap_version: str = __version__

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.crs_wkt)

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    @property
    def pixel_area_m2(self) -> float:
        """Area of one pixel in the area's CRS units squared (m² for projected CRSs)."""
        return abs(self.transform[0] * self.transform[4] - self.transform[1] * self.transform[3])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AreaMeta:
        d = dict(d)
        d["transform"] = tuple(d["transform"])
        d["band_names"] = tuple(d["band_names"])
        d["band_stats"] = {k: BandStats(**v) for k, v in d["band_stats"].items()}
        if d.get("inventory") is not None:
            d["inventory"] = InventoryStats(**d["inventory"])
        return cls(**d)


@dataclass(frozen=True)
class PreparedArea:
    """A prepared area loaded in memory.

    Attributes:
        path: the area directory.
        meta: its ``area.json``.
        image: (C, H, W) float32, NaN = nodata.
        label: (H, W) uint8, 0/1, 255 = nodata.
        split: (H, W) uint8, see module constants.
    """

    path: Path
    meta: AreaMeta
    image: np.ndarray
    label: np.ndarray
    split: np.ndarray

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def valid(self) -> np.ndarray:
        """(H, W) bool: pixels with every band finite and a known label."""
        return np.isfinite(self.image).all(axis=0) & (self.label != LABEL_NODATA)


def band_stats(image: np.ndarray, mask: np.ndarray, names: tuple[str, ...]) -> dict[str, BandStats]:
    """Per-band mean/std/min/max of ``image`` (C, H, W) over ``mask`` (H, W) and finite values.

    Raises:
        SlidemapError: no valid pixel under ``mask``.
    """
    out: dict[str, BandStats] = {}
    for name, band in zip(names, image, strict=True):
        values = band[mask & np.isfinite(band)].astype(np.float64)
        if values.size == 0:
            raise SlidemapError(f"band {name} has no valid pixel in the train part")
        out[name] = BandStats(
            mean=float(values.mean()),
            std=float(values.std()),
            min=float(values.min()),
            max=float(values.max()),
        )
    return out


def write_area(
    out: Path,
    meta: AreaMeta,
    image: np.ndarray,
    label: np.ndarray,
    split: np.ndarray,
    overwrite: bool = False,
) -> Path:
    """Write a prepared area directory atomically (all files or none).

    Args:
        out: destination directory; must not exist unless ``overwrite``.
        meta: metadata; its grid must match the arrays.
        image: (C, H, W) float32 with NaN nodata.
        label: (H, W) uint8.
        split: (H, W) uint8.
    """
    c, h, w = image.shape
    if (h, w) != (meta.height, meta.width) or label.shape != (h, w) or split.shape != (h, w):
        raise ValueError("image, label, split and meta disagree on the grid size")
    if c != len(meta.band_names):
        raise ValueError("image band count differs from meta.band_names")
    crs, transform = meta.crs, meta.affine
    with atomic_dir(Path(out), AREA, overwrite=overwrite) as tmp:
        write_geotiff(
            tmp / "image.tif",
            image.astype(np.float32),
            crs,
            transform,
            float("nan"),
            list(meta.band_names),
        )
        write_geotiff(
            tmp / "label.tif", label.astype(np.uint8), crs, transform, LABEL_NODATA, ["landslide"]
        )
        write_geotiff(tmp / "split.tif", split.astype(np.uint8), crs, transform, None, ["split"])
        (tmp / "area.json").write_text(meta.to_json(), encoding="utf-8")
    return Path(out)


def read_meta(path: Path) -> AreaMeta:
    """Read ``area.json`` of a prepared area directory.

    Raises:
        SlidemapError: not a prepared area, or an unsupported schema version.
    """
    path = Path(path)
    meta_path = path / "area.json"
    if not meta_path.is_file():
        raise SlidemapError(
            f"{path} is not a prepared area (no area.json); create one with 'slidemap prepare'"
        )
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
        meta = AreaMeta.from_dict(raw)
    except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        raise SlidemapError(f"{meta_path} is corrupt ({exc}); prepare the area again") from exc
    if meta.schema_version != SCHEMA_VERSION:
        raise SlidemapError(
            f"{meta_path} has schema version {meta.schema_version}, this slidemap reads "
            f"{SCHEMA_VERSION}; prepare the area again"
        )
    return meta


def load_area(path: Path) -> PreparedArea:
    """Load a prepared area (all three rasters) into memory."""
    path = Path(path)
    meta = read_meta(path)
    arrays = []
    for name in ("image.tif", "label.tif", "split.tif"):
        try:
            with rasterio.open(path / name) as src:
                arrays.append(src.read())
        except rasterio.errors.RasterioError as exc:
            raise SlidemapError(
                f"cannot read {path / name}: {exc}; prepare the area again"
            ) from exc
    image, label, split = arrays
    if image.shape != (len(meta.band_names), meta.height, meta.width):
        raise SlidemapError(
            f"{path / 'image.tif'} does not match area.json; prepare the area again"
        )
    return PreparedArea(path, meta, image.astype(np.float32), label[0], split[0])
