"""Small, valid inputs of every slidemap command, written as real files.

Each builder writes into a folder and returns the paths; the cases of the
bad-input matrix then break one thing (a file, a key, a CRS) at a time:

* :func:`raw_scene`: B2, B3, B4, B8 (uint16 DN GeoTIFFs, UTM 33N, 10 m,
  64 × 64 px), a DEM in EPSG:4326, an inventory, and ``area.toml``;
* :func:`prepared_area`: a prepared area (``conftest.make_tiny_area``);
* :func:`checkpoint`: a run directory whose ``best.pt`` holds a real
  (untrained) network in slidemap's checkpoint format;
* :func:`l4s_dir`: Landslide4Sense patches copied from ``shared/data/l4s``;
* :func:`experiment_file`: an experiment file over two prepared areas;
* :func:`experiment_dir`: an experiment directory with ``results.csv``.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import shapely
import torch
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from conftest import make_tiny_area
from slidemap.checkpoint import save_checkpoint
from slidemap.io.rasters import write_geotiff
from slidemap.io.vectors import write_polygons
from slidemap.models import build_model, model_config

UTM33 = CRS.from_epsg(32633)
WGS84 = CRS.from_epsg(4326)
SIZE = 64
PIXEL_M = 10.0
ORIGIN = (500000.0, 5800000.0)
TRANSFORM = Affine(PIXEL_M, 0.0, ORIGIN[0], 0.0, -PIXEL_M, ORIGIN[1])
BOUNDS = (ORIGIN[0], ORIGIN[1] - SIZE * PIXEL_M, ORIGIN[0] + SIZE * PIXEL_M, ORIGIN[1])
IMAGE_BANDS = ("B2", "B3", "B4", "B8")
AREA_BANDS = (*IMAGE_BANDS, "slope")
#: "é" in a Latin-1 file name: not valid UTF-8, so Python holds it as the surrogate
#: "\udce9"; slidemap's messages show it as "\xe9".
LATIN1_E = os.fsdecode(b"\xe9")
#: L4S patches of the shared sample in four neighbour groups (ids not consecutive).
L4S_IDS = (1, 16, 27, 38)


def band_data(band: str, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """(size, size) uint16 digital numbers of one band: smooth terrain-like values, no nodata."""
    rng = np.random.default_rng([seed, IMAGE_BANDS.index(band) if band in IMAGE_BANDS else 9])
    yy, xx = np.mgrid[0:size, 0:size]
    dn = 800 + 300 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 30, (size, size))
    return np.clip(dn, 1, 10000).astype(np.uint16)


def write_band(
    path: Path,
    band: str,
    crs: CRS | None = UTM33,
    transform: Affine = TRANSFORM,
    size: int = SIZE,
    data: np.ndarray | None = None,
    nodata: float | None = 0,
) -> Path:
    """One band GeoTIFF (uint16 DN unless ``data`` says otherwise)."""
    write_geotiff(path, band_data(band, size) if data is None else data, crs, transform, nodata)
    return path


def write_stack(path: Path, bands: tuple[str, ...]) -> Path:
    """A multi-band GeoTIFF of ``bands`` in this order (uint16 DN, the scene's grid)."""
    write_geotiff(path, np.stack([band_data(b) for b in bands]), UTM33, TRANSFORM, 0)
    return path


def write_dem(path: Path, crs: CRS = WGS84, far: bool = False, fill: float | None = None) -> Path:
    """A ~30 m DEM (float32 m, a tilted plane) over the scene with a margin, in ``crs``.

    ``far`` moves it 0.5° east (it no longer covers the scene); ``fill`` replaces every value.
    """
    west, south, east, north = transform_bounds(UTM33, crs, *BOUNDS)
    res = 2.7e-4 if crs.is_geographic else 30.0
    margin = 10 * res
    cols = int((east - west + 2 * margin) / res) + 1
    rows = int((north - south + 2 * margin) / res) + 1
    west, north = west - margin + (0.5 if far else 0.0), north + margin
    yy, xx = np.mgrid[0:rows, 0:cols]
    dem = (300.0 + 4.0 * xx + 2.0 * yy).astype(np.float32)
    if fill is not None:
        dem[:] = fill
    write_geotiff(path, dem, crs, Affine(res, 0.0, west, 0.0, -res, north), None)
    return path


def slide_polygons() -> list[shapely.Geometry]:
    """Three round landslides in UTM 33N inside the scene."""
    return [
        shapely.Point(ORIGIN[0] + x, ORIGIN[1] - y).buffer(r)
        for x, y, r in ((100, 120, 40), (330, 300, 60), (500, 480, 35))
    ]


def to_crs(geoms: list[shapely.Geometry], crs: CRS) -> list[shapely.Geometry]:
    """``geoms`` (UTM 33N) reprojected to ``crs``."""
    tr = Transformer.from_crs(UTM33, crs, always_xy=True)
    return [
        shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        for g in geoms
    ]


def write_inventory(
    path: Path, geoms: list[shapely.Geometry] | None = None, crs: CRS = UTM33
) -> Path:
    """An inventory layer "landslides" (default: :func:`slide_polygons` in ``crs``)."""
    polys = to_crs(slide_polygons(), crs) if geoms is None else geoms
    write_polygons(path, polys, crs, layer="landslides")
    return path


def area_toml(
    bands: dict[str, str] | None = None,
    dem: str | None = "dem.tif",
    inventory: str | None = "slides.gpkg",
    extra: str = "",
) -> str:
    """The text of an area file over the files of :func:`raw_scene` (paths relative)."""
    files = bands or {b: f"{b}.tif" for b in IMAGE_BANDS}
    listed = ", ".join(f'{b} = "{p}"' for b, p in files.items())
    text = f'name = "scene"\n\n[bands]\nfiles = {{ {listed} }}\n'
    if dem is not None:
        text += f'\n[dem]\npath = "{dem}"\n'
    if inventory is not None:
        text += f'\n[inventory]\npath = "{inventory}"\n'
    return text + extra


def raw_scene(folder: Path) -> Path:
    """Bands, DEM (EPSG:4326), inventory (UTM 33N) and ``area.toml`` in ``folder``.

    Returns:
        The area file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for band in IMAGE_BANDS:
        write_band(folder / f"{band}.tif", band)
    write_dem(folder / "dem.tif")
    write_inventory(folder / "slides.gpkg")
    path = folder / "area.toml"
    path.write_text(area_toml(), encoding="utf-8")
    return path


def prepared_area(
    folder: Path, name: str = "tiny", bands: tuple[str, ...] = AREA_BANDS, size: int = SIZE
) -> Path:
    """A prepared area (train west 60 %, validation strip, test east 40 %) in ``folder/name``."""
    return make_tiny_area(folder, name, size=size, seed=1, bands=bands)


def checkpoint(
    folder: Path,
    bands: tuple[str, ...] = AREA_BANDS,
    model: str = "unet",
    patch: int = 32,
) -> Path:
    """A run directory ``folder`` with ``best.pt``: an untrained ``model`` for ``bands``."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = build_model(model, len(bands))
    save_checkpoint(
        folder / "best.pt",
        {
            "model": net.state_dict(),
            "model_config": model_config(net),
            "band_names": list(bands),
            "mean": [0.1] * (len(bands) - 1) + [20.0],
            "std": [0.05] * (len(bands) - 1) + [10.0],
            "patch_px": patch,
            "threshold": 0.5,
            "epoch": 1,
        },
    )
    return folder


def l4s_dir(folder: Path, shared: Path, ids: tuple[int, ...] = L4S_IDS) -> Path:
    """A flat L4S directory with real image/mask pairs ``ids`` copied from ``shared/l4s``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in ids:
        for kind in ("image", "mask"):
            shutil.copy(shared / "l4s" / f"{kind}_{i}.h5", folder / f"{kind}_{i}.h5")
    return folder


def experiment_file(folder: Path, extra: str = "", patches: str = "[32]") -> Path:
    """Two prepared areas ``a`` and ``b`` and ``exp.toml`` (1 epoch, U-Net) in ``folder``."""
    for name in ("a", "b"):
        if not (folder / name).exists():
            prepared_area(folder, name)
    path = folder / "exp.toml"
    path.write_text(
        'name = "matrix"\nmodels = ["unet"]\n'
        f"patches = {patches}\n"
        '\n[areas]\na = "a"\nb = "b"\n'
        "\n[train]\nepochs = 1\npatience = 1\n" + extra,
        encoding="utf-8",
    )
    return path


RESULT_COLUMNS = (
    *("scenario", "train_areas", "model", "patch", "seed", "test_set"),
    *("tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "mcc"),
    *("best_epoch", "train_seconds", "job_key"),
)


def experiment_dir(folder: Path) -> Path:
    """An experiment directory holding only a small, well-formed ``results.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(RESULT_COLUMNS)
        for scenario, train in (("all", "a+b"), ("a", "a")):
            for test in ("a", "b", "all"):
                counts = (10, 5, 5, 80)
                ratios = (0.667, 0.667, 0.667, 0.5, 0.6)
                key = f"{scenario}-{test}"
                writer.writerow(
                    [scenario, train, "unet", 32, 0, test, *counts, *ratios, 3, 1.5, key]
                )
    return folder


def mtd_xml(level: str, baseline: str, offset: object, quantification: object = 10000) -> str:
    """A minimal MTD_MSIL1C/2A.xml with the elements of the real products' metadata
    (``offset`` and ``quantification`` written as given, to break them too)."""
    if level == "1C":
        q = f'<QUANTIFICATION_VALUE unit="none">{quantification}</QUANTIFICATION_VALUE>'
        offs = "".join(
            f'<RADIO_ADD_OFFSET band_id="{i}">{offset}</RADIO_ADD_OFFSET>' for i in range(13)
        )
        offs = f"<Radiometric_Offset_List>{offs}</Radiometric_Offset_List>"
        root = "n1:Level-1C_User_Product"
    else:
        q = (
            f'<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">{quantification}'
            "</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>"
        )
        offs = "".join(
            f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13)
        )
        offs = f"<BOA_ADD_OFFSET_VALUES_LIST>{offs}</BOA_ADD_OFFSET_VALUES_LIST>"
        root = "n1:Level-2A_User_Product"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns:n1="https://psd-14.sentinel2'
        f'.eo.esa.int/PSD/User_Product_Level-{level}.xsd"><n1:General_Info><Product_Info>'
        f"<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE></Product_Info>"
        f"<Product_Image_Characteristics>{q}{offs}</Product_Image_Characteristics>"
        f"</n1:General_Info></{root}>"
    )
