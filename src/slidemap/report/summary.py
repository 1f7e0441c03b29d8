"""The report's summary in words: what was run, the best setting, the transfer gap."""

from __future__ import annotations

import math

from slidemap.report.results import ExperimentResults, model_label
from slidemap.report.stats import BestSetting, best_setting, grouped, transfer_summary


def design_sentence(results: ExperimentResults) -> str:
    """What was trained and tested, with the counts."""
    jobs = len({r.job_key for r in results.rows})
    models = " and ".join(model_label(m) for m in results.models)
    patches = ", ".join(str(p) for p in results.patches)
    return (
        f"{_count(jobs, 'model')} {'was' if jobs == 1 else 'were'} trained ({models}; window "
        f"sizes {patches} px; {_count(len(results.scenarios), 'training scenario')}; "
        f"{_count(len(results.seeds), 'seed')}) and tested on "
        f"{_count(len(results.test_sets), 'test set')} ({_count(len(results.rows), 'result')})."
    )


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 seed", "3 seeds"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def best_sentence(best: BestSetting | None) -> str:
    """The best model, window size and scenario, with its F1."""
    if best is None:
        return "No F1 is defined in the results (no landslide predicted or in any reference)."
    spread = f" ± {best.f1.std:.3f}" if math.isfinite(best.f1.std) else ""
    where = (
        "on all test parts together" if best.test_set == "all" else "averaged over the test sets"
    )
    return (
        f"Best: {model_label(best.model)} with {best.patch} px windows trained in scenario "
        f"'{best.scenario}', F1 {best.f1.mean:.3f}{spread} {where}."
    )


def model_sentence(results: ExperimentResults) -> str:
    """Mean F1 of each model over every result."""
    stats = grouped(results.rows, lambda r: r.model)
    parts = [f"{model_label(m)} {stats[m].mean:.3f}" for m in results.models]
    return "Mean F1 over every scenario, window size and test set: " + ", ".join(parts) + "."


def summary_sentences(results: ExperimentResults) -> list[str]:
    """The summary paragraph of the report, one sentence per item."""
    transfer = transfer_summary(results.rows)
    return [
        design_sentence(results),
        best_sentence(best_setting(results)),
        "Transfer: " + transfer.sentence() + ".",
        model_sentence(results),
    ]
