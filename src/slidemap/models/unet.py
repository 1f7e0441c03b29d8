"""U-Net of Ghorbanzadeh et al. 2021, Table 2."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from slidemap.models.blocks import DoubleConv, check_in_channels, check_input, up_conv


class UNet(nn.Module):
    """U-Net exactly as the paper's Table 2.

    Encoder: four levels of (conv 3 × 3 'same' + ReLU) × 2 with 16, 32, 64,
    128 filters, each followed by 2 × 2 max-pooling (stride 2); bottleneck
    (conv + ReLU) × 2 with 256 filters. Decoder: four 3 × 3 stride-2
    transposed convs (128, 64, 32, 16 filters; padding 1, output padding 1, so
    H and W double exactly), each followed by a concat with the encoder skip
    and (conv + ReLU) × 2. Head: 1 × 1 conv to one channel (Conv 19). No batch
    norm, as in the table. That is 19 convs + 4 transposed convs.

    Parameters: 2,158,849 with 4 input channels (Table 2's input) and
    2,158,993 with 5 (B2, B3, B4, B8, slope; SPEC §8: ≈ 2.16 M); each further
    channel adds 144. Cost: 1,609,564,160 FLOP (2 × multiply-accumulates of
    the convs and transposed convs) per 128 × 128 forward with 5 channels
    (SPEC §8: ≈ 1.6 GFLOP), proportional to H × W.

    Input (N, in_channels, H, W) with H, W multiples of 16 (four 2×
    poolings); output (N, 1, H, W) *logits*. The paper's sigmoid is not in
    the network: training uses ``BCEWithLogitsLoss`` (sigmoid + BCE in one
    numerically stable op) and inference applies ``torch.sigmoid`` for
    probabilities, which is the same model.

    Args:
        in_channels: input bands; defaults to 5 (B2, B3, B4, B8, slope).

    Raises:
        TypeError: ``in_channels`` is not an integer.
        ValueError: ``in_channels`` < 1; in ``forward``, an input that is not
            4-D or whose H or W is not a multiple of 16.
    """

    def __init__(self, in_channels: int = 5) -> None:
        super().__init__()
        self.in_channels = check_in_channels(in_channels)
        widths = (16, 32, 64, 128)
        self.encoder = nn.ModuleList()
        c = self.in_channels
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
        """Logits (N, 1, H, W) for a batch (N, in_channels, H, W)."""
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
