"""Whole-scene prediction on Dask: row bands predicted by workers, outputs assembled here.

:func:`predict_scene_distributed` gives the outputs of
:func:`slidemap.predict.predict_scene`, with the model run on the workers of a
Dask cluster (:mod:`slidemap.cluster`)::

    spec = ModelSpec(Path("runs/unet64"), backend="auto")
    summary = predict_scene_distributed(spec, info, scene, Path("out"), options, workers=2)

* **Bands.** The scene is cut into row bands, one row of ``block`` ×
  ``block`` output blocks each: ``ceil(height / block)`` tasks.
* **Workers.** A worker loads the model (every worker must see the run,
  the inputs and the output directory at the same absolute paths) and
  predicts its band like single-process prediction predicts a block row: the
  whole scene's window layout, every window overlapping the band blended
  with the same weights in the same order. Windows reaching into the band
  from above are read and run again there (the halo, less than one window
  high), so bands have no seams. The band's probabilities go to a float32
  GeoTIFF part in ``parts/`` of the temporary output directory; the task
  returns its pixel counts and its rows of the quick-look.
* **Assembly.** As parts arrive, in band order, this process reads each one
  block by block and writes the blocks to probability.tif, mask.tif and
  landslides.gpkg exactly as single-process prediction does (polygons are
  merged across band edges like across block edges), then deletes the part.
  Memory stays bounded by the block size; nothing holds the whole scene.

Work grows with the halo: each band runs again the windows straddling its
top edge, about ``window / block`` more than one process (12 % for the
defaults 256 and 2048). A worker keeps the backend it built for its next
bands. A worker that dies has its band run again (Dask
retries; a part is written under a temporary name and renamed).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np
import rasterio
from affine import Affine

from slidemap.backends import Backend, make_backend
from slidemap.blocks import BlockPlan, plan_blocks
from slidemap.checkpoint import ModelInfo, check_bands, load_model, resolve_checkpoint
from slidemap.cluster import check_workers, cpu_cores, dask_client, import_dask
from slidemap.errors import SlidemapError
from slidemap.infer import Layout, layout
from slidemap.io.atomic import atomic_dir, check_writable_target
from slidemap.io.grid import Grid
from slidemap.io.rasters import GTIFF_PROFILE
from slidemap.outputs import Quicklook, rgb_channels
from slidemap.predict import (
    PREDICTION,
    BlockPredictor,
    MapWriter,
    PredictOptions,
    PredictSummary,
    SceneCounts,
    check_counts,
    for_each_block,
    gdal_env,
    predict_block,
    quicklook_title,
)
from slidemap.progress import bar
from slidemap.scene import Scene, SceneBlock, SceneInputs
from slidemap.tiling import Window

#: Dask retries of a band whose task raised an unexpected exception.
RETRIES = 2

#: The backend a worker thread built last, kept for its next bands (:func:`_backend`).
_built = threading.local()


@dataclass(frozen=True)
class ModelSpec:
    """How a worker builds the model and its backend.

    Attributes:
        run: run directory (its best.pt) or checkpoint file.
        backend: "auto", "torch", "onnx" or "openvino".
        precision: "fp32" or "bf16".
        threads: inference threads per task; None: the runtime's default.
    """

    run: Path
    backend: str = "auto"
    precision: str = "fp32"
    threads: int | None = None

    def build(self) -> tuple[Backend, ModelInfo]:
        """Load the model and wrap it in the backend (on the worker).

        Raises:
            SlidemapError: see :func:`slidemap.checkpoint.load_model` and
                :func:`slidemap.backends.make_backend`.
        """
        model, info = load_model(self.run)
        return make_backend(model, info, self.backend, self.precision, self.threads), info


@dataclass(frozen=True)
class BandTask:
    """One row band to predict on a worker.

    Attributes:
        index: band number, from the top.
        top, bottom: its grid rows ``[top, bottom)``.
        model: what to run.
        inputs: the scene's inputs (absolute paths).
        options: the prediction options.
        part: the GeoTIFF to write the band's probabilities to.
    """

    index: int
    top: int
    bottom: int
    model: ModelSpec
    inputs: SceneInputs
    options: PredictOptions
    part: Path


@dataclass(frozen=True)
class BandResult:
    """What a band task returns besides its part.

    Attributes:
        index: band number.
        counts: pixel counts over the band.
        quicklook_prob: (q, w) float32, the band's rows of the quick-look probability.
        quicklook_backdrop: (q, w, c) float32, and of its backdrop.
        backend: e.g. "openvino fp32".
    """

    index: int
    counts: SceneCounts
    quicklook_prob: np.ndarray
    quicklook_backdrop: np.ndarray
    backend: str


def band_rows(height: int, block: int) -> list[tuple[int, int]]:
    """``(top, bottom)`` grid rows of each band: one row of ``block`` px blocks each."""
    return [(top, min(top + block, height)) for top in range(0, height, block)]


def band_plans(
    lay: Layout, top: int, bottom: int, block: int
) -> tuple[tuple[Window, ...], list[BlockPlan]]:
    """The windows that grid rows ``[top, bottom)`` blend, and the plans of the band's blocks.

    The band is planned as an image of its own (:func:`slidemap.blocks.plan_blocks`)
    holding the scene layout's windows that overlap it, in layout order; the
    windows reaching in from above are computed by its first blocks (the halo).

    Args:
        lay: the whole scene's window layout.
        top, bottom: the band's grid rows.
        block: output block side in pixels.

    Returns:
        ``(windows, plans)`` in grid pixels; plan indices refer to ``windows``.
    """
    windows = tuple(w for w in lay.windows if w.row_off < bottom and w.row_off + w.height > top)
    local = replace(
        lay,
        height=bottom - top,
        padded=_down(lay.padded, -top),
        windows=tuple(_down(w, -top) for w in windows),
    )
    plans = [
        replace(plan, core=_down(plan.core, top), read=_down(plan.read, top))
        for plan in plan_blocks(local, block)
    ]
    return windows, plans


def predict_band(task: BandTask) -> BandResult | str:
    """Predict one band on a worker and write its part (module docstring).

    Returns:
        The :class:`BandResult`, or the message of a user error (returned, not
        raised, so that Dask does not retry it).
    """
    try:
        with gdal_env():
            return _predict_band(task)
    except SlidemapError as exc:
        return str(exc)


def _backend(spec: ModelSpec) -> tuple[Backend, ModelInfo]:
    """``spec.build()``, reused by the worker thread for the next bands of the same model.

    Building can take seconds (OpenVINO compiles the model). The key includes
    the checkpoint's size and modification time, so a retrained model is
    loaded again; each worker thread has its own backend (backends are not
    thread-safe).
    """
    try:
        stat = resolve_checkpoint(spec.run).stat()
    except OSError:
        return spec.build()  # raises the error that names the missing checkpoint
    key = (spec, stat.st_size, stat.st_mtime_ns)
    if getattr(_built, "key", None) != key:
        _built.key, _built.value = None, None  # release the old backend before building
        _built.value = spec.build()
        _built.key = key
    return _built.value


def _predict_band(task: BandTask) -> BandResult:
    backend, info = _backend(task.model)
    scene = Scene(task.inputs)
    grid, options = scene.grid, task.options
    lay = layout(grid.height, grid.width, options.window, options.overlap)
    windows, plans = band_plans(lay, task.top, task.bottom, options.block)
    predictor = BlockPredictor(backend, info, scene, windows, options)
    quicklook = Quicklook(grid, rgb_channels(scene.band_names))
    band = Grid(
        grid.crs,
        grid.transform @ Affine.translation(0, task.top),
        grid.width,
        task.bottom - task.top,
    )
    # no parent directories are made: after a failed run the temporary output is gone
    partial = task.part.with_name(
        f".{task.part.name}.{os.getpid()}-{threading.get_ident()}.partial"
    )
    try:
        with rasterio.open(partial, "w", **_part_profile(band)) as part:

            def compute(plan: BlockPlan, block: SceneBlock) -> np.ndarray:
                return predict_block(predictor, quicklook, plan, block)

            def write(plan: BlockPlan, prob: np.ndarray) -> None:
                core = plan.core
                at = Window(core.row_off - task.top, core.col_off, core.height, core.width)
                part.write(prob, 1, window=at.to_rasterio())

            for_each_block(scene, plans, compute, write)
        os.replace(partial, task.part)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    q0, q1 = -(-task.top // quicklook.step), -(-task.bottom // quicklook.step)
    return BandResult(
        task.index,
        predictor.counts,
        quicklook.prob[q0:q1].copy(),
        quicklook.backdrop[q0:q1].copy(),
        f"{backend.name} {backend.precision}",
    )


def predict_scene_distributed(
    model: ModelSpec,
    info: ModelInfo,
    scene: Scene,
    out: Path,
    options: PredictOptions | None = None,
    workers: int = 2,
    scheduler: str | None = None,
) -> PredictSummary:
    """Map landslides over a whole scene into ``out`` with Dask workers (module docstring).

    Args:
        model: the model and backend the workers run; ``threads`` defaults to
            the cores over ``workers`` on a LocalCluster.
        info: the model's bands and threshold (:func:`slidemap.checkpoint.load_model`).
        scene: the opened scene (:func:`slidemap.predict.open_scene`).
        out: output directory to create.
        options: as for :func:`slidemap.predict.predict_scene`.
        workers: processes of a new LocalCluster (with ``scheduler`` None).
        scheduler: address of a running Dask scheduler instead.

    Returns:
        A :class:`~slidemap.predict.PredictSummary`; the outputs equal
        :func:`~slidemap.predict.predict_scene`'s.

    Raises:
        SlidemapError: as :func:`~slidemap.predict.predict_scene`; bad
            ``workers``/``scheduler``, Dask missing or unreachable, a worker
            dying repeatedly. Nothing is left in ``out`` then.
    """
    options = options or PredictOptions()
    options.check()
    check_workers(workers, scheduler)
    if model.threads is not None and model.threads < 1:
        raise SlidemapError(f"--threads must be at least 1, got {model.threads}")
    check_writable_target(Path(out), options.overwrite, PREDICTION)
    check_bands(info, scene.band_names, scene.inputs.source)
    distributed = import_dask()
    threads = model.threads
    if threads is None and scheduler is None:
        threads = max(1, cpu_cores() // workers)
    spec = replace(model, run=Path(model.run).resolve(), threads=threads)
    threshold = info.threshold if options.threshold is None else options.threshold
    grid, inputs = scene.grid, _absolute(scene.inputs)
    with gdal_env(), atomic_dir(Path(out), PREDICTION, overwrite=options.overwrite) as tmp:
        start = time.perf_counter()
        parts = tmp / "parts"
        parts.mkdir()
        tasks = [
            BandTask(i, top, bottom, spec, inputs, options, parts / f"band-{i:05d}.tif")
            for i, (top, bottom) in enumerate(band_rows(grid.height, options.block))
        ]
        assembly = _Assembly(tmp, scene, options, threshold)
        with (
            dask_client(workers, scheduler) as client,
            bar(total=grid.width * grid.height, desc="predict", unit="px", unit_scale=True) as pbar,
        ):
            futures = {
                client.submit(predict_band, task, retries=RETRIES, pure=False): task
                for task in tasks
            }
            try:
                for future in distributed.as_completed(futures):
                    task = futures[future]
                    pbar.update(assembly.add(tasks, _outcome(future, task, distributed)))
            finally:
                client.cancel(list(futures))
                assembly.writer.close()
        check_counts(assembly.counts, scene)
        assembly.writer.finish()
        parts.rmdir()
        assembly.quicklook.save(
            tmp / "quicklook.png", quicklook_title(assembly.backend, threshold), threshold
        )
        seconds = time.perf_counter() - start
    return PredictSummary(
        out=Path(out),
        landslides=assembly.writer.polygons.count,
        area_km2=assembly.writer.polygons.area_m2 / 1e6,
        width=grid.width,
        height=grid.height,
        valid_pixels=assembly.counts.valid,
        seconds=seconds,
        backend=assembly.backend,
    )


class _Assembly:
    """The outputs, filled from the bands' parts in band order as they arrive."""

    def __init__(
        self, folder: Path, scene: Scene, options: PredictOptions, threshold: float
    ) -> None:
        self.grid, self.block = scene.grid, options.block
        self.writer = MapWriter(folder, scene.grid, options, threshold)
        self.quicklook = Quicklook(scene.grid, rgb_channels(scene.band_names))
        self.counts = SceneCounts()
        self.backend = ""
        self.arrived: dict[int, BandResult] = {}
        self.next = 0

    def add(self, tasks: list[BandTask], result: BandResult) -> int:
        """Take ``result``; copy every band now due (all earlier ones copied); returns the
        pixels copied."""
        self.arrived[result.index] = result
        pixels = 0
        while self.next in self.arrived:
            task, done = tasks[self.next], self.arrived.pop(self.next)
            self._copy(task)
            q0 = -(-task.top // self.quicklook.step)
            q1 = q0 + len(done.quicklook_prob)
            self.quicklook.prob[q0:q1] = done.quicklook_prob
            self.quicklook.backdrop[q0:q1] = done.quicklook_backdrop
            self.counts.add(done.counts)
            self.backend = done.backend
            pixels += (task.bottom - task.top) * self.grid.width
            self.next += 1
        return pixels

    def _copy(self, task: BandTask) -> None:
        """Write the band's part to the outputs block by block (the single-process blocks),
        then delete it."""
        width, block = self.grid.width, self.block
        with rasterio.open(task.part) as src:
            for top in range(task.top, task.bottom, block):
                for left in range(0, width, block):
                    core = Window(
                        top, left, min(block, task.bottom - top), min(block, width - left)
                    )
                    at = Window(top - task.top, left, core.height, core.width)
                    self.writer.write(core, src.read(1, window=at.to_rasterio()))
        task.part.unlink()


def _outcome(future: Any, task: BandTask, distributed: ModuleType) -> BandResult:
    """The result of a band's future.

    Raises:
        SlidemapError: the band failed with a user error, or its worker kept dying.
    """
    try:
        outcome = future.result()
    except distributed.KilledWorker as exc:
        raise SlidemapError(
            f"rows {task.top}-{task.bottom}: their Dask worker died repeatedly ({exc}); out of "
            "memory? Use a smaller --block or fewer --workers and run again"
        ) from exc
    if isinstance(outcome, str):
        raise SlidemapError(outcome)
    return cast(BandResult, outcome)


def _part_profile(band: Grid) -> dict[str, Any]:
    """GeoTIFF profile of a band's part: float32 probability, NaN nodata, lossless."""
    profile: dict[str, Any] = dict(GTIFF_PROFILE)
    profile.update(
        count=1,
        height=band.height,
        width=band.width,
        dtype="float32",
        nodata=float("nan"),
        crs=band.crs,
        transform=band.transform,
        predictor=3,
    )
    return profile


def _down(win: Window, rows: int) -> Window:
    """``win`` moved ``rows`` rows down (up when negative)."""
    return Window(win.row_off + rows, win.col_off, win.height, win.width)


def _absolute(inputs: SceneInputs) -> SceneInputs:
    """``inputs`` with absolute paths, so that workers started elsewhere find them."""
    bands = inputs.bands

    def absolute(path: Path | None) -> Path | None:
        return None if path is None else Path(path).resolve()

    files = None if bands.files is None else tuple((n, Path(f).resolve()) for n, f in bands.files)
    bands = replace(
        bands,
        files=files,
        stack=absolute(bands.stack),
        product=absolute(bands.product),
        metadata=absolute(bands.metadata),
    )
    dem = None if inputs.dem is None else replace(inputs.dem, path=Path(inputs.dem.path).resolve())
    return replace(inputs, bands=bands, dem=dem, aoi=absolute(inputs.aoi))
