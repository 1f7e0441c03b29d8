"""ViewAdam: Adam's updates and checkpoints, without layout copies of channels-last weights."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from slidemap.optim import ViewAdam, contiguous_view

OPTIONS = {"lr": 1e-2, "betas": (0.9, 0.999), "fused": True}


def _net(channels_last: bool = True) -> nn.Module:
    """Convolutions of every kind slidemap's networks use: 3 × 3, transposed, 1 × 1, batch norm."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(5, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 1, 1),
    )
    return net.to(memory_format=torch.channels_last) if channels_last else net


def _batches(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(2, 5, 8, 8, generator=gen) for _ in range(n)]


def _train(net: nn.Module, opt: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    for x in batches:
        opt.zero_grad(set_to_none=True)
        net(x.contiguous(memory_format=torch.channels_last)).square().mean().backward()
        opt.step()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _same_state(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        for key, value in a["state"][i].items():
            assert value.shape == b["state"][i][key].shape, (i, key)
            assert torch.equal(value, b["state"][i][key]), (i, key)


def test_views_are_contiguous_and_share_the_weights_memory():
    net = _net()
    weights = [p for p in net.parameters() if p.dim() == 4]
    views = [contiguous_view(p) for p in weights]
    # the 3 × 3 and transposed weights get views; the 1 × 1 head is contiguous already
    assert [v is not None for v in views] == [True, True, False]
    for p, v in zip(weights, views, strict=True):
        if v is not None:
            assert v.is_contiguous() and v.data_ptr() == p.data_ptr()
            assert torch.equal(v.permute(0, 3, 1, 2), p)
    assert contiguous_view(_net(channels_last=False)[0].weight) is None
    assert contiguous_view(nn.Parameter(torch.zeros(3, 4))) is None


def test_updates_are_bit_identical_to_adam_and_weights_stay_channels_last():
    plain, viewed = _net(), _net()
    batches = _batches(5)
    _train(plain, torch.optim.Adam(plain.parameters(), **OPTIONS), batches)
    opt = ViewAdam(viewed.parameters(), **OPTIONS)
    _train(viewed, opt, batches)
    assert _same(plain, viewed)
    assert viewed[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert all(p.is_contiguous() for p in opt.param_groups[0]["params"])
    assert all(v.grad is None for v in opt.views if v is not None)  # no stale views held


def test_state_dict_is_adams_in_the_parameters_shapes():
    plain, viewed = _net(), _net()
    batches = _batches(3)
    adam = torch.optim.Adam(plain.parameters(), **OPTIONS)
    view_adam = ViewAdam(viewed.parameters(), **OPTIONS)
    _train(plain, adam, batches)
    _train(viewed, view_adam, batches)
    _same_state(view_adam.state_dict(), adam.state_dict())


@pytest.mark.parametrize("saved_by", ["adam", "view_adam"])
def test_either_optimizer_resumes_from_the_others_checkpoint(saved_by):
    first, second = _batches(6)[:3], _batches(6)[3:]
    reference = _net()
    ref_opt = torch.optim.Adam(reference.parameters(), **OPTIONS)
    _train(reference, ref_opt, first + second)

    net = _net()
    opt_class = torch.optim.Adam if saved_by == "adam" else ViewAdam
    opt = opt_class(net.parameters(), **OPTIONS)
    _train(net, opt, first)
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)

    resumed = _net()
    resumed.load_state_dict(ckpt["model"])
    other_class = ViewAdam if saved_by == "adam" else torch.optim.Adam
    other = other_class(resumed.parameters(), **OPTIONS)
    other.load_state_dict(ckpt["optimizer"])
    if isinstance(other, ViewAdam):  # the fused kernel is handed contiguous moments
        assert all(
            t.is_contiguous() for s in other.state.values() for t in s.values() if t.dim() == 4
        )
    _train(resumed, other, second)
    assert _same(reference, resumed)


def test_zero_grad_clears_the_parameters_gradients():
    net = _net()
    opt = ViewAdam(net.parameters(), **OPTIONS)
    net(_batches(1)[0]).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_step_with_a_closure_matches_adam():
    x = _batches(1)[0]

    def closure_for(net: nn.Module, opt: torch.optim.Optimizer):
        def closure() -> float:
            opt.zero_grad()
            loss = net(x).square().mean()
            loss.backward()
            return float(loss.detach())

        return closure

    plain, viewed = _net(), _net()
    adam = torch.optim.Adam(plain.parameters(), **OPTIONS)
    view_adam = ViewAdam(viewed.parameters(), **OPTIONS)
    assert view_adam.step(closure_for(viewed, view_adam)) == adam.step(closure_for(plain, adam))
    assert _same(plain, viewed)


def test_a_contiguous_model_is_plain_adam():
    plain, viewed = _net(channels_last=False), _net(channels_last=False)
    opt = ViewAdam(viewed.parameters(), **OPTIONS)
    assert all(v is None for v in opt.views)
    batches = _batches(3)
    _train(plain, torch.optim.Adam(plain.parameters(), **OPTIONS), batches)
    _train(viewed, opt, batches)
    assert _same(plain, viewed)
