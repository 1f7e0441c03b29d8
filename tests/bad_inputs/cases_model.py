"""Cases of the commands around a model: ``train``, ``evaluate``, ``predict`` and ``export``.

The model is a real network in slidemap's checkpoint format (untrained:
the cases are about inputs, not skill), in ``run/best.pt``; prepared areas
come from ``conftest.make_tiny_area``; scenes from :func:`inputs.raw_scene`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely

from bad_inputs import corrupt, inputs
from bad_inputs.cases_raw import FULL, case, line_of
from bad_inputs.harness import Call, Case, Workspace
from slidemap.area import TEST, TRAIN, load_area, write_area
from slidemap.checkpoint import load_checkpoint
from slidemap.cli import main
from slidemap.confusion import NOT_EVALUATED

CASES: list[Case] = []
TOLERATED: list[Case] = []

#: Small, fast prediction settings for the 64 × 64 px scenes.
FAST: tuple[object, ...] = ("--window", 64, "--overlap", 16, "--block", 64, "--backend", "torch")
RGB_SLOPE = ("B2", "B3", "B4", "slope")


def below_a_file(ws: Workspace) -> tuple[Path, str]:
    """An output path that cannot be created (below a regular file) and its error."""
    blocker = ws.blocker()
    return blocker / "out", (
        f"cannot create output directory {blocker}: {blocker} is a file, not a directory"
    )


def rewrite_area(ws: Workspace, name: str, image=None, split=None) -> None:
    """Rewrite prepared area ``name`` with another image and/or split (same metadata)."""
    area = load_area(ws.path(name))
    shutil.rmtree(ws.path(name))
    write_area(
        ws.path(name),
        area.meta,
        area.image if image is None else image,
        area.label,
        area.split if split is None else split,
    )


# ---------------------------------------------------------------- train


def train(
    ws: Workspace, message: str, *extra: object, patch: int = 32, out: str = "run", **kw: Any
) -> Call:
    """``slidemap train --area tiny --patch 32 --epochs 1 --out run`` plus ``extra``."""
    if not ws.path("tiny").exists():
        inputs.prepared_area(ws.root)
    args = ("train", "--area", ws.path("tiny"), "--patch", patch, "--epochs", 1, "--threads", 2)
    return Call((*args, "--out", ws.path(out), *extra), message, **kw)


@case("train-missing-area", table=CASES)
def train_missing_area(ws: Workspace) -> Call:
    ws.path("tiny").mkdir()
    path = ws.path("tiny")
    return train(ws, f"{path} is not a prepared area (no area.json); create one with")


#: The start of the message for a name that is not valid UTF-8, after the option.
NOT_UTF8 = "the name '{}' is not valid UTF-8; rename it, or choose a UTF-8 name (GDAL reads"


@case("train-area-directory-not-named-in-utf8", table=CASES)
def train_area_directory_not_named_in_utf8(ws: Workspace) -> Call:
    """rasterio takes UTF-8 names only: image.tif inside could not be opened."""
    area = inputs.prepared_area(ws.root).rename(ws.path(inputs.LATIN1_E))
    return Call(
        ("train", "--area", area, "--patch", 32, "--epochs", 1, "--out", ws.path("run")),
        "Invalid value for '--area': " + NOT_UTF8.format(f"{ws.root}/\\xe9"),
    )


@case("train-corrupt-area-json", table=CASES)
def train_corrupt_area_json(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    path = ws.path("tiny", "area.json")
    path.write_text('{"name": "tiny", ', encoding="utf-8")
    return train(ws, f"{path} is corrupt (")


def edited_area_json(ws: Workspace, key: str, value: Callable[[Any], Any]) -> Path:
    """The tiny prepared area with ``value(old)`` as its area.json's ``key``; that file."""
    inputs.prepared_area(ws.root)
    path = ws.path("tiny", "area.json")
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta[key] = value(meta[key])
    path.write_text(json.dumps(meta), encoding="utf-8")
    return path


@case("train-area-of-another-schema-version", table=CASES)
def train_area_of_another_schema_version(ws: Workspace) -> Call:
    path = edited_area_json(ws, "schema_version", lambda _: 99)
    return train(ws, f"{path} has schema version 99, this slidemap reads ")


@case("train-image-of-another-size-than-area-json", table=CASES)
def train_image_of_another_size_than_area_json(ws: Workspace) -> Call:
    edited_area_json(ws, "width", lambda width: width + 1)
    image = ws.path("tiny", "image.tif")
    return train(ws, f"{image} does not match area.json; prepare the area again")


@case("train-truncated-image", table=CASES)
def train_truncated_image(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    path = corrupt.truncate(ws.path("tiny", "image.tif"))
    return train(ws, f"cannot read {path}: ")


@case("train-areas-with-different-bands", table=CASES)
def train_areas_with_different_bands(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    other = inputs.prepared_area(ws.root, "rgbn", bands=inputs.IMAGE_BANDS)
    return train(
        ws,
        f"areas {ws.path('tiny')} and {other} have different bands (B2,B3,B4,B8,slope vs "
        "B2,B3,B4,B8); prepare all training areas with the same bands",
        "--area",
        other,
    )


@case("train-window-larger-than-the-area", table=CASES)
def train_window_larger_than_the_area(ws: Workspace) -> Call:
    return train(
        ws,
        f"area {ws.path('tiny')}: no 128 x 128 px training window fits in its train part "
        "(64 x 34 px bounding box); use a smaller --patch (e.g. 32)",
        patch=128,
    )


@case("train-all-nodata-area", table=CASES)
def train_all_nodata_area(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    image = load_area(ws.path("tiny")).image
    rewrite_area(ws, "tiny", image=np.full_like(image, np.nan))
    return train(ws, "band B2 has no valid pixel in the train part of any training area")


@case("train-resume-from-pickled-code", table=CASES)
def train_resume_from_pickled_code(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    ws.path("run").mkdir()
    ws.path("run", "config.json").write_text("{}", encoding="utf-8")
    path = corrupt.code_checkpoint(ws.path("run", "last.pt"), ws.marker)
    return train(
        ws,
        f"{path} is corrupt or not a slidemap checkpoint: it holds pickled objects other than "
        "tensors and plain values (it would load io.open), refused for safety",
        "--resume",
    )


@case("train-resume-from-truncated-checkpoint", table=CASES)
def train_resume_from_truncated_checkpoint(ws: Workspace) -> Call:
    call = train(ws, "")
    assert main([str(a) for a in call.args]) == 0
    path = corrupt.truncate(ws.path("run", "last.pt"))
    return train(ws, f"{path} is corrupt or not a slidemap checkpoint (truncated", "--resume")


@case("train-output-below-a-file", table=CASES)
def train_output_below_a_file(ws: Workspace) -> Call:
    out, message = below_a_file(ws)
    return train(ws, message, out=str(out))


@case("train-disk-full", table=CASES)
def train_disk_full(ws: Workspace) -> Call:
    """The first checkpoint does not fit: exit 2, and --resume later completes the run."""

    def resume_completes() -> None:
        resume = train(ws, "", "--resume")
        assert main([str(a) for a in resume.args]) == 0
        assert load_checkpoint(ws.path("run", "best.pt"))["epoch"] == 1

    return train(
        ws,
        f"cannot write {ws.path('run', 'best.pt')}: File too large {FULL}",
        file_size_limit=1 << 20,
        may_write=ws.path("run"),
        check=resume_completes,
    )


# ---------------------------------------------------------------- evaluate


def evaluate(
    ws: Workspace, message: str, *extra: object, run: str = "run", out: str = "eval", **kw: Any
) -> Call:
    """``slidemap evaluate run --area tiny --out eval`` (a U-Net for B2,B3,B4,B8,slope)."""
    if run == "run" and not ws.path("run").exists():
        inputs.checkpoint(ws.path("run"))
    if not ws.path("tiny").exists():
        inputs.prepared_area(ws.root)
    args = ("evaluate", ws.path(run), "--area", ws.path("tiny"), "--out", ws.path(out))
    return Call((*args, "--window", 64, "--overlap", 16, *extra), message, **kw)


def best(ws: Workspace) -> str:
    return str(ws.path("run", "best.pt"))


@case("evaluate-missing-run", table=CASES)
def evaluate_missing_run(ws: Workspace) -> Call:
    message = f"run not found: {ws.path('gone')}; give a run directory written by"
    return evaluate(ws, message, run="gone")


@case("evaluate-missing-area", table=CASES)
def evaluate_missing_area(ws: Workspace) -> Call:
    ws.path("tiny").mkdir()
    return evaluate(ws, f"{ws.path('tiny')} is not a prepared area (no area.json)")


@case("evaluate-truncated-checkpoint", table=CASES)
def evaluate_truncated_checkpoint(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"))
    corrupt.truncate(ws.path("run", "best.pt"))
    return evaluate(
        ws,
        f"{best(ws)} is corrupt or not a slidemap checkpoint (truncated or not a torch file: "
        "RuntimeError); train again or use another checkpoint",
    )


@case("evaluate-random-bytes-checkpoint", table=CASES)
def evaluate_random_bytes_checkpoint(ws: Workspace) -> Call:
    ws.path("run").mkdir()
    corrupt.random_bytes(ws.path("run", "best.pt"))
    return evaluate(
        ws, f"{best(ws)} is corrupt or not a slidemap checkpoint (not a torch checkpoint file)"
    )


@case("evaluate-checkpoint-with-pickled-code", table=CASES)
def evaluate_checkpoint_with_pickled_code(ws: Workspace) -> Call:
    corrupt.code_checkpoint(ws.path("run", "best.pt"), ws.marker)
    return evaluate(
        ws,
        f"{best(ws)} is corrupt or not a slidemap checkpoint: it holds pickled objects other "
        "than tensors and plain values (it would load io.open), refused for safety",
    )


@case("evaluate-checkpoint-of-another-band-set", table=CASES)
def evaluate_checkpoint_of_another_band_set(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"), bands=RGB_SLOPE)
    return evaluate(
        ws,
        f"area {ws.path('tiny')} has bands B2,B3,B4,B8,slope but the unet model was trained "
        "on B2,B3,B4,slope; use inputs with those bands or a model trained on these",
    )


@case("evaluate-checkpoint-of-another-model", table=CASES)
def evaluate_checkpoint_of_another_model(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"))
    corrupt.relabel_model(ws.path("run", "best.pt"), "resunet")
    return evaluate(ws, f"{best(ws)}: the weights do not fit model 'resunet' (")


@case("evaluate-area-without-test-part", table=CASES)
def evaluate_area_without_test_part(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    split = load_area(ws.path("tiny")).split
    rewrite_area(ws, "tiny", split=np.where(split == TEST, TRAIN, split))
    return evaluate(ws, f"area {ws.path('tiny')} has no test pixels (split code 2); prepare it")


@case("evaluate-all-nodata-test-part", table=CASES)
def evaluate_all_nodata_test_part(ws: Workspace) -> Call:
    inputs.prepared_area(ws.root)
    area = load_area(ws.path("tiny"))
    image = area.image.copy()
    image[:, area.split == TEST] = np.nan
    rewrite_area(ws, "tiny", image=image)
    return evaluate(ws, f"area {ws.path('tiny')}: every pixel of its test part is nodata")


@case("evaluate-window-larger-than-the-test-part", table=CASES)
def evaluate_window_larger_than_the_test_part(ws: Workspace) -> Call:
    return evaluate(
        ws,
        f"area {ws.path('tiny')}: no 32 x 32 px window fits in its test part (64 x 26 px "
        "bounding box); use --mode whole",
        "--mode",
        "patches",
    )


@case("evaluate-output-below-a-file", table=CASES)
def evaluate_output_below_a_file(ws: Workspace) -> Call:
    out, message = below_a_file(ws)
    return evaluate(ws, message, out=str(out))


@case("evaluate-disk-full", table=CASES)
def evaluate_disk_full(ws: Workspace) -> Call:
    return evaluate(
        ws, f"cannot write {ws.path('eval')}: File too large {FULL}", file_size_limit=4096
    )


@case("evaluate-window-larger-than-the-area", table=TOLERATED)
def evaluate_window_larger_than_the_area(ws: Workspace) -> Call:
    """A 256 px window over a 64 px area: the image is mirrored, every test pixel scored."""

    def check() -> None:
        summary = json.loads(ws.path("eval", "summary.json").read_text())
        area = load_area(ws.path("tiny"))
        assert summary["all"]["pixels"] == int(((area.split == TEST) & area.valid).sum())

    return evaluate(
        ws,
        "on 1 test part(s)",
        "--window",
        256,
        "--overlap",
        64,
        may_write=ws.path("eval"),
        check=check,
    )


@case("evaluate-infinite-values-in-an-area", table=TOLERATED)
def evaluate_infinite_values_in_an_area(ws: Workspace) -> Call:
    """±Inf in a prepared image is nodata: those pixels are not scored."""
    inputs.prepared_area(ws.root)
    image = load_area(ws.path("tiny")).image.copy()
    image[0, 20:30, 50:60] = np.inf
    image[4, 40:44, 50:60] = -np.inf
    rewrite_area(ws, "tiny", image=image)

    def check() -> None:
        with rasterio.open(ws.path("eval", "tiny", "confusion.tif")) as src:
            codes = src.read(1)
        assert (codes[20:30, 50:60] == NOT_EVALUATED).all()
        assert (codes[40:44, 50:60] == NOT_EVALUATED).all()
        assert (codes[10:20, 50:60] != NOT_EVALUATED).all()

    return evaluate(ws, "on 1 test part(s)", may_write=ws.path("eval"), check=check)


# ---------------------------------------------------------------- predict


def predict(
    ws: Workspace,
    message: str,
    *scene: object,
    out: str = "map",
    fast: tuple[object, ...] = FAST,
    **kw: Any,
) -> Call:
    """``slidemap predict run --bands in/B2.tif … --dem in/dem.tif --out map`` (or ``scene``)."""
    if not ws.path("run").exists():
        inputs.checkpoint(ws.path("run"))
    if not ws.path("in").exists():
        inputs.raw_scene(ws.path("in"))
    bands = [ws.path("in", f"{b}.tif") for b in inputs.IMAGE_BANDS]
    given = scene or ("--bands", *bands, "--dem", ws.path("in", "dem.tif"))
    return Call(("predict", ws.path("run"), *given, "--out", ws.path(out), *fast), message, **kw)


def scene_bands(ws: Workspace, **replace: object) -> tuple[object, ...]:
    """``--bands`` of the scene with some bands replaced, and ``--dem``."""
    inputs.raw_scene(ws.path("in"))
    bands = [replace.get(b, ws.path("in", f"{b}.tif")) for b in inputs.IMAGE_BANDS]
    return ("--bands", *bands, "--dem", ws.path("in", "dem.tif"))


@case("predict-missing-band-file", table=CASES)
def predict_missing_band_file(ws: Workspace) -> Call:
    gone = ws.path("in", "B8_gone.tif")
    return predict(ws, f"band B8 file not found: {gone}", *scene_bands(ws, B8=gone))


@case("predict-aoi-outside-the-scene", table=CASES)
def predict_aoi_outside_the_scene(ws: Workspace) -> Call:
    given = scene_bands(ws)
    path = inputs.write_inventory(ws.path("in", "aoi.gpkg"), [shapely.box(0, 0, 100, 100)])
    message = f"AOI {path} does not overlap the image; check its CRS and extent"
    return predict(ws, message, *given, "--aoi", path)


@case("predict-aoi-between-pixel-centres", table=CASES)
def predict_aoi_between_pixel_centres(ws: Workspace) -> Call:
    given = scene_bands(ws)
    x, y = inputs.ORIGIN[0] + 100, inputs.ORIGIN[1] - 100  # the corner of four pixels
    square = shapely.box(x - 2, y - 2, x + 2, y + 2)  # within 2 m of it: no pixel centre
    path = inputs.write_inventory(ws.path("in", "aoi.gpkg"), [square])
    message = (
        f"--bands: no pixel has valid data in every band and the DEM inside the AOI {path} "
        "(all nodata); check the band files and their nodata value, and that the AOI covers "
        "a pixel centre"
    )
    return predict(ws, message, *given, "--aoi", path)


@case("predict-missing-aoi", table=CASES)
def predict_missing_aoi(ws: Workspace) -> Call:
    gone = ws.path("in", "aoi.gpkg")
    return predict(ws, f"AOI file not found: {gone}", *scene_bands(ws), "--aoi", gone)


@case("predict-truncated-band", table=CASES)
def predict_truncated_band(ws: Workspace) -> Call:
    given = scene_bands(ws)
    path = corrupt.truncate(ws.path("in", "B4.tif"))
    return predict(ws, f"cannot read band B4 {path}: file is corrupt or truncated", *given)


@case("predict-band-cut-in-its-header", table=CASES)
def predict_band_cut_in_its_header(ws: Workspace) -> Call:
    given = scene_bands(ws)
    path = corrupt.cut(ws.path("in", "B4.tif"), 300)
    return predict(ws, f"cannot read band B4 {path}: file is corrupt or truncated", *given)


@case("predict-random-bytes-jp2", table=CASES)
def predict_random_bytes_jp2(ws: Workspace) -> Call:
    path = ws.path("in", "T33UUU_B03.jp2")
    given = scene_bands(ws, B3=path)
    corrupt.random_bytes(path)
    return predict(ws, f"cannot read band B3 {path}: not a raster GDAL can open", *given)


@case("predict-too-few-band-files", table=CASES)
def predict_too_few_band_files(ws: Workspace) -> Call:
    given = scene_bands(ws)
    return predict(
        ws,
        "--bands: the model expects 4 band(s) B2,B3,B4,B8, one file each in this order (or "
        "one multi-band stack, or a .SAFE/.zip product); got 3 files",
        *given[:3],
        *given[4:],
    )


@case("predict-stack-with-wrong-band-count", table=CASES)
def predict_stack_with_wrong_band_count(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    stack = inputs.write_stack(ws.path("in", "stack.tif"), ("B2", "B3", "B4"))
    return predict(
        ws,
        f"--bands: {stack} has 3 band(s) but the model expects 4 (B2,B3,B4,B8)",
        "--bands",
        stack,
        "--dem",
        ws.path("in", "dem.tif"),
    )


@case("predict-multi-band-file-as-one-band", table=CASES)
def predict_multi_band_file_as_one_band(ws: Workspace) -> Call:
    path = ws.path("in", "rgb.tif")
    given = scene_bands(ws, B3=path)
    inputs.write_stack(path, ("B4", "B3", "B2"))
    return predict(ws, f"band B3: {path} has 3 bands, but a file per band must have one", *given)


@case("predict-band-without-crs", table=CASES)
def predict_band_without_crs(ws: Workspace) -> Call:
    given = scene_bands(ws)
    path = inputs.write_band(ws.path("in", "B2.tif"), "B2", crs=None)
    return predict(ws, f"band B2 file {path} has no CRS; Sentinel-2 bands must be", *given)


@case("predict-bands-in-different-crs", table=CASES)
def predict_bands_in_different_crs(ws: Workspace) -> Call:
    given = scene_bands(ws)
    inputs.write_band(ws.path("in", "B4.tif"), "B4", crs=rasterio.crs.CRS.from_epsg(32632))
    return predict(
        ws,
        "band files are in different CRSs (B2: EPSG:32633, B3: EPSG:32633, B4: EPSG:32632, "
        "B8: EPSG:32633); set [bands] crs and resampling",
        *given,
    )


@case("predict-dem-not-covering-the-scene", table=CASES)
def predict_dem_not_covering_the_scene(ws: Workspace) -> Call:
    given = scene_bands(ws)
    path = inputs.write_dem(ws.path("in", "dem.tif"), far=True)
    return predict(ws, f"DEM {path} does not cover the image: DEM bounds (", *given)


@case("predict-without-the-dem-the-model-needs", table=CASES)
def predict_without_the_dem_the_model_needs(ws: Workspace) -> Call:
    given = scene_bands(ws)
    return predict(
        ws, "the model uses slope (B2,B3,B4,B8,slope); give the DEM with --dem", *given[:5]
    )


@case("predict-dem-for-a-model-without-slope", table=CASES)
def predict_dem_for_a_model_without_slope(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"), bands=inputs.IMAGE_BANDS)
    return predict(
        ws,
        "the model does not use a DEM (it was trained on bands B2,B3,B4,B8, without slope); "
        "drop --dem",
        *scene_bands(ws),
    )


def renamed_not_utf8(path: Path) -> Path:
    """``path`` renamed to ``é<suffix>`` (Latin-1: not valid UTF-8)."""
    return path.rename(path.with_name(inputs.LATIN1_E + path.suffix))


@case("predict-band-file-not-named-in-utf8", table=CASES)
def predict_band_file_not_named_in_utf8(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    given = scene_bands(ws, B2=renamed_not_utf8(ws.path("in", "B2.tif")))
    message = NOT_UTF8.format(f"{ws.root}/in/\\xe9.tif")
    return predict(ws, f"Invalid value for '--bands': {message}", *given)


@case("predict-dem-not-named-in-utf8", table=CASES)
def predict_dem_not_named_in_utf8(ws: Workspace) -> Call:
    given = scene_bands(ws)
    dem = renamed_not_utf8(ws.path("in", "dem.tif"))
    message = NOT_UTF8.format(f"{ws.root}/in/\\xe9.tif")
    return predict(ws, f"Invalid value for '--dem': {message}", *given[:5], "--dem", dem)


@case("predict-aoi-not-named-in-utf8", table=CASES)
def predict_aoi_not_named_in_utf8(ws: Workspace) -> Call:
    given = scene_bands(ws)
    aoi = renamed_not_utf8(inputs.write_inventory(ws.path("in", "aoi.gpkg")))
    message = NOT_UTF8.format(f"{ws.root}/in/\\xe9.gpkg")
    return predict(ws, f"Invalid value for '--aoi': {message}", *given, "--aoi", aoi)


@case("predict-output-not-named-in-utf8", table=CASES)
def predict_output_not_named_in_utf8(ws: Workspace) -> Call:
    message = NOT_UTF8.format(f"{ws.root}/\\xe9")
    return predict(ws, f"Invalid value for '--out' / '-o': {message}", out=inputs.LATIN1_E)


@case("predict-scheduler-without-a-port", table=CASES)
def predict_scheduler_without_a_port(ws: Workspace) -> Call:
    return predict(
        ws,
        "--scheduler 'junk' is not a Dask scheduler address (missing port number in address "
        "'junk'); give tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786",
        fast=(*FAST, "--scheduler", "junk"),
    )


@case("predict-area-file-is-a-directory", table=CASES)
def predict_area_file_is_a_directory(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    folder = ws.path("in")
    return predict(
        ws,
        f"area file {folder} is a directory, not a file; give the TOML file, e.g. "
        f"{folder / 'area.toml'}",
        "--area",
        folder,
    )


@case("predict-all-nodata-scene", table=CASES)
def predict_all_nodata_scene(ws: Workspace) -> Call:
    given = scene_bands(ws)
    zeros = np.zeros((inputs.SIZE, inputs.SIZE), np.uint16)
    inputs.write_band(ws.path("in", "B8.tif"), "B8", data=zeros)
    return predict(
        ws, "--bands: no pixel has valid data in every band and the DEM (all nodata)", *given
    )


@case("predict-infinite-values", table=CASES)
def predict_infinite_values(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    for band in inputs.IMAGE_BANDS:
        data = inputs.band_data(band).astype(np.float32) / 10000
        if band == "B4":
            data[40, 3] = -np.inf
        inputs.write_band(ws.path("in", f"{band}.tif"), band, data=data, nodata=None)
    path = ws.path("in", "B4.tif")
    return predict(ws, f"band B4 ({path}) contains infinite values", *scene_bands_only(ws))


def scene_bands_only(ws: Workspace) -> tuple[object, ...]:
    """``--bands`` and ``--dem`` of the files already in ``in/``."""
    bands = [ws.path("in", f"{b}.tif") for b in inputs.IMAGE_BANDS]
    return ("--bands", *bands, "--dem", ws.path("in", "dem.tif"))


@case("predict-area-file-toml-syntax-error", table=CASES)
def predict_area_file_toml_syntax_error(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    path = ws.path("in", "area.toml")
    path.write_text(inputs.area_toml().replace("[dem]", "[dem"), encoding="utf-8")
    return predict(ws, f"{path}: invalid TOML: ", "--area", path)


@case("predict-area-file-unknown-key", table=CASES)
def predict_area_file_unknown_key(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    path = ws.path("in", "area.toml")
    text = inputs.area_toml().replace("[dem]\n", "[dem]\nslop = true\n")
    path.write_text(text, encoding="utf-8")
    line = line_of(text, "slop =")
    message = f"{path}, line {line}: [dem] slop: unknown key; expected one of: path, nodata, slope"
    return predict(ws, message, "--area", path)


@case("predict-checkpoint-of-another-band-set", table=CASES)
def predict_checkpoint_of_another_band_set(ws: Workspace) -> Call:
    inputs.raw_scene(ws.path("in"))
    inputs.checkpoint(ws.path("run"), bands=RGB_SLOPE)
    path = ws.path("in", "area.toml")
    return predict(
        ws,
        f"area file {path} has bands B2,B3,B4,B8,slope but the unet model was trained on "
        "B2,B3,B4,slope",
        "--area",
        path,
    )


@case("predict-checkpoint-with-pickled-code", table=CASES)
def predict_checkpoint_with_pickled_code(ws: Workspace) -> Call:
    corrupt.code_checkpoint(ws.path("run", "best.pt"), ws.marker)
    return predict(
        ws,
        f"{best(ws)} is corrupt or not a slidemap checkpoint: it holds pickled objects other "
        "than tensors and plain values (it would load io.open), refused for safety",
    )


@case("predict-truncated-checkpoint", table=CASES)
def predict_truncated_checkpoint(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"))
    corrupt.truncate(ws.path("run", "best.pt"), keep=0.9)
    return predict(ws, f"{best(ws)} is corrupt or not a slidemap checkpoint (truncated")


@case("predict-output-below-a-file", table=CASES)
def predict_output_below_a_file(ws: Workspace) -> Call:
    out, message = below_a_file(ws)
    return predict(ws, message, out=str(out))


@case("predict-disk-full", table=CASES)
def predict_disk_full(ws: Workspace) -> Call:
    """The rasters fit, the GeoPackage (98 kB even when empty) does not."""
    message = f"cannot write {ws.path('map')}: File too large {FULL}"
    return predict(ws, message, file_size_limit=12000)


@case(
    "predict-disk-full-writing-polygons",
    table=CASES,
)
def predict_disk_full_writing_polygons(ws: Workspace) -> Call:
    message = f"cannot write {ws.path('map')}: "
    fast = (*FAST, "--threshold", 0.01)  # the untrained model then maps landslides
    return predict(ws, message, fast=fast, file_size_limit=50000)


@case(
    "predict-disk-full-writing-the-cog",
    table=CASES,
)
def predict_disk_full_writing_the_cog(ws: Workspace) -> Call:
    return predict(ws, f"cannot write {ws.path('map')}: ", file_size_limit=1000)


@case("predict-window-larger-than-the-scene", table=TOLERATED)
def predict_window_larger_than_the_scene(ws: Workspace) -> Call:
    """A 256 px window over a 64 px scene: every valid pixel gets a probability."""

    def check() -> None:
        with rasterio.open(ws.path("map", "probability.tif")) as src:
            assert (src.width, src.height) == (inputs.SIZE, inputs.SIZE)
            assert src.crs == inputs.UTM33
            assert (src.read(1) != src.nodata).all()

    fast = ("--window", 256, "--overlap", 64, "--block", 256, "--backend", "torch")
    return predict(ws, "outputs in", fast=fast, may_write=ws.path("map"), check=check)


# ---------------------------------------------------------------- export


def export(ws: Workspace, message: str, **kw: Any) -> Call:
    """``slidemap export run --out model.onnx``."""
    if not ws.path("run").exists():
        inputs.checkpoint(ws.path("run"))
    args = ("export", ws.path("run"), "--format", "onnx", "--out", ws.path("model.onnx"))
    return Call(args, message, **kw)


@case("export-missing-run", table=CASES)
def export_missing_run(ws: Workspace) -> Call:
    gone = ws.path("gone")
    return Call(
        ("export", gone, "--out", ws.path("model.onnx")),
        f"checkpoint not found: {gone}; give a run directory written by 'slidemap train'",
    )


@case("export-truncated-checkpoint", table=CASES)
def export_truncated_checkpoint(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"))
    corrupt.truncate(ws.path("run", "best.pt"), keep=0.2)
    return export(ws, f"{best(ws)} is corrupt or not a slidemap checkpoint (truncated")


@case("export-plain-pickle-with-code", table=CASES)
def export_plain_pickle_with_code(ws: Workspace) -> Call:
    corrupt.code_checkpoint(ws.path("run", "best.pt"), ws.marker, torch_zip=False)
    return export(
        ws,
        f"{best(ws)} is corrupt or not a slidemap checkpoint: it holds pickled objects other "
        "than tensors and plain values (it would load io.open), refused for safety",
    )


@case("export-checkpoint-of-another-model", table=CASES)
def export_checkpoint_of_another_model(ws: Workspace) -> Call:
    inputs.checkpoint(ws.path("run"), model="resunet")
    corrupt.relabel_model(ws.path("run", "best.pt"), "unet")
    return export(ws, f"{best(ws)}: its model configuration {{'name': 'unet', 'in_channels': 5")


@case("export-output-exists", table=CASES)
def export_output_exists(ws: Workspace) -> Call:
    ws.path("model.onnx").write_text("an older export", encoding="utf-8")
    return export(ws, f"{ws.path('model.onnx')} already exists; pass --overwrite to replace it")


@case("export-output-below-a-file", table=CASES)
def export_output_below_a_file(ws: Workspace) -> Call:
    blocker = ws.blocker()
    call = export(ws, "")
    return Call(
        (*call.args[:-1], blocker / "model.onnx"),
        f"cannot create output directory {blocker}: {blocker} is a file, not a directory",
    )


@case("export-disk-full", table=CASES)
def export_disk_full(ws: Workspace) -> Call:
    return export(
        ws, f"cannot write {ws.path('model.onnx')}: File too large {FULL}", file_size_limit=1 << 20
    )
