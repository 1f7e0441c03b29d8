"""Building blocks of the paper's networks, each a tiny module.

All convolutions are 3 × 3 with 'same' padding unless stated; feature maps
are (N, C, H, W).
"""

from __future__ import annotations

import operator

import torch
from torch import nn

#: Input height and width must be multiples of this: the U-Net halves them four times.
SIDE_MULTIPLE = 16


class DoubleConv(nn.Sequential):
    """U-Net block: (conv 3 × 3 → ReLU) × 2 (paper Table 2, no batch norm)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )


def up_conv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """3 × 3 transposed convolution, stride 2, padding 1, output padding 1: exactly doubles H, W."""
    return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)


class Shortcut(nn.Sequential):
    """Projection shortcut of a residual block: 1 × 1 conv (with stride) + batch norm.

    The paper's :math:`W_i` (its Eq. 1 and Fig. 2): it matches the input to the
    residual branch's width and resolution. Batch norm on the projection
    follows Zhang et al.'s ResUNet; the conv has no bias because BN follows it.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class ResidualBlock(nn.Module):
    """Pre-activation residual block: (BN → ReLU → conv 3 × 3) × 2 + shortcut.

    The first conv carries the stride (2 replaces max-pooling). The shortcut is
    the identity when shape is kept, else a 1 × 1 projection (:class:`Shortcut`).
    ``first=True`` is the network's first block, which sees the raw input: it
    starts with the conv (conv → BN → ReLU → conv), as in Zhang et al.'s
    ResUNet that the paper follows; a BN → ReLU in front would, at
    initialisation, zero every below-mean input value before any conv sees it.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, first: bool = False
    ) -> None:
        super().__init__()
        conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        pre: list[nn.Module] = [] if first else [nn.BatchNorm2d(in_channels), nn.ReLU()]
        self.body = nn.Sequential(*pre, conv1, nn.BatchNorm2d(out_channels), nn.ReLU(), conv2)
        same = in_channels == out_channels and stride == 1
        self.shortcut: nn.Module = (
            nn.Identity() if same else Shortcut(in_channels, out_channels, stride)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def check_in_channels(in_channels: int) -> int:
    """``in_channels`` as an int ≥ 1.

    Raises:
        TypeError: not an integer.
        ValueError: less than 1.
    """
    channels = operator.index(in_channels)
    if channels < 1:
        raise ValueError(f"in_channels must be at least 1, got {channels}")
    return channels


def check_input(x: torch.Tensor) -> None:
    """Raise ValueError unless ``x`` is (N, C, H, W) with H, W multiples of :data:`SIDE_MULTIPLE`.

    The message gives the padded size to use, so callers can pad and retry.
    The size check is skipped while ``torch.jit`` traces the model (the ONNX
    export): there H and W are symbolic and a traced graph cannot raise anyway.
    """
    if x.dim() != 4:
        raise ValueError(f"input must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if torch.jit.is_tracing():
        return
    h, w = x.shape[-2:]
    m = SIDE_MULTIPLE
    if h % m or w % m:
        raise ValueError(
            f"input height and width must be multiples of {m}, got {h} x {w}; "
            f"pad to {-(-h // m) * m} x {-(-w // m) * m}"
        )
