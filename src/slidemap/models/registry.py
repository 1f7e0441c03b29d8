"""Model names → classes, rebuilding from a config, and introspection helpers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slidemap.errors import SlidemapError
from slidemap.models.resunet import ResUNet
from slidemap.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {"unet": UNet, "resunet": ResUNet}


def build_model(name: str, in_channels: int, **config: Any) -> nn.Module:
    """A fresh model by registry ``name`` with ``in_channels`` inputs.

    Raises:
        SlidemapError: unknown name or constructor argument.
    """
    if name not in MODELS:
        raise SlidemapError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    try:
        return MODELS[name](in_channels=in_channels, **config)
    except TypeError as exc:
        raise SlidemapError(f"bad configuration for model {name!r}: {exc}") from exc


def model_config(model: nn.Module) -> dict[str, Any]:
    """JSON-able ``{"name": …, "in_channels": …, …}``; ``build_model(**cfg)`` rebuilds it."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__} is not a slidemap model")
    return dict(config)


def layer_summary(model: nn.Module, height: int, width: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape (C, H, W)) of every conv and transposed conv, in forward order."""
    rows: list[tuple[str, tuple[int, ...]]] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            hooks.append(
                module.register_forward_hook(
                    lambda m, i, o, n=name: rows.append((n, tuple(o.shape[1:])))
                )
            )
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, model_config(model)["in_channels"], height, width))
    finally:
        for h in hooks:
            h.remove()
    return rows


def count_flops(model: nn.Module, height: int, width: int) -> int:
    """FLOPs (2 × multiply-accumulates) of the convs and transposed convs of one forward."""
    total = 0
    hooks = []

    def conv_hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if not isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            return
        kh, kw = m.kernel_size
        if isinstance(m, nn.ConvTranspose2d):  # each input pixel scatters a full kernel
            pixels = inputs[0].shape[-2] * inputs[0].shape[-1]
            total += 2 * pixels * m.in_channels * m.out_channels * kh * kw // m.groups
        else:
            pixels = out.shape[-2] * out.shape[-1]
            total += 2 * pixels * m.out_channels * (m.in_channels // m.groups) * kh * kw

    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            hooks.append(module.register_forward_hook(conv_hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, model_config(model)["in_channels"], height, width))
    finally:
        for h in hooks:
            h.remove()
    return total
