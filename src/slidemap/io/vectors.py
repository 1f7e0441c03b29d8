"""Polygon layers (inventories, AOIs, split polygons) read with pyogrio.

Geometries come back as shapely arrays in the requested CRS; invalid ones are
repaired with ``make_valid`` and empty ones dropped, and both are counted so
the caller can report them.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS as ProjCRS
from pyproj import Geod, Transformer
from rasterio.crs import CRS

from slidemap.errors import SlidemapError
from slidemap.io.atomic import write_bytes_durably

log = logging.getLogger("slidemap")
_GEOD = Geod(ellps="WGS84")
#: Formats of several files (written by GDAL directly: they cannot be built in memory).
_MULTI_FILE_DRIVERS = ("ESRI Shapefile", "MapInfo File")


@dataclass(frozen=True)
class Polygons:
    """Polygonal geometries of one layer, in ``crs``.

    Attributes:
        geometries: (N,) object array of shapely (Multi)Polygons, none empty.
        fields: attribute columns, each (N,).
        repaired: invalid geometries made valid.
        dropped_empty: empty or non-polygonal geometries dropped.
    """

    geometries: np.ndarray
    fields: dict[str, np.ndarray]
    crs: CRS
    repaired: int
    dropped_empty: int

    def why_none(self) -> str:
        """Why the layer has no polygon left, in parentheses (for messages)."""
        if self.dropped_empty:
            return f"(its {self.dropped_empty} geometries are empty, zero-area or not polygons)"
        return "(the layer is empty)"


def read_polygons(path: Path, crs: CRS, layer: str | None = None, what: str = "vector") -> Polygons:
    """Read a polygon layer from any OGR format and reproject it to ``crs``.

    Raises:
        SlidemapError: missing or unreadable file, unknown layer, no CRS.
    """
    path = Path(path)
    if not path.exists():
        raise SlidemapError(f"{what} file not found: {path}")
    try:
        meta, _, wkb, field_data = pyogrio.raw.read(path, layer=layer)
    except DataLayerError as exc:
        raise SlidemapError(_layer_error(path, layer, what, exc)) from exc
    except DataSourceError as exc:
        raise SlidemapError(
            f"cannot read {what} {path}: not a vector format GDAL/OGR can open"
        ) from exc
    if wkb is None:
        raise SlidemapError(f"{what} {path} has no geometry column")
    if meta.get("crs") is None:
        raise SlidemapError(f"{what} {path} has no CRS; set one (e.g. with ogr2ogr -a_srs)")
    geoms = shapely.from_wkb(wkb)
    source_crs = ProjCRS.from_user_input(meta["crs"])
    target_crs = ProjCRS.from_wkt(crs.to_wkt())
    if not source_crs.equals(target_crs):
        transformer = Transformer.from_crs(source_crs, target_crs, always_xy=True)
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    repaired = int(invalid.sum())
    if repaired:
        geoms[invalid] = shapely.make_valid(geoms[invalid])
        log.warning("%s %s: repaired %d invalid geometries", what, path.name, repaired)
    polys = np.array([_polygonal(g) for g in geoms], dtype=object)
    keep = np.array([g is not None for g in polys], dtype=bool)
    dropped = int((~keep).sum())
    if dropped:
        log.warning(
            "%s %s: dropped %d empty, zero-area or non-polygon geometries", what, path.name, dropped
        )
    names = meta.get("fields", [])
    fields = {str(n): np.asarray(col)[keep] for n, col in zip(names, field_data, strict=True)}
    return Polygons(polys[keep], fields, crs, repaired, dropped)


def _layer_error(path: Path, layer: str | None, what: str, exc: Exception) -> str:
    """The message for a layer that cannot be read, naming the layers the file has."""
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except (DataLayerError, DataSourceError):
        layers = []
    if layer is not None and layer not in layers:
        found = ", ".join(layers) if layers else "none"
        return f"{what} {path} has no layer {layer!r} (its layers: {found})"
    return f"{what} {path}: {exc}"


def _polygonal(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """The polygonal part of ``geom`` (None if it has none, or no area)."""
    if geom is None or geom.is_empty or geom.area == 0:
        return None
    if isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        return geom
    parts = [
        g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)
    ]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return None if merged.is_empty else merged


def areas_m2(geometries: np.ndarray, crs: CRS) -> np.ndarray:
    """Area of each polygon in m²: planar in a projected CRS, geodesic in a geographic one."""
    if crs.is_geographic:
        return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) for g in geometries], dtype=float)
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return shapely.area(geometries).astype(float) * factor**2


def write_polygons(
    path: Path,
    geometries: np.ndarray | list[shapely.Geometry],
    crs: CRS,
    fields: dict[str, np.ndarray] | None = None,
    layer: str | None = None,
) -> None:
    """Write polygons (promoted to MultiPolygon) and attribute columns with pyogrio.

    The driver follows the file extension (``.gpkg`` → GeoPackage, ``.geojson``,
    ``.shp``, ``.fgb``…). An empty list writes an empty layer. Single-file
    formats are built in memory and written with plain file I/O, because GDAL
    can report a failed write (disk full) without raising.

    Raises:
        OSError: the write failed (``errno`` ENOSPC or EFBIG when out of space).
    """
    geoms = np.asarray(geometries, dtype=object)
    fields = fields or {}
    driver = pyogrio.raw.detect_write_driver(str(path))
    in_memory = driver not in _MULTI_FILE_DRIVERS
    target: Path | io.BytesIO = io.BytesIO() if in_memory else Path(path)
    pyogrio.raw.write(
        target,
        shapely.to_wkb(geoms) if len(geoms) else np.array([], dtype=object),
        [np.asarray(v) for v in fields.values()],
        list(fields),
        layer=layer,
        driver=driver,
        geometry_type="MultiPolygon",
        crs=crs.to_wkt(),
        promote_to_multi=True,
    )
    if isinstance(target, io.BytesIO):
        write_bytes_durably(Path(path), [target.getvalue()])
