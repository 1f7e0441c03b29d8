"""Score a trained model on the held-out test parts of prepared areas (paper: P, R, F1).

Two ways to predict the test part (``EvalOptions.mode``):

* ``whole`` (default): sliding windows (``window``, ``overlap``, blended, see
  :mod:`slidemap.infer`) over the whole area image, so windows near the edge
  of the test part see the neighbouring image as context; only windows
  touching the test part are run, and only test pixels are scored. No label
  of the train part is used.
* ``patches``: the paper's protocol — the regular grid of non-overlapping
  windows of the checkpoint's patch size laid over the test part's bounding
  box, keeping the windows entirely inside the test part; test pixels not
  covered by such a window are not scored.

A pixel is scored when it is in the test part (split code 2), its label is
known (not 255) and every band is finite. The image is normalised exactly as
in training (:class:`slidemap.data.Normalization`, NaN → 0) and a pixel is a
landslide when its probability is at least the threshold (the checkpoint's,
picked on validation, unless ``threshold`` is given).

Output directory (written atomically)::

    <area>/metrics.json   counts, precision, recall, f1, iou, mcc, kappa (NaN → null),
                          object metrics, threshold, mode, …
    <area>/confusion.tif  uint8 TP/FP/FN codes on the area's grid (see slidemap.confusion)
    <area>/map.png        the TP/FP/FN map of the test part
    summary.json          every area's metrics and all test parts together ("all":
                          summed counts and object counts)
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from slidemap import __version__
from slidemap.area import LABEL_NODATA, TEST, PreparedArea, load_area, read_meta
from slidemap.checkpoint import ModelInfo, check_bands, load_model, resolve_checkpoint
from slidemap.confusion import confusion_codes, draw_map, write_confusion_tif
from slidemap.data import Normalization, unlabelled
from slidemap.errors import SlidemapError
from slidemap.infer import check_window, predict_probabilities, window_probabilities
from slidemap.io.atomic import OutputKind, atomic_dir, check_writable_target
from slidemap.metrics import Counts, f1, iou, kappa, mcc, precision, recall
from slidemap.objects import (
    DEFAULT_IOU,
    DEFAULT_SIZE_EDGES_M2,
    ObjectCounts,
    empty_object_counts,
    object_counts,
)
from slidemap.progress import track
from slidemap.terrain import pixel_size_m
from slidemap.tiling import Window, grid_windows

if TYPE_CHECKING:
    from slidemap.backends import Backend

log = logging.getLogger("slidemap")

MODES = ("whole", "patches")
#: The name of all test parts counted together.
ALL = "all"
#: The output directory of an evaluation.
EVALUATION = OutputKind("an evaluation", "summary.json")


@dataclass(frozen=True)
class EvalOptions:
    """How to predict and score the test parts.

    Attributes:
        mode: "whole" or "patches" (module docstring).
        window, overlap: sliding windows of the whole mode, in pixels (checked, and
            used, in that mode only).
        threshold: probability at or above which a pixel is a landslide; None
            takes the checkpoint's.
        batch: windows per model call.
        iou_threshold: object matching threshold (:mod:`slidemap.objects`).
        size_edges_m2: object size class edges in m².
    """

    mode: str = "whole"
    window: int = 256
    overlap: int = 64
    threshold: float | None = None
    batch: int = 4
    iou_threshold: float = DEFAULT_IOU
    size_edges_m2: tuple[float, ...] = DEFAULT_SIZE_EDGES_M2

    def __post_init__(self) -> None:
        object.__setattr__(self, "size_edges_m2", tuple(float(e) for e in self.size_edges_m2))
        if self.mode not in MODES:
            raise SlidemapError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "whole":  # the patches mode uses the model's training window
            check_window(self.window, self.overlap)
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise SlidemapError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if self.batch < 1:
            raise SlidemapError(f"--batch must be at least 1, got {self.batch}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise SlidemapError(f"IoU threshold must be in (0, 1], got {self.iou_threshold}")
        edges = self.size_edges_m2
        if any(e <= 0 for e in edges) or list(edges) != sorted(set(edges)):
            raise SlidemapError(f"size class edges must be positive and increasing, got {edges}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options."""
        return {
            "mode": self.mode,
            "window": self.window,
            "overlap": self.overlap,
            "threshold": self.threshold,
            "batch": self.batch,
            "iou_threshold": self.iou_threshold,
            "size_edges_m2": list(self.size_edges_m2),
        }


@dataclass(frozen=True)
class Scores:
    """Pixel and object counts of one test set; every metric is computed from them."""

    counts: Counts
    objects: ObjectCounts

    def __add__(self, other: Scores) -> Scores:
        return Scores(self.counts + other.counts, self.objects + other.objects)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts, the pixel metrics (NaN → None) and the object metrics."""
        c = self.counts
        return {
            "counts": {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn},
            "pixels": c.total,
            **{
                name: _json_float(fn(c))
                for name, fn in (
                    ("precision", precision),
                    ("recall", recall),
                    ("f1", f1),
                    ("iou", iou),
                    ("mcc", mcc),
                    ("kappa", kappa),
                )
            },
            "objects": self.objects.to_dict(),
        }


@dataclass(frozen=True)
class EvalSummary:
    """What :func:`evaluate_run` measured.

    Attributes:
        out: the output directory.
        info: the evaluated model.
        threshold: the threshold used.
        options: the options used.
        areas: area name → scores, in the order given.
        all: all test parts together (summed counts).
    """

    out: Path
    info: ModelInfo
    threshold: float
    options: EvalOptions
    areas: dict[str, Scores]
    all: Scores


def evaluate_run(
    run: Path,
    areas: Sequence[Path],
    out: Path,
    options: EvalOptions | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    names: Sequence[str] | None = None,
) -> EvalSummary:
    """Evaluate the best checkpoint of ``run`` on the test parts of ``areas``; write ``out``.

    Args:
        run: a run directory written by ``slidemap train`` (or a checkpoint file).
        areas: prepared area directories; their names must differ.
        out: output directory (module docstring), written atomically.
        options: prediction and scoring options.
        overwrite: replace an existing ``out``.
        threads: torch CPU threads; None keeps torch's setting.
        names: the areas' names in the output, one per area; default: the
            names in their ``area.json``.

    Returns:
        The scores per area and of all areas together.

    Raises:
        SlidemapError: missing run or area, an area whose bands differ from the
            model's, an area without test pixels (or, in patches mode, without a
            window inside its test part), duplicate area names, ``out`` exists.
    """
    from slidemap.backends import make_backend

    options = options or EvalOptions()
    if not areas:
        raise SlidemapError("give at least one --area")
    if not Path(run).exists():
        raise SlidemapError(
            f"run not found: {run}; give a run directory written by 'slidemap train'"
        )
    check_writable_target(Path(out), overwrite, EVALUATION)
    metas = [read_meta(Path(a)) for a in areas]
    names = [m.name for m in metas] if names is None else list(names)
    if len(names) != len(areas):
        raise ValueError(f"{len(names)} names for {len(areas)} areas")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SlidemapError(
            f"several --area directories are named {', '.join(duplicates)}; their results "
            "would overwrite each other, give each area once"
        )
    model, info = load_model(Path(run), "best", "cpu")
    for path, meta in zip(areas, metas, strict=True):
        check_bands(info, meta.band_names, f"area {path}")
    backend = make_backend(model, info, "torch", threads=threads)
    threshold = info.threshold if options.threshold is None else options.threshold
    header = {
        "run": str(Path(run).resolve()),
        "checkpoint": str(resolve_checkpoint(Path(run), "best").resolve()),
        "model": info.model_name,
        "patch_px": info.patch_px,
        "band_names": list(info.band_names),
        **_mode_fields(options, info),
        "threshold": threshold,
        "iou_threshold": options.iou_threshold,
        "slidemap_version": __version__,
    }
    evaluator = _Evaluator(backend, info, threshold, options, header)
    scores: dict[str, Scores] = {}
    with atomic_dir(Path(out), EVALUATION, overwrite=overwrite) as tmp:
        pairs = list(zip(names, areas, strict=True))
        for name, path in track(pairs, total=len(pairs), desc="evaluate", unit="area"):
            scores[name] = evaluator.evaluate(load_area(Path(path)), name, tmp / name)
        total = sum(
            scores.values(),
            Scores(Counts(), empty_object_counts(options.iou_threshold, options.size_edges_m2)),
        )
        areas_json = {name: s.to_dict() for name, s in scores.items()}
        _write_json(tmp / "summary.json", {**header, "areas": areas_json, ALL: total.to_dict()})
    return EvalSummary(Path(out), info, threshold, options, scores, total)


@dataclass(frozen=True)
class _Evaluator:
    """A loaded model with its threshold and options; :meth:`evaluate` does one area."""

    backend: Backend
    info: ModelInfo
    threshold: float
    options: EvalOptions
    header: dict[str, Any]

    def evaluate(self, area: PreparedArea, name: str, folder: Path) -> Scores:
        """Predict and score the test part of ``area``; write ``folder`` (module docstring)."""
        probability, scored = predict_test_part(self.backend, self.info, area, self.options)
        pred = probability >= self.threshold
        ref = area.label == 1
        scores = score(pred, ref, scored, area, self.options)
        folder.mkdir()
        meta = {"area": name, "area_dir": str(area.path.resolve()), **self.header}
        _write_json(folder / "metrics.json", {**meta, **scores.to_dict()})
        codes = confusion_codes(pred, ref, scored)
        write_confusion_tif(folder / "confusion.tif", codes, area.meta)
        c = scores.counts
        title = (
            f"{name}: {self.info.model_name} {self.info.patch_px} px ({self.options.mode}), "
            f"F1 {_fmt(f1(c))}, P {_fmt(precision(c))}, R {_fmt(recall(c))}"
        )
        draw_map(folder / "map.png", area.image, codes, area.meta, test_extent(area), title)
        log.info("%s", title)
        return scores


def predict_test_part(
    backend: Backend, info: ModelInfo, area: PreparedArea, options: EvalOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Landslide probabilities over the test part of ``area`` and the pixels to score.

    Args:
        backend: maps (N, C, h, w) float32 normalised windows to (N, 1, h, w) logits.
        info: the model's :class:`~slidemap.checkpoint.ModelInfo` (normalisation, patch size).
        area: a loaded prepared area with the model's bands.
        options: mode, windows, batch.

    Returns:
        ``(probability, scored)``: (H, W) float32, NaN where not predicted, and
        (H, W) bool, the pixels to score (module docstring).

    Raises:
        SlidemapError: the area has no test pixel, no valid test pixel, or (patches
            mode) no window inside its test part.
    """
    test = area.split == TEST
    if not test.any():
        raise SlidemapError(
            f"area {area.path} has no test pixels (split code 2); prepare it with a "
            "train/test split"
        )
    if (area.label[test] == LABEL_NODATA).all():
        raise SlidemapError(unlabelled(area, "test"))
    scored = test & area.valid
    if not scored.any():
        raise SlidemapError(
            f"area {area.path}: every pixel of its test part is nodata (no finite image "
            "value with a known label); nothing to evaluate"
        )
    image = Normalization(info.mean, info.std).apply(area.image)
    if options.mode == "whole":
        probability = predict_probabilities(
            backend, image, options.window, options.overlap, options.batch, valid=test
        )
        return probability, scored
    windows = test_windows(area, info.patch_px)
    if not windows:
        box = test_extent(area)
        raise SlidemapError(
            f"area {area.path}: no {info.patch_px} x {info.patch_px} px window fits in its "
            f"test part ({box.height} x {box.width} px bounding box); use --mode whole"
        )
    probability = np.full(test.shape, np.nan, np.float32)
    for win, prob in window_probabilities(backend, image, windows, options.batch):
        probability[win.slices] = prob
    return probability, scored & np.isfinite(probability)


def test_windows(area: PreparedArea, patch: int) -> list[Window]:
    """The paper's regular grid of ``patch`` windows entirely inside the test part of ``area``.

    The grid starts at the top-left corner of the test part's bounding box.
    """
    test = area.split == TEST
    box = test_extent(area)
    out = []
    for w in grid_windows(box.height, box.width, patch):
        win = Window(box.row_off + w.row_off, box.col_off + w.col_off, patch, patch)
        if test[win.slices].all():
            out.append(win)
    return out


def test_extent(area: PreparedArea) -> Window:
    """Bounding box of the test part of ``area`` (the whole area when it has none)."""
    test = area.split == TEST
    if not test.any():
        return Window(0, 0, *test.shape)
    rows = np.flatnonzero(test.any(axis=1))
    cols = np.flatnonzero(test.any(axis=0))
    return Window(
        int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    )


def score(
    pred: np.ndarray,
    ref: np.ndarray,
    scored: np.ndarray,
    area: PreparedArea,
    options: EvalOptions,
) -> Scores:
    """Pixel and object counts of ``pred`` against ``ref`` over the ``scored`` pixels.

    Args:
        pred, ref, scored: (H, W) bool.
        area: the area (its grid gives the pixel areas in m² for the object size classes).
        options: object matching options.
    """
    dx_m, dy_m = pixel_size_m(ref.shape, area.meta.affine, area.meta.crs)
    return Scores(
        Counts.from_arrays(pred, ref, scored),
        object_counts(
            pred,
            ref,
            scored,
            pixel_area_m2=dx_m * dy_m,
            iou_threshold=options.iou_threshold,
            size_edges_m2=options.size_edges_m2,
        ),
    )


def _mode_fields(options: EvalOptions, info: ModelInfo) -> dict[str, Any]:
    """mode, window and overlap as used (patches mode: the checkpoint's patch, no overlap)."""
    if options.mode == "patches":
        return {"mode": "patches", "window": info.patch_px, "overlap": 0}
    return {"mode": "whole", "window": options.window, "overlap": options.overlap}


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"
