"""Data-parallel training over several processes (PyTorch DDP), started by torchrun.

``torchrun --nproc-per-node N -m slidemap train …`` (or ``slidemap train --nproc
N``, which runs exactly that) starts N copies of the command, one per rank;
torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`process_group` joins the ranks (gloo on the CPU, nccl
on CUDA, one GPU per rank) and yields a :class:`Ranks`. With one process every
:class:`Ranks` operation is a no-op, so training has a single code path.

How the work is shared, and why N processes give the result of one process
with the same global batch (up to float rounding):

* ``--batch`` is the *global* batch (paper: 4); each rank takes ``batch / N``
  windows of every optimizer step (``batch`` must be a multiple of N).
* Windows: torch's ``DistributedSampler`` over the epoch's window order (the
  same order as single-process training): rank r takes positions r, r + N,
  r + 2N, …, the tail padded by repeating the first positions. With
  ``batch / N`` windows per rank and step, the ranks' windows of step k are
  exactly single-process batch k; padding windows get zero loss weight.
* Loss: each rank divides its summed BCE by the valid pixels of the whole
  global batch (all-reduced) over N, so DDP's gradient average is the gradient
  of the global batch's mean loss.
* Validation: rank r scores validation windows r, r + N, …; loss sums and
  confusion counts are all-reduced (counts add up across ranks).
* Rank 0 alone reads and writes the run directory (checkpoints, logs,
  ``metrics.jsonl``), decides early stopping and broadcasts it; the other
  ranks receive the resumed or best state from rank 0, so the run directory
  need only exist on rank 0's machine (the areas must exist on every one).
* After every epoch the buffers (batch-norm running statistics) are
  broadcast from rank 0 and the ranks compare a digest of their weights; a
  difference stops training with an error.

* Batch normalisation (ResU-Net): the layers become
  :class:`~slidemap.global_norm.GlobalBatchNorm2d` (PyTorch's
  ``SyncBatchNorm`` runs on GPUs only), whose statistics are those of the
  global batch's real windows, on the CPU as on CUDA; the training loop marks
  the padding (:func:`~slidemap.global_norm.real_windows`).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from slidemap.cluster import cpu_cores
from slidemap.errors import SlidemapError
from slidemap.global_norm import global_batch_norm
from slidemap.interrupts import Terminated, interrupt_after

log = logging.getLogger("slidemap")

T = TypeVar("T")

#: Environment variables torchrun sets for every rank.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    """This process's place among the data-parallel processes.

    Attributes:
        rank: global rank, 0 … world - 1 (0 writes the run directory).
        world: number of processes.
        local_rank: rank on this machine (selects the GPU).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def check_batch(self, batch: int) -> None:
        """Refuse a global batch that does not split evenly across the ranks.

        Raises:
            SlidemapError: ``batch`` is not a multiple of ``world``.
        """
        if batch % self.world:
            raise SlidemapError(
                f"--batch {batch} is the global batch and must be a multiple of the "
                f"{self.world} training processes (each takes an equal share of every step); "
                f"give --batch {batch + self.world - batch % self.world} or another --nproc"
            )

    def batches(self, order: np.ndarray, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """This rank's windows of every optimizer step (module docstring).

        Args:
            order: (n,) int, the epoch's window order.
            batch: global batch, a multiple of ``world``.

        Returns:
            One ``(indices, real)`` pair per step, the same number on every rank:
            ``indices`` (m,) int window indices, ``real`` (m,) bool, False for the
            padding that evens out the last step (weight 0 in the loss).
        """
        self.check_batch(batch)
        per_rank = batch // self.world
        sampler: DistributedSampler[int] = DistributedSampler(
            cast(Dataset[int], range(len(order))),
            num_replicas=self.world,
            rank=self.rank,
            shuffle=False,
        )
        positions = np.fromiter(sampler, dtype=np.int64)
        real = self.rank + self.world * np.arange(len(positions)) < len(order)
        return [
            (order[positions[i : i + per_rank]], real[i : i + per_rank])
            for i in range(0, len(positions), per_rank)
        ]

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the ranks, in place; returns it."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def from_main(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object; tensors arrive on the CPU)."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return cast(T, box[0])

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` for training: with several ranks, DistributedDataParallel over it with
        its batch norms over the global batch (:func:`global_batch_norm`, in place: the
        parameters stay the same tensors); ``module`` itself with one."""
        if not self.distributed:
            return module
        module = global_batch_norm(module)
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def sync_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every rank."""
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)

    def same_weights(self, module: nn.Module, epoch: int) -> str:
        """The digest of ``module``'s state (:func:`weights_digest`), checked equal on all ranks.

        Raises:
            SlidemapError: the ranks' weights differ.
        """
        digest = weights_digest(module.state_dict())
        if not self.distributed:
            return digest
        digests: list[Any] = [None] * self.world
        dist.all_gather_object(digests, digest)
        if len(set(digests)) > 1:
            listed = ", ".join(f"rank {r}: {d[:12]}" for r, d in enumerate(digests))
            raise SlidemapError(
                f"the training processes' weights differ after epoch {epoch} ({listed}); "
                "data-parallel training went out of step: run again with --nproc 1 and report it"
            )
        return digest


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 (hex) over the names and raw bytes of every tensor of a ``state_dict``."""
    h = hashlib.sha256()
    for name, tensor in state.items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def ranks_from_env() -> Ranks:
    """This process's :class:`Ranks` from torchrun's environment (one rank without it).

    Raises:
        SlidemapError: torchrun's variables are malformed.
    """
    if "WORLD_SIZE" not in os.environ:
        return Ranks()
    try:
        rank, world, local = (int(os.environ.get(name, "0")) for name in TORCHRUN_ENV)
    except ValueError as exc:
        raise SlidemapError(
            f"malformed torchrun environment ({exc}): RANK, WORLD_SIZE and LOCAL_RANK must be "
            "integers; start distributed training with torchrun or 'slidemap train --nproc N'"
        ) from exc
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise SlidemapError(
            f"malformed torchrun environment: RANK={rank}, WORLD_SIZE={world}, "
            f"LOCAL_RANK={local}; start distributed training with torchrun"
        )
    return Ranks(rank, world, local)


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Ranks, torch.device]]:
    """Join the data-parallel processes started by torchrun, for the duration of the block.

    Args:
        device: the device asked for; with several ranks on CUDA, rank r uses
            GPU ``LOCAL_RANK``.

    Yields:
        ``(ranks, device)``: this process's ranks and the device it trains on.
        Ranks other than 0 log warnings only (and show no progress bars).
    """
    ranks = ranks_from_env()
    if not ranks.distributed:
        yield ranks, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    level = log.level
    if not ranks.main:
        log.setLevel(max(level, logging.WARNING))
    try:
        yield ranks, device
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        log.setLevel(level)
        if joined:
            # DDP's reference cycles hold the group: free it while Python still runs, not
            # in gloo threads at interpreter exit (a rare SIGABRT of one rank at the end)
            gc.collect()
            dist.destroy_process_group()


#: torchrun's ``main``, without the traceback it prints for a Ctrl-C or a failed rank (the
#: ranks print their own errors): exit code 128 + the signal, or 1.
_TORCHRUN = """
import sys
try:
    from torch.distributed.run import main
    main()
except KeyboardInterrupt:  # before torchrun's own handlers are in place
    sys.exit(130)
except BaseException as exc:
    if type(exc).__name__ == "SignalException":
        sys.exit(128 + int(exc.sigval))
    if type(exc).__name__ == "ChildFailedError":
        sys.exit(1)
    raise
"""


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    """The command running ``slidemap ARGV…`` in ``nproc`` processes on this machine
    (torchrun, as ``python -m torch.distributed.run`` runs it)."""
    return [
        *(sys.executable, "-c", _TORCHRUN, "--standalone", f"--nproc-per-node={nproc}"),
        *("-m", "slidemap", *argv),
    ]


def launch(nproc: int, argv: list[str]) -> str:
    """Run ``slidemap ARGV…`` under torchrun with ``nproc`` processes; returns its stdout.

    The ranks' logs and errors go to this process's stderr as they come.

    Raises:
        SlidemapError: a rank failed (its error is above in stderr).
        KeyboardInterrupt: Ctrl-C, or torchrun was interrupted (SIGINT) without this
            process; :class:`~slidemap.interrupts.Terminated` for SIGTERM. torchrun has
            stopped the ranks.
    """
    if "WORLD_SIZE" in os.environ:
        raise SlidemapError(
            "--nproc starts torchrun, but this command already runs under torchrun; "
            "leave out --nproc (torchrun's --nproc-per-node sets the processes)"
        )
    log.info("starting %d training processes with torchrun", nproc)
    # the cores shared out, unless the user set it: torchrun would set 1 and warn about it
    env = {"OMP_NUM_THREADS": str(max(1, cpu_cores() // nproc)), **os.environ}
    proc: subprocess.Popen[str] | None = None
    try:
        with interrupt_after():  # a Ctrl-C now would leave torchrun started and unknown
            proc = subprocess.Popen(
                torchrun_command(nproc, argv), stdout=subprocess.PIPE, text=True, env=env
            )
        stdout, _ = proc.communicate()
    except KeyboardInterrupt as exc:
        if proc is not None:
            if isinstance(exc, Terminated):  # (a Ctrl-C reaches torchrun by itself)
                proc.send_signal(signal.SIGTERM)
            _stop(proc)
        raise
    finally:  # not `with proc`: its exit would wait for torchrun's end on a Terminated
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
    # torchrun was stopped, but this process was not: it ignores SIGINT (a shell's
    # background job), or the signal went to torchrun alone. Stopped, not failed.
    if proc.returncode == 128 + signal.SIGINT:
        raise KeyboardInterrupt
    if proc.returncode == 128 + signal.SIGTERM:
        raise Terminated
    if proc.returncode != 0:
        raise SlidemapError(
            f"distributed training failed (torchrun exit code {proc.returncode}); the "
            "processes' errors are above"
        )
    return stdout


#: Seconds torchrun gets to stop its ranks after Ctrl-C before it is asked again.
STOP_GRACE_S = 3.0


def _stop(proc: subprocess.Popen[str]) -> None:
    """Make torchrun stop its ranks after Ctrl-C (or SIGTERM), and wait until it has.

    torchrun starts the ranks in sessions of their own, so a Ctrl-C reaches them
    only through torchrun, which forwards it, except while it is still starting
    them: then the ranks start anyway and train to the end. torchrun is asked
    again (SIGTERM, which it forwards too) until it has stopped.
    """
    for _ in range(10):
        try:
            proc.wait(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
    proc.kill()
    proc.wait()
