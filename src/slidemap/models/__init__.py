"""The paper's networks: U-Net (Table 2) and ResU-Net (Table 3), by name."""

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
    "ResUNet",
    "UNet",
    "build_model",
    "count_flops",
    "layer_summary",
    "model_config",
]
