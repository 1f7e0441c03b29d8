"""The paper's networks: U-Net (Table 2) and ResU-Net (Table 3), by name.

Both map a batch (N, C, H, W) float32, H and W multiples of
:data:`SIDE_MULTIPLE`, to logits (N, 1, H, W); ``torch.sigmoid`` of the logits
is the landslide probability.
"""

from slidemap.models.blocks import SIDE_MULTIPLE
from slidemap.models.registry import (
    MODELS,
    build_model,
    count_flops,
    layer_summary,
    model_config,
)
from slidemap.models.resunet import ResUNet
from slidemap.models.unet import UNet

__all__ = [
    "MODELS",
    "SIDE_MULTIPLE",
    "ResUNet",
    "UNet",
    "build_model",
    "count_flops",
    "layer_summary",
    "model_config",
]
