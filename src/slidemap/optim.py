"""Adam over channels-last weights without layout copies on the CPU.

PyTorch's fused CPU Adam (``torch.optim.Adam(fused=True)``) updates
contiguous tensors. A channels-last 4-D weight (O, I, kh, kw), its gradient
and its two moment buffers are copied to contiguous tensors and back at every
step: seven copies per convolution weight, ≈ 1.8 ms per step for the U-Net's
2.16 M parameters on 2 cores, while the whole update of contiguous tensors
takes 1.4 ms. Adam is element-wise, so it can run on any dense view of the
same memory. :class:`ViewAdam` hands the fused kernel the (O, kh, kw, I)
permutation of every channels-last weight, which is contiguous and shares its
storage, and the same permutation of its gradient. The updates are
bit-identical to those of ``torch.optim.Adam`` over the parameters
themselves. On 2 cores of a Zen 5 this raised ``slidemap train``'s 32 px
U-Net from 1.13–1.16 × the naive loop's speed to 1.26–1.35 ×, and its 32 px
ResU-Net from 1.45 × to 1.61 × (docs/performance.md, "What dominates").

``state_dict`` and ``load_state_dict`` give and take every moment buffer in
its parameter's shape, so a checkpoint holds exactly what ``torch.optim.Adam``
would write, and either optimizer can resume from the other's checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

#: (O, I, kh, kw) → (O, kh, kw, I): a channels-last weight as a contiguous tensor.
_TO_VIEW = (0, 2, 3, 1)
#: The inverse permutation, (O, kh, kw, I) → (O, I, kh, kw).
_TO_PARAM = (0, 3, 1, 2)


def contiguous_view(param: nn.Parameter) -> nn.Parameter | None:
    """``param``'s memory as a contiguous (O, kh, kw, I) parameter, when it is a
    channels-last 4-D tensor that is not also contiguous; else None."""
    if param.dim() != 4 or param.is_contiguous():
        return None
    if not param.is_contiguous(memory_format=torch.channels_last):
        return None
    return nn.Parameter(param.detach().permute(_TO_VIEW))


class ViewAdam(torch.optim.Adam):
    """``torch.optim.Adam`` that updates channels-last weights through contiguous views.

    Args:
        params: the model's parameters, one group (the views are made here,
            so the parameters must not be moved or re-laid-out afterwards).
        **kwargs: ``torch.optim.Adam``'s options (``lr``, ``betas``, ``fused`` …).

    ``param_groups`` hold the views in place of the channels-last weights; the
    gradients are read from the parameters at every :meth:`step` and
    :meth:`zero_grad` clears them, as Adam over the parameters would.
    """

    def __init__(self, params: Iterable[nn.Parameter], **kwargs: Any) -> None:
        self.params = list(params)
        self.views = [contiguous_view(p) for p in self.params]
        handed = [p if v is None else v for p, v in zip(self.params, self.views, strict=True)]
        super().__init__(handed, **kwargs)

    def _pairs(self) -> Iterable[tuple[nn.Parameter, nn.Parameter]]:
        return ((p, v) for p, v in zip(self.params, self.views, strict=True) if v is not None)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (the views hold none between steps)."""
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()
        super().zero_grad(set_to_none)

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adam update from the parameters' gradients; ``closure`` as in Adam."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for p, v in self._pairs():
            v.grad = None if p.grad is None else p.grad.permute(_TO_VIEW)
        super().step()
        for _, v in self._pairs():
            v.grad = None
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Adam's state dict, every moment buffer in its parameter's (O, I, kh, kw) shape."""
        out = super().state_dict()
        out["state"] = {
            i: _permuted(s, _TO_PARAM) if self.views[i] is not None else s  # views, no copies
            for i, s in out["state"].items()
        }
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this class or of ``torch.optim.Adam`` over the same parameters."""
        state = {
            i: _permuted(s, _TO_VIEW, contiguous=True) if self.views[int(i)] is not None else s
            for i, s in state_dict["state"].items()
        }
        super().load_state_dict({**state_dict, "state": state})


def _permuted(
    state: dict[str, Any], order: tuple[int, ...], contiguous: bool = False
) -> dict[str, Any]:
    """One parameter's Adam state with every 4-D tensor permuted by ``order``
    (a view; copied to a contiguous tensor if ``contiguous``)."""

    def permute(v: Any) -> Any:
        if not isinstance(v, torch.Tensor) or v.dim() != 4:
            return v
        v = v.permute(order)
        return v.contiguous() if contiguous else v

    return {k: permute(v) for k, v in state.items()}
