"""Running jobs: in this process one after another, or on a Dask cluster.

* ``workers == 1`` and no scheduler: sequentially, in this process.
* ``workers > 1``: a ``dask.distributed.LocalCluster`` of ``workers`` worker
  processes with one thread each (one job per worker at a time).
* ``scheduler``: an existing Dask cluster at that address; every worker must
  see the areas and the output directory at the same (absolute) paths.

Jobs are submitted under their content key with ``retries`` (an unexpected
exception is retried; a worker that dies mid-job has its job rescheduled by
Dask, up to ``distributed.scheduler.allowed-failures`` times). A retried job
resumes from its ``last.pt`` and writes its ``result.json`` atomically, so
retries never duplicate or lose results. User errors are not retried: the
first failing job stops the run (finished jobs are kept).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from slidemap.cluster import cpu_cores, dask_client, import_dask
from slidemap.errors import SlidemapError
from slidemap.experiment.jobs import Job, JobFailure, JobResult, run_job

#: Dask retries of a job that raised an unexpected exception.
RETRIES = 2


def threads_per_job(threads: int | None, workers: int, scheduler: str | None) -> int:
    """Torch threads per job: ``threads`` if given, else cores // workers (1 with a scheduler)."""
    if threads is not None:
        return threads
    if scheduler is not None:
        return 1
    return max(1, cpu_cores() // workers)


def connect(
    jobs: Sequence[Job], workers: int, scheduler: str | None
) -> AbstractContextManager[Any]:
    """The Dask client that :func:`execute` runs ``jobs`` on: a new LocalCluster or the
    running ``scheduler`` (:func:`~slidemap.cluster.dask_client`); None (``nullcontext``)
    when they run in this process, or when there is no job to run.

    Raises:
        SlidemapError: Dask is not installed, or the scheduler cannot be reached.
    """
    if (scheduler is None and workers == 1) or not jobs:
        return nullcontext()
    return dask_client(workers, scheduler)


def execute(jobs: Sequence[Job], client: Any | None) -> Iterator[JobResult]:
    """Run ``jobs`` and yield each result as its job finishes: one after another in this
    process (``client`` None), or on the Dask cluster of ``client`` (:func:`connect`).

    Raises:
        SlidemapError: a job failed with a user error, or a worker kept dying.
    """
    if client is None:
        for job in jobs:
            yield _checked(run_job(job), job)
        return
    distributed = import_dask()
    futures = {
        client.submit(run_job, job, key=f"slidemap-job-{job.key}", retries=RETRIES, pure=False): job
        for job in jobs
    }
    try:
        for future in distributed.as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except distributed.KilledWorker as exc:
                raise SlidemapError(
                    f"job {job.key} ({job.describe()}): its Dask worker died repeatedly "
                    f"({exc}); out of memory? Use fewer --workers and run again"
                ) from exc
            yield _checked(outcome, job)
    finally:
        client.cancel(list(futures))


def _checked(outcome: JobResult | JobFailure, job: Job) -> JobResult:
    if isinstance(outcome, JobFailure):
        raise SlidemapError(
            f"job {job.key} ({job.describe()}) failed: {outcome.message} "
            "(finished jobs are kept; run the experiment again after fixing this)"
        )
    return outcome
