"""``slidemap prepare`` on real Sentinel-2 (JP2, SAFE, zip) and Iburi rasters, and its errors."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from bad_inputs import inputs
from slidemap.area import LABEL_NODATA, TEST, TRAIN, VALIDATION, load_area
from slidemap.config import BandsConfig, DemConfig
from slidemap.errors import SlidemapError
from slidemap.io.bands import band_sources, read_bands, read_bands_window, target_grid
from slidemap.io.dem import DemSlope, slope_on_grid
from slidemap.io.rasters import write_geotiff
from slidemap.io.vectors import write_polygons
from slidemap.terrain import slope_deg

S2_PREFIX = "T33UUU_20170216T102101_"
UTM33 = CRS.from_epsg(32633)
WGS84 = CRS.from_epsg(4326)
S2_BOUNDS = (330000.0, 5814360.0, 345360.0, 5822040.0)
PLANE_DEG = 12.0


def s2_band(shared: Path, band: str) -> Path:
    return shared / "s2_l1c_t33uuu" / f"{S2_PREFIX}{band}.jp2"


def toml_files(bands: dict[str, Path]) -> str:
    return "{ " + ", ".join(f'{k} = "{v}"' for k, v in bands.items()) + " }"


def write_plane_dem(path: Path, angle_deg: float = PLANE_DEG) -> None:
    """A plane tilted ``angle_deg`` towards the north-east (defined in UTM 33N metres),
    sampled on a ~30 m lat/lon grid that covers the S2 window with a margin."""
    res = 2.7e-4
    west, north, n_cols, n_rows = 12.48, 52.54, 1000, 360
    lon = west + (np.arange(n_cols) + 0.5) * res
    lat = north - (np.arange(n_rows) + 0.5) * res
    lon2, lat2 = np.meshgrid(lon, lat)
    x, y = Transformer.from_crs(WGS84, UTM33, always_xy=True).transform(lon2, lat2)
    dem = np.tan(np.radians(angle_deg)) * ((x - S2_BOUNDS[0]) * 0.6 + (y - S2_BOUNDS[1]) * 0.8)
    write_geotiff(path, dem.astype(np.float32), WGS84, Affine(res, 0, west, 0, -res, north), None)


def slide_polygons() -> list[shapely.Geometry]:
    """Landslide-like polygons in UTM 33N inside the S2 window (one invalid bow-tie)."""
    polys = [
        shapely.Point(331000 + 1400 * i, 5816000 + 500 * (i % 4)).buffer(150 + 20 * i)
        for i in range(10)
    ]
    bowtie = shapely.Polygon(
        [(340000, 5820000), (340400, 5820400), (340400, 5820000), (340000, 5820400)]
    )
    return [*polys, bowtie]


def write_inventory(path: Path) -> None:
    """The landslide polygons in lat/lon plus one empty geometry that must be dropped."""
    tr = Transformer.from_crs(UTM33, WGS84, always_xy=True)
    polys = [
        shapely.transform(p, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        for p in slide_polygons()
    ]
    write_polygons(path, [*polys, shapely.Polygon()], WGS84, layer="landslides")


@pytest.fixture
def s2_area(tmp_path: Path, shared_data: Path) -> Path:
    """Area file: real S2 L1C JP2 bands at 10/20/60 m, a lat/lon plane DEM, a lat/lon inventory."""
    write_plane_dem(tmp_path / "dem.tif")
    write_inventory(tmp_path / "slides.gpkg")
    bands = {
        b: s2_band(shared_data, f)
        for b, f in [
            ("B2", "B02"),
            ("B3", "B03"),
            ("B4", "B04"),
            ("B8", "B08"),
            ("B11", "B11"),
            ("B1", "B01"),
        ]
    }
    path = tmp_path / "area.toml"
    path.write_text(
        f'name = "berlin"\n[bands]\nnames = {list(bands)}\nfiles = {toml_files(bands)}\n'
        'resampling = "bilinear"\n[dem]\npath = "dem.tif"\n'
        '[inventory]\npath = "slides.gpkg"\n'.replace("'", '"')
    )
    return path


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


RunCli = Callable[..., object]


def test_prepare_real_s2_jp2(
    s2_area: Path, tmp_path: Path, shared_data: Path, run_cli: Callable
) -> None:
    before = checksums(shared_data / "s2_l1c_t33uuu")
    result = run_cli("prepare", s2_area, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert result.out.strip() == str(tmp_path / "out")
    assert checksums(shared_data / "s2_l1c_t33uuu") == before
    area = load_area(tmp_path / "out")
    meta = area.meta
    # grid: the 10 m bands' grid, 20 m and 60 m bands resampled onto it
    assert (meta.width, meta.height) == (1536, 768)
    assert meta.crs == UTM33
    assert meta.transform == (10.0, 0.0, 330000.0, 0.0, -10.0, 5822040.0)
    assert meta.band_names == ("B2", "B3", "B4", "B8", "B11", "B1", "slope")
    with rasterio.open(tmp_path / "out" / "image.tif") as src:
        assert src.descriptions == meta.band_names
        assert (
            src.dtypes[0] == "float32"
            and src.block_shapes[0] == (256, 256)
            and src.compression is not None
        )
    # reflectance = DN / 10000 (baseline 02.04: no offset); README: B2 mean DN 1476.3
    with rasterio.open(s2_band(shared_data, "B02")) as src:
        dn = src.read(1).astype(np.float64)
    valid = np.isfinite(area.image).all(axis=0)
    assert valid.mean() > 0.99
    assert np.allclose(area.image[0][valid], dn[valid] / 10000, atol=1e-6)
    train = (area.split == TRAIN) & valid
    assert meta.band_stats["B2"].mean == pytest.approx(dn[train].mean() / 10000, rel=1e-5)
    assert meta.band_stats["B11"].mean == pytest.approx(0.184, abs=0.02)
    # slope of the plane computed in lat/lon then resampled: within 0.5° of the truth
    slope = area.image[-1][valid]
    assert np.abs(np.median(slope) - PLANE_DEG) < 0.1
    assert np.abs(slope - PLANE_DEG).max() < 0.5
    # labels: rasterised area vs polygon area within 2 %; invalid bow-tie repaired and counted
    inv = meta.inventory
    assert inv is not None and inv.count == 11 and inv.repaired == 1 and inv.dropped_empty == 1
    label_area = float((area.label == 1).sum()) * 100.0
    assert label_area == pytest.approx(inv.total_m2, rel=0.02)
    assert inv.min_m2 < inv.mean_m2 < inv.max_m2
    assert inv.mean_m2 == pytest.approx(inv.total_m2 / inv.count)
    assert np.all(area.label[~valid] == LABEL_NODATA)
    # split: 3:2 by area west-east, validation carved from train next to the test part
    n_valid = valid.sum()
    n_train = ((area.split == TRAIN) | (area.split == VALIDATION)).sum()
    assert n_train / n_valid == pytest.approx(0.6, abs=0.01)
    assert (area.split == VALIDATION).sum() / n_train == pytest.approx(0.1, abs=0.01)
    cols = [np.where((area.split == c).any(axis=0))[0] for c in (TRAIN, VALIDATION, TEST)]
    assert cols[0].max() < cols[1].min() and cols[1].max() < cols[2].min()
    assert meta.split_pixels["train"] == (area.split == TRAIN).sum()
    assert str(s2_band(shared_data, "B02")) in meta.sources
    saved = json.loads((tmp_path / "out" / "area.json").read_text())
    assert saved["schema_version"] == 1 and saved["slidemap_version"]


def test_prepare_refuses_overwrite_then_replaces_an_area(
    s2_area: Path, tmp_path: Path, run_cli: Callable
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("prepare", s2_area, "--out", out)
    assert result.code == 2
    assert f"slidemap: error: {out} already exists; pass --overwrite to replace it" in result.err
    assert (out / "keep.txt").read_text() == "mine"
    result = run_cli("prepare", s2_area, "--out", out, "--overwrite")  # not an area: kept
    assert result.code == 2 and "it is not a prepared area (no area.json)" in result.err
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert run_cli("prepare", s2_area, "--out", out, "--overwrite").code == 0  # empty
    (out / "area.json").write_text("{}")  # an area's marker: replaced
    assert run_cli("prepare", s2_area, "--out", out, "--overwrite").code == 0
    assert json.loads((out / "area.json").read_text())["schema_version"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bands_from_one_stack(tmp_path: Path, shared_data: Path, run_cli: Callable) -> None:
    """A multi-band GeoTIFF with its own band order, picked by index."""
    order = ["B08", "B04", "B03", "B02"]
    with rasterio.open(s2_band(shared_data, "B02")) as src:
        crs, transform = src.crs, src.transform
    stack = np.stack([rasterio.open(s2_band(shared_data, b)).read(1) for b in order])
    write_geotiff(tmp_path / "stack.tif", stack, crs, transform, 0)
    (tmp_path / "a.toml").write_text(
        'name = "stack"\n[bands]\nstack = "stack.tif"\n'
        "indexes = { B2 = 4, B3 = 3, B4 = 2, B8 = 1 }\n"
    )
    result = run_cli("prepare", tmp_path / "a.toml", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    area = load_area(tmp_path / "out")
    assert area.meta.band_names == ("B2", "B3", "B4", "B8")
    valid = np.isfinite(area.image[0])
    assert np.array_equal(area.image[0][valid], stack[3][valid] / np.float32(10000))
    assert np.array_equal(area.image[3][valid], stack[0][valid] / np.float32(10000))
    assert area.meta.inventory is None


def mean_dn(shared: Path, band: str) -> float:
    with rasterio.open(s2_band(shared, band)) as src:
        return float(src.read(1).mean())


def test_metadata_xml_beside_bands_sets_offset(
    tmp_path: Path, shared_data: Path, run_cli: Callable
) -> None:
    for b in ("B02", "B03", "B04", "B08"):
        shutil.copy(s2_band(shared_data, b), tmp_path / f"{b}.jp2")
    (tmp_path / "MTD_MSIL2A.xml").write_text(inputs.mtd_xml("2A", "04.00", -1000))
    files = {"B2": "B02.jp2", "B3": "B03.jp2", "B4": "B04.jp2", "B8": "B08.jp2"}
    (tmp_path / "a.toml").write_text(
        f'name = "l2a"\n[bands]\nfiles = {toml_files(files)}\n'.replace("'", '"')
    )
    assert run_cli("prepare", tmp_path / "a.toml", "--out", tmp_path / "out").code == 0
    area = load_area(tmp_path / "out")
    assert float(np.nanmean(area.image[0])) == pytest.approx(
        (mean_dn(shared_data, "B02") - 1000) / 10000, rel=1e-4
    )
    assert str(tmp_path / "MTD_MSIL2A.xml") in area.meta.sources
    # an explicit offset in the area file wins over the metadata
    (tmp_path / "b.toml").write_text(
        f'name = "l2a"\n[bands]\noffset = 0\nfiles = {toml_files(files)}\n'.replace("'", '"')
    )
    assert run_cli("prepare", tmp_path / "b.toml", "--out", tmp_path / "out2").code == 0
    assert float(np.nanmean(load_area(tmp_path / "out2").image[0])) == pytest.approx(
        mean_dn(shared_data, "B02") / 10000, rel=1e-4
    )


def build_safe(root: Path, shared: Path, level: str) -> Path:
    """A miniature SAFE tree with the real JP2 bands and generated metadata."""
    safe = root / f"S2A_MSIL{level}_20170216T102101_N0400_R065_T33UUU_20170216T102204.SAFE"
    img = safe / "GRANULE" / "L1C_T33UUU_A008642_20170216T102204" / "IMG_DATA"
    for band in ("B02", "B03", "B04", "B08", "B11"):
        if level == "1C":
            target = img / f"{S2_PREFIX}{band}.jp2"
        else:
            res = 20 if band == "B11" else 10
            target = img / f"R{res}m" / f"{S2_PREFIX}{band}_{res}m.jp2"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(s2_band(shared, band), target)
    (safe / f"MTD_MSIL{level}.xml").write_text(inputs.mtd_xml(level, "04.00", -1000))
    return safe


@pytest.mark.parametrize("level", ["1C", "2A"])
def test_safe_product_directory_and_zip(
    tmp_path: Path, shared_data: Path, level: str, run_cli: Callable
) -> None:
    safe = build_safe(tmp_path, shared_data, level)
    zipped = tmp_path / f"{safe.stem}.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for p in safe.rglob("*"):
            zf.write(p, p.relative_to(tmp_path))
    images = []
    for product in (safe, zipped):
        toml = tmp_path / f"{product.suffix[1:]}.toml"
        toml.write_text(
            f'name = "safe"\n[bands]\nproduct = "{product}"\n'
            'names = ["B2", "B3", "B4", "B8", "B11"]\nresampling = "bilinear"\n'
        )
        out = tmp_path / f"out-{product.suffix[1:]}"
        result = run_cli("prepare", toml, "--out", out)
        assert result.code == 0, result.err
        images.append(load_area(out).image)
    assert np.array_equal(images[0], images[1], equal_nan=True)
    expected = (mean_dn(shared_data, "B04") - 1000) / 10000
    assert float(np.nanmean(images[0][2])) == pytest.approx(expected, rel=1e-4)
    assert images[0].shape == (5, 768, 1536)


def test_prepare_iburi_example_rgb_with_geographic_dsm(
    tmp_path: Path, shared_data: Path, run_cli: Callable
) -> None:
    """examples/iburi2018.toml: real RGB + AW3D30 DSM in EPSG:4326, slope from the DSM."""
    iburi = shared_data / "iburi2018"
    example = Path(__file__).parents[1] / "examples" / "iburi2018.toml"
    result = run_cli("prepare", example, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    area = load_area(tmp_path / "out")
    assert area.meta.band_names == ("B2", "B3", "B4", "slope")
    assert (area.meta.width, area.meta.height) == (1533, 970)
    assert area.meta.crs == WGS84
    assert area.meta.inventory is None and np.all(area.label == LABEL_NODATA)
    # B4 mean DN 775.3 → reflectance 0.0775 (no metadata: offset 0)
    assert area.meta.band_stats["B4"].mean == pytest.approx(0.0775, abs=0.01)
    # our slope (geographic-aware Horn on the DSM) agrees with the provided slope raster
    with rasterio.open(iburi / "slope" / "download.slope.tif") as src:
        ref = src.read(1)
        dem_grid = (src.transform, src.crs)
    assert np.nanmean(area.image[3]) == pytest.approx(float(ref.mean()), abs=1.0)
    with rasterio.open(iburi / "dem" / "download.DSM.tif") as src:
        native = slope_deg(src.read(1).astype(float), *dem_grid)
    assert np.corrcoef(native.ravel(), ref.ravel())[0, 1] > 0.9


def test_prepare_reprojects_to_requested_crs(
    tmp_path: Path, shared_data: Path, run_cli: Callable
) -> None:
    iburi = shared_data / "iburi2018"
    files = {b: iburi / "post-event" / f"download.{b}.tif" for b in ("B2", "B3", "B4")}
    (tmp_path / "utm.toml").write_text(
        f'name = "iburi-utm"\n[bands]\nnames = ["B2", "B3", "B4"]\nfiles = {toml_files(files)}\n'
        'crs = "EPSG:32654"\nresolution = 10\nresampling = "bilinear"\n'
        f'[dem]\npath = "{iburi / "dem" / "download.DSM.tif"}"\n'.replace("'", '"')
    )
    assert run_cli("prepare", tmp_path / "utm.toml", "--out", tmp_path / "out").code == 0
    meta = load_area(tmp_path / "out").meta
    assert meta.crs == CRS.from_epsg(32654)
    assert meta.transform[0] == pytest.approx(10.0) and meta.transform[4] == pytest.approx(-10.0)
    # the box is ~11.3 km wide and ~9.7 km tall at 42.7° N
    assert meta.width == pytest.approx(1130, rel=0.03)
    assert meta.height == pytest.approx(970, rel=0.03)


def test_prepare_resamples_to_a_coarser_resolution_in_the_bands_crs(
    tmp_path: Path, run_cli: Callable
) -> None:
    """``[bands] resolution = 20`` over 10 m bands: the same bounds on a 20 m grid, each
    pixel the mean of its 2 × 2 source pixels with ``resampling = "average"``."""
    inputs.raw_scene(tmp_path)
    area = tmp_path / "area.toml"
    base = inputs.area_toml(inventory=None)
    area.write_text(base.replace("[bands]\n", "[bands]\nresolution = 20\n"))
    refused = run_cli("prepare", area, "--out", tmp_path / "refused")
    assert refused.code == 2
    assert "band B2 (" in refused.err and "is at 10 and the grid at 20; set [bands] resampling" in (
        refused.err
    )
    assert not (tmp_path / "refused").exists()
    average = '[bands]\nresolution = 20\nresampling = "average"\n'
    area.write_text(base.replace("[bands]\n", average))
    result = run_cli("prepare", area, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    prepared = load_area(tmp_path / "out")
    meta, image = prepared.meta, prepared.image
    assert meta.crs == inputs.UTM33 and (meta.width, meta.height) == (32, 32)
    x0, y0 = inputs.ORIGIN
    assert tuple(meta.transform)[:6] == (20.0, 0.0, x0, 0.0, -20.0, y0)
    dn = inputs.band_data("B3").astype(np.float64)
    expected = dn.reshape(32, 2, 32, 2).mean(axis=(1, 3)) / 10000
    np.testing.assert_allclose(image[meta.band_names.index("B3")], expected, rtol=1e-5)


def test_split_from_polygons_and_aoi(s2_area: Path, tmp_path: Path, run_cli: Callable) -> None:
    roles = [
        shapely.box(330000, 5814360, 338000, 5822040),
        shapely.box(338000, 5814360, 345360, 5822040),
    ]
    write_polygons(tmp_path / "split.gpkg", roles, UTM33, {"role": np.array(["train", "test"])})
    write_polygons(tmp_path / "aoi.geojson", [shapely.box(331000, 5815000, 344000, 5821000)], UTM33)
    text = s2_area.read_text() + '[split]\npath = "split.gpkg"\n[aoi]\npath = "aoi.geojson"\n'
    s2_area.write_text(text)
    result = run_cli("prepare", s2_area, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    area = load_area(tmp_path / "out")
    assert (area.meta.width, area.meta.height) == (1300, 600)
    assert area.meta.transform[2] == 331000.0 and area.meta.transform[5] == 5821000.0
    col_test = (338000 - 331000) // 10
    assert np.all(area.split[:, col_test:] == TEST)
    assert np.all(np.isin(area.split[:, :col_test], [TRAIN, VALIDATION]))


# --- bad inputs: exact message, exit code 2, no output left behind ----------------------------


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def write_random(path: Path, n: int = 4096) -> Path:
    path.write_bytes(np.random.default_rng(0).bytes(n))
    return path


def truncated_tif(path: Path, source: Path) -> Path:
    with rasterio.open(source) as src:
        write_geotiff(path, src.read(1), src.crs, src.transform, None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def band_variant(
    path: Path,
    source: Path,
    *,
    crop: int = 0,
    crs: bool = True,
    fill: float | None = None,
    dtype: str | None = None,
) -> Path:
    with rasterio.open(source) as src:
        data = src.read(1)
        transform = src.transform
        srs = src.crs
    if crop:
        data = data[crop:, crop:]
        transform = transform @ Affine.translation(crop, crop)
    if dtype:
        data = data.astype(dtype)
    if fill is not None:
        data = np.full_like(data, fill)
    write_geotiff(path, data, srs if crs else None, transform, 0 if fill == 0 else None)
    return path


BAD_CASES: list[tuple[str, Callable[[Path, Path, str], str], str]] = [
    (
        "missing band file",
        lambda d, s, t: _replace(t, f"{S2_PREFIX}B03.jp2", "B03_missing.jp2"),
        "band B3 file not found: ",
    ),
    (
        "random bytes named .jp2",
        lambda d, s, t: _replace(t, str(s2_band(s, "B03")), str(write_random(d / "x.jp2"))),
        "cannot read band B3 ",
    ),
    (
        "truncated GeoTIFF",
        lambda d, s, t: _replace(
            t, str(s2_band(s, "B03")), str(truncated_tif(d / "t.tif", s2_band(s, "B03")))
        ),
        "file is corrupt or truncated",
    ),
    (
        "bands of different extents",
        lambda d, s, t: _replace(
            t, str(s2_band(s, "B03")), str(band_variant(d / "c.tif", s2_band(s, "B03"), crop=50))
        ),
        "band files have different extents: B2 (",
    ),
    (
        "different resolutions without resampling",
        lambda d, s, t: _replace(t, 'resampling = "bilinear"\n', ""),
        "band files have different resolutions (B2 10, B3 10, B4 10, B8 10, B11 20, B1 60); "
        'set [bands] resampling = "bilinear"',
    ),
    (
        "band without CRS",
        lambda d, s, t: _replace(
            t, str(s2_band(s, "B03")), str(band_variant(d / "n.tif", s2_band(s, "B03"), crs=False))
        ),
        "has no CRS; Sentinel-2 bands must be georeferenced",
    ),
    (
        "all-nodata band",
        lambda d, s, t: _replace(
            t, str(s2_band(s, "B03")), str(band_variant(d / "z.tif", s2_band(s, "B03"), fill=0))
        ),
        "has no valid pixel (all nodata)",
    ),
    (
        "infinite values",
        lambda d, s, t: _replace(
            _replace(
                t,
                str(s2_band(s, "B03")),
                str(band_variant(d / "i.tif", s2_band(s, "B03"), fill=np.inf, dtype="float32")),
            ),
            "[bands]\n",
            '[bands]\nscale = "dn"\n',
        ),
        "contains infinite values",
    ),
    (
        "mixed DN and reflectance",
        lambda d, s, t: _replace(
            t,
            str(s2_band(s, "B03")),
            str(band_variant(d / "f.tif", s2_band(s, "B03"), dtype="float32")),
        ),
        "bands mix digital numbers and reflectance",
    ),
    (
        "DEM not covering the image",
        lambda d, s, t: _replace(t, 'path = "dem.tif"', f'path = "{_small_dem(d)}"'),
        "does not cover the image: DEM bounds",
    ),
    (
        "DEM missing",
        lambda d, s, t: _replace(t, 'path = "dem.tif"', 'path = "nodem.tif"'),
        "DEM file not found: ",
    ),
    (
        "empty inventory",
        lambda d, s, t: _replace(t, 'path = "slides.gpkg"', f'path = "{_inv(d, [])}"'),
        "has no landslide polygon inside the area (the layer is empty)",
    ),
    (
        "inventory elsewhere",
        lambda d, s, t: _replace(
            t, 'path = "slides.gpkg"', f'path = "{_inv(d, [shapely.box(0, 0, 100, 100)])}"'
        ),
        "(1 polygons lie elsewhere; check the CRS)",
    ),
    (
        "inventory not a vector file",
        lambda d, s, t: _replace(
            t, 'path = "slides.gpkg"', f'path = "{write_random(d / "r.gpkg")}"'
        ),
        "not a vector format GDAL/OGR can open",
    ),
    (
        "AOI outside the image",
        lambda d, s, t: t + f'[aoi]\npath = "{_inv(d, [shapely.box(0, 0, 100, 100)], "aoi")}"\n',
        "does not overlap the image",
    ),
    ("malformed TOML", lambda d, s, t: t + "[split\n", "invalid TOML"),
    (
        "unknown key",
        lambda d, s, t: t + "[split]\nfractoin = 0.5\n",
        "[split] fractoin: unknown key",
    ),
]


def _small_dem(folder: Path) -> Path:
    path = folder / "small_dem.tif"
    write_geotiff(
        path, np.zeros((10, 10), np.float32), WGS84, Affine(1e-3, 0, 12.5, 0, -1e-3, 52.5), None
    )
    return path


def _inv(folder: Path, polys: list, name: str = "inv") -> Path:
    path = folder / f"{name}.gpkg"
    write_polygons(path, polys, UTM33)
    return path


@pytest.mark.parametrize(("case", "edit", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_inputs(
    case: str,
    edit: Callable[[Path, Path, str], str],
    message: str,
    s2_area: Path,
    tmp_path: Path,
    shared_data: Path,
    run_cli: Callable,
) -> None:
    s2_area.write_text(edit(tmp_path, shared_data, s2_area.read_text()))
    before = checksums(tmp_path)
    out = tmp_path / "out"
    result = run_cli("prepare", s2_area, "--out", out)
    assert result.code == 2, (case, result.err)
    assert result.err.startswith("slidemap: error: ") or "\nslidemap: error: " in result.err
    assert message in result.err, result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    assert checksums(tmp_path) == before  # inputs unchanged, no temporary leftovers


@pytest.mark.parametrize("cache_bytes", [256, 256 << 20], ids=["tiny-cache", "large-cache"])
def test_truncated_jp2_is_refused_by_every_reader(
    tmp_path: Path, shared_data: Path, cache_bytes: int
) -> None:
    """A JP2 of many tiles cut in half is refused by prepare's whole reads and predict's
    block reads, as a band and as a DEM, whatever GDAL's block cache: with room for the
    whole band, GDAL decodes its tiles in worker threads and only prints their errors."""
    path = tmp_path / "B03.jp2"
    data = s2_band(shared_data, "B03").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    cfg = BandsConfig(names=("B3",), files=(("B3", path),))
    sources, radiometry, _ = band_sources(cfg)
    grid = target_grid(cfg, sources)
    band = re.escape(f"cannot read band B3 {path}: file is corrupt or truncated")
    dem = re.escape(f"cannot read DEM {path}: file is corrupt or truncated")
    whole = rasterio.windows.Window(0, 0, grid.width, grid.height)
    with rasterio.Env(GDAL_CACHEMAX=cache_bytes):
        with pytest.raises(SlidemapError, match=band):
            read_bands(cfg, sources, radiometry, grid)
        with pytest.raises(SlidemapError, match=band):
            read_bands_window(cfg, sources, radiometry, grid, whole, scaled=True)
        with pytest.raises(SlidemapError, match=dem):
            slope_on_grid(DemConfig(path), grid, np.ones(grid.shape, bool))
        with pytest.raises(SlidemapError, match=dem):
            DemSlope(DemConfig(path)).read(grid)
