"""The training defaults chosen for real patches (SPEC §8; measured in docs/accuracy.md).

Kept apart from :mod:`slidemap.train` so that the command line can show them
without importing torch.
"""

from __future__ import annotations

#: Training window side (px).
PATCH_PX = 64
#: Epochs without a lower validation loss before training stops.
PATIENCE = 10
#: BCE weight of landslide pixels (1 = plain BCE, the paper's).
POS_WEIGHT = 10.0
