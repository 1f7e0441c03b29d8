"""Regular grid windows, sliding windows and blending weights."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.windows
from hypothesis import given, settings
from hypothesis import strategies as st

from slidemap.tiling import Window, blend_weights, grid_windows, sliding_windows

sizes = st.integers(1, 40)
extents = st.integers(1, 130)


@given(height=extents, width=extents, size=sizes)
def test_grid_windows_tile_without_overlap_inside_the_grid(height: int, width: int, size: int):
    windows = grid_windows(height, width, size)
    count = np.zeros((height, width), np.int32)
    for w in windows:
        assert (w.height, w.width) == (size, size)
        assert w.row_off >= 0 and w.col_off >= 0
        assert w.row_off + size <= height and w.col_off + size <= width
        count[w.slices] += 1
    assert count.max(initial=0) <= 1
    assert len(windows) == (height // size) * (width // size)
    # exactly the top-left (height // size * size) x (width // size * size) block is covered
    covered = count.astype(bool)
    assert covered[: height // size * size, : width // size * size].all()
    assert covered.sum() == len(windows) * size * size


def test_grid_windows_order_and_positions():
    assert grid_windows(70, 100, 32) == [
        Window(0, 0, 32, 32),
        Window(0, 32, 32, 32),
        Window(0, 64, 32, 32),
        Window(32, 0, 32, 32),
        Window(32, 32, 32, 32),
        Window(32, 64, 32, 32),
    ]
    assert grid_windows(31, 100, 32) == []


@given(height=extents, width=extents, size=sizes, data=st.data())
def test_sliding_windows_cover_every_pixel(height: int, width: int, size: int, data):
    overlap = data.draw(st.integers(0, size - 1))
    windows = sliding_windows(height, width, size, overlap)
    count = np.zeros((height, width), np.int32)
    for w in windows:
        assert (w.height, w.width) == (min(size, height), min(size, width))
        assert w.row_off >= 0 and w.row_off + w.height <= height
        assert w.col_off >= 0 and w.col_off + w.width <= width
        count[w.slices] += 1
    assert count.min() >= 1
    assert len(set(windows)) == len(windows)


def test_sliding_windows_snap_the_last_window_to_the_edge():
    rows = sorted({w.row_off for w in sliding_windows(100, 40, 32, 8)})
    assert rows == [0, 24, 48, 68]
    assert sliding_windows(10, 20, 32, 16) == [Window(0, 0, 10, 20)]
    assert sliding_windows(64, 64, 32, 0) == grid_windows(64, 64, 32)


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [(0, 0, "window size"), (32, 32, "overlap"), (32, -1, "overlap")],
)
def test_sliding_windows_reject_bad_arguments(size: int, overlap: int, message: str):
    with pytest.raises(ValueError, match=message):
        sliding_windows(64, 64, size, overlap)


def test_blend_weights_are_smooth_positive_and_centred():
    w = blend_weights(64)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.min() > 0 and w.max() <= 1
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w[32, 32] > w[32, 16] > w[32, 0]
    assert np.abs(np.diff(w, axis=1)).max() < 0.06  # no jump anywhere
    assert blend_weights(1).tolist() == [[1.0]]


@settings(max_examples=50)
@given(height=extents, width=extents, size=st.integers(2, 40), data=st.data())
def test_normalised_blend_weights_sum_to_one(height: int, width: int, size: int, data):
    overlap = data.draw(st.integers(0, size - 1))
    weight = blend_weights(size).astype(np.float64)
    windows = sliding_windows(height, width, size, overlap)
    norm = np.zeros((height, width))
    for win in windows:
        norm[win.slices] += weight[: win.height, : win.width]
    assert norm.min() > 0
    share = np.zeros((height, width))
    for win in windows:
        share[win.slices] += weight[: win.height, : win.width] / norm[win.slices]
    np.testing.assert_allclose(share, 1.0, rtol=1e-12)


def test_window_to_rasterio_reads_the_same_pixels(tmp_path):
    data = np.arange(50 * 60, dtype=np.float32).reshape(1, 50, 60)
    path = tmp_path / "a.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=60, height=50, count=1, dtype="float32"
    ) as dst:
        dst.write(data)
    win = Window(10, 20, 16, 32)
    assert isinstance(win.to_rasterio(), rasterio.windows.Window)
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1, window=win.to_rasterio()), data[0][win.slices])
