"""Area files (TOML) → frozen, validated configuration.

An area file describes one study area's raw inputs. Paths are relative to the
area file's directory. :data:`AREA_FILE_EXAMPLE` lists every key (it is also
what ``slidemap prepare --help`` shows).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from slidemap.tomltables import TableReader as _Reader
from slidemap.tomltables import read_toml

AREA_FILE_EXAMPLE = """\
name = "iburi"                     # area name (ASCII letters, digits, - _ .)
synthetic = false                  # true for generated areas (labelled everywhere)

[bands]
names = ["B2", "B3", "B4", "B8"]   # channel order (default: the paper's)
files = { B2 = "B02.jp2", B3 = "B03.jp2", B4 = "B04.jp2", B8 = "B08.jp2" }
# or  stack = "stack.tif" and indexes = { B2 = 1, B3 = 2, B4 = 3, B8 = 4 }
# or  product = "S2A_MSIL2A_....SAFE"  (a .SAFE directory or its .zip)
resampling = "bilinear"            # needed when band resolutions differ
scale = "auto"                     # "auto" | "dn" | "reflectance"
offset = -1000                     # DN offset; default from MTD_*.xml, else 0
metadata = "MTD_MSIL2A.xml"        # default: MTD_MSIL*.xml beside the bands
nodata = 0                         # overrides the files' nodata
crs = "EPSG:32654"                 # target grid CRS (default: the bands')
resolution = 10.0                  # target pixel size in CRS units (default: finest band)

[dem]
path = "dem.tif"                   # any CRS; reprojected onto the image grid
nodata = -32768                    # overrides the file's nodata
slope = true                       # add a slope channel (degrees)

[inventory]                        # optional: without it the area has no labels
path = "landslides.gpkg"           # any OGR vector format, any CRS
layer = "landslides"
all_touched = false

[aoi]
path = "aoi.gpkg"                  # optional clip polygon(s)

[split]
fraction = 0.6                     # train share by area (paper: 3:2)
direction = "west-east"            # train part first along this direction
                                   # (or east-west, north-south, south-north)
validation = 0.1                   # share of the train part kept for validation
# or  path = "split.gpkg" and field = "role" (values "train" / "test")
"""

PAPER_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8")
S2_BANDS: tuple[str, ...] = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "B7",
    "B8",
    "B8A",
    "B9",
    "B10",
    "B11",
    "B12",
)
DIRECTIONS = ("west-east", "east-west", "north-south", "south-north")
RESAMPLINGS = ("nearest", "bilinear", "cubic", "average")
SCALES = ("auto", "dn", "reflectance")
AREA_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # \Z: no trailing newline


@dataclass(frozen=True)
class BandsConfig:
    """Where the Sentinel-2 bands come from and how they are scaled.

    Exactly one of ``files``, ``stack`` and ``product`` is set. ``files`` and
    ``indexes`` are tuples of (band name, value) in channel order.
    """

    names: tuple[str, ...]
    files: tuple[tuple[str, Path], ...] | None = None
    stack: Path | None = None
    indexes: tuple[tuple[str, int], ...] | None = None
    product: Path | None = None
    resampling: str | None = None
    scale: str = "auto"
    offset: float | None = None
    metadata: Path | None = None
    nodata: float | None = None
    crs: str | None = None
    resolution: float | None = None


@dataclass(frozen=True)
class DemConfig:
    path: Path
    nodata: float | None = None
    slope: bool = True


@dataclass(frozen=True)
class InventoryConfig:
    path: Path
    layer: str | None = None
    all_touched: bool = False


@dataclass(frozen=True)
class SplitConfig:
    """Train/test split: by fraction along a direction, or from train/test polygons."""

    fraction: float = 0.6
    direction: str = "west-east"
    validation: float = 0.1
    path: Path | None = None
    field: str = "role"


@dataclass(frozen=True)
class AreaConfig:
    """A whole area file, validated. ``source`` is the area file itself."""

    name: str
    source: Path
    bands: BandsConfig
    dem: DemConfig | None
    inventory: InventoryConfig | None
    aoi: Path | None
    split: SplitConfig
    synthetic: bool = False


def load_area_config(path: Path) -> AreaConfig:
    """Read and validate an area file.

    Raises:
        SlidemapError: missing file, TOML syntax error, unknown key, wrong type
            or value; the message gives the file and line.
    """
    path = Path(path)
    text, data = read_toml(path, "area file")
    top = _Reader(path, text, data, "")
    top.check_keys(("name", "synthetic", "bands", "dem", "inventory", "aoi", "split"))
    name = top.get("name", str)
    if name is None:
        raise top.fail(None, "missing key 'name'")
    if not AREA_NAME_RE.match(name):
        raise top.fail("name", f"use ASCII letters, digits, '-', '_' or '.', got {name!r}")
    bands_reader = top.sub("bands")
    if bands_reader is None:
        raise top.fail(None, "missing table [bands]")
    dem = top.sub("dem")
    inventory = top.sub("inventory")
    aoi = top.sub("aoi")
    split = top.sub("split")
    if aoi is not None:
        aoi.check_keys(("path",))
    return AreaConfig(
        name=name,
        source=path,
        bands=_bands(bands_reader),
        dem=_dem(dem) if dem is not None else None,
        inventory=_inventory(inventory) if inventory is not None else None,
        aoi=aoi.required_path("path") if aoi is not None else None,
        split=_split(split) if split is not None else SplitConfig(),
        synthetic=top.get("synthetic", bool, False),
    )


def _bands(r: _Reader) -> BandsConfig:
    r.check_keys(
        (
            "names",
            "files",
            "stack",
            "indexes",
            "product",
            "resampling",
            "scale",
            "offset",
            "metadata",
            "nodata",
            "crs",
            "resolution",
        )
    )
    names = r.get("names", list, list(PAPER_BANDS))
    if not names or not all(isinstance(n, str) and n for n in names):
        raise r.fail("names", "expected a non-empty list of band names")
    if len(set(names)) != len(names):
        raise r.fail("names", "band names repeat")
    if "slope" in names:
        raise r.fail("names", "'slope' is computed from [dem]; list only image bands")
    sources = [k for k in ("files", "stack", "product") if k in r.table]
    if len(sources) != 1:
        raise r.fail(None, "give exactly one of 'files', 'stack' or 'product'")
    files = indexes = None
    stack = product = None
    if "files" in r.table:
        table = r.get("files", dict)
        missing = [n for n in names if n not in table]
        extra = [k for k in table if k not in names]
        if missing or extra:
            raise r.fail(
                "files",
                f"must have one file per band in names {names}"
                + (f"; missing {missing}" if missing else "")
                + (f"; not in names {extra}" if extra else ""),
            )
        sub = _Reader(r.file, r.text, table, "bands")
        files = tuple((n, sub.required_path(n)) for n in names)
    elif "stack" in r.table:
        stack = r.path("stack")
        table = r.get("indexes", dict, {n: i + 1 for i, n in enumerate(names)})
        bad = [n for n in names if not (_is_int(table.get(n)) and table[n] >= 1)]
        if bad:
            raise r.fail("indexes", f"need a 1-based band index for each of {bad}")
        indexes = tuple((n, int(table[n])) for n in names)
    else:
        product = r.path("product")
    resolution = r.get("resolution", (int, float))
    if resolution is not None and not 0 < resolution < math.inf:
        raise r.fail("resolution", f"must be a positive number, got {resolution}")
    offset = r.get("offset", (int, float))
    if offset is not None and not math.isfinite(offset):
        raise r.fail("offset", f"must be a finite number, got {offset}")
    nodata = r.get("nodata", (int, float))
    return BandsConfig(
        names=tuple(names),
        files=files,
        stack=stack,
        indexes=indexes,
        product=product,
        resampling=r.choice("resampling", RESAMPLINGS, None),
        scale=r.choice("scale", SCALES, "auto") or "auto",
        offset=None if offset is None else float(offset),
        metadata=r.path("metadata"),
        nodata=None if nodata is None else float(nodata),
        crs=r.get("crs", str),
        resolution=None if resolution is None else float(resolution),
    )


def _is_int(value: object) -> bool:
    """An integer, and not ``true``/``false`` (bool is an int subclass)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _dem(r: _Reader) -> DemConfig:
    r.check_keys(("path", "nodata", "slope"))
    nodata = r.get("nodata", (int, float))
    return DemConfig(
        path=r.required_path("path"),
        nodata=None if nodata is None else float(nodata),
        slope=r.get("slope", bool, True),
    )


def _inventory(r: _Reader) -> InventoryConfig:
    r.check_keys(("path", "layer", "all_touched"))
    return InventoryConfig(
        path=r.required_path("path"),
        layer=r.get("layer", str),
        all_touched=r.get("all_touched", bool, False),
    )


def _split(r: _Reader) -> SplitConfig:
    r.check_keys(("fraction", "direction", "validation", "path", "field"))
    if "path" in r.table and ("fraction" in r.table or "direction" in r.table):
        raise r.fail("path", "give either 'path' or 'fraction'/'direction', not both")
    return SplitConfig(
        fraction=r.fraction("fraction", 0.6, 0.0, 1.0),
        direction=r.choice("direction", DIRECTIONS, "west-east") or "west-east",
        validation=r.fraction("validation", 0.1, 0.0, 1.0),
        path=r.path("path"),
        field=r.get("field", str, "role"),
    )
