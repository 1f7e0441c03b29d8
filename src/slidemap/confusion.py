"""TP/FP/FN maps of an evaluated area: a GeoTIFF for QGIS and a PNG like the paper's Figs 6–9.

``confusion.tif`` is one uint8 band on the area's grid (CRS and transform)::

    0 TN    true negative (grey)
    1 TP    landslide found (green)
    2 FP    false alarm (red)
    3 FN    landslide missed (blue)
    255     not evaluated (nodata, transparent): outside the test part,
            nodata pixels, or (patches mode) not covered by a window

with a colour table, so QGIS shows it in these colours as is.

``map.png`` draws the test part: a true-colour backdrop (B4/B3/B2, 2–98 %
stretch per band; the first band in grey when the RGB bands are missing),
TP/FP/FN in colour over it, a legend with pixel counts, a scale bar in metres
and a title. Scenes larger than :data:`MAP_MAX_PX` are shown at a coarser
step; a coarse map pixel takes the most telling code of the pixels it covers
(TP over FP over FN over TN), so small objects stay visible.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from slidemap.area import AreaMeta
from slidemap.io.rasters import write_geotiff
from slidemap.outputs import rgb_channels
from slidemap.terrain import pixel_size_m
from slidemap.tiling import Window

TN, TP, FP, FN, NOT_EVALUATED = 0, 1, 2, 3, 255
NAMES = {TN: "TN", TP: "TP", FP: "FP", FN: "FN"}
#: RGBA colours of the codes (GeoTIFF colour table and PNG).
COLOURS: dict[int, tuple[int, int, int, int]] = {
    TN: (200, 200, 200, 255),
    TP: (0, 190, 80, 255),
    FP: (230, 30, 50, 255),
    FN: (40, 110, 255, 255),
    NOT_EVALUATED: (0, 0, 0, 0),
}
LABELS = {TP: "TP: landslide found", FP: "FP: false alarm", FN: "FN: landslide missed"}
#: Longest side of the drawn map in pixels and inches; narrowest figure in inches.
MAP_MAX_PX = 1200
MAP_MAX_IN = 6.5
MAP_MIN_WIDTH_IN = 4.5
# Priority when a coarse map pixel covers several codes (higher wins).
_PRIORITY = np.zeros(256, np.uint8)
_PRIORITY[[TN, FN, FP, TP]] = (1, 2, 3, 4)
_BY_PRIORITY = np.array([NOT_EVALUATED, TN, FN, FP, TP], np.uint8)


def confusion_codes(pred: np.ndarray, ref: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    """The confusion code of every pixel.

    Args:
        pred: (H, W) bool, predicted landslide.
        ref: (H, W) bool, reference landslide.
        evaluated: (H, W) bool, pixels that are scored.

    Returns:
        (H, W) uint8 codes (module docstring); 255 where not evaluated.
    """
    codes = np.full(ref.shape, NOT_EVALUATED, np.uint8)
    codes[evaluated & ~pred & ~ref] = TN
    codes[evaluated & pred & ref] = TP
    codes[evaluated & pred & ~ref] = FP
    codes[evaluated & ~pred & ref] = FN
    return codes


def write_confusion_tif(path: Path, codes: np.ndarray, meta: AreaMeta) -> None:
    """Write ``codes`` ((H, W) uint8) as a GeoTIFF on the area's grid with a colour table."""
    write_geotiff(
        path,
        codes,
        meta.crs,
        meta.affine,
        NOT_EVALUATED,
        ["confusion: 0 TN, 1 TP, 2 FP, 3 FN, 255 not evaluated"],
        colormap=COLOURS,
    )


def draw_map(
    path: Path,
    image: np.ndarray,
    codes: np.ndarray,
    meta: AreaMeta,
    extent: Window,
    title: str,
) -> None:
    """Draw the TP/FP/FN map of ``extent`` and write it as a PNG.

    Args:
        path: the PNG to write.
        image: (C, H, W) float32 reflectance/slope of the area, NaN = nodata.
        codes: (H, W) uint8 confusion codes.
        meta: the area's metadata (band names, grid).
        extent: the part of the area to draw (usually the test part's bounding box).
        title: figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    step = max(1, math.ceil(max(extent.height, extent.width) / MAP_MAX_PX))
    rows, cols = extent.slices
    channels = rgb_channels(meta.band_names)
    backdrop = _stretch(image[list(channels), rows, cols][:, ::step, ::step])
    shown = coarsen_codes(codes[rows, cols], step)
    overlay = np.asarray([COLOURS[c] for c in range(4)] + [(255, 255, 255, 150)], np.uint8)
    rgba = overlay[np.where(shown == NOT_EVALUATED, 4, shown)]  # not evaluated: a white veil
    rgba[shown == TN, 3] = 0  # TN: the backdrop shows through

    dx_m, dy_m = pixel_size_m((meta.height, meta.width), meta.affine, meta.crs)
    centre = extent.row_off + extent.height // 2
    px_w_m, px_h_m = float(dx_m[centre, 0]) * step, float(dy_m[centre, 0]) * step
    h, w = shown.shape
    ground_w_m, ground_h_m = w * px_w_m, h * px_h_m
    scale_in = MAP_MAX_IN / max(ground_w_m, ground_h_m)  # longest side MAP_MAX_IN inches
    fig = Figure(
        figsize=(max(ground_w_m * scale_in, MAP_MIN_WIDTH_IN), ground_h_m * scale_in + 1.0),
        dpi=150,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    aspect = px_h_m / px_w_m
    ax.imshow(backdrop, interpolation="nearest", aspect=aspect)
    ax.imshow(rgba, interpolation="nearest", aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)

    length_m = nice_length(w * px_w_m / 5)
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData, length_m / px_w_m, label, "lower left", pad=0.4, frameon=True, sep=3
        )
    )
    counts = {c: int(np.count_nonzero(codes[rows, cols] == c)) for c in (TP, FP, FN)}
    handles = [
        Patch(facecolor=_rgb01(c), label=f"{LABELS[c]} ({counts[c]:,} px)") for c in (TP, FP, FN)
    ]
    handles.append(Patch(facecolor=(1, 1, 1, 0.6), edgecolor="0.5", label="not evaluated"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    fig.savefig(path, dpi=150)


def coarsen_codes(codes: np.ndarray, step: int) -> np.ndarray:
    """Reduce (H, W) codes by ``step`` keeping the most telling code of each block.

    Returns:
        (ceil(H / step), ceil(W / step)) uint8; TP over FP over FN over TN over
        not evaluated.
    """
    if step == 1:
        return codes
    h, w = codes.shape
    hh, ww = -(-h // step), -(-w // step)
    padded = np.full((hh * step, ww * step), NOT_EVALUATED, np.uint8)
    padded[:h, :w] = codes
    priority = _PRIORITY[padded].reshape(hh, step, ww, step).max(axis=(1, 3))
    return _BY_PRIORITY[priority]


def nice_length(target_m: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``target_m`` (at least 1 m)."""
    if target_m < 1:
        return 1.0
    power = 10 ** math.floor(math.log10(target_m))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target_m))


def _rgb01(code: int) -> tuple[float, float, float]:
    r, g, b, _ = COLOURS[code]
    return r / 255, g / 255, b / 255


def _stretch(bands: np.ndarray) -> np.ndarray:
    """(c, h, w) values → (h, w, 3) float32 in [0, 1]: 2–98 % per band, nodata dark grey."""
    out = []
    for band in bands:
        finite = band[np.isfinite(band)]
        lo, hi = (float(v) for v in np.percentile(finite, (2, 98))) if finite.size else (0, 1)
        scaled = np.clip((band - lo) / max(hi - lo, 1e-12), 0, 1)
        scaled[~np.isfinite(band)] = 0.25
        out.append(scaled)
    if len(out) == 1:
        out *= 3
    return np.stack(out, axis=-1).astype(np.float32)
