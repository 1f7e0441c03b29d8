"""The train / validation / test split of an area: by direction and from polygons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slidemap.area import OUTSIDE, TEST, TRAIN, VALIDATION
from slidemap.errors import SlidemapError
from slidemap.split import split_by_direction, split_from_roles

DIRECTIONS = ("west-east", "east-west", "north-south", "south-north")


def along(split: np.ndarray, direction: str) -> np.ndarray:
    """``split`` viewed so that ``direction`` runs along increasing column index."""
    return {
        "west-east": split,
        "east-west": split[:, ::-1],
        "north-south": split.T,
        "south-north": split[::-1, :].T,
    }[direction]


def lines_of(split: np.ndarray, code: int) -> np.ndarray:
    """Column indices holding at least one pixel of ``code``."""
    return np.flatnonzero((split == code).any(axis=0))


@st.composite
def areas(draw: st.DrawFn) -> np.ndarray:
    """(H, W) bool masks of 12–40 px sides: a full rectangle with random holes."""
    h, w = draw(st.integers(12, 40)), draw(st.integers(12, 40))
    seed = draw(st.integers(0, 2**16))
    holes = draw(st.floats(0.0, 0.5))
    return np.random.default_rng(seed).random((h, w)) >= holes


@settings(max_examples=60, deadline=None)
@given(
    valid=areas(),
    direction=st.sampled_from(DIRECTIONS),
    fraction=st.floats(0.3, 0.8),
    validation=st.floats(0.05, 0.3),
)
def test_parts_follow_each_other_along_the_direction(
    valid: np.ndarray, direction: str, fraction: float, validation: float
) -> None:
    try:
        split = split_by_direction(valid, fraction, direction, validation)
    except SlidemapError as exc:  # only a too-small area may be refused
        assert "too small to split" in str(exc)
        return
    assert split.shape == valid.shape and split.dtype == np.uint8
    assert np.array_equal(split == OUTSIDE, ~valid)
    view = along(split, direction)
    train, val, test = (lines_of(view, c) for c in (TRAIN, VALIDATION, TEST))
    # whole lines across the direction, in the order train | validation | test
    assert train.max() < val.min() and val.max() < test.min()
    # the train part (validation included) is the first `fraction` of the pixels,
    # to within the pixels of the one line where the cut falls
    counts = along(valid, direction).sum(axis=0)
    first = int(np.isin(view, (TRAIN, VALIDATION)).sum())
    boundary = counts[test.min() - 1]
    assert fraction * valid.sum() <= first <= fraction * valid.sum() + boundary


@pytest.mark.parametrize("direction", DIRECTIONS[1:])
def test_each_direction_is_west_east_of_the_turned_area(direction: str) -> None:
    valid = np.random.default_rng(3).random((30, 50)) > 0.2
    turned = along(valid, direction)
    reference = split_by_direction(np.ascontiguousarray(turned), 0.6, "west-east", 0.1)
    split = split_by_direction(valid, 0.6, direction, 0.1)
    assert np.array_equal(along(split, direction), reference)
    # and the train part lies where the direction's name says
    rows, cols = np.nonzero(split == TRAIN)
    trows, tcols = np.nonzero(split == TEST)
    side = {
        "east-west": cols.min() > tcols.max(),
        "north-south": rows.max() < trows.min(),
        "south-north": rows.min() > trows.max(),
    }
    assert side[direction]


def test_the_paper_split_of_a_full_rectangle() -> None:
    split = split_by_direction(np.ones((10, 100), bool), 0.6, "west-east", 0.1)
    assert (split[:, :54] == TRAIN).all()
    assert (split[:, 54:60] == VALIDATION).all()
    assert (split[:, 60:] == TEST).all()


def test_an_area_without_valid_pixels_is_refused() -> None:
    with pytest.raises(SlidemapError, match="no valid pixel to split"):
        split_by_direction(np.zeros((8, 8), bool), 0.6, "west-east", 0.1)


def test_an_area_of_one_column_is_too_small() -> None:
    valid = np.zeros((8, 8), bool)
    valid[:, 3] = True
    with pytest.raises(SlidemapError, match="too small to split: no train or test pixels"):
        split_by_direction(valid, 0.6, "west-east", 0.1)


def test_unknown_direction_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown direction 'up'"):
        split_by_direction(np.ones((8, 8), bool), 0.6, "up", 0.1)


def test_split_from_roles_keeps_the_eastmost_train_share_for_validation() -> None:
    valid = np.ones((10, 40), bool)
    valid[0, :] = False
    train = np.zeros_like(valid)
    train[:, :20] = True
    test = np.zeros_like(valid)
    test[:, 16:] = True  # overlaps train in 16–19: test wins
    split = split_from_roles(valid, train, test, 0.25)
    assert (split[0] == OUTSIDE).all()
    assert (split[1:, :12] == TRAIN).all()
    assert (split[1:, 12:16] == VALIDATION).all()
    assert (split[1:, 16:] == TEST).all()


def test_split_from_roles_without_test_polygons_is_refused() -> None:
    valid = np.ones((10, 40), bool)
    with pytest.raises(SlidemapError, match="no test pixels"):
        split_from_roles(valid, valid, np.zeros_like(valid), 0.2)
