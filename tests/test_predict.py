"""Whole-scene prediction: prepare-identical block reads, seamless blocks, outputs, CLI, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyogrio
import pytest
import rasterio
import shapely
import torch
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.windows import Window as RioWindow
from torch import nn

from bad_inputs import inputs
from conftest import make_tiny_area
from slidemap.backends import TorchBackend
from slidemap.blocks import BlockPlan, plan_blocks
from slidemap.checkpoint import ModelInfo
from slidemap.data import Normalization
from slidemap.errors import SlidemapError
from slidemap.infer import layout, predict_probabilities
from slidemap.io.grid import Grid
from slidemap.io.rasters import write_geotiff
from slidemap.io.vectors import write_polygons
from slidemap.models import build_model
from slidemap.outputs import Quicklook
from slidemap.predict import (
    BlockPredictor,
    PredictOptions,
    core_image,
    for_each_block,
    predict_block,
    predict_scene,
)
from slidemap.prepare import prepare_area
from slidemap.scene import Scene, SceneBlock, inputs_from_area, inputs_from_files
from slidemap.tiling import Window
from slidemap.train import TrainConfig, train

UTM54 = CRS.from_epsg(32654)
RGB = ("B2", "B3", "B4")
PIXEL_M = 10.0
ORIGIN = (500000.0, 4000000.0)


# ---------------------------------------------------------------- helpers and fixtures


def write_scene(
    folder: Path,
    height: int = 300,
    width: int = 420,
    seed: int = 0,
    crs: CRS = UTM54,
    nodata_corner: int = 20,
    shifts: dict[str, tuple[float, float]] | None = None,
) -> list[Path]:
    """B2, B3, B4 as uint16 DN GeoTIFFs (nodata 0, a nodata corner), smooth with bright blobs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    blobs = np.zeros((height, width))
    for _ in range(max(3, height * width // 6000)):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(4, 14)
        near = np.s_[
            max(0, int(cy - 4 * r)) : int(cy + 4 * r), max(0, int(cx - 4 * r)) : int(cx + 4 * r)
        ]
        blobs[near] += np.exp(-((yy[near] - cy) ** 2 + (xx[near] - cx) ** 2) / (2 * r**2))
    paths = []
    for k, band in enumerate(RGB):
        dn = 600 + 150 * np.sin(xx / (37 + 5 * k)) * np.cos(yy / 53) + 1800 * blobs
        dn += rng.normal(0, 20, dn.shape)
        data = np.clip(dn, 1, 10000).astype(np.uint16)
        data[:nodata_corner, :nodata_corner] = 0
        dx, dy = (shifts or {}).get(band, (0.0, 0.0))
        transform = Affine(PIXEL_M, 0, ORIGIN[0] + dx, 0, -PIXEL_M, ORIGIN[1] + dy)
        path = folder / f"scene_{band}.tif"
        write_geotiff(path, data, crs, transform, 0)
        paths.append(path)
    return paths


def write_dem(
    path: Path, height: int = 300, width: int = 420, offset_m: float = 0.0, crs: CRS = UTM54
) -> Path:
    """A 30 m DEM (float32 m) over the scene plus a 300 m margin, shifted by ``offset_m``."""
    res, margin = 30.0, 300.0
    rows = int((height * PIXEL_M + 2 * margin) / res)
    cols = int((width * PIXEL_M + 2 * margin) / res)
    yy, xx = np.mgrid[0:rows, 0:cols]
    dem = (300 + 80 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + 2.0 * xx).astype(np.float32)
    left, top = ORIGIN[0] - margin + offset_m, ORIGIN[1] + margin
    write_geotiff(path, dem, crs, Affine(res, 0, left, 0, -res, top), None)
    return path


def pointwise_info(bands: tuple[str, ...] = RGB, threshold: float = 0.5) -> ModelInfo:
    mean = tuple(0.08 for _ in bands)
    std = tuple(0.05 for _ in bands)
    return ModelInfo("unet", {"name": "unet"}, bands, mean, std, 64, threshold)


def bright_backend(channels: int = 3) -> TorchBackend:
    """A 1 × 1 convolution whose logit is high where the visible bands are bright (blobs)."""
    conv = nn.Conv2d(channels, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(2.0)
        conv.bias.fill_(-6.0)
    return TorchBackend(conv)


def unet_backend(channels: int = 3) -> TorchBackend:
    torch.manual_seed(0)
    return TorchBackend(build_model("unet", channels), threads=1)


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """Backends built with ``threads`` set torch's process-wide thread count; put it back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def read(path: Path) -> tuple[np.ndarray, Any]:
    with rasterio.open(path) as src:
        return src.read(1), src.profile


def no_leftovers(parent: Path, name: str) -> bool:
    """Neither the output directory nor a temporary ``.<name>.*`` sibling exists."""
    return not (parent / name).exists() and not list(parent.glob(f".{name}.*"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained for a few epochs on a B2, B3, B4 + slope area."""
    root = tmp_path_factory.mktemp("run")
    area = make_tiny_area(root, "rgbslope", size=128, seed=3, bands=(*RGB, "slope"))
    before = torch.get_num_threads()
    cfg = TrainConfig(areas=(area,), out=root / "run", patch=32, epochs=1, seed=0, threads=2)
    train(cfg)
    torch.set_num_threads(before)
    return root / "run"


# ---------------------------------------------------------------- block reads = prepare


def test_block_reads_equal_prepare_on_iburi(tmp_path: Path, shared_data: Path) -> None:
    """Real uint16 RGB + a DSM on another (30 m) grid, both EPSG:4326: identical values."""
    iburi = shared_data / "iburi2018"
    files = ", ".join(f'{b} = "{iburi}/post-event/download.{b}.tif"' for b in RGB)
    area_file = tmp_path / "iburi.toml"
    area_file.write_text(
        f'name = "iburi"\n[bands]\nnames = ["B2", "B3", "B4"]\nfiles = {{ {files} }}\n'
        f'[dem]\npath = "{iburi}/dem/download.DSM.tif"\n'
    )
    prepared = prepare_area(area_file, tmp_path / "prepared")
    with rasterio.open(prepared / "image.tif") as src:
        reference = src.read()
    scene = Scene(inputs_from_area(area_file))
    assert scene.band_names == (*RGB, "slope")
    height = scene.grid.height
    for box in (Window(0, 0, 256, 300), Window(333, 517, 301, 402), Window(900, 1400, 70, 133)):
        block = scene.read(box).image
        block[:, ~np.isfinite(block).all(axis=0)] = np.nan
        expected = reference[(slice(None), *box.slices)]
        np.testing.assert_array_equal(block[:3], expected[:3])  # bands: the same reads
        np.testing.assert_allclose(block[3], expected[3], atol=1e-4, rtol=0)  # slope (deg)
    padded = scene.read(Window(height - 10, -4, 16, 32))  # past the edges: mirrored
    np.testing.assert_array_equal(padded.image[:, 10:], padded.image[:, 9:3:-1])
    np.testing.assert_array_equal(padded.image[:, :, :4], padded.image[:, :, 7:3:-1])


def test_block_reads_equal_prepare_for_mixed_resolutions(tmp_path: Path, shared_data: Path) -> None:
    """Real S2 JP2 at 10, 20 and 60 m resampled bilinearly: block reads equal prepare's."""
    s2 = shared_data / "s2_l1c_t33uuu"
    names = {"B2": "B02", "B5": "B05", "B1": "B01"}
    files = ", ".join(f'{b} = "{s2}/T33UUU_20170216T102101_{f}.jp2"' for b, f in names.items())
    area_file = tmp_path / "s2.toml"
    area_file.write_text(
        'name = "s2"\n[bands]\nnames = ["B2", "B5", "B1"]\n'
        f'files = {{ {files} }}\nresampling = "bilinear"\n'
    )
    prepared = prepare_area(area_file, tmp_path / "prepared")
    with rasterio.open(prepared / "image.tif") as src:
        reference = src.read()
    scene = Scene(inputs_from_area(area_file))
    for box in (Window(0, 0, 200, 256), Window(300, 701, 211, 333), Window(700, 1500, 68, 36)):
        np.testing.assert_allclose(
            scene.read(box).image, reference[(slice(None), *box.slices)], atol=1e-6, rtol=0
        )


def test_block_reads_inside_an_aoi_keep_the_real_pixels_around(
    tmp_path: Path, shared_data: Path
) -> None:
    """An AOI in another CRS (UTM 54N) over EPSG:4326 bands: the output grid is prepare's
    crop; a block holds the pixels prepare writes without the AOI (the model sees the real
    surroundings) and ``inside`` marks exactly the pixels prepare keeps with it."""
    iburi = shared_data / "iburi2018"
    files = ", ".join(f'{b} = "{iburi}/post-event/download.{b}.tif"' for b in RGB)
    bands = f'[bands]\nnames = ["B2", "B3", "B4"]\nfiles = {{ {files} }}\n'
    plain = tmp_path / "plain.toml"
    plain.write_text(f'name = "iburi"\n{bands}[dem]\npath = "{iburi}/dem/download.DSM.tif"\n')
    b = Scene(inputs_from_area(plain)).grid.bounds
    x, y = (
        b.left + np.array([0.2, 0.7, 0.45]) * (b.right - b.left),
        b.bottom + np.array([0.3, 0.25, 0.8]) * (b.top - b.bottom),
    )
    triangle = shapely.Polygon(
        np.stack(Transformer.from_crs(4326, UTM54, always_xy=True).transform(x, y), axis=1)
    )
    write_polygons(tmp_path / "aoi.fgb", [triangle], UTM54)
    area_file = tmp_path / "aoi.toml"
    area_file.write_text(plain.read_text() + f'[aoi]\npath = "{tmp_path / "aoi.fgb"}"\n')
    with rasterio.open(prepare_area(area_file, tmp_path / "clipped") / "image.tif") as src:
        clipped, transform, shape = src.read(), src.transform, src.shape
    with rasterio.open(prepare_area(plain, tmp_path / "whole") / "image.tif") as src:
        row, col = src.index(transform.c, transform.f)  # the crop's corner in the whole area
        whole = src.read(window=RioWindow(col, row, shape[1], shape[0]))
    scene = Scene(inputs_from_area(area_file))
    assert (scene.grid.transform, scene.grid.shape) == (transform, shape)
    assert scene.origin == (row, col) and row > 0 and col > 0
    block = scene.read(Window(0, 0, *shape))
    kept = ~np.isnan(clipped).any(axis=0)
    assert 0.2 < kept.mean() < 0.7  # the triangle's corners are cut off
    assert np.array_equal(kept, block.inside & np.isfinite(block.image).all(axis=0))
    assert np.array_equal(np.isnan(block.image), np.isnan(whole))
    finite = np.isfinite(whole)
    np.testing.assert_array_equal(block.image[:3][finite[:3]], whole[:3][finite[:3]])
    np.testing.assert_allclose(block.image[3][finite[3]], whole[3][finite[3]], atol=1e-4, rtol=0)


# ---------------------------------------------------------------- seamless blocks


def test_blocked_prediction_equals_the_whole_scene_at_once(tmp_path: Path) -> None:
    files = write_scene(tmp_path / "in", height=200, width=260)
    write_dem(tmp_path / "dem.tif", 200, 260)
    bands = (*RGB, "slope")
    info = ModelInfo("unet", {}, bands, (0.08, 0.08, 0.08, 20.0), (0.05, 0.05, 0.05, 10.0), 64, 0.5)
    scene = Scene(inputs_from_files(files, tmp_path / "dem.tif", RGB))
    backend = unet_backend(4)
    outputs = {}
    for block in (512, 64):
        options = PredictOptions(window=64, overlap=16, block=block, prob_dtype="float32")
        predict_scene(backend, info, scene, tmp_path / f"b{block}", options)
        outputs[block] = read(tmp_path / f"b{block}" / "probability.tif")[0]
    # the in-memory path on the whole scene, read once
    image = scene.read(Window(0, 0, 200, 260)).image
    valid = np.isfinite(image).all(axis=0)
    whole = predict_probabilities(
        backend, Normalization(info.mean, info.std).apply(image), 64, 16, valid=valid
    )
    whole[~valid] = np.nan
    assert np.isnan(outputs[512][:20, :20]).all() and np.isfinite(outputs[512][25:]).all()
    for block in (512, 64):
        np.testing.assert_allclose(outputs[block], whole, atol=1e-5, rtol=0, equal_nan=True)


def block_plans(scene: Scene, block: int) -> list[BlockPlan]:
    return plan_blocks(layout(scene.grid.height, scene.grid.width, 64, 16), block)


def test_blocks_are_written_in_order_in_a_thread_at_most_one_behind(tmp_path: Path) -> None:
    scene = Scene(inputs_from_files(write_scene(tmp_path / "in", 200, 260), None, RGB))
    plans = block_plans(scene, 64)
    events: list[tuple[str, int]] = []
    writers: set[str] = set()

    def compute(plan: BlockPlan, block: SceneBlock) -> int:
        assert block.image.shape[1:] == (plan.read.height, plan.read.width)
        events.append(("compute", plans.index(plan)))
        return plans.index(plan)

    def write(plan: BlockPlan, index: int) -> None:
        time.sleep(0.01)  # slower than a compute: the loop must wait for it
        writers.add(threading.current_thread().name)
        events.append(("written", index))

    for_each_block(scene, plans, compute, write)
    assert len(plans) == 20  # 4 block rows of 5
    assert [i for what, i in events if what == "written"] == list(range(len(plans)))
    assert [i for what, i in events if what == "compute"] == list(range(len(plans)))
    for i in range(len(plans) - 2):  # block i + 2 is computed only once block i is written
        assert events.index(("written", i)) < events.index(("compute", i + 2))
    assert len(writers) == 1 and threading.current_thread().name not in writers


def test_a_failed_write_stops_the_blocks(tmp_path: Path) -> None:
    scene = Scene(inputs_from_files(write_scene(tmp_path / "in", 200, 260), None, RGB))
    plans = block_plans(scene, 64)
    computed: list[int] = []

    def write(plan: BlockPlan, index: int) -> None:
        if index == 2:
            raise OSError("No space left on device")

    def compute(plan: BlockPlan, block: SceneBlock) -> int:
        computed.append(plans.index(plan))
        return plans.index(plan)

    with pytest.raises(OSError, match="No space left"):
        for_each_block(scene, plans, compute, write)
    assert computed == [0, 1, 2, 3]  # block 3 was computed while block 2 was being written


def test_a_failed_block_waits_for_the_write_in_flight(tmp_path: Path) -> None:
    scene = Scene(inputs_from_files(write_scene(tmp_path / "in", 200, 260), None, RGB))
    plans = block_plans(scene, 64)
    written: list[int] = []

    def compute(plan: BlockPlan, block: SceneBlock) -> int:
        if plans.index(plan) == 3:
            raise SlidemapError("the DEM misses too much")
        return plans.index(plan)

    def write(plan: BlockPlan, index: int) -> None:
        time.sleep(0.2)
        written.append(index)

    with pytest.raises(SlidemapError, match="DEM misses"):
        for_each_block(scene, plans, compute, write)
    assert written == [0, 1, 2]  # nothing is left writing when the error comes out


def test_a_block_quicklook_shows_the_reflectance_the_prediction_normalises_away(
    tmp_path: Path,
) -> None:
    scene = Scene(inputs_from_files(write_scene(tmp_path / "in", 200, 260), None, RGB))
    info = ModelInfo("unet", {}, RGB, (0.08, 0.08, 0.08), (0.05, 0.05, 0.05), 64, 0.5)
    plan = block_plans(scene, 128)[0]
    predictor = BlockPredictor(
        unet_backend(3), info, scene, layout(200, 260, 64, 16).windows, PredictOptions(window=64)
    )
    quicklook = Quicklook(scene.grid, (2, 1, 0), max_side=26)  # every 10th pixel
    block = scene.read(plan.read)
    prob = predict_block(predictor, quicklook, plan, block)
    reflectance = core_image(plan, scene.read(plan.read))  # read again: the first is normalised
    assert not np.allclose(core_image(plan, block), reflectance)
    rows, cols = prob[::10, ::10].shape
    np.testing.assert_array_equal(quicklook.prob[:rows, :cols], prob[::10, ::10])
    np.testing.assert_array_equal(
        quicklook.backdrop[:rows, :cols], np.moveaxis(reflectance[::-1, ::10, ::10], 0, -1)
    )


def test_a_quicklook_sampled_by_blocks_equals_one_sampled_at_once() -> None:
    grid = Grid(UTM54, Affine(PIXEL_M, 0, ORIGIN[0], 0, -PIXEL_M, ORIGIN[1]), 1030, 770)
    rng = np.random.default_rng(1)
    image = rng.random((4, 770, 1030), dtype=np.float32)
    prob = rng.random((770, 1030), dtype=np.float32)
    whole = Quicklook(grid, (2, 1, 0), max_side=100)  # every 11th pixel
    whole.add_backdrop(Window(0, 0, 770, 1030), image)
    whole.add_probability(Window(0, 0, 770, 1030), prob)
    blocked = Quicklook(grid, (2, 1, 0), max_side=100)
    for row in range(0, 770, 128):
        for col in range(0, 1030, 128):
            core = Window(row, col, min(128, 770 - row), min(128, 1030 - col))
            rows, cols = slice(row, row + core.height), slice(col, col + core.width)
            blocked.add_probability(core, prob[rows, cols])
            blocked.add_backdrop(core, image[:, rows, cols])
    assert whole.step == 11 and not np.isnan(whole.prob).any()
    np.testing.assert_array_equal(blocked.prob, whole.prob)
    np.testing.assert_array_equal(blocked.backdrop, whole.backdrop)
    np.testing.assert_array_equal(whole.backdrop[..., 0], image[2, ::11, ::11])


def slide_scene(folder: Path) -> list[Path]:
    """B4 bright (DN 3000) on shapes that cross the 64 px block edges; B2, B3 constant."""
    height, width = 200, 200
    bright = np.zeros((height, width), bool)
    bright[50:80, 50:80] = True  # square across the seams at 64
    bright[100:160, 100:160] = True  # ring with a hole, across the seam at 128
    bright[120:140, 120:140] = False
    bright[10:20, 118:128] = True  # two squares meeting at one corner (127/128, 19/20):
    bright[20:30, 128:138] = True  # two polygons, not one
    bright[170:199, 5:195] = True  # a long strip over three blocks
    paths = []
    for band in RGB:
        data = np.full((height, width), 500, np.uint16)
        if band == "B4":
            data[bright] = 3000
        path = folder / f"slides_{band}.tif"
        folder.mkdir(parents=True, exist_ok=True)
        write_geotiff(path, data, UTM54, Affine(PIXEL_M, 0, ORIGIN[0], 0, -PIXEL_M, ORIGIN[1]), 0)
        paths.append(path)
    return paths


def test_polygons_are_not_cut_at_block_edges(tmp_path: Path) -> None:
    scene = Scene(inputs_from_files(slide_scene(tmp_path / "in"), None, RGB))
    conv = nn.Conv2d(3, 1, 1)
    with torch.no_grad():  # logit = 20 × (normalised B4 - 1): > 0 only on the bright shapes
        conv.weight.copy_(torch.tensor([0.0, 0.0, 20.0]).view(1, 3, 1, 1))
        conv.bias.fill_(-20.0)
    info = ModelInfo("unet", {}, RGB, (0.05, 0.05, 0.05), (0.1, 0.1, 0.1), 64, 0.5)
    options = PredictOptions(window=64, overlap=16, block=64)
    predict_scene(TorchBackend(conv), info, scene, tmp_path / "out", options)
    mask, profile = read(tmp_path / "out" / "mask.tif")
    meta, _, wkb, fields = pyogrio.raw.read(tmp_path / "out" / "landslides.gpkg")
    geoms = shapely.from_wkb(wkb)
    area = dict(zip(meta["fields"], fields, strict=True))["area_m2"]
    expected = [
        shapely.geometry.shape(g)
        for g, v in shapes(mask, mask=mask == 1, transform=profile["transform"])
        if v == 1
    ]
    assert len(geoms) == len(expected) == 5
    assert sorted(np.round(area, 6)) == sorted(round(g.area, 6) for g in expected)
    for geom in geoms:  # each polygon equals exactly one whole-mask polygon
        assert any(shapely.equals(shapely.normalize(geom), shapely.normalize(e)) for e in expected)


def test_polygonising_the_block_at_the_origin_shows_no_georeferencing_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The block at (0, 0) is polygonised with the identity transform, on purpose; rasterio
    may warn that the array is not georeferenced, which must not reach the user."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    import slidemap.outputs as outputs

    def warning_shapes(labels: np.ndarray, **kwargs: Any) -> Iterator[tuple[dict, float]]:
        warnings.warn("Dataset has no geotransform", NotGeoreferencedWarning, stacklevel=1)
        yield from shapes(labels, **kwargs)

    monkeypatch.setattr(outputs, "shapes", warning_shapes)
    labels = np.zeros((8, 8), np.int32)
    labels[2:5, 3:6] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = outputs._pixel_shapes(labels, labels > 0, Affine.identity())
    assert [v for _, v in found] == [1]
    assert shapely.geometry.shape(found[0][0]).area == 9


# ---------------------------------------------------------------- outputs


def test_outputs_are_georeferenced_cogs_with_nodata_and_polygon_areas(tmp_path: Path) -> None:
    files = write_scene(tmp_path / "in", height=560, width=700, seed=2)
    info = pointwise_info(threshold=0.4)
    summary = predict_scene(
        bright_backend(),
        info,
        Scene(inputs_from_files(files, None, RGB)),
        tmp_path / "out",
        PredictOptions(window=128, overlap=32, block=256),
    )
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "landslides.gpkg",
        "mask.tif",
        "probability.tif",
        "quicklook.png",
    ]
    with rasterio.open(files[0]) as src:
        crs, transform = src.crs, src.transform
    for name, nodata in (("probability.tif", 255), ("mask.tif", 255)):
        with rasterio.open(out / name) as src:
            assert src.crs == crs and src.transform == transform
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.overviews(1), f"{name} has no overviews"
            assert src.dtypes[0] == "uint8" and src.nodata == nodata
            data = src.read(1)
            assert (data[:20, :20] == nodata).all()  # input nodata → nodata
            assert (data[20:, 20:] != nodata).all()
    prob, _ = read(out / "probability.tif")
    mask, _ = read(out / "mask.tif")
    valid = prob != 255
    assert prob[valid].max() <= 254 and set(np.unique(mask[valid])) == {0, 1}
    # mask = probability ≥ threshold (0.4 ≈ 101.6/254; the stored uint8 rounds)
    assert (prob[mask == 1] >= 101).all() and (prob[(mask == 0)] <= 102).all()
    meta, _, wkb, fields = pyogrio.raw.read(out / "landslides.gpkg")
    columns = dict(zip(meta["fields"], fields, strict=True))
    assert CRS.from_user_input(meta["crs"]) == crs
    assert len(wkb) == summary.landslides > 3
    area_m2 = columns["area_m2"]
    mask_m2 = float((mask == 1).sum()) * PIXEL_M * PIXEL_M
    assert area_m2.sum() == pytest.approx(mask_m2, rel=1e-6)
    assert summary.area_km2 == pytest.approx(mask_m2 / 1e6, rel=1e-6)
    np.testing.assert_allclose(shapely.area(shapely.from_wkb(wkb)), area_m2, rtol=1e-9)
    assert (columns["mean_prob"] >= 0.4).all()
    assert (columns["max_prob"] >= columns["mean_prob"] - 1e-12).all()
    assert (columns["max_prob"] <= 1).all()


def test_float_probability_min_area_and_simplify(tmp_path: Path) -> None:
    files = write_scene(tmp_path / "in", height=256, width=256, seed=4)
    scene = Scene(inputs_from_files(files, None, RGB))
    info = pointwise_info(threshold=0.4)
    plain = PredictOptions(window=64, overlap=16, prob_dtype="float32")
    predict_scene(bright_backend(), info, scene, tmp_path / "plain", plain)
    prob, profile = read(tmp_path / "plain" / "probability.tif")
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert np.isnan(prob[:20, :20]).all() and np.isfinite(prob[20:, 20:]).all()
    _, _, wkb_all, fields_all = pyogrio.raw.read(tmp_path / "plain" / "landslides.gpkg")
    area_all = fields_all[0]
    min_area = float(np.median(area_all))
    filtered = PredictOptions(
        window=64, overlap=16, prob_dtype="float32", min_area_m2=min_area, simplify_m=15.0
    )
    predict_scene(bright_backend(), info, scene, tmp_path / "filtered", filtered)
    _, _, wkb, fields = pyogrio.raw.read(tmp_path / "filtered" / "landslides.gpkg")
    area = fields[0]
    large = area_all >= min_area
    assert (area >= min_area).all() and 0 < len(area) == large.sum() < len(area_all)
    np.testing.assert_allclose(np.sort(area), np.sort(area_all[large]))  # unsimplified areas
    simplified = shapely.from_wkb(wkb)
    original = shapely.from_wkb(wkb_all)[large]
    assert (
        shapely.get_num_coordinates(simplified).sum() < shapely.get_num_coordinates(original).sum()
    )


# ---------------------------------------------------------------- command line, real scene


def test_predict_iburi_end_to_end(
    run_dir: Path, tmp_path: Path, shared_data: Path, run_cli: Callable[..., Any]
) -> None:
    iburi = shared_data / "iburi2018"
    bands = [iburi / "post-event" / f"download.{b}.tif" for b in RGB]
    out = tmp_path / "map"
    result = run_cli(
        "predict", run_dir, "--bands", *bands, "--dem", iburi / "dem" / "download.DSM.tif",
        "--out", out, "--block", 512, "--min-area", 200,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1 and "landslides" in result.out and "Mpx/s" in result.out
    with rasterio.open(bands[0]) as src:
        transform, shape = src.transform, src.shape
    for name in ("probability.tif", "mask.tif"):
        with rasterio.open(out / name) as src:
            assert src.crs == CRS.from_epsg(4326)
            assert src.transform.almost_equals(transform) and src.shape == shape
            assert src.overviews(1)
    meta = pyogrio.read_info(out / "landslides.gpkg")
    assert CRS.from_user_input(meta["crs"]) == CRS.from_epsg(4326)
    assert (out / "quicklook.png").stat().st_size > 10_000


def test_predict_from_an_area_file(
    run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    files = write_scene(tmp_path / "in", height=200, width=230)
    dem = write_dem(tmp_path / "dem.tif", 200, 230)
    listed = ", ".join(f'{b} = "{p}"' for b, p in zip(RGB, files, strict=True))
    area_file = tmp_path / "scene.toml"
    area_file.write_text(
        f'name = "scene"\n[bands]\nnames = ["B2", "B3", "B4"]\nfiles = {{ {listed} }}\n'
        f'[dem]\npath = "{dem}"\n[inventory]\npath = "ignored.gpkg"\n'
    )
    out = tmp_path / "map"
    args = ("predict", run_dir, "--area", area_file, "--out", out, "--window", 128)
    result = run_cli(*args, "--prob-dtype", "float32", "--backend", "torch")
    assert result.code == 0, result.err
    assert "torch fp32" in result.out
    assert read(out / "probability.tif")[1]["dtype"] == "float32"
    result = run_cli(*args, "--overwrite", "--backend", "onnx", "--threshold", 0.9)
    assert result.code == 0, result.err
    assert "onnx fp32" in result.out


def test_predict_from_a_safe_product_directory_and_zip(
    run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    """--bands PRODUCT.SAFE (or a zip of it): the model's bands found in IMG_DATA and
    scaled with the metadata's offset (baseline 05.10: DN − 1000) make the map that band
    files holding the same reflectance as plain DN make."""
    plain = write_scene(tmp_path / "plain", height=200, width=230)
    dem = write_dem(tmp_path / "dem.tif", 200, 230)
    safe = tmp_path / "S2B_MSIL1C_20240101T013000_N0510_R031_T54SUE_20240101T030000.SAFE"
    img = safe / "GRANULE" / "L1C_T54SUE_A000001_20240101T013000" / "IMG_DATA"
    img.mkdir(parents=True)
    for band, path in zip(RGB, plain, strict=True):
        with rasterio.open(path) as src:
            dn, transform = src.read(1), src.transform
        shifted = np.where(dn == 0, 0, dn + 1000).astype(np.uint16)  # 0 stays nodata
        # GeoTIFF bytes under the product's .jp2 name: GDAL opens a file by its content
        write_geotiff(img / f"T54SUE_20240101T013000_B0{band[1]}.jp2", shifted, UTM54, transform, 0)
    (safe / "MTD_MSIL1C.xml").write_text(inputs.mtd_xml("1C", "05.10", -1000))
    zipped = tmp_path / f"{safe.stem}.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for member in safe.rglob("*"):
            zf.write(member, member.relative_to(tmp_path))
    probabilities = []
    for name, bands in (("plain", plain), ("safe", [safe]), ("zip", [zipped])):
        out = tmp_path / f"map_{name}"
        args = ("predict", run_dir, "--bands", *bands, "--dem", dem, "--out", out)
        result = run_cli(*args, "--window", 128, "--backend", "torch")
        assert result.code == 0, result.err
        scaling = {  # the log says how DN became reflectance, and why
            "plain": "(DN +0) / 10000 (no product metadata found: offset 0, right before",
            "safe": "(DN -1000) / 10000 (product metadata)",
            "zip": "(DN -1000) / 10000 (product metadata)",
        }
        assert f"DN scaled to reflectance as {scaling[name]}" in result.err, result.err
        probability, profile = read(out / "probability.tif")
        assert profile["crs"] == UTM54 and profile["transform"] == transform
        probabilities.append(probability)
    assert np.array_equal(probabilities[0], probabilities[1])
    assert np.array_equal(probabilities[0], probabilities[2])
    assert (probabilities[0] == 255).any() and (probabilities[0] < 255).any()  # nodata corner


def test_predict_inside_an_aoi(run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    """--aoi (and an area file's [aoi]): outputs on the AOI's crop, nodata outside it, and
    inside it the whole scene's probabilities (the model sees the real pixels around)."""
    files = write_scene(tmp_path / "in", height=200, width=230)
    dem = write_dem(tmp_path / "dem.tif", 200, 230)
    # 140 px across, its crop starting at row 48, col 96 and cut by the scene's east edge
    circle = shapely.Point(ORIGIN[0] + 1660, ORIGIN[1] - 1180).buffer(700)
    write_polygons(tmp_path / "aoi.gpkg", [circle], UTM54)
    common = ("--window", 64, "--overlap", 16, "--batch", 1, "--backend", "torch")
    common += ("--prob-dtype", "float32")
    scene = ("--bands", *files, "--dem", dem)
    result = run_cli("predict", run_dir, *scene, "--out", tmp_path / "whole", *common)
    assert result.code == 0, result.err
    aoi = ("--aoi", tmp_path / "aoi.gpkg")
    result = run_cli("predict", run_dir, *scene, *aoi, "--out", tmp_path / "bands", *common)
    assert result.code == 0, result.err
    prob, profile = read(tmp_path / "bands" / "probability.tif")
    mask, _ = read(tmp_path / "bands" / "mask.tif")
    assert prob.shape == (140, 134)
    assert profile["transform"] == Affine(PIXEL_M, 0, ORIGIN[0] + 960, 0, -PIXEL_M, ORIGIN[1] - 480)
    rows, cols = np.mgrid[0:140, 0:134]
    x, y = profile["transform"] @ (cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(circle, x, y)
    assert np.array_equal(np.isfinite(prob), inside)
    assert np.array_equal(mask != 255, inside)
    _, _, wkb, _ = pyogrio.raw.read(tmp_path / "bands" / "landslides.gpkg")
    assert len(wkb) > 0 and circle.buffer(PIXEL_M).contains(shapely.from_wkb(wkb)).all()
    # The crop starts on the whole scene's window lattice (stride 48), so between its
    # first 8 px (the whole scene blends a window more there) and its last row of windows
    # (crop row 84 on) every pixel is blended from the same windows of the same pixels.
    whole = read(tmp_path / "whole" / "probability.tif")[0][48:188, 96:230]
    same = np.zeros_like(inside)
    same[8:84, 8:] = inside[8:84, 8:]
    assert same.sum() > 3000 and (same & ~shapely.contains_xy(circle.buffer(-200), x, y)).any()
    np.testing.assert_allclose(prob[same], whole[same], atol=1e-6, rtol=0)

    listed = ", ".join(f'{b} = "{p}"' for b, p in zip(RGB, files, strict=True))
    area_file = tmp_path / "scene.toml"
    area_file.write_text(
        f'name = "scene"\n[bands]\nnames = ["B2", "B3", "B4"]\nfiles = {{ {listed} }}\n'
        f'[dem]\npath = "{dem}"\n[aoi]\npath = "{tmp_path / "aoi.gpkg"}"\n'
    )
    result = run_cli("predict", run_dir, "--area", area_file, "--out", tmp_path / "area", *common)
    assert result.code == 0, result.err
    assert np.array_equal(read(tmp_path / "area" / "probability.tif")[0], prob, equal_nan=True)


def test_export_onnx_command(run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    out = tmp_path / "exported.onnx"
    result = run_cli("export", run_dir, "--format", "onnx", "--out", out)
    assert result.code == 0, result.err
    assert result.out.strip() == str(out)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["band_names"]) == [*RGB, "slope"]
    again = run_cli("export", run_dir, "--out", out)
    assert again.code == 2 and "already exists; pass --overwrite" in again.err


# ---------------------------------------------------------------- bad inputs


def _scene_args(tmp_path: Path, files: list[Path], dem: Path | None) -> list[object]:
    return ["--bands", *files, *(["--dem", dem] if dem else [])]


@pytest.mark.parametrize(
    "case",
    [
        "crs",
        "extent",
        "dem_elsewhere",
        "dem_half",
        "dem_infinite",
        "dem_truncated",
        "band_count",
        "stack_band_order",
        "band_names",
        "area_band_names",
        "all_nodata",
        "no_dem",
        "missing_run",
        "corrupt_checkpoint",
        "unknown_backend",
        "bands_and_area",
        "bad_window",
        "block_below_window",
        "zero_batch",
        "threshold_outside",
        "negative_min_area",
        "nan_min_area",
        "infinite_min_area",
        "nan_simplify",
        "prob_dtype",
    ],
)
def test_bad_inputs_exit_2_and_leave_nothing(
    case: str, run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    run: Path = run_dir
    files = write_scene(tmp_path / "in", height=160, width=200)
    dem: Path | None = write_dem(tmp_path / "dem.tif", 160, 200)
    extra: list[object] = []
    if case == "crs":
        files[1] = write_scene(tmp_path / "other", 160, 200, crs=CRS.from_epsg(32653))[1]
        message = "band files are in different CRSs"
    elif case == "extent":
        files[2] = write_scene(tmp_path / "other", 160, 200, shifts={"B4": (500.0, 0.0)})[2]
        message = "band files have different extents"
    elif case == "dem_elsewhere":
        dem = write_dem(tmp_path / "far.tif", 160, 200, offset_m=50_000.0)
        message = "does not cover the image"
    elif case == "dem_half":
        dem = write_dem(tmp_path / "half.tif", 160, 200, offset_m=1300.0)
        message = "does not cover the image"
    elif case == "dem_infinite":
        heights, profile = read(write_dem(tmp_path / "inf.tif", 160, 200))
        heights[40:45, 50:55] = np.inf
        dem = tmp_path / "inf.tif"
        write_geotiff(dem, heights, profile["crs"], profile["transform"], None)
        message = f"DEM {dem} contains infinite values"
    elif case == "dem_truncated":
        assert dem is not None
        dem.write_bytes(dem.read_bytes()[: dem.stat().st_size // 2])
        message = f"cannot read DEM {dem}: file is corrupt or truncated"
    elif case == "stack_band_order":
        stack = tmp_path / "stack.tif"
        bands = [read(f)[0] for f in files]
        with rasterio.open(stack, "w", **(read(files[0])[1] | {"count": 3})) as dst:
            for k, (name, data) in enumerate(zip(("B2", "B4", "B3"), bands, strict=True)):
                dst.write(data, k + 1)
                dst.set_band_description(k + 1, name)
        files = [stack]
        message = f"--bands: {stack} describes its bands as B2,B4,B3 but the model expects B2,B3,B4"
    elif case == "band_count":
        files = files[:2]
        message = "the model expects 3 band(s) B2,B3,B4, one file each in this order"
    elif case == "band_names":
        renamed = tmp_path / "in" / "scene_B08.tif"
        files[2].rename(renamed)
        files[2] = renamed
        message = "the file names say bands B2,B3,B8 but the model expects B2,B3,B4"
    elif case == "area_band_names":
        listed = ", ".join(f'{b} = "{p}"' for b, p in zip(("B2", "B3", "B8"), files, strict=True))
        area_file = tmp_path / "a.toml"
        area_file.write_text(
            f'name = "a"\n[bands]\nnames = ["B2", "B3", "B8"]\nfiles = {{ {listed} }}\n'
            f'[dem]\npath = "{dem}"\n'
        )
        files, dem, extra = [], None, ["--area", area_file]
        message = "has bands B2,B3,B8,slope but the unet model was trained on B2,B3,B4,slope"
    elif case == "all_nodata":
        files = write_scene(tmp_path / "empty", 160, 200, nodata_corner=200)
        message = "no pixel has valid data in every band and the DEM"
    elif case == "no_dem":
        dem = None
        message = "the model uses slope (B2,B3,B4,slope); give the DEM with --dem"
    elif case == "missing_run":
        run = tmp_path / "no-such-run"
        message = "checkpoint not found"
    elif case == "corrupt_checkpoint":
        run = tmp_path / "corrupt"
        run.mkdir()
        (run / "best.pt").write_bytes((run_dir / "best.pt").read_bytes()[:5000])
        message = "is corrupt or not a slidemap checkpoint"
    elif case == "unknown_backend":
        extra = ["--backend", "tensorrt"]
        message = "Invalid value for '--backend'"
    elif case == "bands_and_area":
        extra = ["--area", tmp_path / "whatever.toml"]
        message = "give either --area AREA.toml or --bands FILE"
    elif case == "block_below_window":
        extra = ["--window", 128, "--overlap", 32, "--block", 64]
        message = "--block (64) must be at least --window (128)"
    elif case == "zero_batch":
        extra = ["--batch", 0]
        message = "--batch must be at least 1, got 0"
    elif case == "threshold_outside":
        extra = ["--threshold", 1.5]
        message = "--threshold must be between 0 and 1, got 1.5"
    elif case == "negative_min_area":
        extra = ["--min-area", -10]
        message = "--min-area must be a finite number, 0 or more, got -10.0"
    elif case == "nan_min_area":  # NaN compares false: it used to keep no polygon, exit 0
        extra = ["--min-area", "nan"]
        message = "--min-area must be a finite number, 0 or more, got nan"
    elif case == "infinite_min_area":
        extra = ["--min-area", "inf"]
        message = "--min-area must be a finite number, 0 or more, got inf"
    elif case == "nan_simplify":
        extra = ["--simplify", "nan"]
        message = "--simplify must be a finite number, 0 or more, got nan"
    elif case == "prob_dtype":
        extra = ["--prob-dtype", "float64"]
        message = "Invalid value for '--prob-dtype'"
    else:
        extra = ["--window", 100]
        message = "--window must be a positive multiple of 16"
    out = tmp_path / "map"
    result = run_cli("predict", run, *_scene_args(tmp_path, files, dem), *extra, "--out", out)
    assert result.code == 2, result.err
    assert "slidemap: error:" in result.err and message in result.err, result.err
    assert "Traceback" not in result.err
    assert no_leftovers(tmp_path, "map")


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_prediction_leaves_nothing(
    stop: signal.Signals, run_dir: Path, tmp_path: Path
) -> None:
    """Ctrl-C (exit 130) or SIGTERM (``kill``, a scheduler's time limit: exit 143) while
    the windows run: one line, no traceback, no output and no temporary left."""
    files = write_scene(tmp_path / "in", height=1536, width=1536)
    dem = write_dem(tmp_path / "dem.tif", 1536, 1536)
    out = tmp_path / "map"
    args = ["predict", run_dir, "--bands", *files, "--dem", dem, "--out", out]
    args += ["--backend", "torch", "--threads", "1", "--block", "512"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "slidemap", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "scene … px": the windows run now
    time.sleep(1.0)
    assert proc.poll() is None, first
    proc.send_signal(stop)
    _, rest = proc.communicate(timeout=120)
    err = first + rest
    assert proc.returncode == 128 + stop, err
    last = "slidemap: aborted" if stop == signal.SIGINT else "slidemap: terminated"
    assert err.rstrip().endswith(last) and "Traceback" not in err, err
    assert no_leftovers(tmp_path, "map")


def test_existing_output_is_kept_without_overwrite_and_replaced_only_if_a_map(
    run_dir: Path, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    files = write_scene(tmp_path / "in", height=64, width=64)
    out = tmp_path / "map"
    out.mkdir()
    (out / "keep.txt").write_text("previous result")
    args = ("predict", run_dir, "--bands", *files, "--dem", write_dem(tmp_path / "d.tif", 64, 64))
    result = run_cli(*args, "--out", out)
    assert result.code == 2 and f"{out} already exists; pass --overwrite" in result.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = run_cli(*args, "--out", out, "--overwrite")  # not a prediction: kept
    assert result.code == 2 and "it is not a prediction (no probability.tif)" in result.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "probability.tif").write_text("an earlier map")  # a prediction's marker: replaced
    assert run_cli(*args, "--out", out, "--overwrite").code == 0
    assert not (out / "keep.txt").exists() and (out / "mask.tif").is_file()


# ---------------------------------------------------------------- memory


# The child reads its own peak RSS (VmHWM): ru_maxrss would include the parent's peak, which
# Linux carries over fork and exec.
_MEMORY_CHILD = """
import json, sys
from pathlib import Path
import torch
from torch import nn
from slidemap.backends import TorchBackend
from slidemap.blocks import BlockPlan, plan_blocks
from slidemap.checkpoint import ModelInfo
from slidemap.outputs import Quicklook
from slidemap.predict import (
    BlockPredictor,
    PredictOptions,
    core_image,
    for_each_block,
    predict_block,
    predict_scene,
)
from slidemap.scene import Scene, inputs_from_files

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
files = sorted(folder.glob("scene_B*.tif"))
conv = nn.Conv2d(3, 1, 3, padding=1)  # bright 3 x 3 neighbourhoods: the blobs
with torch.no_grad():
    conv.weight.fill_(2.0 / 9)
    conv.bias.fill_(-6.0)
backend = TorchBackend(conv, threads=1)
info = ModelInfo("unet", {}, ("B2", "B3", "B4"), (0.08,) * 3, (0.05,) * 3, 64, 0.5)
scene = Scene(inputs_from_files(files, None, ("B2", "B3", "B4")))
def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

before = peak_kib()
options = PredictOptions(window=128, overlap=32, block=256, batch=8)
summary = predict_scene(backend, info, scene, out, options)
after = peak_kib()
pixels = summary.width * summary.height
print(json.dumps({"before_kib": before, "after_kib": after, "pixels": pixels}))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_scene_size(tmp_path: Path) -> None:
    growth = {}
    for side in (1024, 4096):
        folder = tmp_path / f"s{side}"
        write_scene(folder, height=side, width=side, seed=5, nodata_corner=0)
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_MEMORY_CHILD), folder, tmp_path / f"o{side}"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["pixels"] == side * side
        growth[side] = (report["after_kib"] - report["before_kib"]) / 1024  # MiB
    # 16× the pixels, not 16× the memory: bounded by the block size
    assert growth[4096] < 1.5 * growth[1024] + 40, growth


def test_the_block_cache_is_capped_at_256_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    """rasterio takes GDAL_CACHEMAX as bytes: the cap is 256 MiB, not 256 bytes."""
    import ctypes

    from slidemap.predict import gdal_env

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    libs = list((Path(rasterio.__file__).parent.parent / "rasterio.libs").glob("libgdal*"))
    lib = ctypes.CDLL(str(libs[0]) if libs else "libgdal.so")
    lib.GDALGetCacheMax64.restype = ctypes.c_int64
    with gdal_env():
        assert lib.GDALGetCacheMax64() == 256 << 20
