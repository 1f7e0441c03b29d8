"""ResU-Net of Ghorbanzadeh et al. 2021, Table 3."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slidemap.models.blocks import ResidualBlock, check_in_channels, check_input, up_conv


class ResUNet(nn.Module):
    """ResU-Net exactly as the paper's Table 3.

    Encoder: residual blocks of 64 (Conv 1–2), 128 (stride 2, Conv 3–4) and
    256 (stride 2, Conv 5–6) filters; bridge 512 (stride 2, Conv 7–8).
    Decoder: three stages 256 (Conv 9–10), 128 (Conv 11–12), 64 (Conv 13–14),
    each a 3 × 3 stride-2 transposed-conv upsampling (as in the U-Net), a
    concat with the encoder skip and a residual block. Head: 1 × 1 conv
    (Conv 15) to one channel. Downsampling is the stride of a block's first
    conv, not pooling.

    Blocks are pre-activation (BN → ReLU → conv, twice) with the paper's
    identity shortcut, or a 1 × 1 conv + BN projection where width or stride
    changes. The first block sees the raw bands, so it starts with its conv
    (conv → BN → ReLU → conv), as in Zhang et al.'s ResUNet; Table 3 lists it
    as plain Conv 1–2 and is met either way.

    Counting as Table 3 does, that is 15 convs (the 3 × 3 convs of the main
    path and the head). Not counted there: the 3 transposed convs and the 7
    1 × 1 projections (every residual block here changes width or stride,
    including each decoder block, whose concat input is wider than its
    output), so the module holds 22 ``Conv2d`` + 3 ``ConvTranspose2d``.

    Table 3 leaves the transposed convs' width open. By default they halve it
    (512 → 256, 256 → 128, 128 → 64), as Table 2's U-Net does, so the concat
    with the skip gives twice the stage width: 8,911,361 parameters with 5
    input channels (SPEC §8: 8.9 M) and 20,440,940,544 FLOP per 128 × 128
    forward. It is the cheaper choice and the one whose decoder is the mirror
    of the encoder. ``up_halves_width=False`` keeps the width (512 → 512,
    256 → 256, 128 → 128): 11,321,153 parameters (11.3 M) and
    26,279,411,712 FLOP. Each further input channel adds 640 parameters.

    Input (N, in_channels, H, W) with H, W multiples of 16 (three stride-2
    levels need only 8; 16 keeps one rule for both models); output
    (N, 1, H, W) *logits* — apply ``torch.sigmoid`` for probabilities.

    Args:
        in_channels: input bands; defaults to 5 (B2, B3, B4, B8, slope).
        up_halves_width: transposed convs halve the width (default) or keep it.

    Raises:
        TypeError: ``in_channels`` is not an integer.
        ValueError: ``in_channels`` < 1; in ``forward``, an input that is not
            4-D or whose H or W is not a multiple of 16.
    """

    def __init__(self, in_channels: int = 5, up_halves_width: bool = True) -> None:
        super().__init__()
        self.in_channels = check_in_channels(in_channels)
        self.up_halves_width = bool(up_halves_width)
        self.enc1 = ResidualBlock(self.in_channels, 64, first=True)
        self.enc2 = ResidualBlock(64, 128, stride=2)
        self.enc3 = ResidualBlock(128, 256, stride=2)
        self.bridge = ResidualBlock(256, 512, stride=2)
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        c = 512
        for skip_width in (256, 128, 64):
            up_width = skip_width if self.up_halves_width else c
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
        """Logits (N, 1, H, W) for a batch (N, in_channels, H, W)."""
        check_input(x)
        s1 = self.enc1(x)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        x = self.bridge(s3)
        for up, block, skip in zip(self.ups, self.decoder, (s3, s2, s1), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)
