"""ResU-Net of Ghorbanzadeh et al. 2021, Table 3."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slidemap.models.blocks import ResidualBlock, check_input, up_conv


class ResUNet(nn.Module):
    """ResU-Net exactly as the paper's Table 3.

    Encoder: residual blocks of 64 (Conv 1–2), 128 (stride 2, Conv 3–4) and
    256 (stride 2, Conv 5–6) filters; bridge 512 (stride 2, Conv 7–8).
    Decoder: three stages 256 (Conv 9–10), 128 (Conv 11–12), 64 (Conv 13–14),
    each a 3 × 3 stride-2 transposed-conv upsampling, a concat with the
    encoder skip and a residual block. Head: 1 × 1 conv (Conv 15) to one
    channel. Blocks are pre-activation (BN → ReLU → conv); downsampling is the
    stride of a block's first conv, not pooling.

    Counting as Table 3 does, that is 15 convs. Not counted there (the table
    lists only the main path): the 3 transposed convs and the 1 × 1 projection
    shortcuts of the 7 residual blocks (each changes width or stride, so none
    has an identity shortcut).

    Table 3 leaves the transposed convs' width open. By default they halve the
    width (512 → 256, 256 → 128, 128 → 64), as the U-Net of Table 2 does, so
    the concat doubles it back: 8,911,361 parameters with 5 input channels,
    20.4 GFLOP per 128 × 128 forward. ``up_halves_width=False`` keeps the
    width (512 → 512, …): 11,321,153 parameters, 26.3 GFLOP.

    Input (N, in_channels, H, W) with H, W multiples of 16 (three stride-2
    levels need 8; 16 keeps one rule for both models); output (N, 1, H, W)
    logits.
    """

    def __init__(self, in_channels: int = 5, up_halves_width: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.up_halves_width = up_halves_width
        self.enc1 = ResidualBlock(in_channels, 64, first=True)
        self.enc2 = ResidualBlock(64, 128, stride=2)
        self.enc3 = ResidualBlock(128, 256, stride=2)
        self.bridge = ResidualBlock(256, 512, stride=2)
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        c = 512
        for skip_width in (256, 128, 64):
            up_width = skip_width if up_halves_width else c
            self.ups.append(up_conv(c, up_width))
            self.decoder.append(ResidualBlock(up_width + skip_width, skip_width))
            c = skip_width
        self.head = nn.Conv2d(c, 1, 1)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (with the registry name), enough to rebuild the model."""
        return {
            "name": "resunet",
            "in_channels": self.in_channels,
            "up_halves_width": self.up_halves_width,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        s1 = self.enc1(x)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        x = self.bridge(s3)
        for up, block, skip in zip(self.ups, self.decoder, (s3, s2, s1), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)
