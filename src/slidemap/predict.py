"""Whole-scene landslide mapping, block by block, with bounded memory.

:func:`predict_scene` runs a trained model over a scene of any size::

    model, info = load_model(run)
    scene = open_scene(inputs_from_area(area_file), info)
    summary = predict_scene(make_backend(model, info, "auto"), info, scene, Path("out"))

Steps, per output block (:mod:`slidemap.blocks`): read the block and its halo
(bands and slope exactly as ``prepare`` computes them, :mod:`slidemap.scene`)
in a reader thread while the previous block is computed; normalise like the
training data (:class:`slidemap.data.Normalization`, in place); run the windows
not yet computed and blend every window over the block (:mod:`slidemap.infer`);
write the block to every output (:mod:`slidemap.outputs`) in a writer thread
while the next block is computed. The window layout is the whole scene's, so
the result does not depend on the block size.

:mod:`slidemap.predict_distributed` runs the same steps on Dask workers, one
row band of blocks each, and writes the same outputs.

Outputs in the output directory (written under a temporary name, renamed when
complete; input nodata is nodata everywhere; CRS and transform are the
input grid's):

    probability.tif   COG, uint8 0–254 (= probability × 254), 255 nodata;
                      or float32 with NaN nodata (``prob_dtype``)
    mask.tif          COG, uint8 1 landslide / 0 not / 255 nodata, probability ≥ threshold
    landslides.gpkg   polygons (area_m2, mean_prob, max_prob), layer "landslides"
    quicklook.png     RGB backdrop with the probability on top

The run fails (and leaves nothing) when no pixel has data in every band and
the DEM, or when the DEM misses more than 0.5 % of the image's valid pixels
(``prepare``'s rule).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
import rasterio

from slidemap.backends import Backend
from slidemap.blocks import BlockPlan, plan_blocks
from slidemap.checkpoint import ModelInfo, check_bands
from slidemap.data import Normalization
from slidemap.errors import SlidemapError
from slidemap.infer import Blender, check_window, layout, window_probabilities
from slidemap.io.atomic import OutputKind, atomic_dir, check_writable_target
from slidemap.io.dem import MAX_UNCOVERED, DemSlope, uncovered_error
from slidemap.io.grid import Grid
from slidemap.outputs import (
    MASK_NODATA,
    PROB_DTYPES,
    UINT8_NODATA,
    CogWriter,
    Polygonizer,
    Quicklook,
    encode_mask,
    encode_probability,
    rgb_channels,
)
from slidemap.progress import bar
from slidemap.scene import Scene, SceneBlock, SceneInputs
from slidemap.tiling import Window

Result = TypeVar("Result")

log = logging.getLogger("slidemap")

#: GDAL block cache during prediction (bytes: rasterio hands an int to GDALSetCacheMax64)
#: unless GDAL_CACHEMAX is set: GDAL's default, 5 % of the RAM, would let the cache of
#: read and written blocks grow with the scene; without one, the tiles of a JPEG 2000
#: band on a block edge would be decoded again for the next block.
GDAL_CACHE_BYTES = 256 << 20
#: The output directory of a prediction.
PREDICTION = OutputKind("a prediction", "probability.tif")


@dataclass(frozen=True)
class PredictOptions:
    """How to predict a scene.

    Attributes:
        window: window side in pixels (multiple of 16).
        overlap: pixels shared by neighbouring windows.
        block: output block side in pixels (≥ window); bounds peak memory.
        batch: windows per backend call.
        threshold: probability at or above which a pixel is a landslide; None
            takes the model's (chosen on validation during training).
        prob_dtype: "uint8" or "float32" (see :mod:`slidemap.outputs`).
        min_area_m2: drop polygons smaller than this.
        simplify_m: polygon simplification tolerance in metres (0 = none).
        overwrite: replace an existing output directory.
    """

    window: int = 256
    overlap: int = 64
    block: int = 2048
    batch: int = 4
    threshold: float | None = None
    prob_dtype: str = "uint8"
    min_area_m2: float = 0.0
    simplify_m: float = 0.0
    overwrite: bool = False

    def check(self) -> None:
        """Raises SlidemapError for an option out of range."""
        check_window(self.window, self.overlap)
        if self.block < self.window:
            raise SlidemapError(f"--block ({self.block}) must be at least --window ({self.window})")
        if self.batch < 1:
            raise SlidemapError(f"--batch must be at least 1, got {self.batch}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise SlidemapError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if self.prob_dtype not in PROB_DTYPES:
            raise SlidemapError(
                f"--prob-dtype must be one of {', '.join(PROB_DTYPES)}, got {self.prob_dtype!r}"
            )
        for flag, value in (("--min-area", self.min_area_m2), ("--simplify", self.simplify_m)):
            if not 0 <= value < math.inf:  # NaN too
                raise SlidemapError(f"{flag} must be a finite number, 0 or more, got {value}")


@dataclass(frozen=True)
class PredictSummary:
    """What a prediction produced.

    Attributes:
        out: the output directory.
        landslides: polygons written.
        area_km2: their total area.
        width, height: scene size in pixels.
        valid_pixels: pixels with data in every input.
        seconds: wall time from the first block read to the finished outputs.
        backend: e.g. "openvino fp32".
    """

    out: Path
    landslides: int
    area_km2: float
    width: int
    height: int
    valid_pixels: int
    seconds: float
    backend: str

    @property
    def mpx_per_s(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)

    def line(self) -> str:
        """The one-line summary the command prints."""
        return (
            f"{self.landslides} landslides, {self.area_km2:.3f} km², outputs in {self.out} "
            f"({self.width} x {self.height} px at {self.mpx_per_s:.2f} Mpx/s, {self.backend})"
        )


@dataclass
class SceneCounts:
    """Pixel counts for the checks made once the whole scene is read (they add up over blocks).

    Attributes:
        valid: pixels with data in every band and the DEM.
        image_valid: pixels with data in every image band.
        uncovered: pixels of ``image_valid`` outside the DEM.
    """

    valid: int = 0
    image_valid: int = 0
    uncovered: int = 0

    def add(self, other: SceneCounts) -> None:
        """Add ``other``'s counts to these."""
        self.valid += other.valid
        self.image_valid += other.image_valid
        self.uncovered += other.uncovered


def open_scene(inputs: SceneInputs, info: ModelInfo) -> Scene:
    """Open a scene's inputs and check its bands against the model's (before the slower
    backend set-up, so that bad inputs fail at once).

    Raises:
        SlidemapError: unreadable or inconsistent inputs, bands the model was not trained on.
    """
    scene = Scene(inputs)
    check_bands(info, scene.band_names, inputs.source)
    return scene


def predict_scene(
    backend: Backend,
    info: ModelInfo,
    scene: Scene,
    out: Path,
    options: PredictOptions | None = None,
) -> PredictSummary:
    """Map landslides over a whole scene into directory ``out`` (module docstring).

    Args:
        backend: runs the model (:func:`slidemap.backends.make_backend`).
        info: the model's bands, normalisation and threshold.
        scene: the opened scene (:func:`open_scene`).
        out: output directory to create.
        options: window, block, threshold, output options.

    Returns:
        A :class:`PredictSummary`.

    Raises:
        SlidemapError: bad options, inputs that do not fit the model (bands,
            DEM), unreadable or all-nodata inputs, ``out`` existing without
            ``overwrite``. Nothing is left in ``out`` then.
    """
    options = options or PredictOptions()
    options.check()
    check_writable_target(Path(out), options.overwrite, PREDICTION)
    check_bands(info, scene.band_names, scene.inputs.source)
    lay = layout(scene.grid.height, scene.grid.width, options.window, options.overlap)
    plans = plan_blocks(lay, options.block)
    threshold = info.threshold if options.threshold is None else options.threshold
    grid, label = scene.grid, f"{backend.name} {backend.precision}"
    with gdal_env(), atomic_dir(Path(out), PREDICTION, overwrite=options.overwrite) as tmp:
        start = time.perf_counter()
        predictor = BlockPredictor(backend, info, scene, lay.windows, options)
        quicklook = Quicklook(grid, rgb_channels(scene.band_names))
        writer = MapWriter(tmp, grid, options, threshold)
        with bar(
            total=grid.width * grid.height, desc="predict", unit="px", unit_scale=True
        ) as pbar:

            def compute(plan: BlockPlan, block: SceneBlock) -> np.ndarray:
                prob = predict_block(predictor, quicklook, plan, block)
                pbar.update(plan.core.height * plan.core.width)
                return prob

            def write(plan: BlockPlan, prob: np.ndarray) -> None:
                writer.write(plan.core, prob)

            try:
                for_each_block(scene, plans, compute, write)
            finally:
                writer.close()
        check_counts(predictor.counts, scene)
        writer.finish()
        quicklook.save(tmp / "quicklook.png", quicklook_title(label, threshold), threshold)
        seconds = time.perf_counter() - start
    return PredictSummary(
        out=Path(out),
        landslides=writer.polygons.count,
        area_km2=writer.polygons.area_m2 / 1e6,
        width=grid.width,
        height=grid.height,
        valid_pixels=predictor.counts.valid,
        seconds=seconds,
        backend=label,
    )


def gdal_env() -> rasterio.Env:
    """The GDAL settings of a prediction: a bounded block cache (:data:`GDAL_CACHE_BYTES`)."""
    return rasterio.Env(
        **({} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_BYTES})
    )


def for_each_block(
    scene: Scene,
    plans: Sequence[BlockPlan],
    compute: Callable[[BlockPlan, SceneBlock], Result],
    write: Callable[[BlockPlan, Result], None],
) -> None:
    """For every plan in order, ``compute(plan, block)`` with the block read at
    ``plan.read``, then ``write(plan, result)``.

    Three stages overlap, each in a thread of its own: the next block is read
    while the current one is computed (in the calling thread) and the previous
    result is written. Writes run one at a time in plan order, at most one block
    behind the computation, so one result waits in memory. An error in any stage
    stops the loop once the stages in flight are done, and is raised here.
    """
    if not plans:
        return
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="slidemap-read") as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="slidemap-write") as writer,
    ):
        pending: Future[SceneBlock] = reader.submit(scene.read, plans[0].read)
        written: Future[None] | None = None
        for index, plan in enumerate(plans):
            block = pending.result()
            if index + 1 < len(plans):
                pending = reader.submit(scene.read, plans[index + 1].read)
            result = compute(plan, block)
            del block  # its pixels are freed before waiting for the previous write
            if written is not None:
                written.result()
            written = writer.submit(write, plan, result)
        if written is not None:
            written.result()


def core_image(plan: BlockPlan, block: SceneBlock) -> np.ndarray:
    """(C, h, w) float32: the bands of ``block`` at the block's core (its output pixels)."""
    return block.image[(slice(None), *_within(plan.core, plan.read))]


def predict_block(
    predictor: BlockPredictor, quicklook: Quicklook, plan: BlockPlan, block: SceneBlock
) -> np.ndarray:
    """Probabilities at ``plan.core`` (:meth:`BlockPredictor.predict`), with the block's
    backdrop and probabilities sampled into ``quicklook``.

    The backdrop is sampled first: the prediction normalises ``block.image`` in place.
    """
    quicklook.add_backdrop(plan.core, core_image(plan, block))
    prob = predictor.predict(plan, block)
    quicklook.add_probability(plan.core, prob)
    return prob


def quicklook_title(backend: str, threshold: float) -> str:
    """The title line of quicklook.png; ``backend`` e.g. "openvino fp32"."""
    return f"landslide probability ({backend}); cyan: edge of probability >= {threshold:.2f}"


class BlockPredictor:
    """Blended probabilities of output blocks, each window of the layout run once.

    Args:
        backend: runs the model.
        info: the model's normalisation.
        scene: the scene the blocks come from (for the DEM checks).
        windows: the windows the plans' indices refer to (grid pixels).
        options: window size and batch.

    Attributes:
        counts: pixel counts over the blocks predicted so far.
    """

    def __init__(
        self,
        backend: Backend,
        info: ModelInfo,
        scene: Scene,
        windows: Sequence[Window],
        options: PredictOptions,
    ) -> None:
        self.backend, self.scene, self.windows, self.options = backend, scene, windows, options
        self.norm = Normalization(info.mean, info.std)
        self.cache: dict[int, np.ndarray | None] = {}
        self.counts = SceneCounts()

    def predict(self, plan: BlockPlan, block: SceneBlock) -> np.ndarray:
        """Probabilities at ``plan.core``: (h, w) float32, NaN at nodata and outside the AOI.

        Args:
            plan: the block's plan (plans must come in their planned order).
            block: the scene read at ``plan.read``; its ``image`` is normalised in
                place (no copy of the block), so its reflectance is gone afterwards.

        Raises:
            SlidemapError: the DEM already misses more than 0.5 % of the scene.
        """
        box, core = plan.read, plan.core
        valid = np.isfinite(block.image).all(axis=0) & block.inside
        inner = _within(core, box)
        core_valid = valid[inner]
        self._count(block, inner, core_valid)  # before the compute: fail early
        todo = []
        for i in plan.compute:
            if valid[_within(self.windows[i], box)].any():
                todo.append(i)
            else:
                self.cache[i] = None  # only nodata under it: nothing to compute
        if todo:
            image = self.norm.apply(block.image, out=block.image)
            origin = (box.row_off, box.col_off)
            chosen = [self.windows[i] for i in todo]
            probs = window_probabilities(self.backend, image, chosen, self.options.batch, origin)
            for i, (_, prob) in zip(todo, probs, strict=True):
                self.cache[i] = prob
        blender = Blender(core, self.options.window)
        for i in plan.blend:
            cached = self.cache[i]
            if cached is not None:
                blender.add(self.windows[i], cached)
        for i in plan.release:
            del self.cache[i]
        prob = blender.probabilities()
        prob[~core_valid] = np.nan
        return prob

    def _count(self, block: SceneBlock, inner: tuple[slice, slice], core_valid: np.ndarray) -> None:
        """Count valid and DEM-less pixels; fail early once the DEM surely misses too much."""
        n_image = self.scene.image_bands
        image_valid = np.isfinite(block.image[:n_image][(slice(None), *inner)]).all(axis=0)
        image_valid &= block.inside[inner]
        self.counts.valid += int(core_valid.sum())
        self.counts.image_valid += int(image_valid.sum())
        self.counts.uncovered += int((image_valid & ~block.covered[inner]).sum())
        grid = self.scene.grid
        if self.counts.uncovered > MAX_UNCOVERED * grid.width * grid.height:
            raise _uncovered(self.counts, self.scene)


def check_counts(counts: SceneCounts, scene: Scene) -> None:
    """Refuse a scene without valid pixels or a DEM missing > 0.5 % of them.

    Args:
        counts: the counts over every block of the scene.
        scene: the scene (named in the messages).

    Raises:
        SlidemapError: either problem.
    """
    if counts.uncovered > MAX_UNCOVERED * counts.image_valid:
        raise _uncovered(counts, scene)
    if counts.valid == 0:
        with_dem = " and the DEM" if scene.dem is not None else ""
        inside = f" inside the AOI {scene.inputs.aoi}" if scene.aoi is not None else ""
        raise SlidemapError(
            f"{scene.inputs.source}: no pixel has valid data in every band{with_dem}{inside} "
            "(all nodata); check the band files and their nodata value"
            + (", and that the AOI covers a pixel centre" if inside else "")
        )


def _uncovered(counts: SceneCounts, scene: Scene) -> SlidemapError:
    dem = cast(DemSlope, scene.dem)  # pixels are only uncovered with a DEM
    share = counts.uncovered / max(counts.image_valid, 1)
    return uncovered_error(dem.path, dem.grid, scene.grid, share)


class MapWriter:
    """probability.tif, mask.tif and landslides.gpkg in ``folder``, block by block.

    Blocks must come in row-major order of ``block`` × ``block`` cores (the
    polygons are merged across block edges as they come).

    Args:
        folder: the (temporary) output directory.
        grid: the scene's grid.
        options: probability encoding, polygon options.
        threshold: probability at or above which a pixel is a landslide.
    """

    def __init__(self, folder: Path, grid: Grid, options: PredictOptions, threshold: float) -> None:
        self.threshold, self.prob_dtype = threshold, options.prob_dtype
        nodata = UINT8_NODATA if options.prob_dtype == "uint8" else float("nan")
        self.prob = CogWriter(
            folder / "probability.tif",
            grid,
            options.prob_dtype,
            nodata,
            "landslide probability",
            "average",
        )
        self.mask = CogWriter(
            folder / "mask.tif", grid, "uint8", MASK_NODATA, "landslide mask", "nearest"
        )
        self.polygons = Polygonizer(
            folder / "landslides.gpkg", grid, options.min_area_m2, options.simplify_m
        )

    def write(self, core: Window, prob: np.ndarray) -> None:
        """Write (h, w) float32 probabilities (NaN nodata) at ``core`` to every output."""
        self.prob.write(core, encode_probability(prob, self.prob_dtype))
        self.mask.write(core, encode_mask(prob, self.threshold))
        self.polygons.add(core, np.nan_to_num(prob) >= self.threshold, prob)

    def close(self) -> None:
        """Close the rasters (after an error: ``finish`` is not called then)."""
        self.prob.close()
        self.mask.close()

    def finish(self) -> None:
        """Convert the rasters to COGs and write the last polygons."""
        self.prob.finish()
        self.mask.finish()
        self.polygons.finish()


def _within(win: Window, box: Window) -> tuple[slice, slice]:
    """Slices of ``win`` inside an array holding grid pixels ``box``."""
    return (
        slice(win.row_off - box.row_off, win.row_off - box.row_off + win.height),
        slice(win.col_off - box.col_off, win.col_off - box.col_off + win.width),
    )
