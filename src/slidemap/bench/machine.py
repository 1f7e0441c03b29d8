"""The machine a bench runs on: CPU, cores, threads, instruction sets, load, and matmul peak.

Nothing is assumed about the CPU: features come from ``/proc/cpuinfo`` and
PyTorch (:func:`slidemap.backends.cpu_features`), the peak from a large
``torch.mm`` timed in the same process as the measurements it is compared with.
"""

from __future__ import annotations

import importlib
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from slidemap.backends import CpuFeatures, cpu_features, cpuinfo_fields

#: Side of the square matrices of the peak measurement.
PEAK_N = 2048


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


def matmul_gflops(dtype: torch.dtype, n: int = PEAK_N, repeats: int = 5) -> list[float]:
    """GFLOP/s of ``torch.mm`` of two ``n`` × ``n`` matrices, one value per repeat.

    The first product (allocation, kernel selection) is not timed. The best
    repeat is the machine's peak for ``dtype``; the others show the noise.

    Args:
        dtype: torch.float32 or torch.bfloat16.
        n: matrix side.
        repeats: timed products.

    Returns:
        ``repeats`` values of ``2 n³ / seconds / 1e9``.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    out = torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return rates
