"""A Dask client for independent jobs: a new LocalCluster, or a running scheduler.

The experiment (:mod:`slidemap.experiment.executor`) spreads its jobs and
scene prediction (:mod:`slidemap.predict_distributed`) its row bands over
``dask.distributed``: with
``--workers N`` on a ``LocalCluster`` of N single-threaded worker processes,
with ``--scheduler tcp://host:8786`` on an existing cluster (every worker must
see the inputs and the output directory at the same absolute paths). Dask is
the optional extra ``slidemap[distributed]``.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

from slidemap.errors import SlidemapError
from slidemap.interrupts import in_main_thread

CONNECT_TIMEOUT = "20s"

#: The warning a Dask worker logs for each task still running when it closes ("should
#: exclusively happen in Worker.close()", says Dask): after every Ctrl-C with --workers.
CLOSED_WHILE_RUNNING = re.compile(r"Async instruction for .* ended with CancelledError")


class QuietClose(logging.Filter):
    """Drop :data:`CLOSED_WHILE_RUNNING` records; pass every other one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return CLOSED_WHILE_RUNNING.fullmatch(record.getMessage()) is None


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run in each worker of :func:`dask_client`'s LocalCluster as it
    starts (a restarted one too): keep the worker's closing warnings off the terminal."""
    logger = logging.getLogger("distributed.worker.state_machine")
    if not any(isinstance(f, QuietClose) for f in logger.filters):
        logger.addFilter(QuietClose())


def import_dask() -> ModuleType:
    """``dask.distributed``, or a SlidemapError saying how to install it."""
    try:
        import dask.distributed
    except ImportError as exc:
        raise SlidemapError(
            "--workers > 1 and --scheduler run jobs on Dask, which is not installed: "
            "pip install 'slidemap[distributed]'"
        ) from exc
    return dask.distributed


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: int, scheduler: str | None) -> None:
    """Refuse fewer than one worker, both ``--workers`` (> 1) and ``--scheduler``, a
    scheduler address Dask cannot read (``junk``, a missing port), or Dask missing where
    it is needed (``--workers`` > 1 or ``--scheduler``); connects to nothing.

    Raises:
        SlidemapError: any of these mistakes.
    """
    if workers < 1:
        raise SlidemapError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None and workers != 1:
        raise SlidemapError("--workers and --scheduler exclude each other; give one")
    if workers > 1 or scheduler is not None:
        import_dask()
    if scheduler is not None:
        from distributed.comm import get_address_host_port

        try:
            get_address_host_port(scheduler)
        except ValueError as exc:
            raise SlidemapError(
                f"--scheduler {scheduler!r} is not a Dask scheduler address ({exc}); give "
                "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786"
            ) from exc


@contextmanager
def workers_ignore_ctrl_c() -> Iterator[None]:
    """Ignore SIGINT while the block starts processes: they keep ignoring it for good.

    A terminal sends Ctrl-C to every process of the command; the worker processes
    of a LocalCluster would each die of it with a traceback of their own. An
    ignored signal stays ignored across ``exec`` (a handler would not), so the
    workers started here leave the Ctrl-C to this process, which stops them when
    it shuts the cluster down. A Ctrl-C while the cluster starts (a second or
    two) is lost. Outside the main thread nothing is changed.
    """
    if not in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` on a new LocalCluster of ``workers`` single-threaded
    processes, or connected to ``scheduler``; closed (the cluster shut down) on exit.

    Raises:
        SlidemapError: Dask is not installed, or the scheduler cannot be reached.
    """
    distributed = import_dask()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
            raise SlidemapError(
                f"cannot connect to the Dask scheduler at {scheduler} ({exc}); start one "
                "('dask scheduler' and 'dask worker ADDRESS') or use --workers"
            ) from exc
        with client:
            yield client
        return
    with ExitStack() as stack:
        with workers_ignore_ctrl_c():
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    preload=[__name__],  # dask_setup; workers of --scheduler are left alone
                )
            )
        yield stack.enter_context(distributed.Client(cluster))
