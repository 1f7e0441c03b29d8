"""Inference throughput of every backend against the naive eager baseline, and their accuracy.

All candidates run through :func:`slidemap.infer.predict_probabilities` with
``predict``'s default window, overlap and batch, so they compute the same
windows and blend them the same way; only the backend differs:

* ``naive``: :class:`EagerBackend`, what plain PyTorch code does (eval mode,
  ``torch.no_grad``, fp32, default memory format);
* ``torch-fp32``, ``onnx-fp32``, ``openvino-fp32``: slidemap's backends
  (:func:`slidemap.backends.make_backend`);
* ``torch-bf16``, ``openvino-bf16``: the opt-in fast mode, only on CPUs with
  native bf16. (No backend offers int8.)

Backends are built and warmed up (one call at the window size) before any
timing; rounds run every backend once in turn, so load from other processes
affects them alike. Each one's best round is its value (other processes only
ever slow a run down, so the fastest round is the least disturbed one); its
speed-up is the median over rounds of its speed-up within a round
(:mod:`slidemap.bench.results`).
Throughput is scene pixels per second; achieved GFLOP/s counts the FLOPs of
every window actually run (overlaps included). After every round
the fp32 matmul peak is sampled again (``sample_peak`` of :func:`measure`: a
short burst of products per peak op), so that the share of the peak is taken
within a round too (:func:`gflops`): the speed of a shared VM drifts by
20–30 % over minutes, and the best of many peak samples over the whole run
against the best of three inference rounds would understate the share.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from slidemap.backends import BACKENDS, Backend, CpuFeatures, installed, make_backend
from slidemap.bench.machine import fastest_op
from slidemap.bench.results import Measurement, Skipped, compared
from slidemap.checkpoint import ModelInfo
from slidemap.infer import layout, predict_probabilities
from slidemap.metrics import Counts

NAIVE = "naive"


class EagerBackend:
    """The naive baseline: eval mode, ``torch.no_grad``, fp32, default (NCHW) memory format.

    Args:
        model: maps (N, C, h, w) to (N, 1, h, w) logits; put in eval mode.
    """

    name = NAIVE
    precision = "fp32"

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, h, w) float32 → (N, 1, h, w) float32 logits."""
        with torch.no_grad():
            return self.model(torch.from_numpy(batch)).numpy()


@dataclass(frozen=True)
class WindowPlan:
    """How ``predict`` lays windows over an image.

    Attributes:
        window, overlap: window side and overlap in pixels.
        batch: windows per backend call.
    """

    window: int
    overlap: int
    batch: int

    def windows(self, side: int) -> int:
        """Windows run over a ``side`` × ``side`` image."""
        return len(layout(side, side, self.window, self.overlap).windows)

    def window_side(self, side: int) -> int:
        """Side of the windows run over a ``side`` × ``side`` image (smaller on small images)."""
        return layout(side, side, self.window, self.overlap).windows[0].height


def backends(
    model: nn.Module, info: ModelInfo, features: CpuFeatures, threads: int | None
) -> tuple[dict[str, Backend], list[Skipped]]:
    """The naive baseline and every slidemap backend this machine can run.

    Each gets its own copy of ``model`` (the torch backend converts its copy
    to channels-last in place).

    Returns:
        ``({label: backend}, skipped)``; the naive baseline comes first.
    """
    out: dict[str, Backend] = {NAIVE: EagerBackend(copy.deepcopy(model))}
    skipped = []
    for name in (b for b in BACKENDS if b != "auto"):
        if name != "torch" and not installed(name):
            skipped.append(Skipped(f"infer {name}", "not installed (pip install slidemap[fast])"))
            continue
        for precision in ("fp32", "bf16"):
            label = f"{name}-{precision}"
            if precision == "bf16" and name == "onnx":
                continue  # ONNX Runtime's CPU backend is fp32 only
            if precision == "bf16" and not features.bf16:
                skipped.append(Skipped.no_bf16(f"infer {label}", features))
                continue
            out[label] = make_backend(copy.deepcopy(model), info, name, precision, threads)
    return out, skipped


def warm_up(backend: Backend, channels: int, plan: WindowPlan, side: int) -> None:
    """One call on a batch of the window size the timed runs use (kernel selection, compilation)."""
    window = plan.window_side(side)
    backend(np.zeros((plan.batch, channels, window, window), np.float32))


def timed_rounds(
    runs: Mapping[str, Callable[[], np.ndarray]],
    rounds: int,
    after_round: Callable[[], None] | None = None,
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Run every callable once per round, in turn, then ``after_round`` (untimed).

    Returns:
        ``(seconds, results)``: per label, the seconds of each round and the
        result of the first round.
    """
    seconds: dict[str, list[float]] = {label: [] for label in runs}
    results: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            result = run()
            seconds[label].append(time.perf_counter() - start)
            results.setdefault(label, result)
        if after_round is not None:
            after_round()
    return seconds, results


def probability_runs(
    candidates: dict[str, Backend], image: np.ndarray, plan: WindowPlan
) -> dict[str, Callable[[], np.ndarray]]:
    """One :func:`~slidemap.infer.predict_probabilities` call per backend over ``image``.

    Args:
        candidates: label → backend.
        image: (C, H, W) float32 normalised image.
        plan: window, overlap, batch.
    """

    def run(backend: Backend) -> Callable[[], np.ndarray]:
        return lambda: predict_probabilities(backend, image, plan.window, plan.overlap, plan.batch)

    return {label: run(backend) for label, backend in candidates.items()}


def diff_stats(a: np.ndarray, b: np.ndarray, threshold: float) -> dict[str, float]:
    """How far probability map ``a`` is from the reference ``b`` (NaN pixels ignored).

    Args:
        a, b: (H, W) float32 probabilities.
        threshold: the model's decision threshold.

    Returns:
        ``max_abs_diff`` and ``mean_abs_diff`` of the probabilities, and
        ``flipped_share``: the share of pixels whose class at ``threshold`` differs.
    """
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return {"max_abs_diff": 0.0, "mean_abs_diff": 0.0, "flipped_share": 0.0}
    pa, pb = a[both].astype(np.float64), b[both].astype(np.float64)
    diff = np.abs(pa - pb)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "flipped_share": float(((pa >= threshold) != (pb >= threshold)).mean()),
    }


def counts_at(probability: np.ndarray, label: np.ndarray, scored: np.ndarray, t: float) -> Counts:
    """Confusion counts of ``probability >= t`` against ``label`` over ``scored`` pixels.

    Args:
        probability: (H, W) float32, NaN where not predicted.
        label: (H, W) uint8 0/1.
        scored: (H, W) bool.
        t: threshold.
    """
    return Counts.from_arrays(np.nan_to_num(probability) >= t, label == 1, scored)


@dataclass
class InferenceResult:
    """What :func:`measure` found for one model.

    Attributes:
        measurements: ``infer.<model>.<label>`` (Mpx/s) and ``maxdiff.<model>.<label>``.
        skipped: backends this machine cannot run.
        candidates: the backends, built (for further use, e.g. F1 per backend).
        peak_rounds: peak op → its fp32 GFLOP/s in each round (see :func:`round_peak`).
    """

    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    candidates: dict[str, Backend] = field(default_factory=dict)
    peak_rounds: dict[str, list[float]] = field(default_factory=dict)


def measure(
    model: nn.Module,
    info: ModelInfo,
    image: np.ndarray,
    features: CpuFeatures,
    threads: int | None,
    plan: WindowPlan,
    rounds: int,
    extra: dict[str, object] | None = None,
    sample_peak: Callable[[], dict[str, float]] | None = None,
) -> InferenceResult:
    """Scene throughput of the naive baseline and every backend, and their max |Δp|.

    Args:
        model: the network (not modified; each backend gets a copy).
        info: its bands and normalisation.
        image: (C, side, side) float32 normalised image.
        features: the CPU's features (bf16 backends only with native bf16).
        threads: runtime threads.
        plan: ``predict``'s window, overlap and batch.
        rounds: timed runs of every backend, in turn.
        extra: more params for every row (e.g. where the weights come from).
        sample_peak: called after every round: peak op → fp32 GFLOP/s sampled now.
    """
    from slidemap.models import count_flops

    side = image.shape[-1]
    candidates, skipped = backends(model, info, features, threads)
    for backend in candidates.values():
        warm_up(backend, image.shape[0], plan, side)
    peak_rounds: dict[str, list[float]] = {}

    def after_round() -> None:
        if sample_peak is not None:
            for op, rate in sample_peak().items():
                peak_rounds.setdefault(op, []).append(rate)

    seconds, probs = timed_rounds(probability_runs(candidates, image, plan), rounds, after_round)
    window = plan.window_side(side)
    params = {
        "model": info.model_name,
        "side": side,
        "window": plan.window,
        "overlap": plan.overlap,
        "batch": plan.batch,
        "windows": plan.windows(side),
        "flops_per_window": count_flops(model, window, window),
        "threads": threads,
        **(extra or {}),
    }
    out: list[Measurement] = []
    for label, secs in seconds.items():
        rates = tuple(side * side / 1e6 / s for s in secs)
        backend = candidates[label]
        row_params = {**params, "backend": backend.name, "precision": backend.precision}
        name = f"infer.{info.model_name}.{label}"
        naive = out[0] if out else None
        out.append(
            compared(name, "infer", max(rates), "Mpx/s", naive, row_params, rates, rounds=True)
        )
        if naive is None:
            continue
        stats = diff_stats(probs[label], probs[NAIVE], info.threshold)
        out.append(
            Measurement(
                f"maxdiff.{info.model_name}.{label}",
                "maxdiff",
                stats.pop("max_abs_diff"),
                "probability",
                {**row_params, **stats, "threshold": info.threshold},
            )
        )
    return InferenceResult(out, skipped, candidates, peak_rounds)


def round_peak(
    model: str, peak_rounds: Mapping[str, list[float]], peak: Measurement
) -> Measurement:
    """``peak.fp32.infer.<model>``: the fp32 matmul peak of each round of ``model``'s
    inference (the fastest op's rate in that round), compared with the run's ``peak``.

    Its ``samples`` are the per-round rates, its value the best of them;
    ``params`` give every op's best (``op_peaks``) and the op of the best value.
    """
    rounds = len(next(iter(peak_rounds.values())))
    per_round = [max(rates[r] for rates in peak_rounds.values()) for r in range(rounds)]
    op, best = fastest_op(peak_rounds)
    params = {"model": model, "op": op, "op_peaks": best}
    name = f"peak.fp32.infer.{model}"
    return compared(name, "peak", max(per_round), "GFLOP/s", peak, params, tuple(per_round))


def gflops(infer_rows: list[Measurement], peak: Measurement) -> list[Measurement]:
    """``gflops.<model>.<label>``: FLOPs of the windows run per second, as a fraction of
    ``peak``: the median over rounds of the fraction within a round.

    Args:
        infer_rows: ``infer`` measurements made by :func:`measure` (their params
            hold side, windows and FLOPs per window), all of one model.
        peak: that model's :func:`round_peak` (GFLOP/s, one sample per round).
    """
    out = []
    for row in infer_rows:
        p = row.params
        flops_per_scene = p["windows"] * p["flops_per_window"]
        rates = tuple(flops_per_scene * mpx * 1e6 / p["side"] ** 2 / 1e9 for mpx in row.samples)
        name = "gflops." + row.name.split(".", 1)[1]
        out.append(compared(name, "gflops", max(rates), "GFLOP/s", peak, p, rates, rounds=True))
    return out
