"""Property-based tests (hypothesis) of the pure parts: windows, blending, metrics, slope, grids.

Each property is checked on a bounded number of generated examples so that the
whole file runs in well under a minute.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.warp import transform
from rasterio.windows import Window as RioWindow

from slidemap.blocks import plan_blocks
from slidemap.infer import SIDE_MULTIPLE, Blender, layout
from slidemap.io.bands import covering_window, sub_grid
from slidemap.io.grid import Grid
from slidemap.metrics import Counts, f1, iou, kappa, mcc, precision, recall
from slidemap.terrain import pixel_size_m, slope_deg
from slidemap.tiling import Window, grid_windows, sliding_windows

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UTM54 = CRS.from_epsg(32654)
WGS84 = CRS.from_epsg(4326)
#: NAD83 / California zone 5 in US survey feet: a projected CRS whose unit is not the metre.
US_FEET = CRS.from_epsg(2229)


def _same(a: float, b: float) -> bool:
    """Equal, or both NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


# --------------------------------------------------------------------------- windows


@FAST
@given(
    height=st.integers(1, 150),
    width=st.integers(1, 150),
    size=st.integers(1, 48),
)
def test_grid_windows_partition_the_covered_block_exactly_once(
    height: int, width: int, size: int
) -> None:
    count = np.zeros((height, width), np.int32)
    for win in grid_windows(height, width, size):
        count[win.slices] += 1
    rows, cols = height // size * size, width // size * size
    assert (count[:rows, :cols] == 1).all()
    assert (count[rows:, :] == 0).all() and (count[:, cols:] == 0).all()


@FAST
@given(
    height=st.integers(1, 150),
    width=st.integers(1, 150),
    size=st.integers(2, 48),
    data=st.data(),
)
def test_neighbouring_sliding_windows_share_at_least_the_overlap(
    height: int, width: int, size: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    windows = sliding_windows(height, width, size, overlap)
    for offsets, length in (
        (sorted({w.row_off for w in windows}), height),
        (sorted({w.col_off for w in windows}), width),
    ):
        assert offsets[0] == 0
        side = min(size, length)
        assert offsets[-1] + side == length  # the last window ends at the edge
        for a, b in itertools.pairwise(offsets):
            assert 0 < b - a <= size - overlap  # never a gap, at least `overlap` shared


@FAST
@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    window=st.sampled_from([16, 32, 48, 64, 128]),
    data=st.data(),
)
def test_inference_layout_tiles_the_mirrored_image_and_covers_every_pixel(
    height: int, width: int, window: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, window - 1))
    lay = layout(height, width, window, overlap)
    pad = lay.padded
    assert (pad.row_off, pad.col_off) == (-(overlap // 2), -(overlap // 2))
    assert pad.row_off + pad.height >= height and pad.col_off + pad.width >= width
    count = np.zeros((pad.height, pad.width), np.int32)
    for win in lay.windows:
        assert win.height % SIDE_MULTIPLE == 0 and win.width % SIDE_MULTIPLE == 0
        inside = Window(win.row_off - pad.row_off, win.col_off - pad.col_off, win.height, win.width)
        assert inside.row_off >= 0 and inside.row_off + inside.height <= pad.height
        assert inside.col_off >= 0 and inside.col_off + inside.width <= pad.width
        count[inside.slices] += 1
    assert count.min() >= 1


# --------------------------------------------------------------------------- blending


def _window_probabilities(windows: tuple[Window, ...], seed: int) -> list[np.ndarray]:
    """Random (h, w) float32 probabilities, one array per window."""
    rng = np.random.default_rng(seed)
    return [rng.random((w.height, w.width), dtype=np.float32) for w in windows]


@SLOW
@given(
    height=st.integers(1, 200),
    width=st.integers(1, 200),
    window=st.sampled_from([16, 32, 64]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_blended_probability_is_a_convex_combination_of_the_windows(
    height: int, width: int, window: int, seed: int, data: st.DataObject
) -> None:
    """Normalised blend weights sum to 1: the blend lies between the windows' own values,
    and windows that agree on a pixel give that value back — up to the rounding of
    float32 sums, which grows with the number of windows covering a pixel (up to
    window² when the overlap is window - 1)."""
    overlap = data.draw(st.integers(0, window - 1))
    lay = layout(height, width, window, overlap)
    probs = _window_probabilities(lay.windows, seed)
    whole = Window(0, 0, height, width)
    blender, lo, hi = Blender(whole, window), np.ones((height, width)), np.zeros((height, width))
    constant, covering = Blender(whole, window), np.zeros((height, width))
    for win, prob in zip(lay.windows, probs, strict=True):
        blender.add(win, prob)
        constant.add(win, np.full(prob.shape, 0.3, np.float32))
        canvas = np.full((lay.padded.height, lay.padded.width), np.nan)
        r, c = win.row_off - lay.padded.row_off, win.col_off - lay.padded.col_off
        canvas[r : r + win.height, c : c + win.width] = prob
        mine = canvas[-lay.padded.row_off :, -lay.padded.col_off :][:height, :width]
        lo, hi = np.fmin(lo, mine), np.fmax(hi, mine)
        covering += np.isfinite(mine)
    # two float32 sums of `covering` terms and a division: relative error <= (2n + 1) eps
    tol = (2 * covering + 1) * np.finfo(np.float32).eps
    out = blender.probabilities()
    assert np.isfinite(out).all()
    assert (out >= lo * (1 - tol)).all() and (out <= hi * (1 + tol)).all()
    assert (np.abs(constant.probabilities() - 0.3) <= 0.3 * tol).all()
    # the usual layouts (a few windows per pixel) are exact to a few ulp
    if overlap <= window // 2:
        np.testing.assert_allclose(constant.probabilities(), 0.3, rtol=1e-6)


@SLOW
@given(
    height=st.integers(1, 260),
    width=st.integers(1, 260),
    window=st.sampled_from([16, 32, 64]),
    block_extra=st.integers(0, 80),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_blocked_blending_equals_blending_the_whole_image(
    height: int, width: int, window: int, block_extra: int, seed: int, data: st.DataObject
) -> None:
    """Whatever the block size: every window is computed once, kept until the last block that
    blends it, and each block's blend is bit-identical to the whole image's there."""
    overlap = data.draw(st.integers(0, window - 1))
    lay = layout(height, width, window, overlap)
    probs = _window_probabilities(lay.windows, seed)
    whole = Blender(Window(0, 0, height, width), window)
    for win, prob in zip(lay.windows, probs, strict=True):
        whole.add(win, prob)
    expected = whole.probabilities()

    plans = plan_blocks(lay, window + block_extra)
    cached: set[int] = set()
    out = np.full((height, width), np.nan, np.float32)
    for plan in plans:
        assert not cached & set(plan.compute)  # never computed twice
        cached |= set(plan.compute)
        blender = Blender(plan.core, window)
        for i in plan.blend:
            assert i in cached  # computed here or earlier, not yet released
            blender.add(lay.windows[i], probs[i])
        assert np.isnan(out[plan.core.slices]).all()  # cores do not overlap
        out[plan.core.slices] = blender.probabilities()
        assert set(plan.release) <= cached
        cached -= set(plan.release)
    assert not cached  # everything released at the end
    np.testing.assert_array_equal(out, expected)


# --------------------------------------------------------------------------- metrics

rngs = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s))


def _maps(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, ...]:
    density = rng.random(3)
    pred = rng.random((h, w)) < density[0]
    ref = rng.random((h, w)) < density[1]
    valid = rng.random((h, w)) < 0.5 + density[2] / 2
    return pred, ref, valid


@FAST
@given(rng=rngs, h=st.integers(1, 40), w=st.integers(1, 40))
def test_swapping_prediction_and_reference_swaps_fp_and_fn(
    rng: np.random.Generator, h: int, w: int
) -> None:
    pred, ref, valid = _maps(rng, h, w)
    c = Counts.from_arrays(pred, ref, valid)
    s = Counts.from_arrays(ref, pred, valid)
    assert (s.tp, s.fp, s.fn, s.tn) == (c.tp, c.fn, c.fp, c.tn)
    assert c.total == int(valid.sum())
    for metric in (f1, iou, mcc, kappa):
        assert _same(metric(c), metric(s)), metric.__name__
    assert _same(precision(c), recall(s))


@FAST
@given(rng=rngs, h=st.integers(1, 40), w=st.integers(1, 40))
def test_swapping_the_classes_keeps_mcc_and_kappa(rng: np.random.Generator, h: int, w: int) -> None:
    pred, ref, valid = _maps(rng, h, w)
    c = Counts.from_arrays(pred, ref, valid)
    inverse = Counts.from_arrays(~pred, ~ref, valid)
    assert (inverse.tp, inverse.fp, inverse.fn, inverse.tn) == (c.tn, c.fn, c.fp, c.tp)
    for metric in (mcc, kappa):
        a, b = metric(c), metric(inverse)
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-12)


@FAST
@given(
    rng=rngs,
    h=st.integers(1, 60),
    w=st.integers(1, 60),
    cuts=st.tuples(st.integers(0, 60), st.integers(0, 60)),
)
def test_counts_of_any_partition_add_up_to_the_whole(
    rng: np.random.Generator, h: int, w: int, cuts: tuple[int, int]
) -> None:
    """Tiles of any 2 × 2 split (some possibly empty) sum to the whole map's counts."""
    pred, ref, valid = _maps(rng, h, w)
    r, c = min(cuts[0], h), min(cuts[1], w)
    parts = [
        (slice(0, r), slice(0, c)),
        (slice(0, r), slice(c, w)),
        (slice(r, h), slice(0, c)),
        (slice(r, h), slice(c, w)),
    ]
    tiles = [Counts.from_arrays(pred[p], ref[p], valid[p]) for p in parts]
    whole = Counts.from_arrays(pred, ref, valid)
    assert sum(tiles, Counts()) == whole
    # ratios are recomputed from the summed counts, never averaged
    assert _same(f1(sum(tiles, Counts())), f1(whole))


@FAST
@given(
    tp=st.integers(0, 10**6),
    fp=st.integers(0, 10**6),
    fn=st.integers(0, 10**6),
    tn=st.integers(0, 10**6),
)
def test_f1_is_symmetric_in_fp_and_fn_and_bounded_by_precision_and_recall(
    tp: int, fp: int, fn: int, tn: int
) -> None:
    c, swapped = Counts(tp, fp, fn, tn), Counts(tp, fn, fp, tn)
    assert _same(f1(c), f1(swapped))
    p, r, f = precision(c), recall(c), f1(c)
    if not (math.isnan(p) or math.isnan(r)):
        assert min(p, r) - 1e-12 <= f <= max(p, r) + 1e-12  # a mean of the two
    if tp + fp + fn == 0:
        assert math.isnan(f)
    else:
        assert 0.0 <= f <= 1.0


# --------------------------------------------------------------------------- slope


def _plane(gx: float, gy: float, shape: tuple[int, int], dx: float, dy: float) -> np.ndarray:
    """z = gx · x + gy · y (metres) sampled at pixel centres; y grows northwards."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return gx * (cols + 0.5) * dx - gy * (rows + 0.5) * dy + 250.0


@FAST
@given(
    gradient=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
    shape=st.tuples(st.integers(2, 24), st.integers(2, 24)),
    res=st.tuples(st.floats(0.5, 100.0), st.floats(0.5, 100.0)),
    crs=st.sampled_from([UTM54, US_FEET]),
)
def test_slope_of_any_plane_is_atan_of_its_gradient_everywhere(
    gradient: tuple[float, float],
    shape: tuple[int, int],
    res: tuple[float, float],
    crs: CRS,
) -> None:
    """Non-square pixels, metre or foot units; edges and corners included."""
    transform = Affine(res[0], 0, 500000.0, 0, -res[1], 4700000.0)
    dx, dy = (float(d[0, 0]) for d in pixel_size_m(shape, transform, crs))
    dem = _plane(*gradient, shape, dx, dy)
    slope = slope_deg(dem, transform, crs)
    expected = math.degrees(math.atan(math.hypot(*gradient)))
    np.testing.assert_allclose(slope, expected, atol=1e-3)


@FAST
@given(
    gradient=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
    size=st.integers(6, 30),
    phase=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_slope_of_a_plane_stays_exact_beside_isolated_nodata(
    gradient: tuple[float, float], size: int, phase: tuple[int, int]
) -> None:
    """Nodata pixels 3 apart: no pixel misses both of two opposite neighbours."""
    transform = Affine(10.0, 0, 500000.0, 0, -10.0, 4700000.0)
    dem = _plane(*gradient, (size, size), 10.0, 10.0)
    holes = np.zeros(dem.shape, bool)
    holes[phase[0] :: 3, phase[1] :: 3] = True
    dem[holes] = np.nan
    slope = slope_deg(dem, transform, UTM54)
    assert np.isnan(slope[holes]).all()
    expected = math.degrees(math.atan(math.hypot(*gradient)))
    np.testing.assert_allclose(slope[~holes], expected, atol=1e-3)


@FAST
@given(
    rise_m=st.floats(-500.0, 500.0),
    along=st.sampled_from(["east", "north"]),
    lat=st.floats(-75.0, 75.0),
    res_deg=st.floats(1e-5, 1e-3),
    size=st.integers(3, 20),
)
def test_geographic_slope_uses_the_metres_of_each_row(
    rise_m: float, along: str, lat: float, res_deg: float, size: int
) -> None:
    """z rising ``rise_m`` per pixel eastwards (or northwards): slope = atan(rise / pixel size
    in metres at the row's latitude), exactly, on any row."""
    transform = Affine(res_deg, 0, 140.0, 0, -res_deg, lat + size * res_deg / 2)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    dem = rise_m * (cols if along == "east" else -rows)
    slope = slope_deg(dem, transform, WGS84)
    dx, dy = pixel_size_m((size, size), transform, WGS84)
    metres = (dx if along == "east" else dy)[:, 0]
    expected = np.degrees(np.arctan(abs(rise_m) / metres))
    np.testing.assert_allclose(slope, np.broadcast_to(expected[:, None], slope.shape), atol=1e-3)


# --------------------------------------------------------------------------- grids

coords = st.floats(-1e6, 1e6, allow_nan=False)
resolutions = st.sampled_from([10.0, 20.0, 60.0, 0.5, 1 / 3, 7.3, 30.000001])


@FAST
@given(
    x0=coords,
    y0=st.floats(0.0, 1e7),
    res=resolutions,
    size=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    data=st.data(),
)
def test_window_bounds_round_trip_through_crop(
    x0: float, y0: float, res: float, size: tuple[int, int], data: st.DataObject
) -> None:
    """A window's ground bounds crop the grid back to exactly that window."""
    grid = Grid(UTM54, Affine(res, 0, x0, 0, -res, y0), size[1], size[0])
    row = data.draw(st.integers(0, size[0] - 1))
    col = data.draw(st.integers(0, size[1] - 1))
    height = data.draw(st.integers(1, size[0] - row))
    width = data.draw(st.integers(1, size[1] - col))
    part = sub_grid(grid, RioWindow(col, row, width, height))
    back = grid.crop(tuple(part.bounds))
    assert back is not None
    assert back.shape == part.shape
    assert back.transform.almost_equals(part.transform, precision=1e-6 * res)
    assert covering_window(grid, part, 0) == RioWindow(
        max(col - 2, 0),
        max(row - 2, 0),
        min(col + width + 2, size[1]) - max(col - 2, 0),
        min(row + height + 2, size[0]) - max(row - 2, 0),
    )


@FAST
@given(
    x0=coords,
    y0=st.floats(0.0, 1e7),
    res=resolutions,
    size=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    corners=st.tuples(*[st.floats(0.0, 1.0)] * 4),
)
def test_crop_keeps_every_pixel_the_bounds_reach_into(
    x0: float,
    y0: float,
    res: float,
    size: tuple[int, int],
    corners: tuple[float, float, float, float],
) -> None:
    """Any bounds inside the grid (even inside one pixel) crop to the whole pixels they reach
    into: the crop contains the bounds and each of its edges lies less than a pixel beyond."""
    height, width = size
    grid = Grid(UTM54, Affine(res, 0, x0, 0, -res, y0), width, height)
    xs = sorted(x0 + c * width * res for c in corners[:2])
    ys = sorted(y0 - c * height * res for c in corners[2:])
    if xs[1] - xs[0] < 1e-3 * res or ys[1] - ys[0] < 1e-3 * res:
        return  # (nearly) empty bounds: nothing to keep
    crop = grid.crop((xs[0], ys[0], xs[1], ys[1]))
    assert crop is not None and crop.width >= 1 and crop.height >= 1
    b, tol = crop.bounds, 1e-5 * res
    assert b.left <= xs[0] + tol and b.right >= xs[1] - tol
    assert b.bottom <= ys[0] + tol and b.top >= ys[1] - tol
    assert xs[0] - b.left < res and b.right - xs[1] < res
    assert ys[0] - b.bottom < res and b.top - ys[1] < res


@SLOW
@given(
    east=st.floats(460000.0, 528000.0),
    north=st.floats(4740000.0, 4840000.0),
    res_m=st.sampled_from([10.0, 20.0, 60.0]),
    size=st.tuples(st.integers(1, 200), st.integers(1, 200)),
    margin=st.integers(0, 3),
    dem_res_deg=st.sampled_from([1 / 3600, 1 / 1200, 1 / 240]),
)
def test_covering_window_in_another_crs_holds_every_target_pixel(
    east: float,
    north: float,
    res_m: float,
    size: tuple[int, int],
    margin: int,
    dem_res_deg: float,
) -> None:
    """Every pixel corner of a UTM block, mapped to the DEM's lat/lon grid, lies inside the
    DEM window :func:`covering_window` returns, at least ``margin`` DEM pixels from its edge."""
    dem = Grid(
        WGS84,
        Affine(dem_res_deg, 0, 140.5, 0, -dem_res_deg, 44.0),
        round(2.0 / dem_res_deg),
        round(1.5 / dem_res_deg),
    )
    target = Grid(UTM54, Affine(res_m, 0, east, 0, -res_m, north), size[1], size[0])
    win = covering_window(dem, target, margin)
    assert win is not None
    h, w = target.shape
    edge_rows = np.r_[np.arange(h + 1), np.arange(h + 1), np.zeros(w + 1), np.full(w + 1, h)]
    edge_cols = np.r_[np.zeros(h + 1), np.full(h + 1, w), np.arange(w + 1), np.arange(w + 1)]
    xs, ys = target.transform @ (edge_cols, edge_rows)
    lon, lat = transform(UTM54, WGS84, np.asarray(xs).tolist(), np.asarray(ys).tolist())
    cols, rows = ~dem.transform @ (np.asarray(lon), np.asarray(lat))
    assert (cols >= win.col_off + margin).all() or win.col_off == 0
    assert (rows >= win.row_off + margin).all() or win.row_off == 0
    assert (cols <= win.col_off + win.width - margin).all() or win.col_off + win.width == dem.width
    assert (rows <= win.row_off + win.height - margin).all() or (
        win.row_off + win.height == dem.height
    )
