"""Jobs of the experiment matrix: one trained model each, identified by its content.

A job is one (training areas, model, patch, seed). Its key is the first 16
hex digits of the sha256 of its canonical configuration — JSON with sorted
keys of: model, patch, seed, the training areas (names and content
fingerprints, in training order), the test areas (likewise, sorted by name),
the training recipe (:meth:`TrainOptions.recipe`), the evaluation options
and the slidemap version. Anything that changes the result changes the key;
where the data lives, ``device`` and ``threads`` do not. Two scenarios with
the same training areas share one job.

An area's fingerprint is the sha256 over its ``area.json``, ``label.tif`` and
``split.tif`` (metadata with source checksums and band statistics of the
image, the labels and the split): re-preparing an area from other inputs
gives new keys, so its jobs run again.

A job directory ``jobs/<key>/`` holds, in the order written::

    job.json      the canonical configuration (the key is its hash)
    run/          the training run (slidemap train; resumed from last.pt, which is
                  deleted once the job is done: best.pt keeps the weights)
    eval/         slidemap evaluate output: <area>/{metrics.json,confusion.tif,map.png},
                  summary.json
    result.json   written atomically last: its existence means the job is done

``result.json`` holds ``key``, ``train_areas``, ``model``, ``patch``, ``seed``,
``best_epoch``, ``epochs_run``, ``stopped_early``, ``threshold`` (used in
evaluation), ``train_seconds`` (summed over the epochs in
``run/metrics.jsonl``, across resumes), ``test_sets`` (experiment area name
or ``"all"`` → the evaluation metrics: ``counts`` {tp, fp, fn, tn},
``pixels``, precision, recall, f1, iou, mcc, kappa (null where undefined),
``objects``), ``job`` (the canonical configuration) and ``slidemap_version``.

:func:`run_job` is idempotent: a done job is read back, an interrupted one
resumes its training and evaluates again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import Any

from slidemap import __version__
from slidemap.errors import SlidemapError
from slidemap.evaluate import ALL, EvalOptions, evaluate_run
from slidemap.experiment.config import ExperimentConfig, TrainOptions
from slidemap.io.atomic import write_text_atomic
from slidemap.metrics import Counts

KEY_HEX = 16
FINGERPRINT_FILES = ("area.json", "label.tif", "split.tif")


@dataclass(frozen=True)
class Job:
    """One model to train and evaluate.

    Attributes:
        key: content key (module docstring).
        directory: ``<experiment>/jobs/<key>``, absolute.
        train_areas: names of the training areas, in training order.
        model, patch, seed: what to train.
        scenarios: the scenarios this job serves.
        areas: (name, absolute directory) of every area of the experiment, the
            training areas among them; all are evaluated.
        train: training options.
        evaluate: evaluation options.
        threads: torch threads for training and evaluation.
        canonical: the canonical configuration (``job.json``).
    """

    key: str
    directory: Path
    train_areas: tuple[str, ...]
    model: str
    patch: int
    seed: int
    scenarios: tuple[str, ...]
    areas: tuple[tuple[str, Path], ...]
    train: TrainOptions
    evaluate: EvalOptions
    threads: int
    canonical: dict[str, Any]

    @property
    def result_path(self) -> Path:
        return self.directory / "result.json"

    def describe(self) -> str:
        """E.g. ``"scenario all, unet 64 px, seed 0"``."""
        return (
            f"scenario {','.join(self.scenarios)}, {self.model} {self.patch} px, seed {self.seed}"
        )


@dataclass(frozen=True)
class JobResult:
    """What a finished job measured (``result.json``).

    Attributes:
        key: the job key.
        best_epoch: epoch of the kept weights.
        epochs_run: epochs trained in total.
        threshold: decision threshold used in evaluation.
        train_seconds: training time summed over the epochs in ``run/metrics.jsonl``
            (across resumes).
        counts: test set (area name or "all") → pixel counts.
        skipped: True when the job was done before and only read back.
    """

    key: str
    best_epoch: int
    epochs_run: int
    threshold: float
    train_seconds: float
    counts: dict[str, Counts]
    skipped: bool = False


@dataclass(frozen=True)
class JobFailure:
    """A job that stopped with a user error (returned, not raised, so Dask does not retry it)."""

    key: str
    message: str


def area_fingerprint(directory: Path) -> str:
    """sha256 over the area's ``area.json``, ``label.tif`` and ``split.tif`` (module docstring)."""
    h = hashlib.sha256()
    for name in FINGERPRINT_FILES:
        path = Path(directory) / name
        h.update(name.encode())
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise SlidemapError(
                f"cannot read {path} ({exc.strerror}); prepare the area again"
            ) from exc
    return h.hexdigest()


def job_key(canonical: dict[str, Any]) -> str:
    """First :data:`KEY_HEX` hex digits of the sha256 of ``canonical`` as sorted-key JSON."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_HEX]


def plan_jobs(config: ExperimentConfig, out: Path, threads: int) -> list[Job]:
    """The distinct jobs of the matrix: scenarios × patches × models × seeds, deduplicated.

    Args:
        config: the experiment.
        out: the experiment output directory.
        threads: torch threads per job.

    Returns:
        Jobs in matrix order (scenario, patch, model, seed) of their first scenario.
    """
    out = Path(out).resolve()
    prints = {name: area_fingerprint(path) for name, path in config.areas}
    tests = [{"name": n, "fingerprint": prints[n]} for n in sorted(prints)]
    areas = tuple((name, path.resolve()) for name, path in config.areas)
    jobs: dict[str, Job] = {}
    axes = product(config.scenarios, config.patches, config.models, config.seeds)
    for (scenario, train_areas), patch, model, seed in axes:
        canonical = {
            "model": model,
            "patch": patch,
            "seed": seed,
            "train_areas": [{"name": n, "fingerprint": prints[n]} for n in train_areas],
            "test_areas": tests,
            "train": config.train.recipe(),
            "evaluate": config.evaluate.to_dict(),
            "slidemap_version": __version__,
        }
        key = job_key(canonical)
        if key in jobs:  # another scenario with the same training areas
            jobs[key] = replace(jobs[key], scenarios=(*jobs[key].scenarios, scenario))
            continue
        jobs[key] = Job(
            key=key,
            directory=out / "jobs" / key,
            train_areas=train_areas,
            model=model,
            patch=patch,
            seed=seed,
            scenarios=(scenario,),
            areas=areas,
            train=config.train,
            evaluate=config.evaluate,
            threads=threads,
            canonical=canonical,
        )
    return list(jobs.values())


def read_result(job: Job) -> JobResult | None:
    """The result of a done job (``result.json``), None when it is not done.

    Raises:
        SlidemapError: ``result.json`` is unreadable or belongs to another job.
    """
    path = job.result_path
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != job.key:
            raise ValueError(f"it is the result of job {data['key']}")
        counts = {
            name: Counts(**{k: int(v) for k, v in entry["counts"].items()})
            for name, entry in data["test_sets"].items()
        }
        return JobResult(
            key=job.key,
            best_epoch=int(data["best_epoch"]),
            epochs_run=int(data["epochs_run"]),
            threshold=float(data["threshold"]),
            train_seconds=float(data["train_seconds"]),
            counts=counts,
            skipped=True,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SlidemapError(
            f"{path} is corrupt ({exc}); delete {job.directory} and run the experiment again"
        ) from exc


def run_job(job: Job) -> JobResult | JobFailure:
    """Train and evaluate one job, or read it back when done (module docstring).

    Runs in the experiment process or on a Dask worker. A user error (bad
    data, diverging training) comes back as a :class:`JobFailure`; anything
    else is raised (and retried by Dask).
    """
    from slidemap.train import train

    done = read_result(job)
    if done is not None:
        return done
    try:
        job.directory.mkdir(parents=True, exist_ok=True)
        _remove_partials(job.directory)
        write_text_atomic(job.directory / "job.json", json.dumps(job.canonical, indent=2) + "\n")
        paths = dict(job.areas)
        run_dir = job.directory / "run"
        trained = train(
            job.train.train_config(
                tuple(paths[a] for a in job.train_areas),
                run_dir,
                job.model,
                job.patch,
                job.seed,
                job.threads,
            )
        )
        summary = evaluate_run(
            run_dir,
            [path for _, path in job.areas],
            job.directory / "eval",
            job.evaluate,
            overwrite=True,
            threads=job.threads,
            names=[name for name, _ in job.areas],
        )
    except SlidemapError as exc:
        return JobFailure(job.key, str(exc))
    test_sets = {name: s.to_dict() for name, s in summary.areas.items()}
    test_sets[ALL] = summary.all.to_dict()
    result = JobResult(
        key=job.key,
        best_epoch=trained.best_epoch,
        epochs_run=trained.epochs_run,
        threshold=summary.threshold,
        train_seconds=train_seconds(run_dir / "metrics.jsonl"),
        counts={n: Counts(**entry["counts"]) for n, entry in test_sets.items()},
    )
    payload = {
        "key": job.key,
        "train_areas": list(job.train_areas),
        "model": job.model,
        "patch": job.patch,
        "seed": job.seed,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": trained.stopped_early,
        "threshold": result.threshold,
        "train_seconds": result.train_seconds,
        "test_sets": test_sets,
        "job": job.canonical,
        "slidemap_version": __version__,
    }
    write_text_atomic(job.result_path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    (run_dir / "last.pt").unlink(missing_ok=True)  # only needed to resume; best.pt stays
    return result


def train_seconds(metrics: Path) -> float:
    """Sum of the per-epoch ``seconds`` in a run's ``metrics.jsonl`` (0 when absent)."""
    if not metrics.is_file():
        return 0.0
    total = 0.0
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            seconds = float(json.loads(line)["seconds"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if math.isfinite(seconds):
            total += seconds
    return total


def _remove_partials(directory: Path) -> None:
    """Remove temporary outputs a killed attempt of this job left behind."""
    import shutil

    for path in directory.glob(".*.partial"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
