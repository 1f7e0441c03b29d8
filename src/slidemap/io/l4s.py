"""Landslide4Sense (L4S) HDF5 patches: find them, read them, check them, scale them.

An L4S patch is a pair of HDF5 files:

* ``image_<id>.h5`` with dataset ``img``: (128, 128, 14) float64, channel-last,
  bands :data:`L4S_BANDS` = Sentinel-2 B1…B12 (no B8A), ALOS PALSAR slope, DEM;
* ``mask_<id>.h5`` with dataset ``mask``: (128, 128) uint8, 1 = landslide, 0 = not
  (the L4S release has masks only for its training split).

Two directory layouts are accepted: the L4S release (``DIR/img/image_<id>.h5`` +
``DIR/mask/mask_<id>.h5``) and a flat one (``DIR/image_<id>.h5`` + ``DIR/mask_<id>.h5``).

**Scaling.** L4S values are neither Sentinel-2 digital numbers nor reflectance:
each band appears divided by a per-band constant, :data:`L4S_BAND_SCALE` (the
"means of 14 bands" of the ``CamDucLe/Landslide-Project-Sentinel2`` repository;
L4S itself does not document its scaling). slidemap reads every band as::

    Sentinel-2 bands: reflectance ≈ value * L4S_BAND_SCALE[band] / 10000
    slope:            degrees      = value * 20.29
    dem:              metres       = value * 772.83

so that an imported area has the same units as one made by ``slidemap prepare``
(reflectance + slope in degrees) and a model can move between them. On the
shared sample this gives slope 0–76° and DEM 561–3790 m, plausible values for the
L4S sites; the reflectances are approximate, since the constants are an
unofficial reading of the data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from slidemap.errors import SlidemapError

#: Band order along the last axis of an L4S ``img`` dataset.
L4S_BANDS: tuple[str, ...] = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "B7",
    "B8",
    "B9",
    "B10",
    "B11",
    "B12",
    "slope",
    "dem",
)
#: Per-band constant each L4S band appears divided by (same order as :data:`L4S_BANDS`).
L4S_BAND_SCALE: tuple[float, ...] = (
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
)
#: Sentinel-2 digital numbers per unit reflectance.
S2_QUANTIFICATION = 10000.0
#: Side of an L4S patch in pixels.
PATCH_PX = 128
#: Nominal pixel size of L4S patches in metres.
PIXEL_M = 10.0

_IMAGE_RE = re.compile(r"^image_(\d+)\.h5$")
_MASK_RE = re.compile(r"^mask_(\d+)\.h5$")


@dataclass(frozen=True)
class L4SPatch:
    """One L4S patch on disk.

    Attributes:
        id: the number in the file names.
        image: path of ``image_<id>.h5``.
        mask: path of ``mask_<id>.h5``, or None when the patch has no mask.
    """

    id: int
    image: Path
    mask: Path | None


def parse_bands(names: str | Sequence[str]) -> tuple[str, ...]:
    """Validate a band selection ("B2,B3,B4,B8,slope" or a sequence of names).

    Names are matched case-insensitively and returned in their canonical
    spelling (``B2``, ``slope``, ``dem``), in the order given.

    Raises:
        SlidemapError: an empty selection, an unknown name or a repeated one.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise SlidemapError(f"no band selected; choose from {', '.join(L4S_BANDS)}")
    canonical = {band.lower(): band for band in L4S_BANDS}
    unknown = [item for item in items if item.lower() not in canonical]
    if unknown:
        raise SlidemapError(
            f"unknown L4S band(s) {', '.join(unknown)}; valid names: {', '.join(L4S_BANDS)}"
        )
    bands = tuple(canonical[item.lower()] for item in items)
    repeated = sorted({band for band in bands if bands.count(band) > 1})
    if repeated:
        raise SlidemapError(f"band(s) {', '.join(repeated)} selected more than once")
    return bands


def band_factors(bands: Sequence[str]) -> np.ndarray:
    """Factors that turn L4S values of ``bands`` into reflectance, degrees or metres.

    Returns:
        (len(bands),) float64.
    """
    factors = []
    for band in bands:
        scale = L4S_BAND_SCALE[L4S_BANDS.index(band)]
        factors.append(scale if band in ("slope", "dem") else scale / S2_QUANTIFICATION)
    return np.array(factors, dtype=np.float64)


def find_patches(directory: Path) -> list[L4SPatch]:
    """The patches in ``directory`` (release or flat layout), sorted by id.

    Raises:
        SlidemapError: ``directory`` is missing, holds both layouts, no image, two
            files with the same id, a mask without an image, or masks for only some
            images.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SlidemapError(f"L4S directory not found: {directory}")
    release = (directory / "img").is_dir()
    if release and _numbered(directory, _IMAGE_RE):
        raise SlidemapError(
            f"{directory} holds both img/image_<id>.h5 and image_<id>.h5 files; keep one layout"
        )
    image_dir = directory / "img" if release else directory
    mask_dir = directory / "mask" if release else directory
    images = _numbered(image_dir, _IMAGE_RE)
    masks = _numbered(mask_dir, _MASK_RE) if mask_dir.is_dir() else {}
    if not images:
        raise SlidemapError(
            f"no Landslide4Sense image (image_<id>.h5) in {directory} or {directory / 'img'}"
        )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise SlidemapError(
            f"{mask_dir}: mask(s) without an image for id(s) {_ids(orphans)}; "
            "add the images or remove the masks"
        )
    unmasked = sorted(set(images) - set(masks))
    if masks and unmasked:
        raise SlidemapError(
            f"{mask_dir}: {len(unmasked)} of {len(images)} images have no mask (id(s) "
            f"{_ids(unmasked)}); give every image a mask, or none for an unlabelled area"
        )
    return [L4SPatch(i, images[i], masks.get(i)) for i in sorted(images)]


def read_image(path: Path, bands: Sequence[str]) -> np.ndarray:
    """Read ``bands`` of an L4S image file in physical units (see the module docstring).

    Args:
        path: an ``image_<id>.h5`` file.
        bands: canonical band names (see :func:`parse_bands`).

    Returns:
        (len(bands), 128, 128) float32: reflectance, slope in degrees, DEM in metres.

    Raises:
        SlidemapError: the file is not HDF5 or is truncated, has no ``img``
            dataset, has another shape or a non-float type, or a selected band
            holds NaN or Inf (or values too large for float32 once scaled).
    """
    img = _read_dataset(path, "img", (PATCH_PX, PATCH_PX, len(L4S_BANDS)), "image")
    if img.dtype.kind != "f":
        raise SlidemapError(
            f"L4S image {path}: dataset 'img' has type {img.dtype}, expected float64"
        )
    index = [L4S_BANDS.index(band) for band in bands]
    selected = np.moveaxis(img[:, :, index], -1, 0).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        image = (selected * band_factors(bands)[:, None, None]).astype(np.float32)
    bad = ~np.isfinite(image)  # NaN/Inf in the file, or values beyond float32 once scaled
    if bad.any():
        names = [band for band, b in zip(bands, bad, strict=True) if b.any()]
        raise SlidemapError(
            f"L4S image {path}: {int(bad.sum())} NaN/Inf value(s) in band(s) "
            f"{', '.join(names)}; the file is damaged, re-download it"
        )
    return image


def read_mask(path: Path) -> np.ndarray:
    """Read an L4S mask file.

    Returns:
        (128, 128) uint8, 1 = landslide, 0 = not.

    Raises:
        SlidemapError: the file is unreadable, has no ``mask`` dataset, has another
            shape, or holds values other than 0 and 1.
    """
    mask = _read_dataset(path, "mask", (PATCH_PX, PATCH_PX), "mask")
    if mask.dtype.kind not in "uib":
        raise SlidemapError(
            f"L4S mask {path}: dataset 'mask' has type {mask.dtype}, expected uint8"
        )
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        raise SlidemapError(
            f"L4S mask {path}: values {values[~np.isin(values, (0, 1))].tolist()} found, "
            "expected only 0 (no landslide) and 1 (landslide)"
        )
    return mask.astype(np.uint8)


def _read_dataset(path: Path, name: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The whole dataset ``name`` of HDF5 file ``path``, checked to have ``shape``."""
    try:
        with h5py.File(path, "r") as f:
            dataset = f.get(name)  # None for a missing name or a broken link
            if not isinstance(dataset, h5py.Dataset):
                names = sorted(str(k) for k in f)
                found = "a broken link" if dataset is None and name in names else None
                found = found or f"found: {', '.join(names) or 'nothing'}"
                raise SlidemapError(
                    f"L4S {what} {path} has no dataset '{name}' ({found}); "
                    f"is it an L4S {what} file?"
                )
            if dataset.shape != shape:
                raise SlidemapError(
                    f"L4S {what} {path}: dataset '{name}' has shape {dataset.shape}, "
                    f"expected {shape}"
                )
            return np.asarray(dataset[()])
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        # h5py reports a damaged file as any of these (a corrupt header, a dangling or
        # external link, an address beyond the end of the file)
        reason = "it is truncated" if "truncated" in str(exc) else "not a readable HDF5 file"
        raise SlidemapError(
            f"cannot read L4S {what} {path}: {reason} ({exc}); re-download it"
        ) from exc


def _numbered(directory: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Files of ``directory`` whose name matches ``pattern``, by the id it captures."""
    found: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = pattern.match(path.name)
        if match is None or not path.is_file():
            continue
        key = int(match.group(1))
        if key in found:
            raise SlidemapError(f"{found[key]} and {path} have the same id {key}; keep one")
        found[key] = path
    return found


def _ids(ids: list[int], shown: int = 10) -> str:
    """``ids`` as a short comma-separated list."""
    text = ", ".join(str(i) for i in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
