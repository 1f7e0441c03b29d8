"""``slidemap import-l4s`` on the real Landslide4Sense patches in ``shared/data/l4s``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from scipy import ndimage

from slidemap.area import LABEL_NODATA, OUTSIDE, TEST, TRAIN, VALIDATION, load_area
from slidemap.errors import SlidemapError
from slidemap.io.l4s import L4S_BANDS, parse_bands
from slidemap.l4s_import import L4SImport, assign_roles, import_l4s, neighbour_groups

ALL_BANDS = ",".join(L4S_BANDS)
SHARED_IDS = [1, 2, 3, 16, 27, 28, 38, 40, 41, 72, 253, 461, 525, 800]
#: README "Per-band statistics over the 14 shared images": (min, mean, max) in L4S units.
README_STATS = {
    "B1": (0.6881, 0.8903, 1.6783),
    "B2": (0.5748, 0.9016, 2.7382),
    "B3": (0.4236, 0.9826, 3.5393),
    "B4": (0.3145, 1.0182, 4.8296),
    "B5": (0.0944, 1.1281, 3.3630),
    "B6": (0.0704, 1.0670, 2.3350),
    "B7": (0.0633, 1.0236, 2.5321),
    "B8": (0.0608, 1.0347, 2.4983),
    "B9": (0.0267, 1.3748, 2.6585),
    "B10": (0.4421, 2.1540, 14.2575),
    "B11": (0.0197, 1.0651, 3.3169),
    "B12": (0.0077, 1.1098, 6.3973),
    "slope": (0.0000, 1.5417, 3.7453),
    "dem": (0.7259, 2.7854, 4.9040),
}
#: README "Caveats": the per-band constants the values appear divided by (same order).
README_CONSTANTS = [
    1111.81,
    824.63,
    663.42,
    445.17,
    645.86,
    1547.74,
    1960.44,
    1941.32,
    674.08,
    9.05,
    1113.98,
    519.90,
    20.29,
    772.83,
]
#: The documented scaling: S2 bands to reflectance (/10000), slope degrees, DEM metres.
FACTORS = np.array(README_CONSTANTS) / np.array([10000.0] * 12 + [1.0, 1.0])
#: README: landslide pixels over the 14 masks.
README_SLIDE_PX = 5083
NEIGHBOURS = [(1, 2, 3), (27, 28), (40, 41)]


@pytest.fixture(scope="module")
def l4s(shared_data: Path) -> Path:
    return shared_data / "l4s"


@pytest.fixture(scope="module")
def imported(l4s: Path, tmp_path_factory: pytest.TempPathFactory) -> L4SImport:
    """All 14 shared patches, all 14 bands, default split."""
    return import_l4s(l4s, tmp_path_factory.mktemp("l4s") / "l4s", bands=ALL_BANDS)


def h5_image(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["img"][()]


def h5_mask(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["mask"][()]


def write_h5(path: Path, name: str, data: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data)


def copy_patches(l4s: Path, dest: Path, ids: list[int], masks: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i in ids:
        shutil.copy(l4s / f"image_{i}.h5", dest)
        if masks:
            shutil.copy(l4s / f"mask_{i}.h5", dest)
    return dest


def roles_by_id(result: L4SImport) -> dict[int, int]:
    return {p.id: p.role for p in result.placements}


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# --- values: band order and scaling -------------------------------------------------------


def test_band_ranges_match_readme_statistics_under_the_documented_scaling(imported) -> None:
    area = load_area(imported.path)
    assert area.meta.band_names == L4S_BANDS
    valid = area.split != OUTSIDE
    for band, image, factor in zip(L4S_BANDS, area.image, FACTORS, strict=True):
        values = image[valid].astype(np.float64)
        expected = np.array(README_STATS[band]) * factor
        got = np.array([values.min(), values.mean(), values.max()])
        # the README rounds to 4 decimals in L4S units
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0.51e-4 * factor, err_msg=band)


def test_physical_units_are_plausible(imported) -> None:
    area = load_area(imported.path)
    valid = area.split != OUTSIDE
    by_name = dict(zip(area.meta.band_names, area.image, strict=True))
    for band in L4S_BANDS[:12]:
        assert by_name[band][valid].min() >= 0.0 and by_name[band][valid].max() < 1.0, band
    slope, dem = by_name["slope"][valid], by_name["dem"][valid]
    assert slope.min() >= 0.0 and 75.0 < slope.max() < 76.5  # degrees
    assert 560.0 < dem.min() < 562.0 and 3785.0 < dem.max() < 3795.0  # metres


def test_patch_pixels_are_the_h5_bands_in_order_at_their_mosaic_position(l4s, imported) -> None:
    area = load_area(imported.path)
    for p in imported.placements:
        native = np.moveaxis(h5_image(l4s / f"image_{p.id}.h5"), -1, 0)
        window = area.image[:, p.row_off : p.row_off + 128, p.col_off : p.col_off + 128]
        np.testing.assert_allclose(window, native * FACTORS[:, None, None], rtol=1e-6)


def test_band_selection_keeps_the_requested_order(l4s, tmp_path, run_cli) -> None:
    res = run_cli(
        "import-l4s", l4s, "--out", tmp_path / "a", "--bands", "dem, b8", "--role", "test"
    )
    assert res.code == 0, res.err
    area = load_area(tmp_path / "a")
    assert area.meta.band_names == ("dem", "B8")
    native = h5_image(l4s / "image_1.h5")  # patch 1 is the first, top-left
    np.testing.assert_allclose(
        area.image[:, :128, :128],
        np.stack([native[..., 13] * 772.83, native[..., 7] * 1941.32 / 10000]),
        rtol=1e-6,
    )
    with rasterio.open(tmp_path / "a" / "image.tif") as src:
        assert src.descriptions == ("dem", "B8")


def test_default_bands_are_the_papers(l4s, tmp_path) -> None:
    result = import_l4s(l4s, tmp_path / "a")
    assert result.meta.band_names == ("B2", "B3", "B4", "B8", "slope")


def test_parse_bands_rejects_unknown_and_repeated_names() -> None:
    with pytest.raises(SlidemapError, match=r"unknown L4S band\(s\) B8A, ndvi; valid names: B1,"):
        parse_bands("B2,B8A,ndvi")
    with pytest.raises(SlidemapError, match=r"B2 selected more than once"):
        parse_bands("B2,b2")
    with pytest.raises(SlidemapError, match="no band selected"):
        parse_bands(" , ")


# --- mosaic, labels, metadata -------------------------------------------------------------


def test_mosaic_layout_is_sorted_row_major_on_a_128_px_grid(imported) -> None:
    meta = imported.meta
    assert (meta.width, meta.height) == (512, 512)  # ceil(sqrt(14)) = 4 columns, 4 rows
    assert [p.id for p in imported.placements] == SHARED_IDS
    assert [(p.row_off, p.col_off) for p in imported.placements] == [
        (128 * (k // 4), 128 * (k % 4)) for k in range(14)
    ]
    area = load_area(imported.path)
    for r, c in [(384, 256), (384, 384)]:  # the two unused cells
        cell = np.s_[r : r + 128, c : c + 128]
        assert np.isnan(area.image[(slice(None), *cell)]).all()
        assert (area.label[cell] == LABEL_NODATA).all() and (area.split[cell] == OUTSIDE).all()


def test_labels_are_the_h5_masks_pixel_for_pixel(l4s, imported) -> None:
    area = load_area(imported.path)
    for p in imported.placements:
        window = area.label[p.row_off : p.row_off + 128, p.col_off : p.col_off + 128]
        np.testing.assert_array_equal(window, h5_mask(l4s / f"mask_{p.id}.h5"), err_msg=str(p.id))
    assert int((area.label == 1).sum()) == README_SLIDE_PX


def test_inventory_counts_4_connected_components_per_patch_in_m2(l4s, imported) -> None:
    inv = imported.meta.inventory
    sizes = np.concatenate(
        [
            np.bincount(ndimage.label(h5_mask(l4s / f"mask_{i}.h5"))[0].ravel())[1:]
            for i in SHARED_IDS
        ]
    )
    assert inv.count == sizes.size
    assert inv.total_m2 == README_SLIDE_PX * 100.0
    assert (inv.min_m2, inv.max_m2) == (sizes.min() * 100.0, sizes.max() * 100.0)
    assert inv.mean_m2 == pytest.approx(README_SLIDE_PX * 100.0 / sizes.size)


def test_area_json_grid_crs_sources_and_split_pixels(l4s, imported) -> None:
    meta = json.loads((imported.path / "area.json").read_text())
    assert meta["transform"] == [10.0, 0.0, 0.0, 0.0, -10.0, 5120.0]
    assert meta["synthetic"] is False
    sums = dict(
        reversed(line.split()) for line in (l4s / "SHA256SUMS").read_text().splitlines() if line
    )
    assert len(meta["sources"]) == 28
    for path, digest in meta["sources"].items():
        assert digest == sums[Path(path).name], path
    area = load_area(imported.path)
    assert area.meta.crs.is_projected and area.meta.crs.linear_units == "metre"
    assert "NOT a real location" in area.meta.crs.to_wkt()
    assert area.meta.pixel_area_m2 == 100.0
    with rasterio.open(imported.path / "image.tif") as src:
        assert src.crs == area.meta.crs
        assert src.dtypes[0] == "float32"
    counts = {
        name: int((area.split == code).sum())
        for code, name in (
            (OUTSIDE, "outside"),
            (TRAIN, "train"),
            (TEST, "test"),
            (VALIDATION, "validation"),
        )
    }
    assert meta["split_pixels"] == counts


def test_band_stats_are_over_the_train_patches(imported) -> None:
    area = load_area(imported.path)
    slope = area.image[area.meta.band_names.index("slope")][area.split == TRAIN]
    assert area.meta.band_stats["slope"].mean == pytest.approx(float(slope.mean()), rel=1e-6)
    assert area.meta.band_stats["slope"].max == pytest.approx(float(slope.max()))


# --- split ---------------------------------------------------------------------------------


def test_neighbour_groups_are_runs_of_consecutive_ids() -> None:
    assert neighbour_groups(SHARED_IDS[::-1]) == [
        (1, 2, 3),
        (16,),
        (27, 28),
        (38,),
        (40, 41),
        (72,),
        (253,),
        (461,),
        (525,),
        (800,),
    ]


@pytest.mark.parametrize("seed", range(10))
def test_auto_split_keeps_neighbours_together_and_fills_every_part(seed: int) -> None:
    roles = assign_roles(SHARED_IDS, "auto", seed)
    for group in NEIGHBOURS:
        assert len({roles[i] for i in group}) == 1, group
    counts = {code: list(roles.values()).count(code) for code in (TRAIN, VALIDATION, TEST)}
    assert 4 <= counts[TEST] <= 6  # 40 % of 14 = 5.6, in whole neighbour groups
    assert 1 <= counts[VALIDATION] <= 2 and counts[TRAIN] >= 6


def test_auto_split_is_deterministic_per_seed_and_varies_with_it() -> None:
    assert assign_roles(SHARED_IDS, "auto", 3) == assign_roles(SHARED_IDS, "auto", 3)
    splits = {tuple(sorted(assign_roles(SHARED_IDS, "auto", s).items())) for s in range(10)}
    assert len(splits) > 1


def test_split_raster_holds_each_patch_role(imported) -> None:
    area = load_area(imported.path)
    for p in imported.placements:
        window = area.split[p.row_off : p.row_off + 128, p.col_off : p.col_off + 128]
        assert (window == p.role).all()
    assert roles_by_id(imported) == assign_roles(SHARED_IDS, "auto", 0)


def test_role_train_has_no_test_part_and_one_validation_group(l4s, tmp_path, run_cli) -> None:
    res = run_cli("import-l4s", l4s, "--out", tmp_path / "a", "--role", "train", "--seed", "1")
    assert res.code == 0, res.err
    area = load_area(tmp_path / "a")
    assert not (area.split == TEST).any()
    roles = assign_roles(SHARED_IDS, "train", 1)
    n_val = list(roles.values()).count(VALIDATION)
    assert n_val in (1, 2)
    for group in NEIGHBOURS:
        assert len({roles[i] for i in group}) == 1
    for k, i in enumerate(SHARED_IDS):  # row-major on 4 columns
        assert area.split[128 * (k // 4), 128 * (k % 4)] == roles[i], i
    assert res.out.strip() == (
        f"{tmp_path / 'a'}: 14 L4S patches ({14 - n_val} train, {n_val} validation), "
        "512 x 512 px, bands B2,B3,B4,B8,slope"
    )


def test_role_test_is_all_test_and_stats_cover_every_patch(l4s, tmp_path) -> None:
    result = import_l4s(l4s, tmp_path / "a", role="test")
    area = load_area(tmp_path / "a")
    assert set(np.unique(area.split)) == {OUTSIDE, TEST}
    slope = area.image[4][area.split == TEST]
    assert result.meta.band_stats["slope"].mean == pytest.approx(float(slope.mean()), rel=1e-6)


def test_split_file_sets_roles_and_carves_validation_from_train(l4s, tmp_path) -> None:
    csv = tmp_path / "split.csv"
    test_ids = {1, 2, 3, 800}
    csv.write_text(
        "id,role\n" + "".join(f"{i},{'test' if i in test_ids else 'train'}\n" for i in SHARED_IDS)
    )
    result = import_l4s(l4s, tmp_path / "a", split_file=csv, seed=0)
    roles = roles_by_id(result)
    assert {i for i, r in roles.items() if r == TEST} == test_ids
    assert 1 <= list(roles.values()).count(VALIDATION) <= 2
    assert str(csv.resolve()) in result.meta.sources


def test_split_file_with_explicit_validation(l4s, tmp_path) -> None:
    csv = tmp_path / "split.csv"
    csv.write_text("role,id\ntest,16\n validation , 38\ntrain,72\n")
    result = import_l4s(
        copy_patches(l4s, tmp_path / "d", [16, 38, 72]), tmp_path / "a", split_file=csv
    )
    assert roles_by_id(result) == {16: TEST, 38: VALIDATION, 72: TRAIN}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,role\n16,test\n38,train\n", "does not list id(s) [72]"),
        ("id,role\n16,test\n38,train\n72,train\n99,test\n", "lists id(s) [99] that have no"),
        ("id,role\n16,test\n38,holdout\n72,train\n", "line 3: role 'holdout' is not one of"),
        ("id,role\n16,test\nx,train\n72,train\n", "line 3: id 'x' is not a number"),
        ("id,role\n16,test\n16,train\n72,train\n", "line 3: id 16 listed twice"),
        ("patch,part\n16,test\n", "needs a header 'id,role'"),
        ("id,role\n16,test\n38,validation\n72,test\n", "has validation but no train"),
    ],
)
def test_split_file_errors(l4s, tmp_path, run_cli, text: str, message: str) -> None:
    csv = tmp_path / "split.csv"
    csv.write_text(text)
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    res = run_cli("import-l4s", src, "--out", tmp_path / "a", "--split-file", csv)
    assert res.code == 2
    assert message in res.err, res.err
    assert_nothing_written(tmp_path / "a")


def test_too_few_neighbour_groups_for_the_role(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [1, 2, 3])
    res = run_cli("import-l4s", src, "--out", tmp_path / "a")
    assert res.code == 2
    assert "--role auto needs at least 3 groups of patches" in res.err and "1,2,3" in res.err
    assert_nothing_written(tmp_path / "a")
    res = run_cli("import-l4s", src, "--out", tmp_path / "a", "--role", "train")
    assert res.code == 2 and "--role train needs at least 2 groups" in res.err
    assert run_cli("import-l4s", src, "--out", tmp_path / "a", "--role", "test").code == 0


def test_split_file_and_role_exclude_each_other(l4s, tmp_path, run_cli) -> None:
    csv = tmp_path / "split.csv"
    csv.write_text("id,role\n")
    res = run_cli("import-l4s", l4s, "--out", tmp_path / "a", "--split-file", csv, "--role", "test")
    assert res.code == 2 and "--split-file and --role test exclude each other" in res.err
    assert_nothing_written(tmp_path / "a")


# --- layouts and unlabelled areas ------------------------------------------------------------


def test_release_layout_gives_the_same_area_as_the_flat_one(l4s, tmp_path) -> None:
    ids = [16, 27, 28, 38]
    flat = copy_patches(l4s, tmp_path / "flat", ids)
    release = tmp_path / "release"
    (release / "img").mkdir(parents=True)
    (release / "mask").mkdir()
    for i in ids:
        shutil.copy(l4s / f"image_{i}.h5", release / "img")
        shutil.copy(l4s / f"mask_{i}.h5", release / "mask")
    a = import_l4s(flat, tmp_path / "a", seed=5)
    b = import_l4s(release, tmp_path / "b", seed=5)
    assert a.placements == b.placements
    area_a, area_b = load_area(a.path), load_area(b.path)
    np.testing.assert_array_equal(area_a.image, area_b.image)
    np.testing.assert_array_equal(area_a.label, area_b.label)
    assert any("/img/image_16.h5" in k for k in b.meta.sources)


def test_without_masks_the_area_is_unlabelled(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38], masks=False)
    res = run_cli("import-l4s", src, "--out", tmp_path / "a", "--role", "test", "--name", "kodagu")
    assert res.code == 0, res.err
    assert res.out.strip() == (
        f"{tmp_path / 'a'}: 2 L4S patches (2 test, unlabelled), 256 x 128 px, "
        "bands B2,B3,B4,B8,slope"
    )
    area = load_area(tmp_path / "a")
    assert area.meta.name == "kodagu" and area.meta.inventory is None
    assert (area.label == LABEL_NODATA).all()
    assert json.loads((tmp_path / "a" / "area.json").read_text())["inventory"] is None


def test_masks_for_only_some_images_are_refused(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    (src / "mask_38.h5").unlink()
    res = run_cli("import-l4s", src, "--out", tmp_path / "a")
    assert res.code == 2
    assert "1 of 3 images have no mask (id(s) 38)" in res.err
    assert_nothing_written(tmp_path / "a")


def test_mask_without_image_is_refused(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    shutil.copy(l4s / "mask_800.h5", src)
    res = run_cli("import-l4s", src, "--out", tmp_path / "a")
    assert res.code == 2 and "mask(s) without an image for id(s) 800" in res.err


# --- bad inputs --------------------------------------------------------------------------------


def bad_random(l4s: Path, path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def bad_truncated(l4s: Path, path: Path) -> None:
    path.write_bytes((l4s / "image_38.h5").read_bytes()[:900_000])


def bad_shape(l4s: Path, path: Path) -> None:
    write_h5(path, "img", np.ones((64, 64, 14)))


def bad_dtype(l4s: Path, path: Path) -> None:
    write_h5(path, "img", np.ones((128, 128, 14), np.int16))


def bad_dataset(l4s: Path, path: Path) -> None:
    write_h5(path, "data", h5_image(l4s / "image_38.h5"))


def bad_nan(l4s: Path, path: Path) -> None:
    img = h5_image(l4s / "image_38.h5")
    img[5, 7, 2] = np.nan  # B3
    img[0, 0, 7] = np.inf  # B8
    write_h5(path, "img", img)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (bad_random, "image_38.h5: not a readable HDF5 file"),
        (bad_truncated, "image_38.h5: it is truncated"),
        (bad_shape, "image_38.h5: dataset 'img' has shape (64, 64, 14), expected (128, 128, 14)"),
        (bad_dtype, "image_38.h5: dataset 'img' has type int16, expected float64"),
        (bad_dataset, "image_38.h5 has no dataset 'img' (found: data)"),
        (bad_nan, "image_38.h5: 2 NaN/Inf value(s) in band(s) B3, B8"),
    ],
)
def test_bad_image_files(l4s, tmp_path, run_cli, make: Callable, message: str) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    make(l4s, src / "image_38.h5")
    res = run_cli("import-l4s", src, "--out", tmp_path / "a")
    assert res.code == 2
    assert res.err.startswith("slidemap: error: ") and message in res.err, res.err
    assert "Traceback" not in res.err
    assert_nothing_written(tmp_path / "a")


def test_nan_in_an_unselected_band_is_ignored(l4s, tmp_path) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    img = h5_image(l4s / "image_38.h5")
    img[:, :, 9] = np.nan  # B10
    write_h5(src / "image_38.h5", "img", img)
    assert import_l4s(src, tmp_path / "a").meta.band_names == ("B2", "B3", "B4", "B8", "slope")
    with pytest.raises(SlidemapError, match=r"16384 NaN/Inf value\(s\) in band\(s\) B10"):
        import_l4s(src, tmp_path / "b", bands="B2,B10")


def test_bad_mask_values(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    mask = h5_mask(l4s / "mask_38.h5")
    mask[0, 0] = 2
    write_h5(src / "mask_38.h5", "mask", mask)
    res = run_cli("import-l4s", src, "--out", tmp_path / "a")
    assert res.code == 2 and "mask_38.h5: values [2] found" in res.err
    assert_nothing_written(tmp_path / "a")


def test_unknown_band_on_the_command_line(l4s, tmp_path, run_cli) -> None:
    res = run_cli("import-l4s", l4s, "--out", tmp_path / "a", "--bands", "B2,B8A")
    assert res.code == 2
    assert (
        "unknown L4S band(s) B8A; valid names: B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, "
        "B11, B12, slope, dem" in res.err
    )
    assert_nothing_written(tmp_path / "a")


def test_empty_and_missing_directories(tmp_path, run_cli) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.h5").write_bytes(b"")
    res = run_cli("import-l4s", tmp_path / "empty", "--out", tmp_path / "a")
    assert res.code == 2 and "no Landslide4Sense image (image_<id>.h5) in" in res.err
    res = run_cli("import-l4s", tmp_path / "nowhere", "--out", tmp_path / "a")
    assert res.code == 2 and f"L4S directory not found: {tmp_path / 'nowhere'}" in res.err
    assert_nothing_written(tmp_path / "a")


def test_both_layouts_in_one_directory_are_refused(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16])
    (src / "img").mkdir()
    res = run_cli("import-l4s", src, "--out", tmp_path / "a", "--role", "test")
    assert res.code == 2 and "holds both img/image_<id>.h5 and image_<id>.h5" in res.err


def test_bad_area_name(l4s, tmp_path, run_cli) -> None:
    res = run_cli("import-l4s", l4s, "--out", tmp_path / "a", "--name", "my area")
    assert res.code == 2 and "area name 'my area' must start with" in res.err
    assert_nothing_written(tmp_path / "a")


def test_existing_output_needs_overwrite(l4s, tmp_path, run_cli) -> None:
    src = copy_patches(l4s, tmp_path / "d", [16, 38, 72])
    out = tmp_path / "a"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = run_cli("import-l4s", src, "--out", out)
    assert res.code == 2 and f"{out} already exists; pass --overwrite" in res.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    res = run_cli("import-l4s", src, "--out", out, "--overwrite")  # not an area: kept
    assert res.code == 2 and "it is not a prepared area (no area.json)" in res.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "area.json").write_text("{}")  # an area's marker: the folder is replaced
    res = run_cli("import-l4s", src, "--out", out, "--overwrite")
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == [
        "area.json",
        "image.tif",
        "label.tif",
        "split.tif",
    ]


def test_split_file_separating_neighbours_is_warned_about(l4s, tmp_path, run_cli) -> None:
    csv = tmp_path / "split.csv"
    csv.write_text("id,role\n27,train\n28,test\n38,validation\n")
    src = copy_patches(l4s, tmp_path / "d", [27, 28, 38])
    res = run_cli("import-l4s", src, "--out", tmp_path / "a", "--split-file", csv)
    assert res.code == 0, res.err
    assert "puts neighbouring patches (27, 28) into different roles" in res.err
    assert "(1 train, 1 validation, 1 test)" in res.out
