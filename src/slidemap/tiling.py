"""Windows over a raster grid: the paper's regular patch grid and overlapping sliding windows.

Pure numpy, no I/O: training draws patches from :func:`grid_windows`, whole-scene
prediction runs the model on :func:`sliding_windows` and blends overlapping
outputs with :func:`blend_weights`::

    acc = np.zeros((h, w)); norm = np.zeros((h, w))
    weight = blend_weights(size)
    for win in sliding_windows(h, w, size, overlap):
        wgt = weight[: win.height, : win.width]
        acc[win.slices] += wgt * predict(image[:, *win.slices])
        norm[win.slices] += wgt
    prob = acc / norm   # every pixel is covered and every weight is > 0

A :class:`Window` is a small frozen dataclass with rasterio's field names
(``row_off``, ``col_off``, ``height``, ``width``, all in pixels); it is
hashable, and :meth:`Window.to_rasterio` gives a ``rasterio.windows.Window``
for windowed reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import rasterio.windows


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: rows ``row_off … row_off + height - 1``, same for columns."""

    row_off: int
    col_off: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing an (H, W) array (or ``a[:, *slices]``)."""
        return (
            slice(self.row_off, self.row_off + self.height),
            slice(self.col_off, self.col_off + self.width),
        )

    def to_rasterio(self) -> rasterio.windows.Window:
        """The same window as a ``rasterio.windows.Window`` (for ``dataset.read(window=…)``)."""
        from rasterio.windows import Window as RioWindow

        return RioWindow(self.col_off, self.row_off, self.width, self.height)


def _check_size(size: int) -> None:
    if size <= 0:
        raise ValueError(f"window size must be positive, got {size}")


def grid_windows(height: int, width: int, size: int) -> list[Window]:
    """The paper's regular grid of ``size`` × ``size`` windows, no overlap, no padding.

    Windows start at row/column 0 and step by ``size``; a remainder narrower than
    ``size`` at the bottom or right edge is not covered.

    Args:
        height, width: grid size in pixels.
        size: window side in pixels.

    Returns:
        Windows in row-major order (top row first, west to east).
    """
    _check_size(size)
    return [
        Window(r, c, size, size)
        for r in range(0, height - size + 1, size)
        for c in range(0, width - size + 1, size)
    ]


def _axis_offsets(length: int, size: int, stride: int) -> list[int]:
    """Offsets of windows of ``size`` stepping by ``stride`` along ``length``, the last snapped
    to the end so that every pixel is covered; one offset 0 when ``length <= size``."""
    if length <= size:
        return [0]
    offsets = list(range(0, length - size, stride))
    offsets.append(length - size)
    return offsets


def sliding_windows(height: int, width: int, size: int, overlap: int) -> list[Window]:
    """Overlapping ``size`` × ``size`` windows that cover every pixel of the grid.

    Windows step by ``size - overlap``; the last window of each row and column
    is moved back to end exactly at the edge (so it may overlap its neighbour
    by more than ``overlap``). Along an axis shorter than ``size`` there is a
    single window spanning the whole axis, shorter than ``size`` (callers that
    need a fixed input size pad it).

    Args:
        height, width: grid size in pixels (≥ 1).
        size: window side in pixels.
        overlap: pixels shared by neighbouring windows, ``0 <= overlap < size``.

    Returns:
        Windows in row-major order.
    """
    _check_size(size)
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, {size}), got {overlap}")
    if height <= 0 or width <= 0:
        raise ValueError(f"grid must be non-empty, got {height} x {width}")
    stride = size - overlap
    return [
        Window(r, c, min(size, height), min(size, width))
        for r in _axis_offsets(height, size, stride)
        for c in _axis_offsets(width, size, stride)
    ]


def blend_weights(size: int) -> np.ndarray:
    """A smooth weight for blending overlapping window outputs, highest in the centre.

    The separable weight is ``w(i) = sin²(π (i + 0.5) / size)`` per axis (a
    Hann window sampled at pixel centres), so it falls smoothly towards the
    window edges, where the model sees the least context, but stays strictly
    positive: a pixel covered by a single window edge still counts.

    Args:
        size: window side in pixels.

    Returns:
        (size, size) float32, values in (0, 1].
    """
    _check_size(size)
    ramp = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    return np.outer(ramp, ramp).astype(np.float32)
