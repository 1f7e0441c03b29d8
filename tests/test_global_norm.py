"""Batch norm over the global batch: two real gloo processes under DDP normalise,
update running statistics and back-propagate like one process with the whole batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from slidemap.global_norm import GlobalBatchNorm2d, global_batch_norm, real_windows

WORLD = 2
#: (windows, channels, H, W) of the global batch; rank r takes windows SHARES[r].
SHAPE = (6, 3, 8, 8)
SHARES = (slice(0, 3), slice(3, 6))


def network(seed: int = 3) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3, padding=1),
        nn.Sequential(nn.BatchNorm2d(2, momentum=None)),  # nested, cumulative average
    )


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch (x, target): non-zero means, so cancellation would show."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g) * 2 + 5
    target = torch.randn(SHAPE[0], 2, *SHAPE[2:], generator=g)
    return x, target


def loss_of(
    y: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, values: int
) -> torch.Tensor:
    """Summed weighted products over the real windows' ``values`` of the global batch."""
    return (y * target * weight.view(-1, 1, 1, 1)).sum() / values


def autocast(bf16: bool) -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def _rank(rank: int, store: str, real: list[bool], bf16: bool, folder: str) -> None:
    """One of the WORLD processes: two forward and backward passes on its share (the
    second updates the running statistics again), results to a file."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        net = global_batch_norm(network())
        model = DistributedDataParallel(net)
        x, target = (t[SHARES[rank]] for t in batch())
        x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
        mine = torch.tensor(real[SHARES[rank].start : SHARES[rank].stop])
        values = sum(real) * 2 * SHAPE[2] * SHAPE[3]
        results = {}
        for step in range(2):
            model.zero_grad()
            x.grad = None
            with autocast(bf16), real_windows(net, mine):
                y = model(x)
            (WORLD * loss_of(y, target, mine.float(), values)).backward()
            results[step] = {
                "y": y.detach().float(),
                "dtype": y.dtype,
                "channels_last": y.is_contiguous(memory_format=torch.channels_last),
                "x_grad": x.grad.detach() / WORLD,
                "grads": {k: p.grad.detach().clone() for k, p in net.named_parameters()},
                "state": {k: v.clone() for k, v in net.state_dict().items()},
            }
        torch.save(results, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def one_process(real: list[bool], bf16: bool) -> dict[int, dict]:
    net = network()
    x, target = batch()
    keep = torch.tensor(real)
    x = x[keep].requires_grad_()
    values = sum(real) * 2 * SHAPE[2] * SHAPE[3]
    results = {}
    for step in range(2):
        net.zero_grad()
        x.grad = None
        with autocast(bf16):
            y = net(x)
        loss_of(y, target[keep], torch.ones(len(x)), values).backward()
        results[step] = {
            "y": y.detach().float(),
            "dtype": y.dtype,
            "x_grad": x.grad.detach(),
            "grads": {k: p.grad.detach().clone() for k, p in net.named_parameters()},
            "state": {k: v.clone() for k, v in net.state_dict().items()},
        }
    return results


@pytest.mark.parametrize(
    ("real", "bf16"),
    [
        ([True] * 6, False),
        ([True] * 5 + [False], False),
        ([True] * 3 + [False] * 3, False),
        ([True] * 5 + [False], True),
    ],
    ids=["full", "one-padding", "rank-1-all-padding", "bf16-autocast"],
)
def test_two_gloo_processes_normalise_like_one(
    tmp_path: Path, real: list[bool], bf16: bool
) -> None:
    store = str(tmp_path / "store")
    mp.spawn(_rank, args=(store, real, bf16, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    reference = one_process(real, bf16)
    keep = torch.tensor(real)
    # bf16: the convolutions round to 8 bits; batch norm's statistics stay fp32 in both
    atol, rtol = (5e-2, 2e-2) if bf16 else (1e-5, 1e-4)
    for step in range(2):
        ref = reference[step]
        y = torch.cat([r[step]["y"] for r in ranks])[keep]
        x_grad = torch.cat([r[step]["x_grad"] for r in ranks])[keep]
        torch.testing.assert_close(y, ref["y"], rtol=0, atol=atol)
        torch.testing.assert_close(x_grad, ref["x_grad"], rtol=rtol, atol=atol * 1e-2)
        for r in ranks:
            assert r[step]["channels_last"] and r[step]["dtype"] == ref["dtype"]
            # DDP averaged the gradients: those of the global batch's loss
            for key, grad in ref["grads"].items():
                torch.testing.assert_close(r[step]["grads"][key], grad, rtol=rtol, atol=atol * 0.1)
            for key, value in ref["state"].items():  # running statistics of the global batch
                torch.testing.assert_close(r[step]["state"][key], value, rtol=rtol, atol=atol * 0.1)


def test_conversion_keeps_the_tensors_and_is_batch_norm_outside_training() -> None:
    net = network()
    tensors = {k: v.data_ptr() for k, v in net.state_dict().items()}
    converted = global_batch_norm(net)
    assert converted is net
    layers = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(layers) == 2 and all(type(m) is GlobalBatchNorm2d for m in layers)
    assert {k: v.data_ptr() for k, v in net.state_dict().items()} == tensors
    x, _ = batch()
    plain = network()
    for mode in (True, False):  # no process group: exactly nn.BatchNorm2d, in both modes
        net.train(mode)
        plain.train(mode)
        torch.testing.assert_close(net(x), plain(x), rtol=0, atol=0)
    root = global_batch_norm(nn.BatchNorm2d(3))
    assert type(root) is GlobalBatchNorm2d and root.weight is not None
    with real_windows(net, torch.tensor([True, False])):
        assert all(m.real is not None for m in layers)
    assert all(m.real is None for m in layers)
