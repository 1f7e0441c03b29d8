"""Aggregates of the result rows: means over seeds, the transfer summary, the best setting.

Seeds are replicates of the whole experiment, so every aggregate is taken
within each seed first (for example the mean F1 over window sizes) and then
summarised across seeds as mean ± sample standard deviation. Undefined (NaN)
metrics are left out of a mean, never counted as 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from slidemap.report.results import ALL_TEST, ExperimentResults, ResultRow, model_label

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Stat:
    """A metric summarised over seeds.

    Attributes:
        mean: mean over seeds of the per-seed value; NaN when no seed has one.
        std: sample standard deviation over seeds; NaN with fewer than 2 seeds.
        n: number of seeds with a defined value.
    """

    mean: float
    std: float
    n: int


def over_seeds(rows: Iterable[ResultRow], metric: str = "f1") -> Stat:
    """Mean of ``metric`` within each seed, then mean ± std across seeds (NaN skipped)."""
    by_seed: dict[int, list[float]] = {}
    for r in rows:
        value = float(getattr(r, metric))
        if math.isfinite(value):
            by_seed.setdefault(r.seed, []).append(value)
    per_seed = [statistics.fmean(v) for v in by_seed.values()]
    if not per_seed:
        return Stat(math.nan, math.nan, 0)
    std = statistics.stdev(per_seed) if len(per_seed) > 1 else math.nan
    return Stat(statistics.fmean(per_seed), std, len(per_seed))


def grouped(
    rows: Iterable[ResultRow], key: Callable[[ResultRow], K], metric: str = "f1"
) -> dict[K, Stat]:
    """Group rows by ``key`` and summarise ``metric`` of each group over seeds."""
    groups: dict[K, list[ResultRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {k: over_seeds(g, metric) for k, g in groups.items()}


@dataclass(frozen=True)
class TransferSummary:
    """How well models trained on one area do on that area versus on the others.

    Only single-area training scenarios count. *In-area* rows test a model on
    the test part of the area it was trained on; *cross-area* rows test it on
    another area's test part (the pooled ``"all"`` test set is in neither).
    Means are plain means of the rows' F1 over models, window sizes and seeds.

    A *pair* is (model, training area A, test area B) with A ≠ B: it is *won*
    by in-area training when the model trained on B scores a higher F1 on B
    than the model trained on A (each F1 the mean over window sizes and
    seeds), so every comparison is on the same test pixels.

    Attributes:
        in_area_f1: mean in-area F1 in [0, 1]; NaN without such rows.
        cross_area_f1: mean cross-area F1 in [0, 1]; NaN without such rows.
        n_in_area: number of in-area rows with a defined F1.
        n_cross_area: number of cross-area rows with a defined F1.
        by_model: model → (in-area mean F1, cross-area mean F1).
        pairs: number of pairs with both F1 defined.
        pairs_won: number of those pairs where the in-area model scores higher.
    """

    in_area_f1: float
    cross_area_f1: float
    n_in_area: int
    n_cross_area: int
    by_model: dict[str, tuple[float, float]]
    pairs: int = 0
    pairs_won: int = 0

    @property
    def gap(self) -> float:
        """In-area minus cross-area mean F1 (positive: transfer costs accuracy)."""
        return self.in_area_f1 - self.cross_area_f1

    def sentence(self) -> str:
        """One line for people: the two means, the gap and the row counts."""
        if not self.n_in_area or not self.n_cross_area:
            return "no single-area training scenario with in-area and cross-area tests"
        models = "; ".join(
            f"{model_label(m)} {a:.3f} vs {b:.3f}" for m, (a, b) in self.by_model.items()
        )
        return (
            f"in-area mean F1 {self.in_area_f1:.3f} vs cross-area {self.cross_area_f1:.3f} "
            f"(gap {self.gap:+.3f}; {self.n_in_area} in-area and {self.n_cross_area} "
            f"cross-area tests; {models}); on each test area, the model trained there beats "
            f"the one trained on another area in {self.pairs_won} of {self.pairs} "
            "(model, training area, test area) pairs"
        )


def _in_or_cross(r: ResultRow) -> str | None:
    if len(r.train_areas) != 1 or r.test_set == ALL_TEST:
        return None
    return "in" if r.test_set == r.train_areas[0] else "cross"


def transfer_summary(rows: Iterable[ResultRow]) -> TransferSummary:
    """Mean F1 of single-area models on their own area versus on the other areas."""
    rows = list(rows)
    values: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        kind = _in_or_cross(r)
        if kind is not None and math.isfinite(r.f1):
            values.setdefault((r.model, kind), []).append(r.f1)

    def mean(kind: str, model: str | None = None) -> tuple[float, int]:
        v = [
            x
            for (m, k), xs in values.items()
            if k == kind and (model is None or m == model)
            for x in xs
        ]
        return (statistics.fmean(v) if v else math.nan), len(v)

    in_f1, n_in = mean("in")
    cross_f1, n_cross = mean("cross")
    models = dict.fromkeys(m for m, _ in values)
    by_model = {m: (mean("in", m)[0], mean("cross", m)[0]) for m in models}
    pairs, won = _pairs(rows)
    return TransferSummary(in_f1, cross_f1, n_in, n_cross, by_model, pairs, won)


def _pairs(rows: Iterable[ResultRow]) -> tuple[int, int]:
    """(pairs, pairs won by in-area training); see :class:`TransferSummary`."""
    single = [r for r in rows if _in_or_cross(r) is not None]
    stats = grouped(single, lambda r: (r.model, r.train_areas[0], r.test_set))
    pairs = won = 0
    for (model, trained, test), cross in stats.items():
        native = stats.get((model, test, test))
        if trained == test or native is None:
            continue
        if math.isfinite(native.mean) and math.isfinite(cross.mean):
            pairs += 1
            won += native.mean > cross.mean
    return pairs, won


@dataclass(frozen=True)
class BestSetting:
    """The model, window size and training scenario with the highest mean F1.

    ``test_set`` is what the F1 was measured on: ``"all"`` (every area's test
    part pooled, the same pixels for every scenario) when the results have it,
    else ``"mean of test sets"``.
    """

    scenario: str
    model: str
    patch: int
    test_set: str
    f1: Stat


def best_setting(results: ExperimentResults) -> BestSetting | None:
    """The setting with the highest mean F1 over seeds; ``None`` when no F1 is defined."""
    pooled = results.select(test_set=ALL_TEST)
    rows = pooled or list(results.rows)
    stats = grouped(rows, lambda r: (r.scenario, r.model, r.patch))
    defined = {k: s for k, s in stats.items() if math.isfinite(s.mean)}
    if not defined:
        return None
    (scenario, model, patch), stat = max(defined.items(), key=lambda kv: kv[1].mean)
    return BestSetting(scenario, model, patch, ALL_TEST if pooled else "mean of test sets", stat)
