"""Training and validation windows of prepared areas, normalised and held in memory.

Training windows follow the paper: a regular grid of ``patch`` × ``patch``
windows without overlap or augmentation, each lying entirely in the train part
of its area (the grid starts at the corner of the train part's bounding box).
Windows with more than ``nodata_max`` of invalid pixels are dropped.

Validation (early stopping, threshold choice) scores every valid pixel of the
validation part exactly once. The validation part is usually a strip narrower
than a window, so validation windows cover it and extend into the adjacent
train part for context; a per-window mask marks the validation pixels each
window scores. The test part never enters: its pixels are blanked (set to 0,
like nodata) in the normalised images, so no test value reaches the model
during training or validation.

Normalisation is per band, ``(x - mean) / std``, with statistics over the
finite train-part pixels of all training areas together (pixel-count
weighted); NaN becomes 0 after normalisation. Every item is ``(image, label,
valid)``:

    image  (C, h, w) float32, normalised, 0 where nodata
    label  (1, h, w) float32, 1 landslide, 0 otherwise (also for nodata)
    valid  (1, h, w) float32, 1 where the pixel counts in the loss
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from slidemap.area import LABEL_NODATA, TRAIN, VALIDATION, AreaMeta, PreparedArea
from slidemap.errors import SlidemapError
from slidemap.tiling import Window, grid_windows, sliding_windows

log = logging.getLogger("slidemap")

PATCH_MULTIPLE = 16  # four 2× downsamplings in both networks


@dataclass(frozen=True)
class Normalization:
    """Per-band statistics for ``(x - mean) / std``, one value per band in channel order."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalise (C, H, W) reflectance/slope to (C, H, W) float32, NaN/±Inf → 0.

        Args:
            image: (C, H, W) values of the bands in channel order.
            out: (C, H, W) float32 array to write the result into, ``image`` itself
                to normalise in place; default a new array.
        """
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        x = np.subtract(image, mean, out=out, dtype=np.float32)
        np.divide(x, std, out=x)
        x[~np.isfinite(x)] = 0.0
        return x


def check_patch(patch: int) -> None:
    """Refuse a window size the networks cannot take.

    Raises:
        SlidemapError: ``patch`` is not a positive multiple of 16.
    """
    if patch <= 0 or patch % PATCH_MULTIPLE:
        raise SlidemapError(
            f"--patch must be a positive multiple of {PATCH_MULTIPLE} (the networks halve the "
            f"window four times), got {patch}; the paper uses 32, 64 or 128"
        )


class Described(Protocol):
    """What the band check needs of an area: where it is and its ``area.json``."""

    @property
    def path(self) -> Path: ...

    @property
    def meta(self) -> AreaMeta: ...


def check_same_bands(areas: Sequence[Described]) -> tuple[str, ...]:
    """The common band list of ``areas`` (loaded, or only their ``area.json``).

    Raises:
        SlidemapError: two areas have different band names or band order.
    """
    first = areas[0]
    for area in areas[1:]:
        if area.meta.band_names != first.meta.band_names:
            raise SlidemapError(
                f"areas {first.path} and {area.path} have different bands "
                f"({','.join(first.meta.band_names)} vs {','.join(area.meta.band_names)}); "
                "prepare all training areas with the same bands in the same order"
            )
    return first.meta.band_names


def train_statistics(areas: Sequence[PreparedArea]) -> Normalization:
    """Per-band mean and standard deviation over the finite train pixels of all ``areas``.

    Areas are combined exactly (Chan et al.'s pairwise update of count, mean
    and sum of squared deviations, in float64), so a large area weighs more
    than a small one. A constant band (std 0) gets std 1: it is only centred.

    Raises:
        SlidemapError: a band has no finite train pixel in any area.
    """
    names = check_same_bands(areas)
    mean, std = [], []
    for c, name in enumerate(names):
        n, mu, m2 = 0, 0.0, 0.0
        for area in areas:
            values = area.image[c][(area.split == TRAIN) & np.isfinite(area.image[c])]
            if values.size == 0:
                continue
            values = values.astype(np.float64)
            n_b, mu_b = values.size, float(values.mean())
            m2_b = float(((values - mu_b) ** 2).sum())
            delta = mu_b - mu
            n_ab = n + n_b
            mu += delta * n_b / n_ab
            m2 += m2_b + delta * delta * n * n_b / n_ab
            n = n_ab
        if n == 0:
            raise SlidemapError(
                f"band {name} has no valid pixel in the train part of any training area"
            )
        sd = float(np.sqrt(m2 / n))
        if not sd > 0.0:
            log.warning("band %s is constant over the train parts; it is only centred", name)
            sd = 1.0
        mean.append(mu)
        std.append(sd)
    return Normalization(tuple(mean), tuple(std))


def _valid_pixels(area: PreparedArea) -> np.ndarray:
    """(H, W) bool: every band finite and the label known."""
    return np.isfinite(area.image).all(axis=0) & (area.label != LABEL_NODATA)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` (end-exclusive) of the true pixels of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def train_windows(area: PreparedArea, patch: int, nodata_max: float) -> tuple[list[Window], int]:
    """Regular-grid windows entirely in the train part of ``area``.

    Args:
        area: a loaded prepared area.
        patch: window side in pixels.
        nodata_max: drop windows whose share of invalid pixels exceeds this (0–1).

    Returns:
        ``(windows, dropped)``: kept windows in row-major order, and how many
        windows inside the train part were dropped for nodata.
    """
    train = area.split == TRAIN
    if not train.any():
        return [], 0
    r0, r1, c0, c1 = _bbox(train)
    invalid = ~_valid_pixels(area)
    kept, dropped = [], 0
    for w in grid_windows(r1 - r0, c1 - c0, patch):
        win = Window(r0 + w.row_off, c0 + w.col_off, patch, patch)
        if not train[win.slices].all():
            continue
        if invalid[win.slices].mean() > nodata_max:
            dropped += 1
        else:
            kept.append(win)
    return kept, dropped


def _enlarge(start: int, stop: int, length: int, patch: int, allowed: np.ndarray) -> int:
    """Offset of a ``patch``-long run containing ``[start, stop)`` inside ``[0, length)`` that
    holds the most ``allowed`` pixels (``allowed``: per-line counts, shape (length,))."""
    lo, hi = max(0, stop - patch), min(start, length - patch)
    sums = np.concatenate([[0], np.cumsum(allowed)])
    offsets = np.arange(lo, hi + 1)
    return int(offsets[np.argmax(sums[offsets + patch] - sums[offsets])])


def validation_windows(area: PreparedArea, patch: int) -> list[tuple[Window, np.ndarray]]:
    """Windows covering the validation part, each with the pixels it scores.

    The windows tile the validation part's bounding box (the last one snapped
    to its edge). Along an axis where the box is narrower than ``patch`` the
    window is widened towards the side holding the most train/validation
    pixels, so its context comes from the train part rather than the test part.

    Args:
        area: a loaded prepared area.
        patch: window side in pixels; at most the area's height and width.

    Returns:
        ``(window, scored)`` pairs; ``scored`` is (patch, patch) bool, true for
        the valid validation pixels this window scores. Every valid validation
        pixel is scored by exactly one window; windows scoring none are left out.
    """
    part = area.split == VALIDATION
    height, width = part.shape
    if not part.any() or patch > min(height, width):
        return []
    r0, r1, c0, c1 = _bbox(part)
    allowed = np.isin(area.split, (TRAIN, VALIDATION))
    if r1 - r0 < patch:
        r0 = _enlarge(r0, r1, height, patch, allowed[:, c0:c1].sum(axis=1))
        r1 = r0 + patch
    if c1 - c0 < patch:
        c0 = _enlarge(c0, c1, width, patch, allowed[r0:r1].sum(axis=0))
        c1 = c0 + patch
    target = part & _valid_pixels(area)
    covered = np.zeros_like(target)
    out = []
    for w in sliding_windows(r1 - r0, c1 - c0, patch, 0):
        win = Window(r0 + w.row_off, c0 + w.col_off, patch, patch)
        scored = target[win.slices] & ~covered[win.slices]
        if scored.any():
            covered[win.slices] |= scored
            out.append((win, scored))
    return out


def _no_train_windows(area: PreparedArea, patch: int, nodata_max: float, dropped: int) -> str:
    train = area.split == TRAIN
    if not train.any():
        return f"area {area.path} has no train part; prepare it with a train/test split"
    if (area.label[train] == LABEL_NODATA).all():
        return unlabelled(area, "train")
    r0, r1, c0, c1 = _bbox(train)
    smaller = [s for s in (64, 32, 16) if s < patch and train_windows(area, s, nodata_max)[0]]
    hint = f"use a smaller --patch (e.g. {smaller[0]})" if smaller else "use a larger area"
    why = f", {dropped} more had > {nodata_max:.0%} nodata" if dropped else ""
    return (
        f"area {area.path}: no {patch} x {patch} px training window fits in its train part "
        f"({r1 - r0} x {c1 - c0} px bounding box{why}); {hint}"
    )


def unlabelled(area: PreparedArea, part: str) -> str:
    """The error for an area whose ``part`` ("train", "test") has no landslide label."""
    return (
        f"area {area.path} has no landslide labels in its {part} part (prepared without an "
        "[inventory]?); training and evaluation need a labelled area: add an [inventory] to "
        "its area file and prepare it again, or use it with 'slidemap predict'"
    )


class PatchDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Training or validation windows of one or more prepared areas (see module docstring).

    All arrays are prepared once in memory; an item is a slice, no file I/O.

    Args:
        areas: loaded prepared areas with the same bands.
        part: ``area.TRAIN`` (grid windows, nodata filter) or ``area.VALIDATION``.
        patch: window side in pixels, a multiple of 16.
        norm: band statistics (normally :func:`train_statistics` of the training areas).
        nodata_max: for training windows, the largest share of invalid pixels kept (0–1).

    Raises:
        SlidemapError: bad ``patch``; areas with different bands; an area with
            no training window of this size.
    """

    def __init__(
        self,
        areas: Sequence[PreparedArea],
        part: int,
        patch: int,
        norm: Normalization,
        nodata_max: float = 0.5,
    ) -> None:
        if part not in (TRAIN, VALIDATION):
            raise ValueError(f"part must be TRAIN or VALIDATION, got {part}")
        check_patch(patch)
        check_same_bands(areas)
        self.patch = patch
        self.images: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.items: list[tuple[int, Window, np.ndarray]] = []
        for i, area in enumerate(areas):
            valid = _valid_pixels(area)
            if part == TRAIN:
                windows, dropped = train_windows(area, patch, nodata_max)
                if not windows:
                    raise SlidemapError(_no_train_windows(area, patch, nodata_max, dropped))
                log.info(
                    "%s: %d training windows of %d px (%d dropped with > %.0f%% nodata)",
                    area.name,
                    len(windows),
                    patch,
                    dropped,
                    100 * nodata_max,
                )
                self.items += [(i, w, valid[w.slices]) for w in windows]
            else:
                scored = validation_windows(area, patch)
                log.info("%s: %d validation windows of %d px", area.name, len(scored), patch)
                self.items += [(i, w, s) for w, s in scored]
            image = norm.apply(area.image)
            image[:, ~np.isin(area.split, (TRAIN, VALIDATION))] = 0.0
            self.images.append(image)
            self.labels.append((area.label == 1).astype(np.float32))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i, win, valid = self.items[index]
        rows, cols = win.slices
        return (
            torch.from_numpy(np.ascontiguousarray(self.images[i][:, rows, cols])),
            torch.from_numpy(np.ascontiguousarray(self.labels[i][None, rows, cols])),
            torch.from_numpy(valid[None].astype(np.float32)),
        )
