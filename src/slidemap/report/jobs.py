"""Per-job artefacts of an experiment: training curves and TP/FP/FN maps.

``slidemap experiment`` gives every trained model a job directory
``jobs/<job_key>/`` holding ``run/metrics.jsonl`` (one JSON object per epoch)
and ``eval/<test_set>/confusion.tif`` (TP/FP/FN codes, see
:mod:`slidemap.confusion`) beside ``map.png``. A job that has not finished may
lack either; the report shows what is there.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from slidemap.report.results import ExperimentResults

log = logging.getLogger("slidemap")


@dataclass(frozen=True)
class Job:
    """One trained model of the experiment as one scenario uses it.

    Scenarios with the same training areas share a job (and its ``key``), so
    one key may appear under several scenarios.
    """

    key: str
    scenario: str
    model: str
    patch: int
    seed: int


@dataclass(frozen=True)
class Curve:
    """Training curve of one job: per-epoch losses (binary cross-entropy, NaN if missing)."""

    epochs: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]


def experiment_jobs(results: ExperimentResults) -> list[Job]:
    """The distinct (scenario, job) pairs behind the result rows, in row order."""
    jobs: dict[tuple[str, str], Job] = {}
    for r in results.rows:
        jobs.setdefault(
            (r.scenario, r.job_key), Job(r.job_key, r.scenario, r.model, r.patch, r.seed)
        )
    return list(jobs.values())


def job_dir(results: ExperimentResults, key: str) -> Path:
    """``DIR/jobs/<key>``."""
    return results.directory / "jobs" / key


def read_curve(path: Path) -> Curve | None:
    """Read a ``metrics.jsonl`` training log; ``None`` when absent or without an epoch.

    Lines that are not JSON objects with an ``epoch`` (a line cut short by an
    interrupted run) are skipped with a warning.
    """
    if not path.is_file():
        return None
    points: dict[int, tuple[float, float]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            epoch = int(record["epoch"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("%s line %d is not an epoch record; skipped", path, number)
            continue
        points[epoch] = (_number(record.get("train_loss")), _number(record.get("val_loss")))
    if not points:
        return None
    epochs = sorted(points)
    return Curve(
        tuple(epochs), tuple(points[e][0] for e in epochs), tuple(points[e][1] for e in epochs)
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def training_curves(results: ExperimentResults) -> dict[Job, Curve]:
    """The training curve of every job that has one on disk, once per key.

    A job shared by several scenarios is listed under the first of them.
    """
    curves: dict[Job, Curve] = {}
    seen: set[str] = set()
    for job in experiment_jobs(results):
        if job.key in seen:
            continue
        seen.add(job.key)
        curve = read_curve(job_dir(results, job.key) / "run" / "metrics.jsonl")
        if curve is not None:
            curves[job] = curve
    return curves


def confusion_path(results: ExperimentResults, job: Job, test_set: str) -> Path | None:
    """``jobs/<key>/eval/<test_set>/confusion.tif`` (TP/FP/FN codes) if it exists."""
    path = job_dir(results, job.key) / "eval" / test_set / "confusion.tif"
    return path if path.is_file() else None
