"""Sliding-window inference over an in-memory image, blended without seams.

:func:`predict_probabilities` turns a normalised image into a probability map::

    prob = predict_probabilities(backend, image, window=256, overlap=64)

How (the same machinery runs block by block in :mod:`slidemap.predict`):

* **Layout.** The image is mirrored (numpy ``"symmetric"`` mode: the edge
  pixel, then the ones before it) by ``overlap // 2`` pixels at every edge,
  so that pixels at the image edge see mirrored context rather than the
  networks' zero padding, and an axis still shorter than ``window`` is
  mirrored further at its end up to the next multiple of 16 (the networks
  halve the resolution four times). ``window`` × ``window`` windows step by
  ``window - overlap`` over that padded image
  (:func:`slidemap.tiling.sliding_windows`; the last row and column move
  back to end at its edge, a short axis gets one window spanning it). The
  padding is cropped off again.
* **Blending.** Each window's logits go through the sigmoid; the
  probabilities of overlapping windows are averaged with the smooth weight of
  :func:`slidemap.tiling.blend_weights` (sum of weight × probability / sum of
  weights). Averaging probabilities rather than logits is the usual choice:
  the result is a convex combination of the windows' own probabilities, so a
  pixel that every window calls certain stays certain.
* **Nodata.** With ``valid`` given, windows without a single valid pixel are
  skipped (exact: they only cover nodata); pixels no window covered are NaN.

The layout depends only on the image size, ``window`` and ``overlap``; any
part of the image can be blended from the windows that cover it
(:class:`Blender`), which is what makes blocked prediction equal to
predicting the whole image at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from slidemap.errors import SlidemapError
from slidemap.tiling import Window, blend_weights, sliding_windows

if TYPE_CHECKING:
    from slidemap.backends import Backend

#: Window sides must be multiples of this (four 2× down-samplings in both networks).
SIDE_MULTIPLE = 16


@dataclass(frozen=True)
class Layout:
    """The windows covering an image.

    Attributes:
        height, width: image size in pixels.
        window, overlap: window side and overlap in pixels.
        margin: pixels mirrored before the first row and column (``overlap // 2``).
        padded: the mirrored image in image pixel coordinates: it starts at
            ``(-margin, -margin)`` and ends at or after the image's end.
        windows: every window, row-major, in image pixel coordinates; they
            tile ``padded``, so the first start at ``-margin``.
    """

    height: int
    width: int
    window: int
    overlap: int
    margin: int
    padded: Window
    windows: tuple[Window, ...]


def check_window(window: int, overlap: int) -> None:
    """Refuse window sizes and overlaps the networks or the layout cannot take.

    Raises:
        SlidemapError: ``window`` not a positive multiple of 16, or ``overlap``
            outside ``[0, window)``.
    """
    if window <= 0 or window % SIDE_MULTIPLE:
        raise SlidemapError(
            f"--window must be a positive multiple of {SIDE_MULTIPLE} (the networks halve the "
            f"window four times), got {window}"
        )
    if not 0 <= overlap < window:
        raise SlidemapError(
            f"--overlap must be at least 0 and smaller than --window ({window}), got {overlap}"
        )


def _padded(length: int, window: int) -> int:
    if length >= window:
        return length
    return -(-length // SIDE_MULTIPLE) * SIDE_MULTIPLE


def layout(height: int, width: int, window: int = 256, overlap: int = 64) -> Layout:
    """The window layout over an image of ``height`` × ``width`` pixels.

    Raises:
        SlidemapError: bad ``window`` or ``overlap`` (see :func:`check_window`).
    """
    check_window(window, overlap)
    margin = overlap // 2
    ph, pw = _padded(height + 2 * margin, window), _padded(width + 2 * margin, window)
    windows = tuple(
        Window(w.row_off - margin, w.col_off - margin, w.height, w.width)
        for w in sliding_windows(ph, pw, window, overlap)
    )
    return Layout(height, width, window, overlap, margin, Window(-margin, -margin, ph, pw), windows)


def mirror_pad(array: np.ndarray, box: Window, inside: Window) -> np.ndarray:
    """Extend ``array``, holding the pixels ``inside``, to the pixels ``box`` by mirroring.

    Args:
        array: (..., inside.height, inside.width).
        box: the wanted pixels; contains ``inside``.
        inside: the pixels ``array`` holds (``box`` ∩ the image).

    Returns:
        (..., box.height, box.width), ``array`` itself when ``box == inside``.
    """
    if box == inside:
        return array
    top, left = inside.row_off - box.row_off, inside.col_off - box.col_off
    bottom = box.row_off + box.height - inside.row_off - inside.height
    right = box.col_off + box.width - inside.col_off - inside.width
    pad = [(0, 0)] * (array.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(array, pad, mode="symmetric")


def window_probabilities(
    backend: Backend,
    image: np.ndarray,
    windows: Sequence[Window],
    batch: int = 4,
    origin: tuple[int, int] = (0, 0),
) -> Iterator[tuple[Window, np.ndarray]]:
    """Run ``backend`` on ``windows`` in batches and yield each window's probabilities.

    Args:
        backend: maps (N, C, h, w) float32 to (N, 1, h, w) float32 logits.
        image: (C, H, W) float32 normalised image holding every window.
        windows: windows of one size, in the coordinates of the grid ``image``
            was cut from.
        batch: windows per backend call.
        origin: ``(row, col)`` of ``image``'s top-left pixel in that grid.

    Yields:
        ``(window, probability)`` in the order of ``windows``; probability is
        (h, w) float32, the sigmoid of the logits.
    """
    if batch < 1:
        raise SlidemapError(f"batch size must be at least 1, got {batch}")
    r0, c0 = origin
    for start in range(0, len(windows), batch):
        chunk = windows[start : start + batch]
        stack = np.stack([image[(slice(None), *_shifted(w, r0, c0))] for w in chunk])
        logits = backend(np.ascontiguousarray(stack, dtype=np.float32))
        probs = expit(logits[:, 0]).astype(np.float32, copy=False)
        yield from zip(chunk, probs, strict=True)


def _shifted(win: Window, row: int, col: int) -> tuple[slice, slice]:
    """Slices of ``win`` in an array whose top-left pixel is grid pixel ``(row, col)``."""
    return (
        slice(win.row_off - row, win.row_off - row + win.height),
        slice(win.col_off - col, win.col_off - col + win.width),
    )


class Blender:
    """Weighted average of window probabilities over one region of the grid.

    Args:
        region: the pixels to produce (grid coordinates).
        window: the layout's window side (selects the blending weight).
    """

    def __init__(self, region: Window, window: int) -> None:
        self.region = region
        self.weight = blend_weights(window)
        self.acc = np.zeros((region.height, region.width), np.float32)
        self.norm = np.zeros((region.height, region.width), np.float32)

    def add(self, win: Window, prob: np.ndarray) -> None:
        """Add the part of window ``win`` ((h, w) float32 ``prob``) that lies in the region."""
        reg = self.region
        top, left = max(win.row_off, reg.row_off), max(win.col_off, reg.col_off)
        bottom = min(win.row_off + win.height, reg.row_off + reg.height)
        right = min(win.col_off + win.width, reg.col_off + reg.width)
        if bottom <= top or right <= left:
            return
        part = Window(top, left, bottom - top, right - left)
        src, dst = (
            _shifted(part, win.row_off, win.col_off),
            _shifted(part, reg.row_off, reg.col_off),
        )
        wgt = self.weight[src]
        self.acc[dst] += wgt * prob[src]
        self.norm[dst] += wgt

    def probabilities(self) -> np.ndarray:
        """(h, w) float32 blended probabilities; NaN where no window was added."""
        out = np.full(self.acc.shape, np.nan, np.float32)
        covered = self.norm > 0
        out[covered] = self.acc[covered] / self.norm[covered]
        return out


def predict_probabilities(
    backend: Backend,
    image: np.ndarray,
    window: int = 256,
    overlap: int = 64,
    batch: int = 4,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Landslide probability of every pixel of an in-memory image.

    Args:
        backend: a :class:`slidemap.backends.Backend` (or any callable mapping
            (N, C, h, w) float32 to (N, 1, h, w) float32 logits).
        image: (C, H, W) float32, normalised like the training data, NaN
            already replaced by 0 (:meth:`slidemap.data.Normalization.apply`).
            Any H, W ≥ 1; axes shorter than ``window`` are padded (module docstring).
        window: window side in pixels, a multiple of 16.
        overlap: pixels shared by neighbouring windows, ``0 <= overlap < window``.
        batch: windows per backend call.
        valid: optional (H, W) bool; windows with no valid pixel are skipped.

    Returns:
        (H, W) float32 probabilities in [0, 1]; NaN only where ``valid`` made
        every covering window skip (nodata pixels).

    Raises:
        SlidemapError: bad ``window``, ``overlap`` or ``batch``.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {image.shape}")
    _, height, width = image.shape
    lay = layout(height, width, window, overlap)
    whole = Window(0, 0, height, width)
    padded = mirror_pad(image, lay.padded, whole)
    origin = (lay.padded.row_off, lay.padded.col_off)
    windows: Sequence[Window] = lay.windows
    if valid is not None:
        if valid.shape != (height, width):
            raise ValueError(f"valid must be {(height, width)}, got {valid.shape}")
        valid_p = mirror_pad(valid, lay.padded, whole)
        windows = [w for w in windows if valid_p[_shifted(w, *origin)].any()]
    blender = Blender(whole, window)
    for win, prob in window_probabilities(backend, padded, windows, batch, origin):
        blender.add(win, prob)
    return blender.probabilities()
