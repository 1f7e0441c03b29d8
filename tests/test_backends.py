"""Inference backends: torch, ONNX Runtime and OpenVINO agree on real data; export; errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
import torch
from rasterio.windows import Window

from slidemap.backends import (
    OnnxBackend,
    OpenVinoBackend,
    TorchBackend,
    cpu_features,
    export_onnx,
    make_backend,
)
from slidemap.checkpoint import ModelInfo
from slidemap.data import Normalization
from slidemap.errors import SlidemapError
from slidemap.infer import predict_probabilities
from slidemap.models import build_model

BANDS = ("B2", "B3", "B4")
#: Largest bf16 − fp32 probability difference accepted (docs/predict.md gives the measured one).
BF16_TOLERANCE = 0.05


def info_for(model_name: str, image: np.ndarray) -> ModelInfo:
    mean = tuple(float(np.nanmean(b)) for b in image)
    std = tuple(float(np.nanstd(b)) for b in image)
    return ModelInfo(model_name, {"name": model_name}, BANDS, mean, std, 64, 0.5)


@pytest.fixture(scope="module")
def iburi_window(shared_data: Path) -> np.ndarray:
    """A 256 × 256 window of the real Iburi 2018 post-event B2, B3, B4 (reflectance)."""
    bands = []
    for band in BANDS:
        path = shared_data / "iburi2018" / "post-event" / f"download.{band}.tif"
        with rasterio.open(path) as src:
            bands.append(src.read(1, window=Window(700, 400, 256, 256)) / 10000.0)
    return np.stack(bands).astype(np.float32)


def seeded(model_name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(model_name, len(BANDS))
    if model_name == "resunet":  # non-trivial batch-norm statistics, so the export must use them
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("model_name", ["unet", "resunet"])
def test_onnx_and_openvino_match_torch_on_real_data(
    model_name: str, iburi_window: np.ndarray
) -> None:
    info = info_for(model_name, iburi_window)
    image = Normalization(info.mean, info.std).apply(iburi_window)
    if model_name == "resunet":  # ~20 GFLOP per 128² window: one window is enough
        image = image[:, 64:192, 64:192]
    probs = {}
    for name in ("torch", "onnx", "openvino"):
        backend = make_backend(seeded(model_name), info, name, threads=2)
        assert (backend.name, backend.precision) == (name, "fp32")
        probs[name] = predict_probabilities(backend, image, window=128, overlap=32, batch=4)
    assert probs["torch"].std() > 0.0  # a real, varying output
    for name in ("onnx", "openvino"):
        np.testing.assert_allclose(probs[name], probs["torch"], atol=1e-4, rtol=0, err_msg=name)


def test_torch_backend_equals_the_plain_model(iburi_window: np.ndarray) -> None:
    info = info_for("unet", iburi_window)
    batch = Normalization(info.mean, info.std).apply(iburi_window)[None, :, :128, :128]
    with torch.no_grad():
        plain = seeded("unet")(torch.from_numpy(batch)).numpy()
    logits = TorchBackend(seeded("unet"))(batch)
    assert logits.shape == (1, 1, 128, 128) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, plain, atol=1e-4, rtol=0)


def test_backends_take_any_batch_and_multiple_of_16_size(iburi_window: np.ndarray) -> None:
    info = info_for("unet", iburi_window)
    batch = Normalization(info.mean, info.std).apply(iburi_window)
    for backend in (OnnxBackend(seeded("unet"), 3, 1), OpenVinoBackend(seeded("unet"), 3)):
        for shape in ((1, 3, 64, 64), (3, 3, 48, 112)):
            n, _, h, w = shape
            out = backend(np.ascontiguousarray(np.repeat(batch[None, :, :h, :w], n, axis=0)))
            assert out.shape == (n, 1, h, w) and out.dtype == np.float32


def test_bf16_differs_from_fp32_by_a_small_measured_amount(iburi_window: np.ndarray) -> None:
    info = info_for("unet", iburi_window)
    image = Normalization(info.mean, info.std).apply(iburi_window)
    fp32 = predict_probabilities(make_backend(seeded("unet"), info, "torch"), image, 128, 32)
    if not cpu_features().bf16:
        with pytest.raises(SlidemapError, match="needs a CPU with native bf16"):
            make_backend(seeded("unet"), info, "torch", precision="bf16")
        return
    for name in ("torch", "openvino"):
        backend = make_backend(seeded("unet"), info, name, precision="bf16")
        assert backend.precision == "bf16"
        diff = np.abs(predict_probabilities(backend, image, 128, 32) - fp32).max()
        print(f"bf16 {name}: max |p_bf16 - p_fp32| = {diff:.2e}")
        assert 0 < diff < BF16_TOLERANCE


def test_auto_picks_the_first_installed_exact_backend(iburi_window: np.ndarray) -> None:
    backend = make_backend(seeded("unet"), info_for("unet", iburi_window), "auto")
    assert (backend.name, backend.precision) == ("openvino", "fp32")


def test_missing_backend_package_says_how_to_install(
    iburi_window: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes "import openvino" fail
    info = info_for("unet", iburi_window)
    with pytest.raises(
        SlidemapError, match=r"'openvino' is not installed; pip install slidemap\[fast\]"
    ):
        make_backend(seeded("unet"), info, "openvino")
    assert make_backend(seeded("unet"), info, "auto").name == "onnx"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "tensorrt"}, "unknown backend 'tensorrt'; choose one of auto, torch, onnx"),
        ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of fp32, bf16"),
        ({"threads": 0}, "--threads must be at least 1, got 0"),
        ({"name": "onnx", "precision": "bf16"}, "ONNX Runtime backend runs fp32 only"),
    ],
)
def test_bad_backend_settings_are_refused(
    kwargs: dict[str, object], message: str, iburi_window: np.ndarray
) -> None:
    with pytest.raises(SlidemapError, match=message):
        make_backend(seeded("unet"), info_for("unet", iburi_window), **kwargs)  # type: ignore[arg-type]


def test_cpu_features_come_from_the_flags_found(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n")
    features = cpu_features(cpuinfo)
    assert features.avx512 and features.avx512_bf16 and features.bf16 and not features.amx
    cpuinfo.write_text("flags\t\t: fpu avx2 amx_tile amx_bf16\n")
    assert cpu_features(cpuinfo).amx
    none = cpu_features(tmp_path / "missing")
    assert not none.flags and not none.avx512_bf16 and not none.amx
    assert "AVX-512-BF16 no, AMX no" in none.describe()


def test_export_writes_onnx_with_bands_and_normalisation(
    tmp_path: Path, iburi_window: np.ndarray
) -> None:
    info = info_for("unet", iburi_window)
    path = export_onnx(seeded("unet"), info, tmp_path / "model.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["band_names"]) == list(BANDS)
    assert json.loads(meta["mean"]) == pytest.approx(info.mean)
    assert json.loads(meta["std"]) == pytest.approx(info.std)
    assert float(meta["threshold"]) == 0.5 and meta["model_name"] == "unet"
    batch = Normalization(info.mean, info.std).apply(iburi_window)[None, :, :96, :160]
    (logits,) = ort.InferenceSession(str(path)).run(None, {"image": batch})
    np.testing.assert_allclose(logits, TorchBackend(seeded("unet"))(batch), atol=1e-4, rtol=0)
    with pytest.raises(SlidemapError, match="already exists; pass --overwrite"):
        export_onnx(seeded("unet"), info, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
