"""Model names → classes, rebuilding from a config, and introspection helpers.

A model's config (:func:`model_config`) is a JSON-able dict with its registry
name and constructor arguments; checkpoints store it so that
``build_model(**config)`` rebuilds the same network.

:func:`layer_summary` and :func:`count_flops` run a forward pass on a copy of
the model rebuilt from its config on PyTorch's ``meta`` device: shapes only,
no arithmetic, so they are instant at any input size and leave the model
itself (weights, train/eval mode, device) untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from slidemap.errors import SlidemapError
from slidemap.models.resunet import ResUNet
from slidemap.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {"unet": UNet, "resunet": ResUNet}

#: Layers that :func:`layer_summary` lists: the rows of the paper's Tables 2 and 3.
_TABLE_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d)

Hook = Callable[[str, nn.Module, torch.Tensor, torch.Tensor], None]


def build_model(name: str, in_channels: int, **config: Any) -> nn.Module:
    """A fresh, randomly initialised model.

    Args:
        name: registry name, a key of :data:`MODELS` ("unet" or "resunet").
        in_channels: number of input bands (C of the (N, C, H, W) input).
        **config: further constructor arguments, e.g. ``up_halves_width`` of
            :class:`~slidemap.models.resunet.ResUNet`.

    Returns:
        The model, on the CPU (or the current default device), in train mode.

    Raises:
        SlidemapError: unknown name, unknown constructor argument or bad value.
    """
    if name not in MODELS:
        raise SlidemapError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    try:
        return MODELS[name](in_channels=in_channels, **config)
    except (TypeError, ValueError) as exc:
        raise SlidemapError(f"bad configuration for model {name!r}: {exc}") from exc


def model_config(model: nn.Module) -> dict[str, Any]:
    """The model's registry name and constructor arguments.

    Returns:
        A JSON-able ``{"name": …, "in_channels": …, …}`` (a fresh dict);
        ``build_model(**model_config(model))`` rebuilds the same architecture.

    Raises:
        TypeError: ``model`` is not one of :data:`MODELS`.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or config.get("name") not in MODELS:
        raise TypeError(f"{type(model).__name__} is not a slidemap model")
    return dict(config)


def _trace(
    model: nn.Module, height: int, width: int, kinds: tuple[type[nn.Module], ...], hook: Hook
) -> None:
    """Call ``hook(name, module, input, output)`` for each ``kinds`` layer of a meta forward."""
    config = model_config(model)
    with torch.device("meta"):
        twin = build_model(**config).eval()
        x = torch.empty(1, config["in_channels"], height, width)
    handles = [
        module.register_forward_hook(
            lambda m, inputs, output, n=name: hook(n, m, inputs[0], output)
        )
        for name, module in twin.named_modules()
        if isinstance(module, kinds)
    ]
    try:
        with torch.no_grad():
            twin(x)
    finally:
        for handle in handles:
            handle.remove()


def layer_summary(model: nn.Module, height: int, width: int) -> list[tuple[str, tuple[int, ...]]]:
    """Output shape of every conv, transposed conv and max-pool, in forward order.

    These are the rows of the paper's Tables 2 and 3 ("Output size"), plus, for
    the ResU-Net, the transposed convs (names containing ``ups``) and 1 × 1
    projections (names containing ``shortcut``) that Table 3 does not list.
    A layer used more than once (the U-Net's one ``pool``) gives one row per
    use. The input has the model's own ``in_channels``.

    Args:
        model: a model of :data:`MODELS`.
        height, width: input size in pixels, multiples of 16.

    Returns:
        ``(module name, (C, H, W))`` per layer call.

    Raises:
        ValueError: ``height`` or ``width`` is not a multiple of 16.
    """
    rows: list[tuple[str, tuple[int, ...]]] = []

    def record(name: str, m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        rows.append((name, tuple(out.shape[1:])))

    _trace(model, height, width, _TABLE_LAYERS, record)
    return rows


def count_flops(model: nn.Module, height: int, width: int) -> int:
    """FLOPs of one forward pass of a single (1, C, height, width) input.

    Counted as 2 × multiply-accumulates of the convs and transposed convs
    (biases, batch norm, ReLU, pooling, concat and additions are left out;
    they are well under 1 %). A transposed conv is counted as computed: every
    input pixel scatters a full kernel. The count is proportional to
    ``height × width``.

    Args:
        model: a model of :data:`MODELS`.
        height, width: input size in pixels, multiples of 16.

    Returns:
        FLOPs, e.g. 1,609,564,160 for the 5-channel U-Net at 128 × 128.

    Raises:
        ValueError: ``height`` or ``width`` is not a multiple of 16.
    """
    total = 0

    def add(name: str, m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        nonlocal total
        if not isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            return
        kh, kw = m.kernel_size
        # Conv: one MAC per output pixel per weight; transposed: per *input* pixel.
        pixels = (x if isinstance(m, nn.ConvTranspose2d) else out).shape[-2:].numel()
        total += 2 * pixels * m.out_channels * (m.in_channels // m.groups) * kh * kw

    _trace(model, height, width, (nn.Conv2d, nn.ConvTranspose2d), add)
    return total
