"""The machine a bench runs on: CPU, cores, threads, instruction sets, load, and matmul peak.

Nothing is assumed about the CPU: features come from ``/proc/cpuinfo`` and
PyTorch (:func:`slidemap.backends.cpu_features`), the peak from large matrix
products timed in the same process as the measurements it is compared with:
``torch.mm`` and, where OpenVINO is installed, OpenVINO's ``MatMul`` (oneDNN).
The peak is the faster of the two, because neither library reaches the
hardware's rate on every CPU: ``torch.mm`` in fp32 is MKL's ``sgemm``, which
on AMD CPUs runs a code path without AVX-512 (on a Zen 5 it reached 45 % of
what OpenVINO's fp32 ``MatMul`` reached on the same cores).
"""

from __future__ import annotations

import importlib
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slidemap.backends import CpuFeatures, cpu_features, cpuinfo_fields, installed

#: Side of the square matrices of the peak measurement.
PEAK_N = 2048
#: The matrix products timed for the peak, in the order they are measured.
PEAK_OPS = ("torch.mm", "openvino.MatMul")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``platform.processor()`` where ``cpuinfo`` has none)."""
    names = [value for key, value in cpuinfo_fields(cpuinfo) if key == "model name"]
    return names[0] if names else platform.processor() or "unknown"


def physical_cores(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """Distinct (physical id, core id) pairs of ``cpuinfo``; the logical CPU count if absent."""
    cores: set[tuple[str, str]] = set()
    physical = ""
    for key, value in cpuinfo_fields(cpuinfo):
        if key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return len(cores) or (os.cpu_count() or 1)


def features_dict(features: CpuFeatures) -> dict[str, Any]:
    """The features the bench reports: AVX2, AVX-512, AVX-512-BF16, AMX, torch's capability."""
    return {
        "avx2": "avx2" in features.flags or features.avx512,
        "avx512": features.avx512,
        "avx512_bf16": features.avx512_bf16,
        "amx": features.amx,
        "native_bf16": features.bf16,
        "torch_capability": features.torch_capability,
    }


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except ImportError:
        return None


def load_average() -> list[float]:
    """1, 5 and 15 min load averages (other processes competing for the cores)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict[str, Any]:
    """CPU model, cores, torch threads, features, library versions and the current load."""
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count() or 1,
        "physical_cores": physical_cores(),
        "torch_threads": torch.get_num_threads(),
        "features": features_dict(cpu_features()),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": _version("numpy"),
            "onnxruntime": _version("onnxruntime"),
            "openvino": _version("openvino"),
        },
        "load_average": {"start": load_average()},
    }


def peak_ops() -> tuple[str, ...]:
    """The ops of :data:`PEAK_OPS` that can run here (OpenVINO's only where it is installed)."""
    return tuple(op for op in PEAK_OPS if op == "torch.mm" or installed("openvino"))


def fastest_op(samples: Mapping[str, Sequence[float]]) -> tuple[str, dict[str, float]]:
    """``(op, op_peaks)``: the op whose best sample of ``samples`` (op → GFLOP/s) is highest,
    and each op's best sample."""
    best = {op: max(rates) for op, rates in samples.items()}
    return max(best, key=best.__getitem__), best


def matmul_gflops(
    dtype: torch.dtype,
    n: int = PEAK_N,
    repeats: int = 5,
    op: str = "torch.mm",
    threads: int | None = None,
) -> list[float]:
    """GFLOP/s of the product of two ``n`` × ``n`` matrices (:func:`matmul_product`), one
    value per repeat.

    The best repeat is the machine's peak for ``dtype`` and ``op``; the others
    show the noise.

    Returns:
        ``repeats`` values of ``2 n³ / seconds / 1e9``.
    """
    return product_gflops(matmul_product(dtype, n, op, threads), n, repeats)


def product_gflops(run: Callable[[], object], n: int, repeats: int) -> list[float]:
    """GFLOP/s of ``repeats`` back-to-back calls of ``run``, a product of two ``n`` × ``n``
    matrices (:func:`matmul_product`)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return rates


def matmul_product(
    dtype: torch.dtype, n: int = PEAK_N, op: str = "torch.mm", threads: int | None = None
) -> Callable[[], object]:
    """A call computing one product of two ``n`` × ``n`` matrices (``2 n³`` FLOP), already
    run once (allocation and kernel selection are not in later calls).

    Args:
        dtype: torch.float32 or torch.bfloat16.
        n: matrix side.
        op: "torch.mm" (threads: torch's setting) or "openvino.MatMul" (an
            OpenVINO model of one MatMul by a constant matrix, as a network's
            layer is, compiled with ``INFERENCE_PRECISION_HINT`` f32 or bf16
            and ``INFERENCE_NUM_THREADS`` = ``threads`` when given).

    Raises:
        ValueError: unknown ``op``.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    run: Callable[[], object]
    if op == "openvino.MatMul":
        run = partial(_openvino_matmul(b.numpy(), dtype, threads), a.numpy())
    elif op == "torch.mm":
        a, b = a.to(dtype), b.to(dtype)
        run = partial(torch.mm, a, b, out=torch.empty(n, n, dtype=dtype))
    else:
        raise ValueError(f"unknown matmul op {op!r}; choose one of {', '.join(PEAK_OPS)}")
    run()
    return run


def _openvino_matmul(weight: np.ndarray, dtype: torch.dtype, threads: int | None) -> Any:
    """A compiled OpenVINO model computing ``x @ weight`` ((n, n) float32 in and out)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter(list(weight.shape), np.float32)
    model = ov.Model([ops.matmul(x, ops.constant(weight), False, False)], [x])
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": "bf16" if dtype == torch.bfloat16 else "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    return ov.Core().compile_model(model, "CPU", config)
