"""Pixel confusion counts and the metrics computed from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slidemap.metrics import Counts, f1, iou, kappa, mcc, precision, recall
from slidemap.tiling import grid_windows

counts = st.builds(Counts, *(st.integers(0, 10**9) for _ in range(4)))  # tp, fp, fn, tn


def test_counts_from_arrays_by_hand():
    pred = np.array([[1, 1, 0, 0], [1, 0, 0, 1]], np.uint8)
    ref = np.array([[1, 0, 1, 0], [1, 0, 255, 0]], np.uint8)
    valid = ref != 255
    c = Counts.from_arrays(pred, ref == 1, valid)
    # tp: (0,0) (1,0); fp: (0,1) (1,3); fn: (0,2); tn: (0,3) (1,1); (1,2) ignored
    assert c == Counts(tp=2, fp=2, fn=1, tn=2)
    assert c.total == 7
    assert precision(c) == 0.5
    assert recall(c) == pytest.approx(2 / 3)
    assert f1(c) == pytest.approx(4 / 7)
    assert iou(c) == 0.4
    assert mcc(c) == pytest.approx((2 * 2 - 2 * 1) / math.sqrt(4 * 3 * 4 * 3))
    # p_o = 4/7, p_e = (4*3 + 3*4) / 49 = 24/49
    assert kappa(c) == pytest.approx((4 / 7 - 24 / 49) / (1 - 24 / 49))


def test_counts_without_valid_mask_count_every_pixel():
    pred = np.array([[True, False], [False, False]])
    ref = np.array([[True, True], [False, False]])
    assert Counts.from_arrays(pred, ref) == Counts(1, 0, 1, 2)


def test_counts_shape_mismatch():
    with pytest.raises(ValueError, match="one shape"):
        Counts.from_arrays(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one shape"):
        Counts.from_arrays(np.zeros((2, 2)), np.zeros((2, 2)), np.ones((3, 2), bool))


def test_empty_prediction():
    c = Counts.from_arrays(np.zeros((4, 4), bool), np.eye(4, dtype=bool))
    assert c == Counts(0, 0, 4, 12)
    assert math.isnan(precision(c))  # nothing predicted: undefined
    assert recall(c) == 0.0 and f1(c) == 0.0 and iou(c) == 0.0
    assert math.isnan(mcc(c))
    assert kappa(c) == 0.0


def test_empty_reference():
    c = Counts.from_arrays(np.eye(4, dtype=bool), np.zeros((4, 4), bool))
    assert c == Counts(0, 4, 0, 12)
    assert precision(c) == 0.0 and math.isnan(recall(c))
    assert f1(c) == 0.0 and iou(c) == 0.0 and math.isnan(mcc(c))


def test_both_empty_and_nothing_counted():
    c = Counts.from_arrays(np.zeros((3, 3), bool), np.zeros((3, 3), bool))
    assert c == Counts(0, 0, 0, 9)
    for metric in (precision, recall, f1, iou, mcc, kappa):
        assert math.isnan(metric(c)), metric.__name__
    for metric in (precision, recall, f1, iou, mcc, kappa):
        assert math.isnan(metric(Counts())), metric.__name__


def test_perfect_prediction():
    ref = np.eye(5, dtype=bool)
    c = Counts.from_arrays(ref, ref)
    for metric in (precision, recall, f1, iou, mcc, kappa):
        assert metric(c) == 1.0, metric.__name__


def test_per_tile_counts_add_up_to_the_whole_image():
    rng = np.random.default_rng(3)
    pred = rng.random((96, 128)) > 0.7
    ref = rng.random((96, 128)) > 0.8
    valid = rng.random((96, 128)) > 0.1
    whole = Counts.from_arrays(pred, ref, valid)
    tiles = [
        Counts.from_arrays(pred[w.slices], ref[w.slices], valid[w.slices])
        for w in grid_windows(96, 128, 32)
    ]
    assert sum(tiles, Counts()) == whole
    assert whole.total == valid.sum()


@given(counts, counts)
def test_addition_is_elementwise(a: Counts, b: Counts):
    s = a + b
    assert (s.tp, s.fp, s.fn, s.tn) == (a.tp + b.tp, a.fp + b.fp, a.fn + b.fn, a.tn + b.tn)
    assert a + b == b + a


@given(counts)
def test_f1_is_symmetric_in_fp_and_fn(c: Counts):
    swapped = Counts(c.tp, c.fn, c.fp, c.tn)
    assert f1(c) == f1(swapped) or (math.isnan(f1(c)) and math.isnan(f1(swapped)))
    assert precision(c) == recall(swapped) or math.isnan(precision(c))


@given(counts)
def test_metrics_stay_in_range_and_agree(c: Counts):
    p, r, f, j = precision(c), recall(c), f1(c), iou(c)
    for value in (p, r, f, j):
        assert math.isnan(value) or 0.0 <= value <= 1.0
    for value in (mcc(c), kappa(c)):
        assert math.isnan(value) or -1.0 - 1e-12 <= value <= 1.0 + 1e-12
    if not math.isnan(f):
        assert j == pytest.approx(f / (2 - f))  # IoU and F1 are monotone transforms
    if p > 0 and r > 0:
        assert f == pytest.approx(2 * p * r / (p + r))
