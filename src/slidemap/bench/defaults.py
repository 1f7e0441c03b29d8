"""slidemap's defaults on this machine, and the fastest option the bench measured beside them.

"Make the defaults fast" needs the evidence side by side: for every inference
model and every training size, the speed-up over the naive baseline of what
runs when the user gives no option (``predict --backend auto``, fp32;
``train`` with :class:`~slidemap.train.TrainConfig`'s defaults), of the
fastest option that keeps results (fp32; for inference also within 1e-5 of
eager in probability) and of the fastest option of any kind (bf16 included).
"""

from __future__ import annotations

from typing import Any

from slidemap.backends import CpuFeatures, auto_backend
from slidemap.bench.results import BenchReport, Measurement
from slidemap.bench.targets import exact_fp32, option_label
from slidemap.bench.training import default_recipe


def _choice(row: Measurement | None) -> dict[str, Any] | None:
    return None if row is None else {"option": option_label(row), "speedup": row.ratio}


def _best(rows: list[Measurement]) -> dict[str, Any] | None:
    return _choice(max(rows, key=lambda m: m.ratio or 0.0)) if rows else None


def defaults(report: BenchReport, features: CpuFeatures) -> dict[str, Any]:
    """What runs by default here and the fastest measured alternatives.

    Args:
        report: the measurements of this run (``infer`` and ``train`` groups).
        features: the CPU's features (bf16 options exist only with native bf16).

    Returns:
        ``{"predict": …, "train": …, "compared": [{"what", "default",
        "fastest_exact", "fastest"}, …]}``; each choice is ``{"option",
        "speedup"}`` (speed-up over the naive baseline) or None when not measured.
    """
    recipe = default_recipe(features)
    backend = auto_backend()
    compared: list[dict[str, Any]] = []
    infer = [m for m in report.group("infer") if m.ratio is not None]
    for model in dict.fromkeys(m.params["model"] for m in infer):
        rows = [m for m in infer if m.params["model"] == model]
        compared.append(
            {
                "what": f"infer {model}",
                "default": _choice(report.get(f"infer.{model}.{backend}-fp32")),
                "fastest_exact": _best([m for m in rows if exact_fp32(report, m)]),
                "fastest": _best(rows),
            }
        )
    train = [m for m in report.group("train") if m.ratio is not None]
    for key in dict.fromkeys((m.params["model"], m.params["patch"]) for m in train):
        rows = [m for m in train if (m.params["model"], m.params["patch"]) == key]
        compared.append(
            {
                "what": f"train {key[0]} {key[1]}",
                "default": _choice(report.get(f"train.{key[0]}.{key[1]}.default")),
                "fastest_exact": _best([m for m in rows if m.params["precision"] == "fp32"]),
                "fastest": _best(rows),
            }
        )
    return {
        "predict": {"backend": backend, "precision": "fp32", "bf16_available": features.bf16},
        "train": {"channels_last": recipe.channels_last, "precision": recipe.precision},
        "compared": compared,
    }
