"""Quick-look PNG of a synthetic area: true-colour image with the inventory outlined.

Rendered with matplotlib's Agg backend (no display needed, no pyplot state),
then stored as a palette PNG so it stays small enough to keep in docs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from slidemap.synth.scene import Scene
from slidemap.synth.spectra import BOA_ADD_OFFSET, QUANTIFICATION

_WHITE_REFLECTANCE = 0.22  # true-colour stretch: this reflectance shows as white
_GAMMA = 0.8
_TITLE_IN = 0.3  # height of the title band, inches
_COLOURS = 64  # palette PNG: about 170 kB for a 512 px area


def true_colour(dn: np.ndarray) -> np.ndarray:
    """RGB (B4, B3, B2) from L2A digital numbers; (H, W, 3) float64 in [0, 1], nodata black."""
    reflectance = (dn[[2, 1, 0]].astype(np.float64) + BOA_ADD_OFFSET) / QUANTIFICATION
    rgb = np.clip(reflectance / _WHITE_REFLECTANCE, 0.0, 1.0) ** _GAMMA
    rgb[:, dn[0] == 0] = 0.0
    return np.moveaxis(rgb, 0, -1)


def write_quicklook(scene: Scene, path: Path, seed: int) -> None:
    """Write ``path`` (PNG, 100 dpi): the area in true colour, landslides outlined in yellow.

    One image pixel per screen pixel for areas from 400 to 800 px wide.
    """
    height, width = scene.dn.shape[1:]
    width_in = float(np.clip(width / 100, 4.0, 8.0))
    image_in = width_in * height / width
    fig = Figure(figsize=(width_in, image_in + _TITLE_IN), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, image_in / (image_in + _TITLE_IN)))
    ax.imshow(true_colour(scene.dn), interpolation="nearest")
    to_pixel = ~scene.transform
    for polygon in scene.landslides:
        x, y = np.asarray(polygon.exterior.coords).T
        cols, rows = to_pixel @ (x, y)
        ax.plot(cols - 0.5, rows - 0.5, color="yellow", linewidth=0.6)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    areas = np.array([p.area for p in scene.landslides])
    mean = f"{areas.mean():,.0f}" if len(areas) else "-"
    fig.text(
        0.5,
        1.0 - 0.5 * _TITLE_IN / (image_in + _TITLE_IN),
        f"{scene.spec.name}: SYNTHETIC (seed {seed}), {len(areas)} landslides, mean {mean} m²",
        ha="center",
        va="center",
        fontsize=9,
    )
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    Image.fromarray(rgba[..., :3]).quantize(_COLOURS).save(path, optimize=True)
