"""``results.csv``: one row per scenario × model × patch × seed × test set.

Columns (exactly, in this order): see :data:`COLUMNS`. ``train_areas`` joins
the scenario's training areas with ``+``; ``test_set`` is an area name or
``all`` (every test part together, summed counts). Ratios are computed from
the counts (:mod:`slidemap.metrics`) and written with full precision (Python
``repr``); an undefined ratio is an empty field. ``train_seconds`` has three
decimals. Rows are sorted by scenario, model, patch and seed in the order of
the experiment file, then test set (areas in file order, ``all`` last).
"""

from __future__ import annotations

import csv
import io
import math
from itertools import product
from pathlib import Path

from slidemap.evaluate import ALL
from slidemap.experiment.config import ExperimentConfig
from slidemap.experiment.jobs import Job, JobResult
from slidemap.io.atomic import write_text_atomic
from slidemap.metrics import f1, iou, mcc, precision, recall

COLUMNS = (
    *("scenario", "train_areas", "model", "patch", "seed", "test_set"),
    *("tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "mcc"),
    *("best_epoch", "train_seconds", "job_key"),
)


def result_rows(
    config: ExperimentConfig, jobs: list[Job], results: dict[str, JobResult]
) -> list[dict[str, str]]:
    """The rows of ``results.csv`` (module docstring), as strings.

    Args:
        config: the experiment.
        jobs: its planned jobs (:func:`~slidemap.experiment.jobs.plan_jobs`).
        results: job key → result, for every job.

    Raises:
        KeyError: a job has no result.
    """
    by_axes = {(s, j.model, j.patch, j.seed): j for j in jobs for s in j.scenarios}
    test_sets = [*(name for name, _ in config.areas), ALL]
    rows = []
    axes = product(config.scenarios, config.models, config.patches, config.seeds, test_sets)
    for (scenario, train_areas), model, patch, seed, test_set in axes:
        job = by_axes[(scenario, model, patch, seed)]
        result = results[job.key]
        c = result.counts[test_set]
        rows.append(
            {
                "scenario": scenario,
                "train_areas": "+".join(train_areas),
                "model": model,
                "patch": str(patch),
                "seed": str(seed),
                "test_set": test_set,
                "tp": str(c.tp),
                "fp": str(c.fp),
                "fn": str(c.fn),
                "tn": str(c.tn),
                "precision": _real(precision(c)),
                "recall": _real(recall(c)),
                "f1": _real(f1(c)),
                "iou": _real(iou(c)),
                "mcc": _real(mcc(c)),
                "best_epoch": str(result.best_epoch),
                "train_seconds": f"{result.train_seconds:.3f}",
                "job_key": job.key,
            }
        )
    return rows


def write_results_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` with the header :data:`COLUMNS`, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(Path(path), buffer.getvalue())


def _real(x: float) -> str:
    return "" if math.isnan(x) else repr(x)
