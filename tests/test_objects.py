"""Object-level metrics: connected components matched one-to-one by IoU, size classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slidemap.objects import ObjectCounts, SizeClass, empty_object_counts, object_counts


def mask(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """(H, W) bool with the (row0, row1, col0, col1) boxes set (end-exclusive)."""
    out = np.zeros(shape, bool)
    for r0, r1, c0, c1 in boxes:
        out[r0:r1, c0:c1] = True
    return out


def test_hand_made_masks() -> None:
    shape = (20, 20)
    ref = mask(shape, (0, 4, 0, 4), (10, 14, 10, 14), (0, 2, 16, 18))
    pred = mask(
        shape,
        (0, 4, 1, 4),  # 12 of ref 1's 16 pixels: IoU 0.75 -> match
        (10, 12, 10, 14),  # 8 of ref 2's 16 pixels: IoU 0.5 -> match (>= 0.5)
        (6, 8, 6, 8),  # nothing there -> FP
    )  # ref 3 (top right) is missed -> FN
    c = object_counts(pred, ref)
    assert (c.tp, c.fp, c.fn) == (2, 1, 1)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)


def test_iou_just_below_threshold_is_no_match() -> None:
    ref = mask((10, 10), (0, 4, 0, 4))
    pred = mask((10, 10), (0, 4, 0, 2), (0, 1, 2, 3))  # one 9-px object, IoU 9/16 vs 7/16
    assert object_counts(pred, ref).tp == 1
    pred = mask((10, 10), (0, 3, 0, 2), (0, 1, 2, 3))  # 7 px: IoU 7/16 < 0.5
    c = object_counts(pred, ref)
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)
    assert object_counts(pred, ref, iou_threshold=0.4).tp == 1


def test_corner_touching_pixels_are_one_object() -> None:
    """8-connectivity: a diagonal line is one landslide."""
    diagonal = np.eye(6, dtype=bool)
    c = object_counts(diagonal, diagonal)
    assert (c.tp, c.fp, c.fn) == (1, 0, 0)


def test_matching_is_one_to_one() -> None:
    """One big prediction over two small references matches at most one of them."""
    ref = mask((4, 12), (0, 4, 0, 4), (0, 4, 5, 7))  # 16 px and 8 px, apart
    pred = mask((4, 12), (0, 4, 0, 6))  # 24 px: IoU 16/24 with the first, 4/28 with the second
    c = object_counts(pred, ref)
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)
    # at a low threshold both references are candidates, still only one is matched
    c = object_counts(pred, ref, iou_threshold=0.1)
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)


def test_greedy_takes_the_best_pair_first() -> None:
    # ref A (cols 0-4) and ref B (cols 6-9) are separate; the prediction P covers A fully
    # (IoU 5/6 once thresholds are low) and B's first column
    ref = mask((1, 10), (0, 1, 0, 5), (0, 1, 6, 10))
    pred = mask((1, 10), (0, 1, 0, 7))  # 7 px, one object (cols 0-6)
    c = object_counts(pred, ref, iou_threshold=0.1)
    # IoU(P, A) = 5/7, IoU(P, B) = 1/10: P goes to A, B is missed
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)
    assert c.size_classes[0].detected == 1  # A (5 m², smallest class) was detected


def test_invalid_pixels_do_not_take_part() -> None:
    ref = mask((6, 6), (0, 6, 0, 3))
    pred = mask((6, 6), (0, 6, 0, 3))
    valid = np.ones((6, 6), bool)
    valid[:, :3] = False  # the whole object lies in invalid pixels
    c = object_counts(pred, ref, valid)
    assert (c.tp, c.fp, c.fn) == (0, 0, 0)
    assert math.isnan(c.precision) and math.isnan(c.recall) and math.isnan(c.f1)


def test_size_classes_in_square_metres() -> None:
    shape = (40, 40)
    # pixel 10 m x 10 m = 100 m²: 9 px = 900 m² (< 1000), 10 px = 1000 m² (1000-10000),
    # 100 px = 10,000 m² (>= 10000)
    ref = mask(shape, (0, 3, 0, 3), (5, 6, 0, 10), (20, 30, 20, 30))
    pred = mask(shape, (0, 3, 0, 3), (20, 30, 20, 30), (35, 36, 0, 2))  # misses the 10 px one
    c = object_counts(pred, ref, pixel_area_m2=100.0)
    small, medium, large = c.size_classes
    assert (small.min_m2, small.max_m2) == (0.0, 1000.0)
    assert (medium.min_m2, medium.max_m2) == (1000.0, 10000.0)
    assert (large.min_m2, large.max_m2) == (10000.0, math.inf)
    assert (small.reference, small.detected, small.predicted, small.false) == (1, 1, 2, 1)
    assert (medium.reference, medium.detected, medium.predicted, medium.false) == (1, 0, 0, 0)
    assert (large.reference, large.detected, large.predicted, large.false) == (1, 1, 1, 0)
    assert medium.recall == 0.0 and large.recall == 1.0


def test_per_row_pixel_areas() -> None:
    """On a geographic grid the pixel area differs per row; (H, 1) areas broadcast."""
    ref = mask((2, 10), (0, 1, 0, 10), (1, 2, 0, 10))  # two 10-px rows, one 8-connected object
    areas = np.array([[50.0], [60.0]])  # 10 x 50 + 10 x 60 = 1100 m²
    c = object_counts(ref, ref, pixel_area_m2=areas)
    assert [s.reference for s in c.size_classes] == [0, 1, 0]


def test_custom_edges_and_addition() -> None:
    ref = mask((10, 10), (0, 2, 0, 2))
    a = object_counts(ref, ref, size_edges_m2=(3.0,))
    b = object_counts(np.zeros((10, 10), bool), ref, size_edges_m2=(3.0,))
    total = a + b
    assert isinstance(total, ObjectCounts)
    assert (total.tp, total.fp, total.fn) == (1, 0, 1)
    assert total.size_classes == (SizeClass(0.0, 3.0), SizeClass(3.0, math.inf, 2, 1, 1, 0))
    zero = empty_object_counts(size_edges_m2=(3.0,))
    assert zero + a == a


def test_to_dict_is_json_ready() -> None:
    c = object_counts(np.zeros((3, 3), bool), np.zeros((3, 3), bool))
    d = c.to_dict()
    assert d["precision"] is None and d["f1"] is None
    assert d["size_classes"][-1]["max_m2"] is None
    assert d["size_classes"][0] == {
        "min_m2": 0.0,
        "max_m2": 1000.0,
        "reference": 0,
        "detected": 0,
        "recall": None,
        "predicted": 0,
        "false": 0,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iou_threshold": 0.0}, "iou_threshold must be in"),
        ({"size_edges_m2": (100.0, 10.0)}, "positive and increasing"),
        ({"size_edges_m2": (0.0,)}, "positive and increasing"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    m = np.zeros((3, 3), bool)
    with pytest.raises(ValueError, match=message):
        object_counts(m, m, **kwargs)


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="one shape"):
        object_counts(np.zeros((3, 3), bool), np.zeros((3, 4), bool))


def test_adding_counts_of_other_settings_is_refused() -> None:
    m = np.zeros((3, 3), bool)
    with pytest.raises(ValueError, match="IoU thresholds"):
        object_counts(m, m) + object_counts(m, m, iou_threshold=0.7)
    with pytest.raises(ValueError, match="size classes"):
        object_counts(m, m) + object_counts(m, m, size_edges_m2=(5.0,))
