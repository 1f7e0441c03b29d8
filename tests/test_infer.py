"""Sliding-window inference and the block plan: layouts, padding, seamless blending."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit
from torch import nn

from slidemap.backends import TorchBackend
from slidemap.blocks import plan_blocks
from slidemap.errors import SlidemapError
from slidemap.infer import layout, mirror_pad, predict_probabilities
from slidemap.tiling import Window, blend_weights


def pointwise_backend(channels: int = 3, seed: int = 0) -> TorchBackend:
    """A 1 × 1 convolution: each pixel's logit depends on that pixel only, so any correct
    window layout and blending must reproduce it exactly."""
    torch.manual_seed(seed)
    return TorchBackend(nn.Conv2d(channels, 1, 1))


def reference(backend: TorchBackend, image: np.ndarray) -> np.ndarray:
    """The pointwise model applied to the whole image at once; (H, W) probabilities."""
    conv = backend.model
    assert isinstance(conv, nn.Conv2d)
    weight = conv.weight.detach().numpy()[0, :, 0, 0].astype(np.float64)
    bias = float(conv.bias.detach().numpy()[0]) if conv.bias is not None else 0.0
    return expit(np.tensordot(weight, image.astype(np.float64), axes=1) + bias)


def random_image(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)


@pytest.mark.parametrize(
    ("height", "width", "window", "overlap"),
    [
        (300, 413, 128, 32),
        (300, 413, 128, 0),
        (300, 413, 96, 80),
        (40, 70, 256, 64),  # smaller than the window on both axes
        (37, 500, 128, 48),  # shorter on one axis only
        (1, 1, 16, 0),
        (129, 128, 128, 64),  # one pixel longer than the window
    ],
)
def test_any_layout_reproduces_a_pointwise_model_everywhere(
    height: int, width: int, window: int, overlap: int
) -> None:
    backend = pointwise_backend()
    image = random_image((3, height, width))
    prob = predict_probabilities(backend, image, window=window, overlap=overlap, batch=3)
    assert prob.shape == (height, width)
    assert prob.dtype == np.float32
    np.testing.assert_allclose(prob, reference(backend, image), atol=1e-6, rtol=0)


def replicate_cnn(seed: int = 0) -> nn.Module:
    """A small encoder-decoder CNN with replicate padding: on a constant image every
    window's output is the same constant, so the blend must be that constant."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, padding_mode="replicate"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, padding_mode="replicate"),
        nn.ReLU(),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 1, 3, padding=1, padding_mode="replicate"),
    )


def test_constant_input_is_seamless_for_any_window_offset_and_overlap() -> None:
    backend = TorchBackend(replicate_cnn())
    image = np.full((3, 200, 260), 0.7, np.float32)
    results = [
        predict_probabilities(backend, image, window=w, overlap=o)
        for w, o in ((64, 0), (64, 16), (96, 40), (128, 96), (256, 64))
    ]
    first = results[0]
    assert np.ptp(first) <= 1e-6  # flat: no seam anywhere, borders included
    for other in results[1:]:
        np.testing.assert_allclose(other, first, atol=1e-5, rtol=0)


class Counting:
    """Wraps a backend and counts the windows it runs."""

    name, precision = "counting", "fp32"

    def __init__(self, backend: TorchBackend) -> None:
        self.backend, self.windows = backend, 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.windows += len(batch)
        return self.backend(batch)


def test_valid_mask_skips_empty_windows_without_changing_valid_pixels() -> None:
    backend = pointwise_backend()
    image = random_image((3, 256, 320), seed=1)
    valid = np.ones((256, 320), bool)
    valid[:, 200:] = False  # the windows entirely right of column 200 are skipped
    counting = Counting(backend)
    masked = predict_probabilities(counting, image, 64, 16, batch=1, valid=valid)
    full = predict_probabilities(backend, image, 64, 16)
    assert 0 < counting.windows < len(layout(256, 320, 64, 16).windows)
    # equal up to float rounding of differently composed batches
    np.testing.assert_allclose(masked[valid], full[valid], atol=1e-6, rtol=0)
    assert np.isnan(masked[:, 256:]).all()  # covered by skipped windows only (offsets 240, 256)


class CornerLogit:
    """Logit +4 for a window whose top-left input pixel is positive, -1 otherwise."""

    name, precision = "corner", "fp32"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        logit = np.where(batch[:, 0, 0, 0] > 0, 4.0, -1.0).astype(np.float32)
        return logit[:, None, None, None] * np.ones_like(batch[:, :1])


def test_overlaps_average_probabilities_with_the_blend_weights() -> None:
    image = np.zeros((1, 16, 48), np.float32)
    image[:, :, :16] = 1.0  # window at column 0 sees 1 at its corner, window at 16 sees 0
    # overlap 1: no mirrored margin (1 // 2 = 0); the last window snaps back to column 16
    prob = predict_probabilities(CornerLogit(), image, window=32, overlap=1)
    ramp = blend_weights(32)[16]  # one row: proportional to the 1-D weight
    j = np.arange(16, 32)
    w0, w1 = ramp[j], ramp[j - 16]
    expected = (w0 * expit(4.0) + w1 * expit(-1.0)) / (w0 + w1)  # not sigmoid of mean logit
    np.testing.assert_allclose(prob[:, 16:32], np.broadcast_to(expected, (16, 16)), rtol=1e-6)
    np.testing.assert_allclose(prob[:, :16], expit(4.0), rtol=1e-6)
    np.testing.assert_allclose(prob[:, 32:], expit(-1.0), rtol=1e-6)


@pytest.mark.parametrize(
    ("window", "overlap", "message"),
    [
        (100, 10, "--window must be a positive multiple of 16"),
        (0, 0, "--window must be a positive multiple of 16"),
        (64, 64, "--overlap must be at least 0 and smaller than --window (64)"),
        (64, -1, "--overlap must be at least 0"),
    ],
)
def test_bad_window_or_overlap_is_refused(window: int, overlap: int, message: str) -> None:
    with pytest.raises(SlidemapError, match=message.replace("(", r"\(").replace(")", r"\)")):
        predict_probabilities(pointwise_backend(), random_image((3, 32, 32)), window, overlap)


def test_edges_are_mirrored_by_half_the_overlap_and_short_axes_to_multiples_of_16() -> None:
    lay = layout(40, 300, window=128, overlap=32)
    assert lay.margin == 16
    # rows: 40 + 2 × 16 = 72 → 80 (a multiple of 16, shorter than the window); cols 300 + 32
    assert lay.padded == Window(-16, -16, 80, 332)
    assert {(w.height, w.width) for w in lay.windows} == {(80, 128)}
    assert min(w.col_off for w in lay.windows) == -16
    assert max(w.col_off + w.width for w in lay.windows) == 316
    row = np.arange(5, dtype=np.float32)[None]
    mirrored = mirror_pad(row, Window(0, -2, 1, 9), Window(0, 0, 1, 5))
    np.testing.assert_array_equal(mirrored, [[1, 0, 0, 1, 2, 3, 4, 4, 3]])


def test_image_edges_see_mirrored_context_not_zero_padding() -> None:
    """A model that only looks at its left neighbour (zero beyond the window edge): with the
    mirrored margin the image's first column sees its mirror image (itself), not a zero."""
    conv = nn.Conv2d(1, 1, (1, 2), padding=(0, 1), bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0]]]]))  # output[x] = input[x - 1]

    class LeftNeighbour:
        name, precision = "left", "fp32"

        def __call__(self, batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return conv(torch.from_numpy(batch))[..., :-1].numpy()

    image = np.random.default_rng(2).normal(0, 1, (1, 64, 100)).astype(np.float32)
    prob = predict_probabilities(LeftNeighbour(), image, window=64, overlap=32)
    np.testing.assert_allclose(prob[:, 0], expit(image[0, :, 0]), atol=1e-6)  # its mirror
    np.testing.assert_allclose(prob[:, 1:8], expit(image[0, :, :7]), atol=1e-6)
    without_margin = predict_probabilities(LeftNeighbour(), image, window=64, overlap=0)
    np.testing.assert_allclose(without_margin[:, 0], 0.5, atol=1e-6)  # sigmoid(zero padding)


@pytest.mark.parametrize(
    ("height", "width", "window", "overlap", "block"),
    [(1000, 1300, 128, 32, 300), (700, 500, 256, 64, 256), (40, 900, 64, 16, 64)],
)
def test_block_plan_computes_every_window_once_and_blends_all_covering_ones(
    height: int, width: int, window: int, overlap: int, block: int
) -> None:
    lay = layout(height, width, window, overlap)
    plans = plan_blocks(lay, block)
    computed = [i for p in plans for i in p.compute]
    released = [i for p in plans for i in p.release]
    assert sorted(computed) == sorted(released) == list(range(len(lay.windows)))
    cover = np.zeros((height, width), int)
    done: set[int] = set()
    for plan in plans:
        core = plan.core
        cover[core.slices] += 1
        done.update(plan.compute)
        for i, win in enumerate(lay.windows):
            meets = (
                win.row_off < core.row_off + core.height
                and core.row_off < win.row_off + win.height
                and win.col_off < core.col_off + core.width
                and core.col_off < win.col_off + win.width
            )
            assert (i in plan.blend) == meets
            if meets:
                assert i in done  # computed by this block or an earlier one
        read = plan.read
        # the read box holds the core and the windows computed here: a halo right/below,
        # narrower than a window, and the mirrored margin at the image's top/left edge
        starts = [core] + [lay.windows[i] for i in plan.compute]
        top, left = min(w.row_off for w in starts), min(w.col_off for w in starts)
        assert (read.row_off, read.col_off) == (top, left)
        assert top in (core.row_off, -lay.margin) and left in (core.col_off, -lay.margin)
        assert read.row_off + read.height - (core.row_off + core.height) < window
        assert read.col_off + read.width - (core.col_off + core.width) < window
        for i in plan.compute:
            win = lay.windows[i]
            assert read.row_off <= win.row_off and read.col_off <= win.col_off
            assert read.row_off + read.height >= win.row_off + win.height
            assert read.col_off + read.width >= win.col_off + win.width
    assert (cover == 1).all()


def test_block_smaller_than_window_is_refused() -> None:
    with pytest.raises(SlidemapError, match=r"--block \(128\) must be at least --window \(256\)"):
        plan_blocks(layout(1000, 1000, 256, 64), 128)
