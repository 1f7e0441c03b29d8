"""A plain, by-the-paper U-Net training loop: the reference slidemap's defaults must beat.

SPEC §8 asks slidemap's default training to beat "a plain, by-the-paper
reference implementation trained on the same patches". This module is that
reference, written apart from :mod:`slidemap.train` so that nothing of
slidemap's recipe leaks into it: it shares only the network
(:func:`slidemap.models.registry.build_model`), the prepared-area reader, the
paper's window grid (:func:`slidemap.tiling.grid_windows`) and the confusion
counts.

The recipe ("Materials and methods", Table 2): z-score normalisation with the train
part's statistics, a regular grid of non-overlapping ``patch_px`` windows
lying wholly in the train part, fp32, NCHW, Adam (lr 1e-3), batch 4 in a
seeded random order, plain binary cross-entropy, early stopping on the
validation windows' loss (best weights kept), threshold 0.5. The test windows
are the ``test_window_px`` grid inside the test area's test part (128 px: one
window per Landslide4Sense patch, so no prediction sees an unrelated
neighbour).

Run as ``python -m slidemap.bench.plain_unet --train A --test B`` it prints
one JSON object (:func:`train_and_test`'s result).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from slidemap import tiling
from slidemap.area import LABEL_NODATA, TEST, TRAIN, VALIDATION, load_area
from slidemap.errors import SlidemapError
from slidemap.metrics import Counts, f1
from slidemap.models.registry import build_model

BATCH = 4
LR = 1e-3
THRESHOLD = 0.5


def grid_windows(
    image: np.ndarray, label: np.ndarray, split: np.ndarray, code: int, side_px: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``side_px`` grid windows wholly inside split ``code``, finite and labelled.

    Returns:
        Images (N, C, side_px, side_px) float32 and labels (N, 1, side_px,
        side_px) float32 in {0, 1}.

    Raises:
        SlidemapError: no such window.
    """
    valid = np.isfinite(image).all(axis=0) & (label != LABEL_NODATA)
    height, width = label.shape
    xs, ys = [], []
    for window in tiling.grid_windows(height, width, side_px):
        rows, cols = window.slices
        if (split[rows, cols] == code).all() and valid[rows, cols].all():
            xs.append(image[:, rows, cols])
            ys.append(label[None, rows, cols].astype(np.float32))
    if not xs:
        raise SlidemapError(f"no {side_px} px window lies wholly in split part {code}")
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def train_and_test(
    train_area: Path,
    test_area: Path,
    *,
    patch_px: int = 64,
    seed: int = 0,
    epochs: int = 100,
    patience: int = 10,
    test_window_px: int = 128,
) -> dict[str, Any]:
    """Train the plain U-Net on ``train_area`` and score it on ``test_area``'s test part.

    Args:
        train_area: prepared area with train (1) and validation (3) parts.
        test_area: prepared area with a test (2) part.
        patch_px: training window side (px).
        seed: seed of the weights and the batch order.
        epochs: most epochs.
        patience: stop after this many epochs without a lower validation loss.
        test_window_px: side (px) of the test windows.

    Returns:
        ``f1`` (test pixels at threshold 0.5; NaN when neither the prediction
        nor the reference holds a landslide), ``counts`` (tp, fp, fn, tn),
        ``epochs`` (run), ``best_epoch`` and the number of ``windows`` per part.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    area = load_area(train_area)
    image, label, split = area.image, area.label, area.split
    train_px = image[:, (split == TRAIN) & np.isfinite(image).all(axis=0)]
    mean = train_px.mean(axis=1)[:, None, None]
    std = train_px.std(axis=1)[:, None, None]
    std[std == 0] = 1.0  # a constant band stays 0 instead of becoming NaN
    image = (image - mean) / std
    x_train, y_train = grid_windows(image, label, split, TRAIN, patch_px)
    x_val, y_val = grid_windows(image, label, split, VALIDATION, patch_px)

    model = build_model("unet", image.shape[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    best_loss, best_epoch, best_state = float("inf"), 0, copy.deepcopy(model.state_dict())
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in torch.from_numpy(rng.permutation(len(x_train))).split(BATCH):
            loss = F.binary_cross_entropy_with_logits(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.binary_cross_entropy_with_logits(model(x_val), y_val).item()
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= patience:
            break

    model.load_state_dict(best_state)
    model.eval()
    test = load_area(test_area)
    x_test, y_test = grid_windows(
        (test.image - mean) / std, test.label, test.split, TEST, test_window_px
    )
    with torch.no_grad():
        pred = torch.sigmoid(model(x_test)) >= THRESHOLD
    counts = Counts.from_arrays(pred.numpy(), y_test.numpy() > 0.5)
    return {
        "f1": f1(counts),
        "counts": {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn},
        "epochs": epoch,
        "best_epoch": best_epoch,
        "windows": {"train": len(x_train), "validation": len(x_val), "test": len(x_test)},
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m slidemap.bench.plain_unet``: train, test, print the result as JSON."""
    parser = argparse.ArgumentParser(prog="plain_unet", description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="prepared training area")
    parser.add_argument("--test", type=Path, required=True, help="prepared test area")
    parser.add_argument("--patch", type=int, default=64, help="training window side (px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--test-window", type=int, default=128, help="test window side (px)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        result = train_and_test(
            args.train,
            args.test,
            patch_px=args.patch,
            seed=args.seed,
            epochs=args.epochs,
            patience=args.patience,
            test_window_px=args.test_window,
        )
    except SlidemapError as exc:
        parser.error(str(exc))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
