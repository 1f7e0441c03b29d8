"""``run_experiment``: plan the jobs, run those not done, write results.csv and experiment.json."""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from slidemap.cluster import check_workers
from slidemap.errors import SlidemapError
from slidemap.evaluate import ALL
from slidemap.experiment.config import load_experiment_file
from slidemap.experiment.executor import connect, execute, threads_per_job
from slidemap.experiment.jobs import Job, JobResult, plan_jobs, read_result
from slidemap.experiment.results import result_rows, write_results_csv
from slidemap.io.atomic import OutputKind, check_writable_target, has_outputs, write_text_atomic
from slidemap.metrics import f1
from slidemap.progress import bar

log = logging.getLogger("slidemap")

#: An experiment directory (resumed, or replaced with ``overwrite``).
EXPERIMENT = OutputKind("an experiment", "experiment.json")


@dataclass(frozen=True)
class ExperimentSummary:
    """What :func:`run_experiment` did.

    Attributes:
        out: the experiment directory.
        results_csv: its ``results.csv``.
        jobs: distinct jobs in the matrix.
        ran: jobs run now.
        skipped: jobs done before (read back).
        rows: rows in ``results.csv``.
    """

    out: Path
    results_csv: Path
    jobs: int
    ran: int
    skipped: int
    rows: int


def run_experiment(
    exp_file: Path,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
) -> ExperimentSummary:
    """Run the experiment of ``exp_file`` into ``out``, resuming what an earlier run left.

    Nothing is written (nor deleted, with ``overwrite``) before the jobs can start: the
    experiment file, ``out`` and the Dask cluster or scheduler are checked first.

    Args:
        exp_file: the experiment file (TOML, see :mod:`slidemap.experiment`).
        out: experiment directory; created, or resumed when it holds an experiment.
        workers: 1 = sequential in this process; N > 1 = a Dask LocalCluster of N processes.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``)
            instead of a LocalCluster.
        overwrite: delete everything in ``out`` first (all jobs run again).

    Returns:
        A summary; ``out/results.csv`` and ``out/experiment.json`` are written.

    Raises:
        SlidemapError: a bad experiment file, ``out`` holds something else, Dask
            is missing or unreachable, or a job failed (finished jobs are kept).
    """
    check_workers(workers, scheduler)
    config = load_experiment_file(Path(exp_file))
    out = Path(out)
    _check_out(out, overwrite)
    threads = threads_per_job(config.train.threads, workers, scheduler)
    jobs = plan_jobs(config, out, threads)
    results: dict[str, JobResult] = {}
    pending: list[Job] = []
    for job in jobs:
        done = None if overwrite else read_result(job)
        if done is None:
            pending.append(job)
        else:
            results[job.key] = done
            log.info("job %s skipped (done before): %s", job.key, job.describe())
    log.info(
        "experiment %s: %d jobs, %d to run (%s)",
        config.name,
        len(jobs),
        len(pending),
        f"Dask at {scheduler}"
        if scheduler
        else f"{workers} Dask workers"
        if workers > 1
        else "sequentially",
    )
    by_key = {job.key: job for job in jobs}
    # connected (or the cluster started) before anything is written: a run that cannot
    # start leaves no experiment.json, and an experiment being resumed stays as it was
    with (
        connect(pending, workers, scheduler) as client,
        bar(total=len(jobs), desc="experiment", unit="job") as progress,
    ):
        _make_out(out, overwrite)
        design = {**config.to_dict(), "jobs": len(jobs), "threads_per_job": threads}
        write_text_atomic(out / "experiment.json", json.dumps(design, indent=2) + "\n")
        progress.update(len(results))
        for result in execute(pending, client):
            results[result.key] = result
            progress.update(1)
            job = by_key[result.key]
            log.info(
                "job %s done (%d/%d): %s, F1 on all test parts %s, %.1f s training",
                job.key,
                len(results),
                len(jobs),
                job.describe(),
                _fmt(f1(result.counts[ALL])),
                result.train_seconds,
            )
    rows = result_rows(config, jobs, results)
    write_results_csv(out / "results.csv", rows)
    return ExperimentSummary(
        out, out / "results.csv", len(jobs), len(pending), len(jobs) - len(pending), len(rows)
    )


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is neither new nor an experiment (to resume, or to replace
    with ``overwrite``); changes nothing on disk."""
    if out.exists() and not out.is_dir():
        raise SlidemapError(f"--out {out} exists and is not a directory")
    # a kill while writing experiment.json leaves only a .partial
    if has_outputs(out) and not EXPERIMENT.made(out):
        raise SlidemapError(
            f"--out {out} is not empty and holds no experiment (no experiment.json); "
            "choose another directory"
        )
    if overwrite and out.exists():
        check_writable_target(out, overwrite, EXPERIMENT)  # e.g. not the current directory


def _make_out(out: Path, overwrite: bool) -> None:
    """Create ``out`` (checked by :func:`_check_out`), emptied first with ``overwrite``."""
    if overwrite and has_outputs(out):
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SlidemapError(f"cannot create --out {out}: {exc.strerror}") from exc


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"
