"""Object-level accuracy: landslides counted as objects, not pixels.

A pixel F1 rewards a model that gets the big landslides right and misses
every small one; hazard analysts also ask "how many landslides did it find,
and how many of the small ones?". Here:

* **Objects** are the connected components of a binary mask
  (:func:`scipy.ndimage.label`, **8-connectivity**: pixels touching at a
  corner belong to one object, so a thin diagonal scar is one landslide).
  Only pixels inside ``valid`` take part; an object cut by the edge of the
  evaluated part counts with its evaluated pixels only.
* **Matching** is one-to-one: a predicted and a reference object match when
  their intersection over union is at least ``iou_threshold`` (default 0.5).
  At 0.5 or more no object can have two candidates (two separate objects
  each overlapping half of a third would have to make it up together, and
  then they would touch), so the matching is unique. Below 0.5, candidate
  pairs are matched greedily, highest IoU first (ties: lower reference
  label, then lower predicted label — deterministic).
* **Counts**: TP = matched pairs, FP = predicted objects without a match,
  FN = reference objects without a match; precision, recall and F1 from them
  (NaN where undefined, like :mod:`slidemap.metrics`).
* **Size classes** (by object area in m²; default edges 1,000 and 10,000 m²,
  so < 1,000, 1,000–10,000 and ≥ 10,000 m²): per class, the reference
  landslides and how many were detected (matched), and the predicted objects
  and how many were false (unmatched). Areas are pixel counts × pixel area.

:class:`ObjectCounts` add up across areas (an object never spans two areas),
so "all test parts together" is the sum of the per-area counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import ndimage

from slidemap.metrics import NAN

#: 8-connectivity: the full 3 × 3 neighbourhood.
CONNECTIVITY = np.ones((3, 3), bool)
DEFAULT_IOU = 0.5
DEFAULT_SIZE_EDGES_M2: tuple[float, ...] = (1_000.0, 10_000.0)


def _ratio(num: float, den: float) -> float:
    return num / den if den else NAN


@dataclass(frozen=True)
class SizeClass:
    """Object counts of one size class, ``min_m2 <= area < max_m2``.

    Attributes:
        min_m2, max_m2: class bounds in m² (``max_m2`` is ``inf`` for the last class).
        reference: reference landslides in the class.
        detected: of those, matched by a predicted object.
        predicted: predicted objects in the class (by their own area).
        false: of those, without a match.
    """

    min_m2: float
    max_m2: float
    reference: int = 0
    detected: int = 0
    predicted: int = 0
    false: int = 0

    def __add__(self, other: SizeClass) -> SizeClass:
        if (self.min_m2, self.max_m2) != (other.min_m2, other.max_m2):
            raise ValueError("cannot add size classes with different bounds")
        return SizeClass(
            self.min_m2,
            self.max_m2,
            self.reference + other.reference,
            self.detected + other.detected,
            self.predicted + other.predicted,
            self.false + other.false,
        )

    @property
    def recall(self) -> float:
        """Detected share of the reference landslides in the class; NaN when there are none."""
        return _ratio(self.detected, self.reference)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``max_m2`` is None for the open last class, ``recall`` None when NaN."""
        return {
            "min_m2": self.min_m2,
            "max_m2": None if self.max_m2 == float("inf") else self.max_m2,
            "reference": self.reference,
            "detected": self.detected,
            "recall": _json(self.recall),
            "predicted": self.predicted,
            "false": self.false,
        }


@dataclass(frozen=True)
class ObjectCounts:
    """Object-level confusion counts and their size classes.

    Attributes:
        tp: matched pairs (detected landslides).
        fp: predicted objects without a match.
        fn: reference landslides without a match.
        iou_threshold: the matching threshold used.
        size_classes: counts per size class, smallest first.
    """

    tp: int
    fp: int
    fn: int
    iou_threshold: float = DEFAULT_IOU
    size_classes: tuple[SizeClass, ...] = ()

    def __add__(self, other: ObjectCounts) -> ObjectCounts:
        if self.iou_threshold != other.iou_threshold:
            raise ValueError("cannot add object counts matched at different IoU thresholds")
        if len(self.size_classes) != len(other.size_classes):
            raise ValueError("cannot add object counts with different size classes")
        return ObjectCounts(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.iou_threshold,
            tuple(a + b for a, b in zip(self.size_classes, other.size_classes, strict=True)),
        )

    @property
    def precision(self) -> float:
        """TP / predicted objects; NaN when nothing was predicted."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / reference landslides; NaN when the reference has none."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); NaN when there is no object on either side."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {
            "iou_threshold": self.iou_threshold,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": _json(self.precision),
            "recall": _json(self.recall),
            "f1": _json(self.f1),
            "size_classes": [s.to_dict() for s in self.size_classes],
        }


def empty_object_counts(
    iou_threshold: float = DEFAULT_IOU, size_edges_m2: Sequence[float] = DEFAULT_SIZE_EDGES_M2
) -> ObjectCounts:
    """Zero counts with the given size classes (the start of a sum)."""
    return ObjectCounts(0, 0, 0, iou_threshold, _classes(size_edges_m2))


def object_counts(
    pred: np.ndarray,
    ref: np.ndarray,
    valid: np.ndarray | None = None,
    pixel_area_m2: float | np.ndarray = 1.0,
    iou_threshold: float = DEFAULT_IOU,
    size_edges_m2: Sequence[float] = DEFAULT_SIZE_EDGES_M2,
) -> ObjectCounts:
    """Match predicted landslide objects to reference ones (see the module docstring).

    Args:
        pred: (H, W) bool or 0/1, predicted landslide mask.
        ref: (H, W) bool or 0/1, reference mask (exclude nodata through ``valid``).
        valid: (H, W) bool, the pixels that take part; all when omitted.
        pixel_area_m2: area of one pixel in m² (for the size classes): a number,
            or an array broadcasting to (H, W) (e.g. (H, 1) per row on a
            geographic grid, see :func:`slidemap.terrain.pixel_size_m`).
        iou_threshold: least IoU of a matching pair, in (0, 1].
        size_edges_m2: increasing class edges in m²; n edges make n + 1 classes.

    Returns:
        The object counts.

    Raises:
        ValueError: arrays of different shapes, a threshold outside (0, 1],
            or edges that are not positive and increasing.
    """
    if pred.shape != ref.shape or (valid is not None and valid.shape != ref.shape):
        raise ValueError("pred, ref and valid must have one shape")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    v = np.ones(ref.shape, bool) if valid is None else valid.astype(bool, copy=False)
    pred_lab, n_pred = ndimage.label(pred.astype(bool, copy=False) & v, structure=CONNECTIVITY)
    ref_lab, n_ref = ndimage.label(ref.astype(bool, copy=False) & v, structure=CONNECTIVITY)
    pred_px = np.bincount(pred_lab.ravel(), minlength=n_pred + 1)
    ref_px = np.bincount(ref_lab.ravel(), minlength=n_ref + 1)

    # intersections of every overlapping (pred, ref) pair
    both = (pred_lab > 0) & (ref_lab > 0)
    pair = pred_lab[both].astype(np.int64) * (n_ref + 1) + ref_lab[both]
    pairs, inter = np.unique(pair, return_counts=True)
    p_idx, r_idx = pairs // (n_ref + 1), pairs % (n_ref + 1)
    iou = inter / (pred_px[p_idx] + ref_px[r_idx] - inter)

    keep = iou >= iou_threshold
    order = np.lexsort((p_idx[keep], r_idx[keep], -iou[keep]))
    pred_matched = np.zeros(n_pred + 1, bool)
    ref_matched = np.zeros(n_ref + 1, bool)
    for p, r in zip(p_idx[keep][order], r_idx[keep][order], strict=True):
        if not (pred_matched[p] or ref_matched[r]):
            pred_matched[p] = ref_matched[r] = True
    tp = int(ref_matched.sum())

    classes = _classes(size_edges_m2)
    edges = [c.min_m2 for c in classes[1:]]
    area_map = np.broadcast_to(np.asarray(pixel_area_m2, np.float64), ref.shape).ravel()
    pred_m2 = np.bincount(pred_lab.ravel(), weights=area_map, minlength=n_pred + 1)[1:]
    ref_m2 = np.bincount(ref_lab.ravel(), weights=area_map, minlength=n_ref + 1)[1:]
    pred_class = np.searchsorted(edges, pred_m2, side="right")
    ref_class = np.searchsorted(edges, ref_m2, side="right")
    counted = tuple(
        SizeClass(
            c.min_m2,
            c.max_m2,
            reference=int(np.count_nonzero(ref_class == i)),
            detected=int(np.count_nonzero((ref_class == i) & ref_matched[1:])),
            predicted=int(np.count_nonzero(pred_class == i)),
            false=int(np.count_nonzero((pred_class == i) & ~pred_matched[1:])),
        )
        for i, c in enumerate(classes)
    )
    return ObjectCounts(tp, n_pred - tp, n_ref - tp, iou_threshold, counted)


def _classes(size_edges_m2: Sequence[float]) -> tuple[SizeClass, ...]:
    edges = [float(e) for e in size_edges_m2]
    if any(e <= 0 for e in edges) or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"size class edges must be positive and increasing, got {edges}")
    bounds = [0.0, *edges, float("inf")]
    return tuple(SizeClass(lo, hi) for lo, hi in pairwise(bounds))


def _json(x: float) -> float | None:
    return None if math.isnan(x) else x
