"""Cases of the commands that read raw inputs: ``prepare`` and ``import-l4s``.

Every ``prepare`` case starts from :func:`inputs.raw_scene` (four uint16
bands in UTM 33N, a DEM in EPSG:4326, an inventory, ``area.toml``) in
``in/`` and breaks one thing; the output is ``out/``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import rasterio
import shapely

from bad_inputs import corrupt, inputs
from bad_inputs.harness import Call, Case, Workspace
from slidemap.area import LABEL_NODATA, load_area
from slidemap.io.rasters import write_geotiff
from slidemap.prepare import prepare_area

CASES: list[Case] = []
TOLERATED: list[Case] = []

FULL = "(disk full or file size limit); free some space and run the command again"


def case(name: str, xfail: str | None = None, table: list[Case] = CASES):
    """Register the decorated builder as case ``name`` in ``table``."""

    def register(build):
        table.append(Case(name, build, xfail))
        return build

    return register


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ---------------------------------------------------------------- prepare


def scene(ws: Workspace) -> Workspace:
    inputs.raw_scene(ws.path("in"))
    return ws


def prepare(ws: Workspace, message: str, text: str | None = None, **kw: Any) -> Call:
    """``slidemap prepare in/area.toml --out out`` (``text`` replaces the area file)."""
    area = ws.path("in", "area.toml")
    if text is not None:
        area.write_text(text, encoding="utf-8")
    return Call(("prepare", area, "--out", ws.path("out")), message, **kw)


def with_band(ws: Workspace, band: str, file: str) -> str:
    """The area file with ``band`` read from ``in/<file>``."""
    files = {b: f"{b}.tif" for b in inputs.IMAGE_BANDS}
    files[band] = file
    return inputs.area_toml(bands=files)


@case("prepare-missing-area-file")
def prepare_missing_area_file(ws: Workspace) -> Call:
    scene(ws)
    missing = ws.path("in", "nowhere.toml")
    return Call(("prepare", missing, "--out", ws.path("out")), f"area file not found: {missing}")


@case("prepare-area-file-is-a-directory")
def prepare_area_file_is_a_directory(ws: Workspace) -> Call:
    scene(ws)
    folder = ws.path("in")
    return Call(
        ("prepare", folder, "--out", ws.path("out")),
        f"area file {folder} is a directory, not a file; give the TOML file, e.g. "
        f"{folder / 'area.toml'}",
    )


@case("prepare-area-file-in-a-directory-not-named-in-utf8")
def prepare_area_file_in_a_directory_not_named_in_utf8(ws: Workspace) -> Call:
    """GDAL takes UTF-8 names: the band files' paths would fail inside rasterio."""
    e = inputs.LATIN1_E
    area = inputs.raw_scene(ws.path(f"{e}t{e}"))  # "été" in Latin-1
    return Call(
        ("prepare", area, "--out", ws.path("out")),
        f"Invalid value for 'AREA_FILE': the name '{ws.root}/\\xe9t\\xe9/area.toml' is not "
        "valid UTF-8; rename it, or choose a UTF-8 name (GDAL reads and writes UTF-8 names "
        "only)",
    )


@case("prepare-missing-band-file")
def prepare_missing_band_file(ws: Workspace) -> Call:
    scene(ws)
    text = with_band(ws, "B3", "B3_gone.tif")
    return prepare(ws, f"band B3 file not found: {ws.path('in', 'B3_gone.tif')}", text)


@case("prepare-truncated-geotiff")
def prepare_truncated_geotiff(ws: Workspace) -> Call:
    scene(ws)
    corrupt.truncate(ws.path("in", "B3.tif"))
    path = ws.path("in", "B3.tif")
    return prepare(ws, f"cannot read band B3 {path}: file is corrupt or truncated")


@case("prepare-random-bytes-tif")
def prepare_random_bytes_tif(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.random_bytes(ws.path("in", "B3.tif"))
    return prepare(ws, f"cannot read band B3 {path}: not a raster GDAL can open")


@case("prepare-random-bytes-jp2")
def prepare_random_bytes_jp2(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.random_bytes(ws.path("in", "B03.jp2"))
    text = with_band(ws, "B3", "B03.jp2")
    return prepare(ws, f"cannot read band B3 {path}: not a raster GDAL can open", text)


def jp2_scene(ws: Workspace) -> str:
    """Real Sentinel-2 JP2 files in ``in/`` (B02–B08 at 10 m, 1536 × 768 px in 64 px JP2
    tiles; B11 at 20 m as the DEM); returns the text of an area file over them."""
    ws.path("in").mkdir(parents=True, exist_ok=True)
    for band in ("B02", "B03", "B04", "B08", "B11"):
        source = ws.shared / "s2_l1c_t33uuu" / f"T33UUU_20170216T102101_{band}.jp2"
        ws.path("in", f"{band}.jp2").write_bytes(source.read_bytes())
    files = {b: f"B0{b[1]}.jp2" for b in inputs.IMAGE_BANDS}
    return inputs.area_toml(bands=files, dem="B11.jp2", inventory=None)


@case("prepare-truncated-jp2-band")
def prepare_truncated_jp2_band(ws: Workspace) -> Call:
    text = jp2_scene(ws)
    path = corrupt.truncate(ws.path("in", "B03.jp2"))
    return prepare(ws, f"cannot read band B3 {path}: file is corrupt or truncated", text)


@case("prepare-truncated-jp2-dem")
def prepare_truncated_jp2_dem(ws: Workspace) -> Call:
    text = jp2_scene(ws)
    path = corrupt.truncate(ws.path("in", "B11.jp2"))
    return prepare(ws, f"cannot read DEM {path}: file is corrupt or truncated", text)


@case("prepare-multi-band-file-as-one-band")
def prepare_multi_band_file_as_one_band(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_stack(ws.path("in", "B3.tif"), ("B4", "B3", "B2"))
    return prepare(
        ws,
        f"band B3: {path} has 3 bands, but a file per band must have one; give a multi-band "
        "file as a stack ([bands] stack with indexes, or as the only --bands file)",
    )


@case("prepare-stack-with-too-few-bands")
def prepare_stack_with_too_few_bands(ws: Workspace) -> Call:
    scene(ws)
    stack = inputs.write_stack(ws.path("in", "stack.tif"), ("B2", "B3", "B4"))
    text = 'name = "stack"\n[bands]\nstack = "stack.tif"\n'
    return prepare(ws, f"band B8: {stack} has 3 band(s), index 4 does not exist", text)


@case("prepare-bands-in-different-crs")
def prepare_bands_in_different_crs(ws: Workspace) -> Call:
    scene(ws)
    inputs.write_band(ws.path("in", "B3.tif"), "B3", crs=rasterio.crs.CRS.from_epsg(32632))
    return prepare(
        ws,
        "band files are in different CRSs (B2: EPSG:32633, B3: EPSG:32632, B4: EPSG:32633, "
        "B8: EPSG:32633); set [bands] crs and resampling",
    )


@case("prepare-bands-of-different-extents")
def prepare_bands_of_different_extents(ws: Workspace) -> Call:
    scene(ws)
    shifted = inputs.TRANSFORM @ inputs.Affine.translation(20, 0)
    inputs.write_band(ws.path("in", "B3.tif"), "B3", transform=shifted)
    return prepare(
        ws,
        f"band files have different extents: B2 ({ws.path('in', 'B2.tif')}) covers "
        "(500000.0, 5799360.0, 500640.0, 5800000.0), B3",
    )


@case("prepare-bands-of-different-resolutions")
def prepare_bands_of_different_resolutions(ws: Workspace) -> Call:
    scene(ws)
    coarse = inputs.Affine(20.0, 0.0, inputs.ORIGIN[0], 0.0, -20.0, inputs.ORIGIN[1])
    inputs.write_band(ws.path("in", "B3.tif"), "B3", transform=coarse, size=inputs.SIZE // 2)
    return prepare(
        ws,
        "band files have different resolutions (B2 10, B3 20, B4 10, B8 10); "
        'set [bands] resampling = "bilinear"',
    )


@case("prepare-band-without-crs")
def prepare_band_without_crs(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_band(ws.path("in", "B3.tif"), "B3", crs=None)
    return prepare(ws, f"band B3 file {path} has no CRS; Sentinel-2 bands must be georeferenced")


@case("prepare-dem-without-crs")
def prepare_dem_without_crs(ws: Workspace) -> Call:
    scene(ws)
    path = ws.path("in", "dem.tif")
    dem = np.full((30, 30), 100.0, np.float32)
    write_geotiff(path, dem, None, inputs.Affine(30.0, 0, 0, 0, -30.0, 900.0), None)
    return prepare(ws, f"DEM {path} has no CRS; georeference it first")


@case("prepare-dem-cut-in-its-header")
def prepare_dem_cut_in_its_header(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.cut(inputs.write_dem(ws.path("in", "dem.tif")), 300)
    return prepare(ws, f"cannot read DEM {path}: file is corrupt or truncated")


@case("prepare-dem-not-covering-the-image")
def prepare_dem_not_covering_the_image(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_dem(ws.path("in", "dem.tif"), far=True)
    return prepare(ws, f"DEM {path} does not cover the image: DEM bounds (")


@case("prepare-dem-random-bytes")
def prepare_dem_random_bytes(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.random_bytes(ws.path("in", "dem.tif"))
    return prepare(ws, f"cannot read DEM {path}: not a raster GDAL can open")


@case("prepare-dem-infinite-values")
def prepare_dem_infinite_values(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_dem(ws.path("in", "dem.tif"), fill=np.inf)
    return prepare(ws, f"DEM {path} contains infinite values")


@case("prepare-dem-all-nan")
def prepare_dem_all_nan(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_dem(ws.path("in", "dem.tif"), fill=np.nan)
    return prepare(ws, f"DEM {path} has no valid pixel (all nodata)")


@case("prepare-band-all-nodata")
def prepare_band_all_nodata(ws: Workspace) -> Call:
    scene(ws)
    zeros = np.zeros((inputs.SIZE, inputs.SIZE), np.uint16)
    path = inputs.write_band(ws.path("in", "B3.tif"), "B3", data=zeros)
    return prepare(ws, f"band B3 ({path}) has no valid pixel (all nodata)")


@case("prepare-band-infinite-values")
def prepare_band_infinite_values(ws: Workspace) -> Call:
    scene(ws)
    for band in inputs.IMAGE_BANDS:
        data = inputs.band_data(band).astype(np.float32) / 10000
        if band == "B3":
            data[5, 7] = np.inf
        inputs.write_band(ws.path("in", f"{band}.tif"), band, data=data, nodata=None)
    path = ws.path("in", "B3.tif")
    return prepare(ws, f"band B3 ({path}) contains infinite values")


@case("prepare-mixed-dn-and-reflectance")
def prepare_mixed_dn_and_reflectance(ws: Workspace) -> Call:
    scene(ws)
    data = inputs.band_data("B3").astype(np.float32) / 10000
    inputs.write_band(ws.path("in", "B3.tif"), "B3", data=data, nodata=None)
    return prepare(
        ws,
        "bands mix digital numbers and reflectance (B2 uint16, B3 float32, B4 uint16, "
        'B8 uint16); set [bands] scale to "dn" or "reflectance" explicitly',
    )


@case("prepare-empty-inventory")
def prepare_empty_inventory(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_inventory(ws.path("in", "slides.gpkg"), geoms=[])
    return prepare(
        ws,
        f"inventory {path} has no landslide polygon inside the area (the layer is empty); "
        "remove [inventory] to prepare an area without labels",
    )


@case("prepare-inventory-of-empty-geometries")
def prepare_inventory_of_empty_geometries(ws: Workspace) -> Call:
    scene(ws)
    empty = [shapely.Polygon(), shapely.Polygon()]
    path = inputs.write_inventory(ws.path("in", "slides.gpkg"), geoms=empty)
    return prepare(
        ws,
        f"inventory {path} has no landslide polygon inside the area (its 2 geometries are "
        "empty, zero-area or not polygons)",
    )


@case("prepare-inventory-with-a-wrong-crs")
def prepare_inventory_with_a_wrong_crs(ws: Workspace) -> Call:
    scene(ws)
    zone32 = rasterio.crs.CRS.from_epsg(32632)  # UTM 33 coordinates labelled as zone 32
    path = inputs.write_inventory(ws.path("in", "slides.gpkg"), inputs.slide_polygons(), zone32)
    return prepare(
        ws,
        f"inventory {path} has no landslide polygon inside the area (3 polygons lie elsewhere; "
        "check the CRS)",
    )


@case("prepare-inventory-unknown-layer")
def prepare_inventory_unknown_layer(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml(extra="").replace(
        '[inventory]\npath = "slides.gpkg"\n',
        '[inventory]\npath = "slides.gpkg"\nlayer = "roads"\n',
    )
    path = ws.path("in", "slides.gpkg")
    return prepare(ws, f"inventory {path} has no layer 'roads' (its layers: landslides)", text)


@case("prepare-inventory-without-geometries")
def prepare_inventory_without_geometries(ws: Workspace) -> Call:
    """An attribute table (no geometry column, hence no CRS either)."""
    scene(ws)
    path = ws.path("in", "slides.gpkg")
    path.unlink()
    pyogrio.raw.write(path, None, [np.array([1, 2])], ["id"], layer="landslides", driver="GPKG")
    return prepare(ws, f"inventory {path} has no geometry column")


@case("prepare-inventory-random-bytes")
def prepare_inventory_random_bytes(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.random_bytes(ws.path("in", "slides.gpkg"))
    return prepare(ws, f"cannot read inventory {path}: not a vector format GDAL/OGR can open")


@case("prepare-inventory-without-crs")
def prepare_inventory_without_crs(ws: Workspace) -> Call:
    scene(ws)
    path = ws.path("in", "slides.shp")
    wkb = shapely.to_wkb(np.array(inputs.slide_polygons(), dtype=object))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": the point
        pyogrio.raw.write(path, wkb, [], [], geometry_type="Polygon", crs=None)
    text = inputs.area_toml(inventory="slides.shp")
    return prepare(ws, f"inventory {path} has no CRS; set one (e.g. with ogr2ogr -a_srs)", text)


@case("prepare-zero-area-aoi")
def prepare_zero_area_aoi(ws: Workspace) -> Call:
    scene(ws)
    x, y = inputs.ORIGIN
    line = shapely.Polygon([(x + 100, y - 100), (x + 300, y - 300), (x + 100, y - 100)])
    path = inputs.write_inventory(ws.path("in", "aoi.gpkg"), [line])
    text = inputs.area_toml(extra='\n[aoi]\npath = "aoi.gpkg"\n')
    return prepare(
        ws,
        f"AOI {path} has no polygon with an area (its 1 geometries are empty, zero-area or not "
        "polygons); draw the AOI as a polygon or remove [aoi]",
        text,
    )


@case("prepare-aoi-outside-the-image")
def prepare_aoi_outside_the_image(ws: Workspace) -> Call:
    scene(ws)
    path = inputs.write_inventory(ws.path("in", "aoi.gpkg"), [shapely.box(0, 0, 100, 100)])
    text = inputs.area_toml(extra='\n[aoi]\npath = "aoi.gpkg"\n')
    return prepare(ws, f"AOI {path} does not overlap the image; check its CRS and extent", text)


@case("prepare-aoi-between-pixel-centres")
def prepare_aoi_between_pixel_centres(ws: Workspace) -> Call:
    scene(ws)
    x, y = inputs.ORIGIN[0] + 100, inputs.ORIGIN[1] - 100  # the corner of four pixels
    inputs.write_inventory(ws.path("in", "aoi.gpkg"), [shapely.box(x - 2, y - 2, x + 2, y + 2)])
    text = inputs.area_toml(extra='\n[aoi]\npath = "aoi.gpkg"\n')
    return prepare(
        ws,
        f"{ws.path('in', 'area.toml')}: no pixel has valid data in every band and the DEM "
        "inside the AOI",
        text,
    )


@case("prepare-unknown-target-crs")
def prepare_unknown_target_crs(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml().replace("[bands]\n", '[bands]\ncrs = "EPSG:99999"\n')
    return prepare(ws, "[bands] crs: unknown CRS 'EPSG:99999'", text)


@case("prepare-resolution-far-too-fine")
def prepare_resolution_far_too_fine(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml().replace("[bands]\n", "[bands]\nresolution = 0.001\n")
    return prepare(
        ws,
        "[bands] resolution = 0.001 gives a grid of 640000 x 640000 px, more than the "
        "4,294,967,296 px slidemap reads; the resolution is in the units of the CRS "
        "(EPSG:32633: metre), e.g. 10 for 10 m pixels in UTM, about 0.0001 in degrees",
        text,
    )


@case("prepare-resolution-in-metres-on-a-grid-in-degrees")
def prepare_resolution_in_metres_on_a_grid_in_degrees(ws: Workspace) -> Call:
    scene(ws)
    degrees = '[bands]\ncrs = "EPSG:4326"\nresampling = "bilinear"\nresolution = 10\n'
    text = inputs.area_toml().replace("[bands]\n", degrees)
    return prepare(
        ws,
        "[bands] resolution = 10 gives a grid of only 1 x 1 px; the resolution is in the "
        "units of the CRS (EPSG:4326: degree), e.g. 10 for 10 m pixels in UTM, about 0.0001 "
        "in degrees",
        text,
    )


@case("prepare-toml-syntax-error")
def prepare_toml_syntax_error(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml(extra="\n[split\nfraction = 0.6\n")
    path = ws.path("in", "area.toml")
    return prepare(
        ws, f"{path}: invalid TOML: Expected ']' at the end of a table declaration", text
    )


@case("prepare-toml-wrong-type")
def prepare_toml_wrong_type(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml(extra='\n[split]\nfraction = "half"\n')
    path = ws.path("in", "area.toml")
    line = line_of(text, "fraction")
    return prepare(
        ws,
        f"{path}, line {line}: [split] fraction: expected an integer or a number, got 'half'",
        text,
    )


@case("prepare-toml-boolean-as-number")
def prepare_toml_boolean_as_number(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml().replace("[bands]\n", "[bands]\nresolution = true\n")
    path = ws.path("in", "area.toml")
    line = line_of(text, "resolution")
    return prepare(
        ws,
        f"{path}, line {line}: [bands] resolution: expected an integer or a number, got True",
        text,
    )


@case("prepare-toml-unknown-key")
def prepare_toml_unknown_key(ws: Workspace) -> Call:
    scene(ws)
    text = inputs.area_toml(extra="\n[split]\nfractoin = 0.5\n")
    path = ws.path("in", "area.toml")
    line = line_of(text, "fractoin")
    return prepare(
        ws,
        f"{path}, line {line}: [split] fractoin: unknown key; expected one of: fraction, "
        "direction, validation, path, field",
        text,
    )


@case("prepare-area-file-not-text")
def prepare_area_file_not_text(ws: Workspace) -> Call:
    scene(ws)
    path = corrupt.random_bytes(ws.path("in", "area.toml"))
    return prepare(ws, f"{path}: not a UTF-8 text file")


@case("prepare-output-below-a-file")
def prepare_output_below_a_file(ws: Workspace) -> Call:
    scene(ws)
    blocker = ws.blocker()
    args = ("prepare", ws.path("in", "area.toml"), "--out", blocker / "out")
    return Call(
        args, f"cannot create output directory {blocker}: {blocker} is a file, not a directory"
    )


@case("prepare-output-exists")
def prepare_output_exists(ws: Workspace) -> Call:
    scene(ws)
    ws.path("out").mkdir()
    ws.path("out", "mine.txt").write_text("keep me", encoding="utf-8")
    return prepare(ws, f"{ws.path('out')} already exists; pass --overwrite to replace it")


# ---------------------------------------------------------------- prepare: Sentinel-2 products

SAFE = "S2B_MSIL1C_20240101T100000_N0510_R122_T33UUU_20240101T110000.SAFE"


def safe_product(
    ws: Workspace,
    bands: tuple[str, ...] = inputs.IMAGE_BANDS,
    metadata: str | bytes | None = None,
) -> Path:
    """A SAFE tree in ``in/`` whose IMG_DATA holds the scene's bands as ``*_B0?.jp2``
    (GeoTIFF bytes: GDAL opens by content), and ``metadata`` as its ``MTD_MSIL1C.xml``
    (default: a valid one; ``b""`` leaves it out). The area file reads the product."""
    scene(ws)
    safe = ws.path("in", SAFE)
    img = safe / "GRANULE" / "L1C_T33UUU_A000001_20240101T100000" / "IMG_DATA"
    img.mkdir(parents=True)
    for band in bands:
        number = band[1:].zfill(2)
        shutil.copy(ws.path("in", f"{band}.tif"), img / f"T33UUU_20240101T100000_B{number}.jp2")
    text = inputs.mtd_xml("1C", "05.10", -1000) if metadata is None else metadata
    if text:
        mtd = safe / "MTD_MSIL1C.xml"
        mtd.write_bytes(text.encode() if isinstance(text, str) else text)
    names = ", ".join(f'"{b}"' for b in inputs.IMAGE_BANDS)
    area = inputs.area_toml().split("[bands]")[0] + (
        f'[bands]\nproduct = "{SAFE}"\nnames = [{names}]\n\n[dem]\npath = "dem.tif"\n'
    )
    ws.path("in", "area.toml").write_text(area, encoding="utf-8")
    return safe


@case("prepare-product-missing")
def prepare_product_missing(ws: Workspace) -> Call:
    safe = safe_product(ws)
    shutil.rmtree(safe)
    return prepare(ws, f"Sentinel-2 product not found: {safe}")


@case("prepare-product-neither-safe-nor-zip")
def prepare_product_neither_safe_nor_zip(ws: Workspace) -> Call:
    safe = safe_product(ws)
    shutil.rmtree(safe)
    corrupt.random_bytes(safe)
    return prepare(ws, f"{safe} is neither a .SAFE directory nor a zip of one")


@case("prepare-product-without-band-files")
def prepare_product_without_band_files(ws: Workspace) -> Call:
    safe = safe_product(ws, bands=())
    return prepare(ws, f"no band files (IMG_DATA/*_B??.jp2) found in Sentinel-2 product {safe}")


@case("prepare-product-missing-a-band")
def prepare_product_missing_a_band(ws: Workspace) -> Call:
    safe = safe_product(ws, bands=("B2", "B3", "B4"))
    return prepare(ws, f"Sentinel-2 product {safe} has no band file for B8 (found B2, B3, B4)")


@case("prepare-product-without-metadata")
def prepare_product_without_metadata(ws: Workspace) -> Call:
    safe = safe_product(ws, metadata=b"")
    return prepare(
        ws,
        f"no MTD_MSIL1C.xml or MTD_MSIL2A.xml in Sentinel-2 product {safe}; "
        "without it the radiometric offset is unknown",
    )


@case("prepare-product-metadata-not-xml")
def prepare_product_metadata_not_xml(ws: Workspace) -> Call:
    safe = safe_product(ws, metadata=inputs.mtd_xml("1C", "05.10", -1000)[:150])
    return prepare(ws, f"Sentinel-2 metadata {safe}:MTD_MSIL1C.xml is not valid XML (")


@case("prepare-product-metadata-bad-offset")
def prepare_product_metadata_bad_offset(ws: Workspace) -> Call:
    safe = safe_product(ws, metadata=inputs.mtd_xml("1C", "05.10", "minus"))
    return prepare(
        ws, f"Sentinel-2 metadata {safe}:MTD_MSIL1C.xml: bad RADIO_ADD_OFFSET value 'minus'"
    )


@case("prepare-product-metadata-bad-baseline")
def prepare_product_metadata_bad_baseline(ws: Workspace) -> Call:
    safe = safe_product(ws, metadata=inputs.mtd_xml("1C", "N/A", -1000))
    return prepare(
        ws, f"Sentinel-2 metadata {safe}:MTD_MSIL1C.xml: bad PROCESSING_BASELINE value 'N/A'"
    )


@case("prepare-product-metadata-zero-quantification")
def prepare_product_metadata_zero_quantification(ws: Workspace) -> Call:
    safe = safe_product(ws, metadata=inputs.mtd_xml("1C", "05.10", -1000, quantification=0))
    return prepare(ws, f"Sentinel-2 metadata {safe}:MTD_MSIL1C.xml: quantification value 0.0 <= 0")


@case("prepare-metadata-file-missing")
def prepare_metadata_file_missing(ws: Workspace) -> Call:
    scene(ws)
    mtd = ws.path("in", "MTD_MSIL1C.xml")
    text = inputs.area_toml().replace("[bands]\n", '[bands]\nmetadata = "MTD_MSIL1C.xml"\n')
    return prepare(ws, f"cannot read Sentinel-2 metadata {mtd}: No such file or directory", text)


@case("prepare-disk-full")
def prepare_disk_full(ws: Workspace) -> Call:
    scene(ws)
    return prepare(
        ws, f"cannot write {ws.path('out')}: File too large {FULL}", file_size_limit=4096
    )


# ---------------------------------------------------------------- prepare: inputs that must work


def label_of(area_dir: str, ws: Workspace) -> np.ndarray:
    return load_area(ws.path(area_dir)).label


@case("prepare-inventory-in-another-crs", table=TOLERATED)
def prepare_inventory_in_another_crs(ws: Workspace) -> Call:
    """An inventory in EPSG:4326 gives the labels of the same polygons in UTM 33N."""
    scene(ws)
    prepare_area(ws.path("in", "area.toml"), ws.path("reference"))
    inputs.write_inventory(ws.path("in", "wgs84.gpkg"), crs=inputs.WGS84)
    ws.path("in", "wgs84.toml").write_text(inputs.area_toml(inventory="wgs84.gpkg"))

    def check() -> None:
        labels = label_of("out", ws)
        assert (labels == 1).sum() > 100
        assert np.array_equal(labels, label_of("reference", ws))

    args = ("prepare", ws.path("in", "wgs84.toml"), "--out", ws.path("out"))
    return Call(args, str(ws.path("out")), may_write=ws.path("out"), check=check)


@case("prepare-self-intersecting-and-empty-polygons", table=TOLERATED)
def prepare_self_intersecting_and_empty_polygons(ws: Workspace) -> Call:
    """A bow-tie polygon is repaired and an empty one dropped; both are counted."""
    scene(ws)
    x, y = inputs.ORIGIN
    bowtie = shapely.Polygon(
        [(x + 100, y - 100), (x + 300, y - 300), (x + 300, y - 100), (x + 100, y - 300)]
    )
    inputs.write_inventory(ws.path("in", "slides.gpkg"), [bowtie, shapely.Polygon()])

    def check() -> None:
        meta = json.loads(ws.path("out", "area.json").read_text())
        assert meta["inventory"]["count"] == 1
        assert meta["inventory"]["repaired"] == 1 and meta["inventory"]["dropped_empty"] == 1
        assert meta["inventory"]["total_m2"] == 20000.0  # two 100 m × 100 m triangles
        assert (label_of("out", ws) == 1).sum() * 100 == 20000

    return prepare(ws, str(ws.path("out")), may_write=ws.path("out"), check=check)


@case("prepare-inventory-of-mixed-geometry-types", table=TOLERATED)
def prepare_inventory_of_mixed_geometry_types(ws: Workspace) -> Call:
    """A layer of any geometry type: the polygons of a collection count, lines and
    points are dropped and counted."""
    scene(ws)
    x, y = inputs.ORIGIN
    square = shapely.box(x + 100, y - 300, x + 300, y - 100)
    line = shapely.LineString([(x + 400, y - 400), (x + 500, y - 500)])
    geoms = [shapely.GeometryCollection([square, line]), line, shapely.Point(x + 50, y - 50)]
    pyogrio.raw.write(
        ws.path("in", "slides.gpkg"),
        shapely.to_wkb(np.array(geoms, dtype=object)),
        [],
        [],
        layer="landslides",
        driver="GPKG",
        geometry_type="Unknown",
        crs=inputs.UTM33.to_wkt(),
    )

    def check() -> None:
        meta = json.loads(ws.path("out", "area.json").read_text())
        assert meta["inventory"]["count"] == 1 and meta["inventory"]["dropped_empty"] == 2
        assert meta["inventory"]["total_m2"] == 40000.0
        assert (label_of("out", ws) == 1).sum() * 100 == 40000

    return prepare(ws, str(ws.path("out")), may_write=ws.path("out"), check=check)


@case("prepare-nan-in-reflectance-bands", table=TOLERATED)
def prepare_nan_in_reflectance_bands(ws: Workspace) -> Call:
    """NaN in float bands is nodata: NaN in the image, 255 in the labels, left out of statistics."""
    scene(ws)
    for band in inputs.IMAGE_BANDS:
        data = inputs.band_data(band).astype(np.float32) / 10000
        data[:8, :8] = np.nan
        inputs.write_band(ws.path("in", f"{band}.tif"), band, data=data, nodata=None)

    def check() -> None:
        area = load_area(ws.path("out"))
        assert np.isnan(area.image[:, :8, :8]).all() and np.isfinite(area.image[:, 8:, 8:]).all()
        assert (area.label[:8, :8] == LABEL_NODATA).all()
        assert np.isfinite(area.meta.band_stats["B3"].mean)

    return prepare(ws, str(ws.path("out")), may_write=ws.path("out"), check=check)


# ---------------------------------------------------------------- import-l4s


def l4s(ws: Workspace, message: str, *extra: object, **kw: Any) -> Call:
    """``slidemap import-l4s l4s --out out`` over four real L4S patches copied to ``l4s/``."""
    return Call(("import-l4s", ws.path("l4s"), "--out", ws.path("out"), *extra), message, **kw)


def patches(ws: Workspace) -> Workspace:
    inputs.l4s_dir(ws.path("l4s"), ws.shared)
    return ws


@case("import-l4s-missing-directory")
def import_l4s_missing_directory(ws: Workspace) -> Call:
    return l4s(ws, f"L4S directory not found: {ws.path('l4s')}")


@case("import-l4s-no-patches")
def import_l4s_no_patches(ws: Workspace) -> Call:
    ws.path("l4s").mkdir()
    ws.path("l4s", "readme.txt").write_text("nothing here", encoding="utf-8")
    folder = ws.path("l4s")
    return l4s(ws, f"no Landslide4Sense image (image_<id>.h5) in {folder} or {folder / 'img'}")


@case("import-l4s-random-bytes-h5")
def import_l4s_random_bytes_h5(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.random_bytes(ws.path("l4s", "image_16.h5"))
    return l4s(ws, f"cannot read L4S image {path}: not a readable HDF5 file")


@case("import-l4s-truncated-h5")
def import_l4s_truncated_h5(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.truncate(ws.path("l4s", "image_27.h5"))
    return l4s(ws, f"cannot read L4S image {path}: it is truncated")


@case("import-l4s-wrong-band-count")
def import_l4s_wrong_band_count(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.drop_last_channel(ws.path("l4s", "image_16.h5"))
    return l4s(
        ws, f"L4S image {path}: dataset 'img' has shape (128, 128, 13), expected (128, 128, 14)"
    )


@case("import-l4s-nan-value")
def import_l4s_nan_value(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.edit_h5(ws.path("l4s", "image_38.h5"), "img", (5, 9, 1), np.nan)
    return l4s(ws, f"L4S image {path}: 1 NaN/Inf value(s) in band(s) B2; the file is damaged")


@case("import-l4s-infinite-slope")
def import_l4s_infinite_slope(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.edit_h5(ws.path("l4s", "image_1.h5"), "img", (0, 0, 12), np.inf)
    return l4s(ws, f"L4S image {path}: 1 NaN/Inf value(s) in band(s) slope; the file is damaged")


@case("import-l4s-mask-not-binary")
def import_l4s_mask_not_binary(ws: Workspace) -> Call:
    patches(ws)
    path = corrupt.edit_h5(ws.path("l4s", "mask_16.h5"), "mask", (3, 3), 2)
    return l4s(ws, f"L4S mask {path}: values [2] found, expected only 0 (no landslide) and 1")


@case("import-l4s-unknown-band")
def import_l4s_unknown_band(ws: Workspace) -> Call:
    patches(ws)
    return l4s(ws, "unknown L4S band(s) B99; valid names: B1, B2,", "--bands", "B2,B99")


@case("import-l4s-negative-seed")
def import_l4s_negative_seed(ws: Workspace) -> Call:
    patches(ws)
    return l4s(ws, "--seed must be 0 or more, got -1", "--seed", -1)


@case("import-l4s-area-name-not-ascii")
def import_l4s_area_name_not_ascii(ws: Workspace) -> Call:
    patches(ws)
    return Call(
        ("import-l4s", ws.path("l4s"), "--out", ws.path("dír", "ó")),
        "area name 'ó' must start with an ASCII letter or digit and hold only ASCII letters, "
        "digits, '_', '.' and '-'; pass --name",
    )


@case("import-l4s-output-below-a-file")
def import_l4s_output_below_a_file(ws: Workspace) -> Call:
    patches(ws)
    blocker = ws.blocker()
    return Call(
        ("import-l4s", ws.path("l4s"), "--out", blocker / "out"),
        f"cannot create output directory {blocker}: {blocker} is a file, not a directory",
    )


@case("import-l4s-disk-full")
def import_l4s_disk_full(ws: Workspace) -> Call:
    patches(ws)
    return l4s(ws, f"cannot write {ws.path('out')}: File too large {FULL}", file_size_limit=4096)
