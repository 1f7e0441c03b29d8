"""Train / validation / test split of an area as contiguous blocks.

The paper splits each study area 3:2 by area into a training and a held-out
testing part; slidemap also carves a validation strip (for early stopping) out
of the training part, on its side facing the test part, so validation pixels
also act as a buffer between training and test pixels.
"""

from __future__ import annotations

import numpy as np

from slidemap.area import OUTSIDE, TEST, TRAIN, VALIDATION
from slidemap.errors import SlidemapError


def _orient(a: np.ndarray, direction: str) -> np.ndarray:
    """View ``a`` so that the split runs along increasing column index."""
    if direction == "west-east":
        return a
    if direction == "east-west":
        return a[:, ::-1]
    if direction == "north-south":
        return a.T
    if direction == "south-north":
        return a[::-1, :].T
    raise ValueError(f"unknown direction {direction!r}")


def _cut(counts: np.ndarray, share: float) -> int:
    """Number of leading lines whose cumulative count first reaches ``share`` of the total."""
    cumulative = np.cumsum(counts)
    return int(np.searchsorted(cumulative, share * cumulative[-1], side="left")) + 1


def split_by_direction(
    valid: np.ndarray, fraction: float, direction: str, validation: float
) -> np.ndarray:
    """Split valid pixels into train (first ``fraction`` by area along ``direction``) and test.

    Args:
        valid: (H, W) bool, pixels that belong to the area.
        fraction: train share of the valid pixels, 0–1 (paper: 0.6).
        direction: "west-east" (train in the west), "east-west", "north-south", "south-north".
        validation: share of the train part kept for validation, 0–1.

    Returns:
        (H, W) uint8 with OUTSIDE, TRAIN, VALIDATION and TEST codes.

    Raises:
        SlidemapError: the area is too small to have train, validation and test pixels.
    """
    split = np.full(valid.shape, OUTSIDE, np.uint8)
    v = _orient(valid, direction)
    s = _orient(split, direction)  # a view: writing it writes ``split``
    counts = v.sum(axis=0)
    if counts.sum() == 0:
        raise SlidemapError("the area has no valid pixel to split")
    train_end = min(_cut(counts, fraction), v.shape[1] - 1)
    val_lines = _cut(counts[:train_end][::-1], validation)
    val_start = max(1, train_end - val_lines)
    lines = np.arange(v.shape[1])[None, :]
    s[...] = np.where(
        v,
        np.where(lines < val_start, TRAIN, np.where(lines < train_end, VALIDATION, TEST)),
        OUTSIDE,
    )
    _check_parts(split)
    return split


def split_from_roles(
    valid: np.ndarray, train: np.ndarray, test: np.ndarray, validation: float
) -> np.ndarray:
    """Split from rasterised train/test polygons; validation = the eastmost share of train.

    Args:
        valid: (H, W) bool area pixels.
        train, test: (H, W) bool masks of the train and test polygons.
        validation: share of the train part kept for validation.
    """
    split = np.full(valid.shape, OUTSIDE, np.uint8)
    split[valid & test] = TEST
    train_px = valid & train & ~test
    cols = train_px.sum(axis=0)
    if cols.sum():
        val_lines = _cut(cols[::-1], validation)
        val_start = max(1, train_px.shape[1] - val_lines)
        col_index = np.arange(train_px.shape[1])[None, :]
        split[train_px & (col_index < val_start)] = TRAIN
        split[train_px & (col_index >= val_start)] = VALIDATION
    _check_parts(split)
    return split


def _check_parts(split: np.ndarray) -> None:
    missing = [
        name
        for code, name in ((TRAIN, "train"), (VALIDATION, "validation"), (TEST, "test"))
        if not (split == code).any()
    ]
    if missing:
        raise SlidemapError(
            f"the area is too small to split: no {' or '.join(missing)} pixels; "
            "use a larger area or change [split] fraction/validation"
        )
