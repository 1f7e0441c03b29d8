"""What ``slidemap bench`` measured: measurements, skipped items, targets, and the JSON file.

Every number is a :class:`Measurement` with a unit. A measurement compared
with another one names it as ``baseline`` and carries a ``ratio``: a speed-up
for throughputs (higher is better), the fraction of the machine's peak for
achieved GFLOP/s (of inference and of training), the growth over the
smallest scene for scene throughput and memory. Measurements without a
comparison (peak, probability differences) have ``baseline`` and ``ratio``
None.

The ratio is ``value / baseline value``, except for measurements timed in
rounds together with their baseline (training and inference throughput: each
round runs the baseline and every candidate in turn). Their ratio is the
median over rounds of the ratio within each round (the lower of the two
middle ones for an even number of rounds), so that the machine getting
faster or slower between rounds, as a shared machine does, cancels out
instead of favouring whichever candidate happened to run in its fastest
minutes.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slidemap.io.atomic import atomic_file

if TYPE_CHECKING:
    from slidemap.backends import CpuFeatures

SCHEMA = "slidemap-bench/4"


@dataclass(frozen=True)
class Measurement:
    """One measured number.

    Attributes:
        name: unique dotted name, e.g. ``train.unet.64.naive`` (group first).
        group: "peak", "train", "train_gflops", "accuracy", "infer", "gflops", "maxdiff",
            "scene".
        value: the number, in ``unit``.
        unit: e.g. "windows/s", "Mpx/s", "GFLOP/s", "probability", "F1", "MiB".
        params: what was measured (model, window, backend, precision, threads, …).
        baseline: name of the measurement this one is compared with, or None.
        ratio: ``value / baseline's value``, or the median ratio within rounds
            (module docstring); None without a baseline or when a value is not > 0.
        samples: the individual repeats (same unit); ``value`` is their best (fastest).
    """

    name: str
    group: str
    value: float
    unit: str
    params: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    ratio: float | None = None
    samples: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["samples"] = list(self.samples)
        return d


@dataclass(frozen=True)
class Skipped:
    """A measurement that was not made, and why (e.g. bf16 on a CPU without native bf16)."""

    name: str
    reason: str

    @classmethod
    def no_bf16(cls, name: str, features: CpuFeatures) -> Skipped:
        """``name`` skipped because this CPU has no native bf16 (emulated bf16 is slow)."""
        return cls(name, f"no native bf16 on this CPU ({features.describe()})")


@dataclass(frozen=True)
class Target:
    """A SPEC §8 target and whether this run met it.

    Attributes:
        name: short key, e.g. "fp32_inference_peak".
        goal: the target in words.
        measured: the measured value the verdict rests on (None when not measured).
        unit: its unit.
        met: True/False, None when it could not be judged in this run.
        basis: which measurements (and, if so, which extrapolation) it rests on.
    """

    name: str
    goal: str
    measured: float | None
    unit: str
    met: bool | None
    basis: str


def compared(
    name: str,
    group: str,
    value: float,
    unit: str,
    baseline: Measurement | None,
    params: dict[str, Any] | None = None,
    samples: tuple[float, ...] = (),
    rounds: bool = False,
) -> Measurement:
    """A measurement compared with ``baseline`` (ratio None when a value is not > 0).

    ``baseline`` None: the measurement is itself a baseline (no ratio).
    ``rounds``: ``samples`` and the baseline's come from the same rounds, in
    order; the ratio is then their median ratio within a round (module docstring).
    """
    if baseline is None:
        return Measurement(name, group, value, unit, params or {}, samples=samples)
    ratio = value / baseline.value if value > 0 and baseline.value > 0 else None
    if rounds and ratio is not None:
        if not samples or len(samples) != len(baseline.samples):
            raise ValueError(f"{name}: {len(samples)} rounds, baseline {len(baseline.samples)}")
        within = round_ratios(samples, baseline.samples)
        ratio = statistics.median_low(within) if within else None
    return Measurement(name, group, value, unit, params or {}, baseline.name, ratio, samples)


def round_ratios(samples: Sequence[float], baseline: Sequence[float]) -> tuple[float, ...]:
    """``sample / baseline sample`` within each round, in round order.

    Args:
        samples, baseline: one value per round each, from the same rounds.

    Returns:
        The ratios; empty when the counts differ or a value is not > 0.
    """
    if len(samples) != len(baseline) or not all(v > 0 for v in (*samples, *baseline)):
        return ()
    return tuple(s / b for s, b in zip(samples, baseline, strict=True))


@dataclass
class BenchReport:
    """Everything one bench run found; :meth:`to_dict` is the JSON document.

    Attributes:
        mode: "tiny", "quick", "standard" or "full".
        machine: CPU, cores, threads, features, versions, load (see :mod:`.machine`).
        measurements: in the order they were made.
        skipped: what was not measured on this machine, and why.
        targets: SPEC §8 verdicts (filled at the end of the run).
        defaults: slidemap's defaults here and the fastest options measured
            (:func:`slidemap.bench.defaults.defaults`; filled at the end).
        seconds: wall time of the whole run.
    """

    mode: str
    machine: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, *items: Measurement) -> None:
        """Append measurements; names must be unique."""
        known = {m.name for m in self.measurements}
        for m in items:
            if m.name in known:
                raise ValueError(f"duplicate measurement {m.name}")
            known.add(m.name)
            self.measurements.append(m)

    def get(self, name: str) -> Measurement | None:
        """The measurement called ``name``, or None."""
        return next((m for m in self.measurements if m.name == name), None)

    def group(self, group: str) -> list[Measurement]:
        """Measurements of one group, in order."""
        return [m for m in self.measurements if m.group == group]

    def to_dict(self, version: str, created: str) -> dict[str, Any]:
        """The JSON document (schema :data:`SCHEMA`, see docs/performance.md)."""
        return {
            "schema": SCHEMA,
            "slidemap_version": version,
            "created": created,
            "mode": self.mode,
            "seconds": self.seconds,
            "machine": self.machine,
            "measurements": [m.to_dict() for m in self.measurements],
            "skipped": [asdict(s) for s in self.skipped],
            "targets": [asdict(t) for t in self.targets],
            "defaults": self.defaults,
        }


def write_json(document: dict[str, Any], out: Path, overwrite: bool = False) -> Path:
    """Write ``document`` to ``out`` atomically; NaN/±Inf become null (they are not JSON).

    Raises:
        SlidemapError: ``out`` exists without ``overwrite``, or its directory is not writable.
    """
    text = json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"
    with atomic_file(Path(out), overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN/±Inf float replaced by None (a failed ratio is "no ratio")."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
