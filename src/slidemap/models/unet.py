"""U-Net of Ghorbanzadeh et al. 2021, Table 2."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slidemap.models.blocks import DoubleConv, check_input, up_conv


class UNet(nn.Module):
    """U-Net exactly as the paper's Table 2.

    Encoder: four levels of (conv 3 × 3 + ReLU) × 2 with 16, 32, 64, 128
    filters, each followed by 2 × 2 max-pooling; bottleneck (conv + ReLU) × 2
    with 256 filters. Decoder: four 3 × 3 stride-2 transposed convs (128, 64,
    32, 16 filters), each followed by a concat with the encoder skip and
    (conv + ReLU) × 2. Head: 1 × 1 conv to one channel. That is 19 convs + 4
    transposed convs; 2,158,849 parameters with 4 input channels and 2,158,993
    with 5 (the paper's bands + slope); 1.61 GFLOP per 128 × 128 forward.

    Input (N, in_channels, H, W) with H, W multiples of 16; output
    (N, 1, H, W) *logits* — apply a sigmoid for probabilities (training uses
    ``BCEWithLogitsLoss``, which is the paper's sigmoid + BCE, computed stably).
    """

    def __init__(self, in_channels: int = 5) -> None:
        super().__init__()
        self.in_channels = in_channels
        widths = (16, 32, 64, 128)
        self.encoder = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.encoder.append(DoubleConv(c, w))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(c, 256)
        c = 256
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for w in reversed(widths):
            self.ups.append(up_conv(c, w))
            self.decoder.append(DoubleConv(2 * w, w))
            c = w
        self.head = nn.Conv2d(c, 1, 1)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (with the registry name), enough to rebuild the model."""
        return {"name": "unet", "in_channels": self.in_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)
