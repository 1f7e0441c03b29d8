"""Inference backends behind one interface: PyTorch, ONNX Runtime and OpenVINO on the CPU.

A :class:`Backend` maps a batch of normalised windows, (N, C, h, w) float32,
to logits, (N, 1, h, w) float32, with h and w multiples of 16::

    backend = make_backend(model, info, "auto")
    logits = backend(batch)

* :class:`TorchBackend` — eager PyTorch in eval mode under
  ``torch.inference_mode``, channels-last memory format (oneDNN's fast conv
  path); ``precision="bf16"`` runs under CPU bf16 autocast.
* :class:`OnnxBackend` — the model exported with ``torch.onnx.export``
  (dynamic batch, height and width) and run by an ONNX Runtime CPU session.
  fp32 only.
* :class:`OpenVinoBackend` — the model converted with
  ``openvino.convert_model`` and compiled for the CPU with
  ``INFERENCE_PRECISION_HINT`` set explicitly: ``f32`` (exact; OpenVINO
  would otherwise pick bf16 by itself on CPUs that have it) or, only when
  asked for and only when the CPU has native bf16, ``bf16``.

``auto`` uses a static preference, OpenVINO > ONNX Runtime > torch, taking
the first one installed: on the 2-core AVX-512 machine slidemap is developed
on, OpenVINO f32 ran the U-Net about 2× faster than eager torch, ONNX
Runtime about 1.3× (see docs/predict.md), and all agree with torch to
~1e-6 in probability. A static order keeps ``auto`` deterministic and free
of start-up timing runs.

bf16 is opt-in and refused on CPUs without native bf16 (AVX-512-BF16 or
AMX), found at run time by :func:`cpu_features`.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from slidemap import __version__
from slidemap.checkpoint import ModelInfo
from slidemap.errors import SlidemapError
from slidemap.interrupts import interrupt_after
from slidemap.io.atomic import atomic_file

log = logging.getLogger("slidemap")

BACKENDS = ("auto", "torch", "onnx", "openvino")
PRECISIONS = ("fp32", "bf16")
#: ``auto`` takes the first installed of these (module docstring).
AUTO_ORDER = ("openvino", "onnx", "torch")
#: Python modules each optional backend needs.
_REQUIRES = {"onnx": ("onnx", "onnxruntime"), "openvino": ("openvino",)}
_EXAMPLE_PX = 64
ONNX_OPSET = 17


class Backend(Protocol):
    """Runs a model on a batch of windows.

    Attributes:
        name: "torch", "onnx" or "openvino".
        precision: "fp32" or "bf16".
    """

    name: str
    precision: str

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, h, w) float32 normalised windows → (N, 1, h, w) float32 logits."""
        ...


@dataclass(frozen=True)
class CpuFeatures:
    """Instruction-set features of this CPU, found at run time.

    Attributes:
        flags: lower-case flags from ``/proc/cpuinfo`` (empty where unreadable).
        torch_capability: ``torch.backends.cpu.get_cpu_capability()``
            ("AVX512", "AVX2", "DEFAULT", …).
    """

    flags: frozenset[str]
    torch_capability: str

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags or self.torch_capability.startswith("AVX512")

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    @property
    def amx(self) -> bool:
        return "amx_bf16" in self.flags and "amx_tile" in self.flags

    @property
    def bf16(self) -> bool:
        """Native bf16 arithmetic (AVX-512-BF16 or AMX)."""
        return self.avx512_bf16 or self.amx

    def describe(self) -> str:
        """E.g. ``"AVX-512 yes, AVX-512-BF16 yes, AMX no (torch: AVX512)"``."""

        def yes(flag: bool) -> str:
            return "yes" if flag else "no"

        return (
            f"AVX-512 {yes(self.avx512)}, AVX-512-BF16 {yes(self.avx512_bf16)}, "
            f"AMX {yes(self.amx)} (torch: {self.torch_capability})"
        )


def cpuinfo_fields(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[tuple[str, str]]:
    """``(key, value)`` of every ``key : value`` line of ``cpuinfo``, stripped; [] if unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    fields = (line.partition(":") for line in text.splitlines())
    return [(key.strip(), value.strip()) for key, sep, value in fields if sep]


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFeatures:
    """Read the CPU's features; nothing is assumed where ``cpuinfo`` is missing."""
    flags: set[str] = set()
    for key, value in cpuinfo_fields(cpuinfo):
        if key in ("flags", "Features"):
            flags.update(value.lower().split())
            break
    return CpuFeatures(frozenset(flags), str(torch.backends.cpu.get_cpu_capability()))


def installed(name: str) -> bool:
    """Whether the Python packages backend ``name`` needs can be imported."""
    for module in _REQUIRES.get(name, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            return False
    return True


def _require(name: str) -> None:
    if not installed(name):
        raise SlidemapError(
            f"backend {name!r} is not installed; pip install slidemap[fast] "
            f"(needs {', '.join(_REQUIRES[name])}) or use --backend torch"
        )


def _require_bf16(name: str) -> None:
    features = cpu_features()
    if not features.bf16:
        raise SlidemapError(
            f"--precision bf16 needs a CPU with native bf16 (AVX-512-BF16 or AMX); this one has "
            f"{features.describe()}; use --precision fp32"
        )
    log.info(
        "backend %s in bf16: probabilities differ from fp32 by up to ~1e-2, 1e-5 on average "
        "(docs/predict.md)",
        name,
    )


class TorchBackend:
    """Eager PyTorch: eval mode, ``torch.inference_mode``, channels-last, optional bf16.

    Args:
        model: maps (N, C, h, w) to (N, 1, h, w) logits; put in eval mode and
            converted to channels-last in place.
        precision: "fp32", or "bf16" for CPU bf16 autocast.
        threads: intra-op threads (``torch.set_num_threads``, process-wide); None keeps
            torch's default.
    """

    name = "torch"

    def __init__(self, model: nn.Module, precision: str = "fp32", threads: int | None = None):
        if threads is not None:
            torch.set_num_threads(threads)
        self.precision = precision
        self.model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        x = x.contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            logits = self.model(x)
        return logits.float().contiguous().numpy()


def onnx_bytes(model: nn.Module, in_channels: int) -> bytes:
    """The model as an ONNX graph with dynamic batch, height and width.

    Input ``image`` (N, C, H, W) float32, output ``logits`` (N, 1, H, W)
    float32; opset :data:`ONNX_OPSET`, TorchScript-based exporter.
    """
    model = model.eval()
    example = torch.zeros(1, in_channels, _EXAMPLE_PX, _EXAMPLE_PX)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with interrupt_after(), warnings.catch_warnings():
        # the TorchScript exporter warns that it is deprecated; the torch.export-based
        # one needs onnxscript, which slidemap does not depend on
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # file objects work; the stub says paths
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": axes, "logits": axes},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


class OnnxBackend:
    """ONNX Runtime on the CPU, fp32.

    Args:
        model: the network to export (see :func:`onnx_bytes`).
        in_channels: its number of input bands.
        threads: intra-op threads; None lets ONNX Runtime use one per physical core.
    """

    name = "onnx"
    precision = "fp32"

    def __init__(self, model: nn.Module, in_channels: int, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads or 0
        self.session = ort.InferenceSession(
            onnx_bytes(model, in_channels), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        (logits,) = self.session.run(["logits"], {"image": x})
        return np.asarray(logits, dtype=np.float32)


class OpenVinoBackend:
    """OpenVINO on the CPU, f32 (exact) or explicitly requested bf16.

    Args:
        model: the network, converted with ``openvino.convert_model``.
        in_channels: its number of input bands.
        precision: "fp32" (``INFERENCE_PRECISION_HINT=f32``) or "bf16".
        threads: ``INFERENCE_NUM_THREADS``; None lets OpenVINO choose.
    """

    name = "openvino"

    def __init__(
        self,
        model: nn.Module,
        in_channels: int,
        precision: str = "fp32",
        threads: int | None = None,
    ):
        import openvino as ov

        self.precision = precision
        with interrupt_after(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing warnings of the torch frontend
            converted = ov.convert_model(
                model.eval(),
                example_input=torch.zeros(1, in_channels, _EXAMPLE_PX, _EXAMPLE_PX),
                input=[ov.PartialShape([-1, in_channels, -1, -1])],
            )
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(converted, "CPU", config)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.compiled(x)[0], dtype=np.float32)


def auto_backend(precision: str = "fp32") -> str:
    """The backend "auto" stands for: the first installed of :data:`AUTO_ORDER`, for bf16
    OpenVINO or else torch (ONNX Runtime runs fp32 only)."""
    order = ("openvino", "torch") if precision == "bf16" else AUTO_ORDER
    return next(n for n in order if installed(n))


def make_backend(
    model: nn.Module,
    info: ModelInfo,
    name: str = "auto",
    precision: str = "fp32",
    threads: int | None = None,
) -> Backend:
    """Wrap ``model`` in the backend ``name``.

    Args:
        model: a network from :func:`slidemap.checkpoint.load_model`.
        info: its :class:`~slidemap.checkpoint.ModelInfo` (for the band count).
        name: "auto" (first installed of :data:`AUTO_ORDER`; for bf16, OpenVINO
            or else torch), "torch", "onnx" or "openvino".
        precision: "fp32" (every backend agrees with torch to ≤ 1e-4 in
            probability) or "bf16" (opt-in, needs native CPU bf16).
        threads: intra-op threads; None keeps each runtime's default.

    Raises:
        SlidemapError: unknown name or precision, a backend that is not
            installed, bf16 on ONNX Runtime or on a CPU without bf16.
    """
    if name not in BACKENDS:
        raise SlidemapError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise SlidemapError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
        )
    if threads is not None and threads < 1:
        raise SlidemapError(f"--threads must be at least 1, got {threads}")
    if name == "auto":
        name = auto_backend(precision)
    if name != "torch":
        _require(name)
    if precision == "bf16":
        if name == "onnx":
            raise SlidemapError(
                "the ONNX Runtime backend runs fp32 only; use --backend openvino or torch "
                "for --precision bf16"
            )
        _require_bf16(name)
    channels = len(info.band_names)
    log.debug("inference backend %s (%s), CPU: %s", name, precision, cpu_features().describe())
    if name == "onnx":
        return OnnxBackend(model, channels, threads)
    if name == "openvino":
        return OpenVinoBackend(model, channels, precision, threads)
    return TorchBackend(model, precision, threads)


def onnx_metadata(info: ModelInfo) -> dict[str, str]:
    """What a consumer of an exported model needs, as ONNX ``metadata_props`` strings."""
    return {
        "slidemap_version": __version__,
        "model_name": info.model_name,
        "model_config": json.dumps(info.model_config),
        "band_names": json.dumps(list(info.band_names)),
        "mean": json.dumps(list(info.mean)),
        "std": json.dumps(list(info.std)),
        "normalisation": "x' = (x - mean) / std per band, NaN -> 0; reflectance and slope (deg)",
        "patch_px": str(info.patch_px),
        "threshold": str(info.threshold),
        "output": "logits (N, 1, H, W); probability = sigmoid(logits); H, W multiples of 16",
    }


def export_onnx(model: nn.Module, info: ModelInfo, out: Path, overwrite: bool = False) -> Path:
    """Write the model as an ONNX file with its bands and normalisation in ``metadata_props``.

    Args:
        model: the network.
        info: its :class:`~slidemap.checkpoint.ModelInfo`.
        out: file to write (atomically: temporary name, then rename).
        overwrite: replace an existing ``out``.

    Raises:
        SlidemapError: ``onnx`` not installed, ``out`` exists without ``overwrite``.
    """
    try:
        import onnx
    except ImportError as exc:
        raise SlidemapError(
            "ONNX export needs the onnx package; pip install slidemap[fast]"
        ) from exc
    proto = onnx.load_from_string(onnx_bytes(model, len(info.band_names)))
    for key, value in onnx_metadata(info).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_file(Path(out), overwrite=overwrite) as tmp:
        onnx.save(proto, str(tmp))
    return Path(out)
