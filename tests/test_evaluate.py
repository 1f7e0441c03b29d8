"""Evaluation on test parts: metrics equal to the confusion map, georeferenced maps, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from scipy import ndimage

from conftest import make_tiny_area
from slidemap.area import LABEL_NODATA, TEST, TRAIN, load_area
from slidemap.backends import make_backend
from slidemap.checkpoint import load_model
from slidemap.confusion import FN, FP, NOT_EVALUATED, TN, TP, coarsen_codes, nice_length
from slidemap.data import Normalization
from slidemap.errors import SlidemapError
from slidemap.evaluate import EvalOptions, evaluate_run, predict_test_part
from slidemap.infer import predict_probabilities
from slidemap.metrics import Counts, f1, iou, kappa, mcc, precision, recall
from slidemap.train import TrainConfig, train

SIZE = 96  # test part 39 px wide: one column of 32 px patches fits


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def areas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("areas")
    make_tiny_area(root, "a", size=SIZE, seed=1)
    make_tiny_area(root, "b", size=SIZE, seed=2, shift=0.02)
    make_tiny_area(root, "small", size=64, seed=3)
    make_tiny_area(root, "rgbn", size=64, seed=4, bands=("B2", "B3", "B4", "B8"))
    return root


@pytest.fixture(scope="module")
def run(areas: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A U-Net trained for 15 epochs on area a (patch 32)."""
    out = tmp_path_factory.mktemp("runs") / "unet32"
    before = torch.get_num_threads()
    train(
        TrainConfig(
            areas=(areas / "a",), out=out, patch=32, epochs=15, seed=0, threads=2, device="cpu"
        )
    )
    torch.set_num_threads(before)
    return out


def read_codes(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def counts_of(codes: np.ndarray) -> Counts:
    return Counts(*(int(np.count_nonzero(codes == c)) for c in (TP, FP, FN, TN)))


def test_whole_mode_metrics_equal_the_confusion_map(
    run: Path, areas: Path, tmp_path: Path, run_cli: Callable
) -> None:
    out = tmp_path / "eval"
    result = run_cli("evaluate", run, "--area", areas / "a", "--area", areas / "b", "--out", out)
    assert result.code == 0, result.err
    assert result.out.startswith("F1 ") and str(out) in result.out
    threshold = float(torch.load(run / "best.pt", weights_only=True)["threshold"])
    summary = json.loads((out / "summary.json").read_text())
    total = Counts()
    for name in ("a", "b"):
        area = load_area(areas / name)
        metrics = json.loads((out / name / "metrics.json").read_text())
        codes = read_codes(out / name / "confusion.tif")
        counts = counts_of(codes)
        assert Counts(**metrics["counts"]) == counts
        assert metrics["pixels"] == counts.total
        for key, fn in [("precision", precision), ("recall", recall), ("f1", f1)]:
            assert metrics[key] == pytest.approx(fn(counts))
        for key, fn in [("iou", iou), ("mcc", mcc), ("kappa", kappa)]:
            assert metrics[key] == pytest.approx(fn(counts))
        assert metrics["mode"] == "whole" and metrics["threshold"] == threshold
        assert (metrics["window"], metrics["overlap"]) == (256, 64)
        assert metrics["area"] == name and metrics["model"] == "unet"
        # scored exactly where the test part is valid (whole mode covers it all)
        assert np.array_equal(codes != NOT_EVALUATED, (area.split == TEST) & area.valid)
        assert counts.tp > 0  # the model learnt something
        # object matches recounted from the map: every reference landslide is TP or FN
        _, n_ref = ndimage.label(np.isin(codes, (TP, FN)), structure=np.ones((3, 3)))
        objects = metrics["objects"]
        assert objects["tp"] + objects["fn"] == n_ref
        assert sum(s["reference"] for s in objects["size_classes"]) == n_ref
        assert summary["areas"][name]["counts"] == metrics["counts"]
        total = total + counts
    assert Counts(**summary["all"]["counts"]) == total
    assert summary["all"]["f1"] == pytest.approx(f1(total))


def test_confusion_tif_is_georeferenced_with_a_colour_table(
    run: Path, areas: Path, tmp_path: Path
) -> None:
    evaluate_run(run, [areas / "a"], tmp_path / "eval")
    with (
        rasterio.open(tmp_path / "eval" / "a" / "confusion.tif") as src,
        rasterio.open(areas / "a" / "label.tif") as ref,
    ):
        assert src.crs == ref.crs and src.transform == ref.transform
        assert (src.width, src.height) == (ref.width, ref.height)
        assert src.dtypes == ("uint8",) and src.nodata == NOT_EVALUATED
        colours = src.colormap(1)
        assert colours[TP][:3] != colours[FP][:3] != colours[FN][:3]
        assert colours[NOT_EVALUATED][3] == 0  # transparent


def test_map_png_is_a_valid_png(run: Path, areas: Path, tmp_path: Path) -> None:
    evaluate_run(run, [areas / "a"], tmp_path / "eval")
    path = tmp_path / "eval" / "a" / "map.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.width > 400 and img.height > 300
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50  # a drawn map, not a blank canvas


def test_patches_mode_scores_only_the_paper_grid(
    run: Path, areas: Path, tmp_path: Path, run_cli: Callable
) -> None:
    out = tmp_path / "eval"
    # --window (and the default --overlap 64 it would make invalid) are whole-mode options
    args = ("--mode", "patches", "--window", "32")
    result = run_cli("evaluate", run, "--area", areas / "a", "--out", out, *args)
    assert result.code == 0, result.err
    codes = read_codes(out / "a" / "confusion.tif")
    metrics = json.loads((out / "a" / "metrics.json").read_text())
    # test part: columns 57..95; 32 px grid from its corner: rows 0-95, columns 57-88
    expected = np.zeros_like(codes, bool)
    expected[0:96, 57:89] = True
    assert np.array_equal(codes != NOT_EVALUATED, expected)
    assert Counts(**metrics["counts"]) == counts_of(codes)
    assert (metrics["mode"], metrics["window"], metrics["overlap"]) == ("patches", 32, 0)


def test_whole_mode_sees_context_and_equals_whole_image_prediction(run: Path, areas: Path) -> None:
    """Skipping windows away from the test part changes nothing on test pixels."""
    model, info = load_model(run)
    backend = make_backend(model, info, "torch")
    area = load_area(areas / "a")
    options = EvalOptions(window=32, overlap=8)
    probability, scored = predict_test_part(backend, info, area, options)
    image = Normalization(info.mean, info.std).apply(area.image)
    everywhere = predict_probabilities(backend, image, 32, 8)
    test = area.split == TEST
    assert np.array_equal(scored, test & area.valid)
    assert np.array_equal(probability[test], everywhere[test])
    assert np.isfinite(probability[test]).all()
    # windows start every 24 columns from -4 (half the overlap outside the image); those
    # at -4 and 20 end before the test part (columns 57-95) and are skipped
    assert np.isnan(probability[:, :44]).all()
    assert np.isfinite(probability[:, 44:]).any(axis=0).all()


def test_threshold_option(run: Path, areas: Path, tmp_path: Path, run_cli: Callable) -> None:
    low, high = tmp_path / "low", tmp_path / "high"
    for out, t in ((low, "0.01"), (high, "0.99")):
        result = run_cli("evaluate", run, "--area", areas / "a", "--out", out, "--threshold", t)
        assert result.code == 0, result.err
    m_low = json.loads((low / "a" / "metrics.json").read_text())
    m_high = json.loads((high / "a" / "metrics.json").read_text())
    assert (m_low["threshold"], m_high["threshold"]) == (0.01, 0.99)
    predicted = [m["counts"]["tp"] + m["counts"]["fp"] for m in (m_low, m_high)]
    assert predicted[0] > predicted[1]
    assert m_low["pixels"] == m_high["pixels"]


def test_overwrite(run: Path, areas: Path, tmp_path: Path, run_cli: Callable) -> None:
    out = tmp_path / "eval"
    assert run_cli("evaluate", run, "--area", areas / "a", "--out", out).code == 0
    result = run_cli("evaluate", run, "--area", areas / "b", "--out", out)
    assert result.code == 2 and "already exists; pass --overwrite" in result.err
    assert run_cli("evaluate", run, "--area", areas / "b", "--out", out, "--overwrite").code == 0
    assert sorted(p.name for p in out.iterdir()) == ["b", "summary.json"]


def remove_labels(area: Path) -> Path:
    """Make ``area`` an unlabelled one, as prepared without an [inventory]; return it."""
    with rasterio.open(area / "label.tif", "r+") as dst:
        dst.write(np.full((dst.height, dst.width), LABEL_NODATA, np.uint8), 1)
    return area


def test_an_unlabelled_area_is_named_as_such(run: Path, tmp_path: Path, run_cli: Callable) -> None:
    """Training or evaluating an area without labels says so (not "no window fits")."""
    area = remove_labels(make_tiny_area(tmp_path, "nolabels", size=64, seed=6))
    want = f"area {area} has no landslide labels in its {{}} part (prepared without an [inv"
    result = run_cli("evaluate", run, "--area", area, "--out", tmp_path / "eval")
    assert result.code == 2 and want.format("test") in result.err, result.err
    args = ("--patch", 32, "--epochs", 1, "--out", tmp_path / "run")
    result = run_cli("train", "--area", area, *args)
    assert result.code == 2 and want.format("train") in result.err, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nolabels"]


def remove_test_part(area: Path) -> None:
    with rasterio.open(area / "split.tif", "r+") as dst:
        split = dst.read(1)
        split[split == TEST] = TRAIN
        dst.write(split, 1)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bands", "has bands B2,B3,B4,B8 but the unet model was trained on B2,B3,B4,B8,slope"),
        ("no_test", "has no test pixels (split code 2)"),
        ("patch_too_big", "no 32 x 32 px window fits in its test part (64 x 26 px bounding box)"),
        ("missing_run", "run not found:"),
        ("missing_area", "is not a prepared area (no area.json)"),
        ("duplicate", "several --area directories are named a"),
        ("window", "--window must be a positive multiple of 16"),
    ],
)
def test_errors_exit_2_without_output(
    case: str, message: str, run: Path, areas: Path, tmp_path: Path, run_cli: Callable
) -> None:
    area, extra, run_arg = areas / "a", [], run
    if case == "bands":
        area = areas / "rgbn"
    elif case == "no_test":
        area = make_tiny_area(tmp_path, "notest", size=64, seed=5)
        remove_test_part(area)
    elif case == "patch_too_big":
        area, extra = areas / "small", ["--mode", "patches"]
    elif case == "missing_run":
        run_arg = tmp_path / "no-run"
    elif case == "missing_area":
        area = tmp_path / "nowhere"
    elif case == "duplicate":
        extra = ["--area", areas / "a"]
    elif case == "window":
        extra = ["--window", "100"]
    out = tmp_path / "out" / "eval"
    result = run_cli("evaluate", run_arg, "--area", area, *extra, "--out", out)
    assert result.code == 2
    assert result.err.startswith("slidemap: error: ")
    assert message in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    assert not (out.parent.exists() and any(out.parent.iterdir()))  # no partial output


def test_evaluate_options_are_validated() -> None:
    with pytest.raises(SlidemapError, match="--mode must be one of whole, patches"):
        EvalOptions(mode="tiles")
    for threshold in (1.0, math.nan, math.inf):
        with pytest.raises(SlidemapError, match="--threshold must be between 0 and 1"):
            EvalOptions(threshold=threshold)
    with pytest.raises(SlidemapError, match="--overlap must be at least 0"):
        EvalOptions(window=64, overlap=64)
    assert EvalOptions(mode="patches", window=32).overlap == 64  # whole-mode options unchecked
    with pytest.raises(SlidemapError, match="--batch must be at least 1, got 0"):
        EvalOptions(batch=0)
    for iou_threshold in (0.0, 1.5):
        with pytest.raises(SlidemapError, match=r"IoU threshold must be in \(0, 1\]"):
            EvalOptions(iou_threshold=iou_threshold)
    for edges in ((0.0, 100.0), (500.0, 100.0), (100.0, 100.0)):
        with pytest.raises(SlidemapError, match="size class edges must be positive and incr"):
            EvalOptions(size_edges_m2=edges)
    assert EvalOptions(iou_threshold=1.0, size_edges_m2=(10, 20)).size_edges_m2 == (10.0, 20.0)


def test_coarsened_map_keeps_small_objects() -> None:
    codes = np.full((6, 6), TN, np.uint8)
    codes[0, 0] = TP
    codes[4, 5] = FN
    codes[5, 0] = NOT_EVALUATED
    coarse = coarsen_codes(codes, 3)
    assert coarse.tolist() == [[TP, TN], [TN, FN]]
    assert coarsen_codes(codes[:5, :5], 3).shape == (2, 2)


@pytest.mark.parametrize(
    ("target", "expected"), [(0.5, 1.0), (7.0, 5.0), (130.0, 100.0), (2500.0, 2000.0)]
)
def test_scale_bar_lengths(target: float, expected: float) -> None:
    assert nice_length(target) == expected
