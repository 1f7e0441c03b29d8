"""Training/validation windows of prepared areas, normalisation and the dataset's errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from affine import Affine
from rasterio.crs import CRS

from conftest import make_tiny_area
from slidemap.area import (
    LABEL_NODATA,
    OUTSIDE,
    TEST,
    TRAIN,
    VALIDATION,
    AreaMeta,
    PreparedArea,
    band_stats,
    load_area,
    write_area,
)
from slidemap.data import (
    Normalization,
    PatchDataset,
    train_statistics,
    train_windows,
    validation_windows,
)
from slidemap.errors import SlidemapError

BANDS = ("B2", "B3", "B4", "B8", "slope")


def write_custom_area(
    out: Path, name: str, image: np.ndarray, label: np.ndarray, split: np.ndarray
) -> PreparedArea:
    """Write arrays as a real prepared area (GeoTIFFs + area.json) and load it back."""
    c, h, w = image.shape
    bands = BANDS[:c] if c <= len(BANDS) else tuple(f"b{i}" for i in range(c))
    meta = AreaMeta(
        name=name,
        crs_wkt=CRS.from_epsg(32633).to_wkt(),
        transform=tuple(Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0))[:6],
        width=w,
        height=h,
        band_names=bands,
        band_stats=band_stats(
            image, split == TRAIN if (split == TRAIN).any() else split > 0, bands
        ),
        inventory=None,
    )
    return load_area(write_area(out / name, meta, image, label, split))


def simple_arrays(h: int = 64, w: int = 96, seed: int = 0, c: int = 2):
    rng = np.random.default_rng(seed)
    image = rng.normal(1.0, 0.5, (c, h, w)).astype(np.float32)
    label = (rng.random((h, w)) > 0.9).astype(np.uint8)
    split = np.full((h, w), TEST, np.uint8)
    split[:, : w // 2] = TRAIN
    split[:, w // 2 - 8 : w // 2] = VALIDATION
    return image, label, split


@pytest.fixture
def tiny(tmp_path: Path) -> PreparedArea:
    return load_area(make_tiny_area(tmp_path))


def test_train_windows_are_a_grid_inside_the_train_part(tiny: PreparedArea):
    windows, dropped = train_windows(tiny, 32, 0.5)
    # train columns 0..67 → two 32 px columns, four rows; the 4x4 nodata corner is kept
    assert len(windows) == 8 and dropped == 0
    for w in windows:
        assert (tiny.split[w.slices] == TRAIN).all()
        assert w.row_off % 32 == 0 and w.col_off % 32 == 0
    seen = np.zeros(tiny.split.shape, int)
    for w in windows:
        seen[w.slices] += 1
    assert seen.max() == 1


def test_train_grid_starts_at_the_train_part(tmp_path: Path):
    image, label, split = simple_arrays(64, 100)
    split[:] = TEST
    split[:, 36:100] = TRAIN  # train part in the east, not aligned with the raster's grid
    split[:, 36:40] = VALIDATION
    area = write_custom_area(tmp_path, "east", image, label, split)
    windows, _ = train_windows(area, 32, 0.5)
    assert sorted({w.col_off for w in windows}) == [40]
    assert len(windows) == 2  # 60 train columns hold one 32 px column (40–71), two rows


def test_windows_with_too_much_nodata_are_dropped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    image, label, split = simple_arrays(64, 96)
    image[:, :20, :32] = np.nan  # window (0, 0): 640 / 1024 = 62.5 % nodata
    label[32:45, :32] = LABEL_NODATA  # window (32, 0): 41 % nodata through the label
    area = write_custom_area(tmp_path, "holes", image, label, split)
    # train columns 0..39 hold one column of two 32 px windows
    windows, dropped = train_windows(area, 32, 0.5)
    assert [(w.row_off, w.col_off) for w in windows] == [(32, 0)] and dropped == 1
    assert train_windows(area, 32, 0.3) == ([], 2)
    assert len(train_windows(area, 32, 1.0)[0]) == 2
    with caplog.at_level(logging.INFO, logger="slidemap"):
        PatchDataset([area], TRAIN, 32, train_statistics([area]))
    assert "1 dropped with > 50% nodata" in caplog.text


def test_validation_pixels_are_scored_exactly_once_with_train_context(tiny: PreparedArea):
    scored = validation_windows(tiny, 32)
    count = np.zeros(tiny.split.shape, int)
    for win, mask in scored:
        assert mask.shape == (32, 32)
        # the 8 px validation strip is widened towards the train part, never into the test part
        assert not (tiny.split[win.slices] == TEST).any()
        count[win.slices] += mask
    target = (tiny.split == VALIDATION) & tiny.valid
    assert (count[target] == 1).all() and count[~target].sum() == 0


def test_validation_windows_of_a_wide_part_tile_it(tmp_path: Path):
    image, label, split = simple_arrays(64, 96)
    split[:] = TRAIN
    split[8:56, 40:90] = VALIDATION  # 48 x 50 px: 2 x 2 windows of 32, the last ones snapped
    area = write_custom_area(tmp_path, "wide", image, label, split)
    windows = [w for w, _ in validation_windows(area, 32)]
    assert sorted({w.row_off for w in windows}) == [8, 24]
    assert sorted({w.col_off for w in windows}) == [40, 58]
    assert validation_windows(area, 128) == []  # larger than the area


def test_statistics_combine_areas_weighted_by_pixels(tmp_path: Path):
    a = simple_arrays(64, 96, seed=1)
    b = simple_arrays(32, 64, seed=2)
    b[0][:] += 3.0  # another distribution, fewer pixels
    a[0][0, 0, 0] = np.nan
    areas = [write_custom_area(tmp_path, n, *arrays) for n, arrays in (("a", a), ("b", b))]
    norm = train_statistics(areas)
    for band in range(2):
        values = np.concatenate(
            [x.image[band][(x.split == TRAIN) & np.isfinite(x.image[band])] for x in areas]
        ).astype(np.float64)
        assert norm.mean[band] == pytest.approx(values.mean(), rel=1e-12)
        assert norm.std[band] == pytest.approx(values.std(), rel=1e-10)


def test_constant_band_is_only_centred(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    image, label, split = simple_arrays()
    image[1] = 7.0
    area = write_custom_area(tmp_path, "flat", image, label, split)
    with caplog.at_level(logging.WARNING, logger="slidemap"):
        norm = train_statistics([area])
    assert norm.mean[1] == 7.0 and norm.std[1] == 1.0
    assert "band B3 is constant" in caplog.text


def test_normalisation_maps_nan_to_zero():
    norm = Normalization((1.0, 10.0), (2.0, 5.0))
    image = np.array([[[3.0, np.nan]], [[20.0, np.inf]]], np.float32)
    out = norm.apply(image)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[1.0, 0.0]], [[2.0, 0.0]]])


def test_normalising_in_place_gives_the_same_values_without_a_copy():
    norm = Normalization((0.1, 0.2, 12.0), (0.05, 0.07, 9.0))
    image = np.random.default_rng(0).normal(0.2, 0.1, (3, 17, 23)).astype(np.float32)
    image[1, 2, 3], image[2, 4, 5] = np.nan, -np.inf
    copied = norm.apply(image)
    in_place = norm.apply(image, out=image)
    assert in_place is image
    np.testing.assert_array_equal(in_place, copied)  # bit for bit


def test_items_are_normalised_windows_with_label_and_validity(tiny: PreparedArea):
    norm = train_statistics([tiny])
    ds = PatchDataset([tiny], TRAIN, 32, norm)
    image, label, valid = ds[0]
    win = ds.items[0][1]
    assert (image.shape, label.shape, valid.shape) == ((5, 32, 32), (1, 32, 32), (1, 32, 32))
    assert image.dtype == label.dtype == valid.dtype == torch.float32
    assert win.row_off == 0 and win.col_off == 0  # the window holding the nodata corner
    raw = tiny.image[:, win.slices[0], win.slices[1]]
    expected = (raw - np.array(norm.mean)[:, None, None]) / np.array(norm.std)[:, None, None]
    expected[~np.isfinite(expected)] = 0
    np.testing.assert_allclose(image.numpy(), expected, rtol=1e-5, atol=1e-5)
    ref = tiny.label[win.slices]
    np.testing.assert_array_equal(label.numpy()[0], ref == 1)
    np.testing.assert_array_equal(valid.numpy()[0], ref != LABEL_NODATA)
    assert valid.numpy()[0, :4, :4].sum() == 0 and image.numpy()[:, :4, :4].sum() == 0


def test_test_part_values_never_reach_the_dataset(tiny: PreparedArea):
    ds = PatchDataset([tiny], VALIDATION, 32, train_statistics([tiny]))
    for image in ds.images:
        assert (image[:, tiny.split == TEST] == 0).all()
        assert (image[:, tiny.split == TRAIN] != 0).any()
    assert len(ds) == 4
    assert (
        sum(float(ds[i][2].sum()) for i in range(len(ds)))
        == ((tiny.split == VALIDATION) & tiny.valid).sum()
    )


def test_error_areas_with_different_bands(tmp_path: Path):
    a = write_custom_area(tmp_path, "a", *simple_arrays(c=2))
    b = write_custom_area(tmp_path, "b", *simple_arrays(c=3))
    with pytest.raises(SlidemapError, match=r"different bands \(B2,B3 vs B2,B3,B4\)"):
        PatchDataset([a, b], TRAIN, 32, Normalization((0.0, 0.0), (1.0, 1.0)))
    with pytest.raises(SlidemapError, match="prepare all training areas with the same bands"):
        train_statistics([a, b])


def test_error_no_training_window_of_that_size(tiny: PreparedArea):
    norm = train_statistics([tiny])
    with pytest.raises(SlidemapError) as err:
        PatchDataset([tiny], TRAIN, 128, norm)
    message = str(err.value)
    assert "no 128 x 128 px training window fits in its train part (128 x 68 px" in message
    assert "use a smaller --patch (e.g. 64)" in message
    assert str(tiny.path) in message


def test_error_no_training_window_because_of_nodata(tmp_path: Path):
    image, label, split = simple_arrays(32, 96)
    image[:, :, :40] = np.nan
    image[:, 0, 0] = 1.0  # the band still has a valid train pixel
    area = write_custom_area(tmp_path, "cloudy", image, label, split)
    norm = Normalization((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(SlidemapError, match=r"1 more had > 50% nodata\); use a larger area"):
        PatchDataset([area], TRAIN, 32, norm)


def test_error_area_without_train_part(tmp_path: Path):
    image, label, split = simple_arrays()
    split[split == TRAIN] = OUTSIDE
    area = write_custom_area(tmp_path, "testonly", image, label, split)
    with pytest.raises(SlidemapError, match="has no train part"):
        PatchDataset([area], TRAIN, 32, Normalization((0.0, 0.0), (1.0, 1.0)))


@pytest.mark.parametrize("patch", [0, 24, 40, -16])
def test_error_patch_not_a_multiple_of_16(tiny: PreparedArea, patch: int):
    with pytest.raises(SlidemapError, match=f"multiple of 16 .*got {patch}"):
        PatchDataset([tiny], TRAIN, patch, train_statistics([tiny]))
