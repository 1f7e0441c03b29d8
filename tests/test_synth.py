"""``slidemap synth``: the synthetic study areas, read back as a user's files are read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from PIL import Image
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject, transform_bounds
from scipy import ndimage

from slidemap.config import load_area_config
from slidemap.errors import SlidemapError
from slidemap.io.sentinel2 import read_metadata
from slidemap.io.vectors import areas_m2, read_polygons
from slidemap.synth import AREAS, synthesize
from slidemap.synth.areas import SPECS
from slidemap.terrain import slope_deg

SCALE = 0.5  # 256 × 256 px per area
BANDS = ("B2", "B3", "B4", "B8")


@dataclass(frozen=True)
class Area:
    """One synthetic area as read from its files (band grid)."""

    folder: Path
    dn: np.ndarray  # (4, H, W) uint16
    reflectance: np.ndarray  # (4, H, W) float64, NaN = nodata
    valid: np.ndarray  # (H, W) bool
    label: np.ndarray  # (H, W) bool, the inventory rasterised
    polygons: np.ndarray  # (N,) shapely polygons in the band CRS
    slope: np.ndarray  # (H, W) slope (degrees) from dem.tif, bilinear onto the band grid
    crs: CRS

    @property
    def ndvi(self) -> np.ndarray:
        red, nir = self.reflectance[2], self.reflectance[3]
        return (nir - red) / (nir + red)


def read_area(folder: Path) -> Area:
    bands = []
    for band in BANDS:
        with rasterio.open(folder / f"{band}.tif") as src:
            bands.append(src.read(1))
            crs, transform, shape = src.crs, src.transform, src.shape
    dn = np.stack(bands)
    valid = (dn > 0).all(axis=0)
    reflectance = (dn.astype(np.float64) - 1000.0) / 10000.0
    reflectance[:, ~valid] = np.nan
    polygons = read_polygons(folder / "landslides.gpkg", crs, "landslides").geometries
    label = rasterize(((p, 1) for p in polygons), out_shape=shape, transform=transform)
    with rasterio.open(folder / "dem.tif") as src:
        dem = src.read(1).astype(np.float64)
        dem[dem == src.nodata] = np.nan
        dem_slope = slope_deg(dem, src.transform, src.crs)
        slope = np.full(shape, np.nan, np.float32)
        reproject(
            dem_slope,
            slope,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs=crs,
            resampling=Resampling.bilinear,
        )
    return Area(folder, dn, reflectance, valid, label.astype(bool), polygons, slope, crs)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The three areas at scale 0.5, seed 0: their area files."""
    return synthesize(tmp_path_factory.mktemp("synth") / "areas", seed=0, scale=SCALE)


@pytest.fixture(scope="module")
def areas(written: list[Path]) -> dict[str, Area]:
    return {toml.parent.name: read_area(toml.parent) for toml in written}


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int((predicted & truth).sum())
    wrong = int((predicted ^ truth).sum())
    return 2 * tp / max(2 * tp + wrong, 1)


def best_threshold(area: Area) -> tuple[float, float]:
    """NDVI threshold (landslide if NDVI < t) with the best F1 on ``area``, and that F1."""
    scores = [(f1_at(area, t), t) for t in np.linspace(-0.2, 0.9, 111)]
    score, threshold = max(scores)
    return float(threshold), score


def f1_at(area: Area, threshold: float) -> float:
    return f1(area.ndvi[area.valid] < threshold, area.label[area.valid])


# --- the files ------------------------------------------------------------------------------


def test_writes_one_folder_per_area_with_the_user_files(written: list[Path]) -> None:
    assert [p.parent.name for p in written] == list(AREAS)
    for toml in written:
        names = sorted(p.name for p in toml.parent.iterdir())
        expected = [*(f"{b}.tif" for b in BANDS), "MTD_MSIL2A.xml", "area.toml", "dem.tif"]
        assert names == sorted([*expected, "landslides.gpkg"])
    readme = (written[0].parent.parent / "README.txt").read_text()
    assert "SYNTHETIC" in readme and "slidemap prepare" in readme


@pytest.mark.parametrize("name", AREAS)
def test_bands_are_l2a_digital_numbers_on_a_10m_utm_grid(written: list[Path], name: str) -> None:
    spec = SPECS[name]
    grids = set()
    for band in BANDS:
        with rasterio.open(written[0].parent.parent / name / f"{band}.tif") as src:
            assert src.count == 1 and src.dtypes[0] == "uint16" and src.nodata == 0
            assert src.crs == CRS.from_epsg(spec.epsg) and src.res == (10.0, 10.0)
            assert src.shape == (256, 256)
            assert src.tags()["SYNTHETIC"] == "yes" and src.descriptions == (band,)
            grids.add((src.transform, src.shape))
            data = src.read(1)
        nodata_share = (data == 0).mean()
        assert 0.005 < nodata_share < 0.06  # the swath-edge wedge
        assert data[data > 0].min() >= 1  # valid DNs never collide with nodata
    assert len(grids) == 1
    # near the real place: the grid centre is within 5 km of the profile's centre
    with rasterio.open(written[0].parent.parent / name / "B2.tif") as src:
        lon0, lat0, lon1, lat1 = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    lon, lat = spec.centre_lonlat
    assert abs((lon0 + lon1) / 2 - lon) < 0.05 and abs((lat0 + lat1) / 2 - lat) < 0.05


@pytest.mark.parametrize("name", AREAS)
def test_metadata_says_baseline_4_with_offset_minus_1000(written: list[Path], name: str) -> None:
    radiometry = read_metadata(written[0].parent.parent / name / "MTD_MSIL2A.xml")
    assert radiometry.baseline == "04.00"
    assert radiometry.quantification == 10000.0
    assert all(radiometry.offset(b) == -1000.0 for b in BANDS)
    assert len(radiometry.offsets) == 13


@pytest.mark.parametrize("name", AREAS)
def test_dem_is_in_another_crs_or_resolution_and_covers_the_bands(
    written: list[Path], name: str
) -> None:
    folder = written[0].parent.parent / name
    with rasterio.open(folder / "B2.tif") as band:
        band_crs, band_bounds = band.crs, band.bounds
    with rasterio.open(folder / "dem.tif") as dem:
        assert dem.crs == CRS.from_user_input(SPECS[name].dem_crs)
        assert dem.crs != band_crs or dem.res != (10.0, 10.0)
        approx_m = dem.res[0] * (111_000 if dem.crs.is_geographic else 1)
        assert 25 < approx_m < 35  # ~30 m, like ALOS AW3D30
        elevation = dem.read(1)
        assert (elevation != dem.nodata).all()
        left, bottom, right, top = transform_bounds(band_crs, dem.crs, *band_bounds)
        assert dem.bounds.left < left and dem.bounds.right > right
        assert dem.bounds.bottom < bottom and dem.bounds.top > top


def test_elevations_follow_the_profiles(written: list[Path]) -> None:
    ranges = {}
    for toml in written:
        with rasterio.open(toml.parent / "dem.tif") as dem:
            elevation = dem.read(1)
        ranges[toml.parent.name] = (float(elevation.min()), float(elevation.max()))
    assert ranges["china-like"][0] > 1800  # a high valley
    assert ranges["japan-like"][1] < 800  # low hills
    assert ranges["taiwan-like"][1] - ranges["taiwan-like"][0] > 300


@pytest.mark.parametrize("name", AREAS)
def test_inventory_layer_and_crs(written: list[Path], name: str) -> None:
    path = written[0].parent.parent / name / "landslides.gpkg"
    info = pyogrio.read_info(path, layer="landslides")
    assert CRS.from_user_input(info["crs"]) == CRS.from_epsg(SPECS[name].inventory_epsg)
    assert list(info["fields"]) == ["id", "area_m2"]
    assert info["features"] > 0


@pytest.mark.parametrize("name", AREAS)
def test_area_file_is_valid_and_marked_synthetic(written: list[Path], name: str) -> None:
    toml = written[0].parent.parent / name / "area.toml"
    assert toml.read_text().startswith("# SYNTHETIC study area")
    cfg = load_area_config(toml)
    assert cfg.name == name and cfg.synthetic
    assert cfg.bands.names == BANDS
    assert cfg.bands.metadata == toml.parent / "MTD_MSIL2A.xml"
    assert cfg.dem is not None and cfg.dem.path == toml.parent / "dem.tif"
    assert cfg.inventory is not None and cfg.inventory.layer == "landslides"
    assert cfg.split.fraction == 0.6 and cfg.split.direction == SPECS[name].split_direction


# --- the content ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", AREAS)
def test_inventory_follows_the_papers_statistics(areas: dict[str, Area], name: str) -> None:
    area, spec = areas[name], SPECS[name]
    sizes = areas_m2(area.polygons, area.crs)
    assert abs(sizes.mean() - spec.mean_m2) <= 0.25 * spec.mean_m2
    assert sizes.min() >= 4 * 100 - 1e-6  # at least 4 pixels
    assert sizes.max() <= 12 * spec.mean_m2 + 1e-6
    assert sizes.std() > 0.4 * sizes.mean()  # lognormal spread, not one size
    share = area.label[area.valid].mean()
    assert 0.02 < share < 0.1  # a few per cent of the area
    assert len(sizes) == round(spec.fraction * 256 * 256 * 100 / spec.mean_m2)


def test_japan_has_many_small_taiwan_few_large_landslides(areas: dict[str, Area]) -> None:
    counts = {n: len(a.polygons) for n, a in areas.items()}
    means = {n: areas_m2(a.polygons, a.crs).mean() for n, a in areas.items()}
    assert counts["japan-like"] > counts["china-like"] > counts["taiwan-like"]
    assert means["taiwan-like"] > means["china-like"] > means["japan-like"]


@pytest.mark.parametrize("name", AREAS)
def test_landslides_lie_on_steeper_slopes_than_the_area(areas: dict[str, Area], name: str) -> None:
    area = areas[name]
    inside = area.label & area.valid
    assert np.nanmedian(area.slope[inside]) > np.nanmedian(area.slope[area.valid]) + 4.0
    assert np.nanpercentile(area.slope[inside], 25) > np.nanmedian(area.slope[area.valid])


def test_china_steepest_japan_gentlest(areas: dict[str, Area]) -> None:
    median = {n: float(np.nanmedian(a.slope[a.valid])) for n, a in areas.items()}
    assert median["china-like"] > median["taiwan-like"] > median["japan-like"] + 8.0


@pytest.mark.parametrize("name", AREAS)
def test_landslides_are_elongated_downslope(areas: dict[str, Area], name: str) -> None:
    """The long axis of each elongated landslide is close to its mean downslope direction."""
    area = areas[name]
    with rasterio.open(area.folder / "B2.tif") as src:
        transform = src.transform
    with rasterio.open(area.folder / "dem.tif") as src:
        dem = np.zeros(area.label.shape, np.float32)
        reproject(
            src.read(1),
            dem,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs=area.crs,
            resampling=Resampling.bilinear,
        )
    d_row, d_col = np.gradient(ndimage.gaussian_filter(dem.astype(np.float64), 2.0))
    alignment = []
    for poly in area.polygons:
        inside = rasterize([(poly, 1)], out_shape=dem.shape, transform=transform).astype(bool)
        rows, cols = np.nonzero(inside)
        if rows.size < 20:
            continue
        coords = np.column_stack([cols, rows]).astype(np.float64)
        eigenvalues, vectors = np.linalg.eigh(np.cov(coords.T))
        if eigenvalues[1] < 2.0 * eigenvalues[0]:
            continue  # not clearly elongated
        downhill = -np.array([d_col[inside].mean(), d_row[inside].mean()])
        alignment.append(abs(vectors[:, 1] @ downhill) / np.hypot(*downhill))
    assert len(alignment) >= 5
    assert np.median(alignment) > 0.85  # within ~30°


@pytest.mark.parametrize("name", AREAS)
def test_landslide_scars_are_bare_and_bright(areas: dict[str, Area], name: str) -> None:
    area = areas[name]
    slide = area.label & area.valid
    other = ~area.label & area.valid
    assert np.median(area.ndvi[slide]) < np.median(area.ndvi[other]) - 0.3
    assert np.median(area.reflectance[2][slide]) > 2 * np.median(area.reflectance[2][other])
    nir = area.reflectance[3][other]
    assert 0.2 < np.median(nir) < 0.45  # vegetated surroundings


@pytest.mark.parametrize("name", AREAS)
def test_landslide_lookalikes_exist_outside_the_inventory(
    areas: dict[str, Area], name: str
) -> None:
    """Gravel bars, bare fields, roads, villages: scar-like spectra, label 0, gentle ground."""
    area = areas[name]
    slide = area.label & area.valid
    near_slide = ndimage.binary_dilation(area.label, iterations=2)
    scar_like = (
        (area.ndvi < np.percentile(area.ndvi[slide], 75))
        & (area.reflectance[2] > np.percentile(area.reflectance[2][slide], 25))
        & (area.reflectance[0] < 0.25)  # not cloud
        & area.valid
    )
    lookalikes = scar_like & ~near_slide
    assert lookalikes.sum() > 0.2 * slide.sum()
    assert np.nanmedian(area.slope[lookalikes]) < np.nanmedian(area.slope[slide]) - 10.0


@pytest.mark.parametrize("name", AREAS)
def test_each_area_has_a_cloud(areas: dict[str, Area], name: str) -> None:
    area = areas[name]
    bright = (area.reflectance[:3] > 0.3).all(axis=0)
    assert 0.003 < bright[area.valid].mean() < 0.06


def test_a_threshold_tuned_on_one_area_loses_f1_on_another(areas: dict[str, Area]) -> None:
    """Transfer is harder than in-area: each area's best NDVI threshold is worse elsewhere."""
    best = {name: best_threshold(area) for name, area in areas.items()}
    losses = {
        (source, target): best[target][1] - f1_at(areas[target], best[source][0])
        for source in areas
        for target in areas
        if source != target
    }
    for source in areas:
        assert max(v for (s, _), v in losses.items() if s == source) > 0.03
    assert np.mean(list(losses.values())) > 0.1
    assert losses[("china-like", "japan-like")] > 0.2


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_writes_the_same_area(tmp_path: Path, areas: dict[str, Area]) -> None:
    synthesize(tmp_path / "again", seed=0, scale=SCALE, areas=("japan-like",))
    again = read_area(tmp_path / "again" / "japan-like")
    first = areas["japan-like"]
    assert again.dn.dtype == first.dn.dtype and again.dn.tobytes() == first.dn.tobytes()
    pairs = zip(again.polygons, first.polygons, strict=True)
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in pairs)
    with rasterio.open(first.folder / "dem.tif") as a, rasterio.open(again.folder / "dem.tif") as b:
        assert a.read().tobytes() == b.read().tobytes() and a.transform == b.transform


def test_other_seed_writes_another_area(tmp_path: Path, areas: dict[str, Area]) -> None:
    synthesize(tmp_path / "other", seed=1, scale=SCALE, areas=("japan-like",))
    other = read_area(tmp_path / "other" / "japan-like")
    first = areas["japan-like"]
    assert other.dn.shape == first.dn.shape
    assert (other.dn != first.dn).mean() > 0.5
    assert not np.array_equal(other.label, first.label)


def test_areas_do_not_depend_on_which_others_are_written(
    tmp_path: Path, areas: dict[str, Area]
) -> None:
    synthesize(tmp_path / "one", seed=0, scale=SCALE, areas=("china-like",))
    alone = read_area(tmp_path / "one" / "china-like")
    assert alone.dn.tobytes() == areas["china-like"].dn.tobytes()


# --- the command line -----------------------------------------------------------------------


def test_cli_prints_the_area_files_and_writes_quicklooks(tmp_path: Path, run_cli: Callable) -> None:
    out = tmp_path / "s"
    result = run_cli(
        "synth", "--out", out, "--seed", 3, "--scale", 0.25, "--area", "taiwan-like", "--quicklook"
    )
    assert result.code == 0, result.err
    assert result.out == f"{out / 'taiwan-like' / 'area.toml'}\n"
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "taiwan-like"]
    with rasterio.open(out / "taiwan-like" / "B4.tif") as src:
        assert src.shape == (128, 128)
    quicklook = out / "taiwan-like" / "quicklook.png"
    assert quicklook.stat().st_size < 200_000
    with Image.open(quicklook) as image:
        assert image.format == "PNG" and image.width == 400  # 4 in at 100 dpi


def test_cli_refuses_an_existing_output_unless_overwrite(tmp_path: Path, run_cli: Callable) -> None:
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("synth", "--out", out, "--scale", 0.25, "--area", "china-like")
    assert result.code == 2
    assert result.err == f"slidemap: error: {out} already exists; pass --overwrite to replace it\n"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    args = ("synth", "--out", out, "--scale", 0.25, "--overwrite")
    result = run_cli(*args, "--area", "china-like")  # a folder slidemap did not write
    assert result.code == 2 and "it is not a set of synthetic areas (no README.txt)" in result.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert run_cli(*args, "--area", "china-like").code == 0
    result = run_cli(*args, "--area", "japan-like")  # an earlier synth: replaced
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "japan-like"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seed", "-1"), "slidemap: error: --seed must be 0 or more, got -1\n"),
        (
            ("--scale", "0.2"),
            "slidemap: error: --scale 0.2 gives areas of 102 px; use a scale of at least 0.25 "
            "(128 px, 1 = 512 px)\n",
        ),
        (("--scale", "nan"), "slidemap: error: --scale nan gives areas of ? px"),
        (
            ("--scale", "1000", "--area", "japan-like"),
            "slidemap: error: --scale 1000 gives areas of 512000 x 512000 px, which would take "
            "about 104,858 GB of memory to generate; use a scale of at most 8 (4096 px, "
            "1 = 512 px)\n",
        ),
        (("--area", "peru-like"), "Invalid value for '--area': 'peru-like' is not one of"),
    ],
)
def test_cli_rejects_bad_options_and_writes_nothing(
    tmp_path: Path, run_cli: Callable, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("synth", "--out", tmp_path / "s", *args)
    assert result.code == 2
    assert message in result.err
    assert list(tmp_path.iterdir()) == []  # no output, no temporary directory


def test_api_rejects_unknown_and_repeated_areas(tmp_path: Path) -> None:
    with pytest.raises(SlidemapError, match="unknown synthetic area peru-like; choose from"):
        synthesize(tmp_path / "s", areas=("peru-like",))
    with pytest.raises(SlidemapError, match="an area is listed twice"):
        synthesize(tmp_path / "s", areas=("japan-like", "japan-like"))
    with pytest.raises(SlidemapError, match="no area to write"):
        synthesize(tmp_path / "s", areas=())
    with pytest.raises(SlidemapError, match="--scale inf"):
        synthesize(tmp_path / "s", scale=float("inf"))
    assert list(tmp_path.iterdir()) == []


# --- through prepare ------------------------------------------------------------------------


@pytest.mark.parametrize("name", AREAS)
def test_prepare_reads_the_area_file_unchanged(
    tmp_path: Path, written: list[Path], run_cli: Callable, name: str
) -> None:
    toml = written[0].parent.parent / name / "area.toml"
    result = run_cli("prepare", toml, "--out", tmp_path / name)
    assert result.code == 0, result.err
    meta = json.loads((tmp_path / name / "area.json").read_text())
    assert meta["synthetic"] is True
    assert meta["band_names"] == [*BANDS, "slope"]
    assert CRS.from_wkt(meta["crs_wkt"]) == CRS.from_epsg(SPECS[name].epsg)
    spec = SPECS[name]
    assert abs(meta["inventory"]["mean_m2"] - spec.mean_m2) <= 0.25 * spec.mean_m2
    assert meta["inventory"]["repaired"] == 0 and meta["inventory"]["dropped_empty"] == 0
    with rasterio.open(tmp_path / name / "image.tif") as src:
        assert src.count == 5
        image = src.read()
    # DN → reflectance through the product metadata: vegetation NIR, not DN/10000
    assert 0.15 < np.nanmedian(image[3]) < 0.5
    assert 0 < np.nanmedian(image[4]) < 60
    with rasterio.open(tmp_path / name / "label.tif") as src:
        label = src.read(1)
    assert 0.02 < (label == 1).mean() < 0.1
