"""Landslide4Sense patches → one prepared area (a mosaic of whole patches).

``import_l4s`` reads the patches of a directory (:mod:`slidemap.io.l4s`) and
writes a prepared area (:mod:`slidemap.area`) atomically:

* **Mosaic.** Patches are sorted by id and laid out row by row on a grid of
  ``ceil(sqrt(n))`` columns, each at a multiple of 128 px, without a gutter, so
  every 32, 64 or 128 px window of the paper's regular grid lies inside one
  patch. Unused grid cells are nodata (image NaN, label 255, split outside).
  Neighbouring patches in the mosaic are in general unrelated places: context
  windows that cross a patch border (sliding-window prediction) see a seam.
* **Grid.** L4S carries no georeferencing. The mosaic gets 10 m pixels in
  :func:`local_crs`, a Transverse Mercator centred on 0° N 0° E whose name says
  that the coordinates are not a real location; its top-left corner is at
  (0, rows × 1280 m). Areas in m² are exact, positions meaningless.
* **Units.** Reflectance, slope in degrees and DEM in metres, as described in
  :mod:`slidemap.io.l4s`.
* **Split.** Whole patches are train, validation or test. Patches with
  consecutive ids are horizontal neighbours in L4S (1→2→3 in the shared
  sample), so each run of consecutive ids is kept in one role: no landslide
  is cut between training and testing. ``role="auto"`` puts about 40 % of
  the patches into the test part and 10 % of the rest into validation, at
  least one patch each, drawn with ``seed``; ``"train"`` makes every patch
  train (with the validation share) for an area used only for training;
  ``"test"`` makes every patch test (an independent test area); a split file
  (CSV ``id,role``) lists the roles instead.
* **Labels.** With masks, ``label.tif`` is the masks and the inventory counts
  the 4-connected landslide components of each patch (a landslide cut by a
  patch border counts once per patch); without any mask, the area is
  unlabelled (label 255 everywhere, no inventory).
* **Statistics** are over the train part, or over all patches when there is no
  train part (a test-only area).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion
from scipy import ndimage

from slidemap.area import (
    AREA,
    LABEL_NODATA,
    OUTSIDE,
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VALIDATION,
    AreaMeta,
    InventoryStats,
    band_stats,
    write_area,
)
from slidemap.config import AREA_NAME_RE
from slidemap.errors import SlidemapError
from slidemap.io.atomic import check_writable_target
from slidemap.io.checksums import sha256
from slidemap.io.l4s import PATCH_PX, PIXEL_M, find_patches, parse_bands, read_image, read_mask
from slidemap.progress import track

log = logging.getLogger("slidemap")

#: The paper's bands: Sentinel-2 B2, B3, B4, B8 and slope.
DEFAULT_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8", "slope")
ROLES: tuple[str, ...] = ("auto", "train", "test")
#: Share of the patches in the test part (``role="auto"``).
TEST_FRACTION = 0.4
#: Share of the train part's patches kept for validation.
VALIDATION_FRACTION = 0.1
LOCAL_CRS_NAME = "slidemap local grid: Landslide4Sense patch mosaic, NOT a real location"

_ROLE_CODES = {"train": TRAIN, "validation": VALIDATION, "test": TEST}


@dataclass(frozen=True)
class PatchPlacement:
    """Where a patch went: its pixels are ``[row_off:row_off+128, col_off:col_off+128]``.

    Attributes:
        id: the L4S patch id.
        row_off, col_off: top-left pixel of the patch in the mosaic.
        role: split code (TRAIN, VALIDATION or TEST from :mod:`slidemap.area`).
    """

    id: int
    row_off: int
    col_off: int
    role: int


@dataclass(frozen=True)
class L4SImport:
    """The result of :func:`import_l4s`: the area written and where each patch is."""

    path: Path
    meta: AreaMeta
    placements: tuple[PatchPlacement, ...]


def local_crs() -> ProjCRS:
    """The projected CRS (metres) of L4S mosaics: Transverse Mercator at 0° N 0° E."""
    conversion = TransverseMercatorConversion(
        latitude_natural_origin=0.0,
        longitude_natural_origin=0.0,
        false_easting=0.0,
        false_northing=0.0,
        scale_factor_natural_origin=1.0,
    )
    return ProjectedCRS(conversion, name=LOCAL_CRS_NAME, geodetic_crs=ProjCRS.from_epsg(4326))


def mosaic_shape(n_patches: int) -> tuple[int, int]:
    """``(rows, columns)`` of the patch grid: ``ceil(sqrt(n))`` columns, as few rows as fit."""
    cols = math.ceil(math.sqrt(n_patches))
    return math.ceil(n_patches / cols), cols


def neighbour_groups(ids: Sequence[int]) -> list[tuple[int, ...]]:
    """Runs of consecutive ids (L4S horizontal neighbours), in increasing order.

    Example: ``[1, 2, 3, 16, 27, 28]`` → ``[(1, 2, 3), (16,), (27, 28)]``.
    """
    groups: list[list[int]] = []
    for i in sorted(ids):
        if groups and i == groups[-1][-1] + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [tuple(g) for g in groups]


def assign_roles(
    ids: Sequence[int],
    role: str,
    seed: int,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
) -> dict[int, int]:
    """Split code of each patch; runs of consecutive ids always share one role.

    Groups of neighbours are shuffled with ``seed`` and taken in that order into
    the test part until it holds ``round(test_fraction * n)`` patches (a group
    that would overshoot is skipped), then likewise into validation
    (``round(validation_fraction * n_train)``); each part gets at least one group.

    Args:
        ids: patch ids (distinct).
        role: "auto" (train, validation and test), "train" (train and
            validation) or "test" (all test).
        seed: seed of the shuffle.

    Returns:
        id → TRAIN, VALIDATION or TEST.

    Raises:
        SlidemapError: fewer neighbour groups than the parts to fill.
    """
    if role not in ROLES:
        raise SlidemapError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if role == "test":
        return dict.fromkeys(ids, TEST)
    groups = neighbour_groups(ids)
    needed = 3 if role == "auto" else 2
    if len(groups) < needed:
        raise SlidemapError(
            f"--role {role} needs at least {needed} groups of patches (patches with "
            f"consecutive ids are neighbours and stay together), found {len(groups)}: "
            f"{_groups_text(groups)}; add patches, use --role test, or give --split-file"
        )
    rng = np.random.default_rng(seed)
    order = [groups[k] for k in rng.permutation(len(groups))]
    roles: dict[int, int] = {}
    if role == "auto":
        test = _take(order, _share(len(ids), test_fraction), keep=2)
        roles.update(dict.fromkeys((i for g in test for i in g), TEST))
        order = [g for g in order if g not in test]
    roles.update(_train_validation(order, validation_fraction))
    return roles


def read_split_file(
    path: Path,
    ids: Sequence[int],
    seed: int,
    validation_fraction: float = VALIDATION_FRACTION,
) -> dict[int, int]:
    """Roles from a CSV file with columns ``id,role`` (role: train, validation or test).

    Every patch must be listed once. When train patches are listed but no
    validation patch, validation is drawn from the train patches as in
    :func:`assign_roles`. A neighbour group split across roles is allowed (the
    file is explicit) but logged as a warning.

    Raises:
        SlidemapError: unreadable file, missing columns, a bad id or role, a
            patch listed twice, unknown or missing patches.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SlidemapError(f"cannot read split file {path}: {exc}") from exc
    header = [cell.strip().lower() for cell in lines[0][1]] if lines else []
    if "id" not in header or "role" not in header:
        raise SlidemapError(f"split file {path} needs a header 'id,role' and one row per patch")
    id_col, role_col = header.index("id"), header.index("role")
    roles: dict[int, int] = {}
    for line, row in lines[1:]:
        cells = [cell.strip() for cell in row] + [""] * len(header)
        text_id, text_role = cells[id_col], cells[role_col].lower()
        if not text_id.isdigit():
            raise SlidemapError(f"split file {path}, line {line}: id {text_id!r} is not a number")
        if text_role not in _ROLE_CODES:
            raise SlidemapError(
                f"split file {path}, line {line}: role {text_role!r} is not one of "
                f"{', '.join(_ROLE_CODES)}"
            )
        if int(text_id) in roles:
            raise SlidemapError(f"split file {path}, line {line}: id {text_id} listed twice")
        roles[int(text_id)] = _ROLE_CODES[text_role]
    unknown, missing = sorted(set(roles) - set(ids)), sorted(set(ids) - set(roles))
    if unknown:
        raise SlidemapError(f"split file {path} lists id(s) {unknown} that have no image")
    if missing:
        raise SlidemapError(f"split file {path} does not list id(s) {missing}; give every role")
    codes = set(roles.values())
    if VALIDATION in codes and TRAIN not in codes:
        raise SlidemapError(f"split file {path} has validation but no train patches")
    if TRAIN in codes and VALIDATION not in codes:
        train = neighbour_groups([i for i in ids if roles[i] == TRAIN])
        if len(train) < 2:
            raise SlidemapError(
                f"split file {path}: the train patches form one neighbour group "
                f"({_groups_text(train)}); list validation patches explicitly"
            )
        rng = np.random.default_rng(seed)
        roles.update(
            _train_validation([train[k] for k in rng.permutation(len(train))], validation_fraction)
        )
    for group in neighbour_groups(ids):
        if len({roles[i] for i in group}) > 1:
            log.warning(
                "split file %s puts neighbouring patches %s into different roles", path, group
            )
    return roles


def import_l4s(
    directory: Path,
    out: Path,
    *,
    name: str | None = None,
    bands: str | Sequence[str] = DEFAULT_BANDS,
    role: str = "auto",
    seed: int = 0,
    split_file: Path | None = None,
    overwrite: bool = False,
) -> L4SImport:
    """Import the L4S patches of ``directory`` as the prepared area ``out``.

    Args:
        directory: L4S release layout (``img/``, ``mask/``) or flat layout.
        out: prepared area directory to create.
        name: area name (default: the name of ``out``).
        bands: band names or "B2,B3,…" (see :func:`slidemap.io.l4s.parse_bands`).
        role: "auto", "train" or "test" (see :func:`assign_roles`).
        seed: seed of the patch split (0 or more).
        split_file: CSV ``id,role`` replacing the seeded split (``role`` must be "auto").
        overwrite: replace an existing ``out``.

    Raises:
        SlidemapError: any problem with the inputs; nothing is written then.
    """
    out = Path(out)
    band_names = parse_bands(bands)
    area_name = out.name if name is None else name
    if not AREA_NAME_RE.match(area_name):
        raise SlidemapError(
            f"area name {area_name!r} must start with an ASCII letter or digit and hold only "
            "ASCII letters, digits, '_', '.' and '-'; pass --name"
        )
    if seed < 0:  # numpy's generators take any integer from 0 up
        raise SlidemapError(f"--seed must be 0 or more, got {seed}")
    if split_file is not None and role != "auto":
        raise SlidemapError(f"--split-file and --role {role} exclude each other; give one")
    check_writable_target(out, overwrite, AREA)
    patches = find_patches(directory)
    ids = [p.id for p in patches]
    roles = read_split_file(split_file, ids, seed) if split_file else assign_roles(ids, role, seed)
    rows, cols = mosaic_shape(len(patches))
    height, width = rows * PATCH_PX, cols * PATCH_PX
    image = np.full((len(band_names), height, width), np.nan, np.float32)
    label = np.full((height, width), LABEL_NODATA, np.uint8)
    split = np.full((height, width), OUTSIDE, np.uint8)
    placements = []
    slide_px: list[np.ndarray] = []
    for k, patch in enumerate(track(patches, total=len(patches), desc="L4S", unit="patch")):
        row_off, col_off = (k // cols) * PATCH_PX, (k % cols) * PATCH_PX
        window = np.s_[row_off : row_off + PATCH_PX, col_off : col_off + PATCH_PX]
        image[(slice(None), *window)] = read_image(patch.image, band_names)
        if patch.mask is not None:
            mask = read_mask(patch.mask)
            label[window] = mask
            components, count = ndimage.label(mask)
            slide_px.append(np.bincount(components.ravel(), minlength=count + 1)[1:])
        split[window] = roles[patch.id]
        placements.append(PatchPlacement(patch.id, row_off, col_off, roles[patch.id]))
    transform = Affine(PIXEL_M, 0.0, 0.0, 0.0, -PIXEL_M, height * PIXEL_M)
    labelled = patches[0].mask is not None
    stats_part = split == TRAIN if (split == TRAIN).any() else split != OUTSIDE
    files = [p.image for p in patches] + [p.mask for p in patches if p.mask is not None]
    meta = AreaMeta(
        name=area_name,
        crs_wkt=local_crs().to_wkt(),
        transform=tuple(transform)[:6],
        width=width,
        height=height,
        band_names=band_names,
        band_stats=band_stats(image, stats_part, band_names),
        inventory=_inventory(slide_px, PIXEL_M * PIXEL_M) if labelled else None,
        sources={
            str(Path(p).resolve()): sha256(p)
            for p in [*files, *([split_file] if split_file else [])]
        },
        split_pixels={SPLIT_NAMES[c]: int((split == c).sum()) for c in SPLIT_NAMES},
    )
    write_area(out, meta, image, label, split, overwrite=overwrite)
    log.info(
        "imported %d L4S patches from %s into %s (%d x %d px)",
        len(patches),
        directory,
        out,
        width,
        height,
    )
    return L4SImport(out, meta, tuple(placements))


def _share(n: int, fraction: float) -> int:
    """``fraction`` of ``n`` rounded half up, at least 1."""
    return max(1, math.floor(n * fraction + 0.5))


def _take(groups: list[tuple[int, ...]], target: int, keep: int) -> list[tuple[int, ...]]:
    """Groups taken in order while the total stays ≤ ``target`` and ``keep`` groups remain.

    Takes the first smallest group when none fits. Expects ``len(groups) > keep``.
    """
    taken: list[tuple[int, ...]] = []
    total = 0
    for group in groups:
        if total + len(group) <= target and len(groups) - len(taken) - 1 >= keep:
            taken.append(group)
            total += len(group)
    return taken or [min(groups, key=len)]


def _train_validation(groups: list[tuple[int, ...]], fraction: float) -> dict[int, int]:
    """Validation groups (taken in the given order) and train groups; at least one of each."""
    n = sum(len(g) for g in groups)
    validation = _take(groups, _share(n, fraction), keep=1)
    return {i: VALIDATION if g in validation else TRAIN for g in groups for i in g}


def _inventory(slide_px: list[np.ndarray], pixel_m2: float) -> InventoryStats:
    """Inventory statistics from the pixel counts of each patch's landslide components."""
    areas = np.concatenate(slide_px) * pixel_m2 if slide_px else np.zeros(0)
    if areas.size == 0:
        return InventoryStats(count=0, total_m2=0.0, min_m2=0.0, mean_m2=0.0, max_m2=0.0)
    return InventoryStats(
        count=int(areas.size),
        total_m2=float(areas.sum()),
        min_m2=float(areas.min()),
        mean_m2=float(areas.mean()),
        max_m2=float(areas.max()),
    )


def _groups_text(groups: list[tuple[int, ...]]) -> str:
    return "; ".join(",".join(str(i) for i in g) for g in groups)
