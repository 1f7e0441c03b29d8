"""Accuracy metrics in two steps: confusion counts first, ratios from the counts after.

Counts (:class:`Counts`) add up across tiles, areas, seeds and workers; ratios
do not, so every metric here is a function of a :class:`Counts`::

    total = sum((Counts.from_arrays(p, r, v) for p, r, v in tiles), Counts())
    f1(total), precision(total), recall(total)

Where a metric is undefined (its denominator is zero) it is NaN, never 0 or 1:
a model that predicts nothing has an undefined precision, not a perfect or a
zero one. Each function says when that happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NAN = float("nan")


@dataclass(frozen=True)
class Counts:
    """Pixel confusion counts of a binary map against a reference.

    Attributes:
        tp: landslide predicted and in the reference.
        fp: landslide predicted, not in the reference.
        fn: in the reference, not predicted.
        tn: neither.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """Number of pixels counted."""
        return self.tp + self.fp + self.fn + self.tn

    @classmethod
    def from_arrays(
        cls, pred: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None
    ) -> Counts:
        """Count a predicted map against a reference, ignoring invalid pixels.

        Args:
            pred: (H, W) bool or 0/1 integers, the predicted landslide mask
                (any non-zero value is a landslide).
            ref: (H, W) bool or 0/1 integers, the reference mask (non-zero =
                landslide; exclude nodata codes such as 255 through ``valid``).
            valid: (H, W) bool, pixels to count; all pixels when omitted.

        Raises:
            ValueError: the arrays differ in shape.
        """
        if pred.shape != ref.shape or (valid is not None and valid.shape != ref.shape):
            shapes = [pred.shape, ref.shape, None if valid is None else valid.shape]
            raise ValueError(f"pred, ref and valid must have one shape, got {shapes}")
        p = pred.astype(bool, copy=False)
        r = ref.astype(bool, copy=False)
        v = np.ones(r.shape, bool) if valid is None else valid.astype(bool, copy=False)
        tp = int(np.count_nonzero(p & r & v))
        fp = int(np.count_nonzero(p & ~r & v))
        fn = int(np.count_nonzero(~p & r & v))
        tn = int(np.count_nonzero(v)) - tp - fp - fn
        return cls(tp, fp, fn, tn)


def _ratio(num: float, den: float) -> float:
    return num / den if den else NAN


def precision(c: Counts) -> float:
    """TP / (TP + FP); NaN when nothing is predicted as landslide."""
    return _ratio(c.tp, c.tp + c.fp)


def recall(c: Counts) -> float:
    """TP / (TP + FN); NaN when the reference has no landslide pixel."""
    return _ratio(c.tp, c.tp + c.fn)


def f1(c: Counts) -> float:
    """2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall.

    0 when there are landslides in the reference or the prediction but no TP
    (even if precision or recall alone is NaN); NaN only when both the
    reference and the prediction are empty.
    """
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def iou(c: Counts) -> float:
    """TP / (TP + FP + FN) (Jaccard index); NaN when reference and prediction are both empty."""
    return _ratio(c.tp, c.tp + c.fp + c.fn)


def mcc(c: Counts) -> float:
    """Matthews correlation coefficient, in [-1, 1].

    NaN when any row or column of the confusion matrix is empty (nothing or
    everything predicted, or no landslide / only landslide in the reference).
    """
    den = math.sqrt((c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn))
    return _ratio(c.tp * c.tn - c.fp * c.fn, den)


def kappa(c: Counts) -> float:
    """Cohen's kappa: agreement beyond chance, (p_o - p_e) / (1 - p_e).

    NaN when no pixel is counted or chance agreement is 1 (reference and
    prediction both all landslide or both all background).
    """
    n = c.total
    chance = (c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn)  # p_e * n², exact
    return _ratio(n * (c.tp + c.tn) - chance, n * n - chance)
