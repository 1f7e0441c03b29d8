"""The report's figures as PNG bytes (matplotlib, Agg canvas, no pyplot state).

* :func:`fig_scenarios` — the paper's Fig 10: mean F1 per training scenario,
  test set and model (mean over window sizes).
* :func:`fig_window_sizes` — Fig 11: mean F1 per window size in every scenario
  (mean over the test sets of the scenario's table).
* :func:`fig_transfer_matrix` — training scenario × test set F1 heatmap per model.
* :func:`fig_training_curves` — train/validation loss of every job.
* :func:`fig_maps` — Figs 6–9, 12: the TP/FP/FN maps of one scenario side by side.

Every value is first averaged within a seed, then over seeds (error bars: sample
standard deviation over seeds, drawn only with two or more seeds).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from slidemap.confusion import COLOURS, FN, FP, LABELS, NOT_EVALUATED, TN, TP, coarsen_codes
from slidemap.report.jobs import Curve, Job, confusion_path, experiment_jobs
from slidemap.report.results import ExperimentResults, model_label
from slidemap.report.stats import Stat, grouped

DPI = 100
MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b")
Color = str | tuple[float, float, float]
#: Narrowest figure, in inches, so that titles and legends fit.
MIN_WIDTH_IN = 7.0
#: Longest side, in pixels, of a TP/FP/FN map in the map figures.
MAP_THUMB_PX = 360


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _panels(n: int, width: float, height: float, ncols: int = 4) -> tuple[Figure, list[Axes]]:
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(max(width * ncols, MIN_WIDTH_IN), height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _bars(
    ax: Axes, groups: list[str], series: Sequence[tuple[str, Color, list[Stat | None]]]
) -> None:
    """Grouped bars: ``series`` = (label, colour, one value per group); NaN bars are omitted."""
    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    for i, (label, color, stats) in enumerate(series):
        means = [s.mean if s is not None else math.nan for s in stats]
        stds = [s.std if s is not None and math.isfinite(s.std) else 0.0 for s in stats]
        offset = (i - (len(series) - 1) / 2) * width
        yerr = stds if any(v > 0 for v in stds) else None  # spread over seeds only
        bars = ax.bar(x + offset, means, width, yerr=yerr, label=label, color=color, capsize=2)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(x, groups, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.grid(axis="y", alpha=0.3)


def fig_scenarios(results: ExperimentResults) -> bytes:
    """Fig 10: one panel per scenario, bars per test set and model (mean F1 over windows)."""
    stats = grouped(results.rows, lambda r: (r.scenario, r.test_set, r.model))
    fig, axes = _panels(len(results.scenarios), 3.6, 3.2)
    for index, (ax, scenario) in enumerate(zip(axes, results.scenarios, strict=True), start=1):
        tests = [t for t in results.test_sets if any(k[:2] == (scenario, t) for k in stats)]
        series = [
            (
                model_label(m),
                MODEL_COLORS[i % len(MODEL_COLORS)],
                [stats.get((scenario, t, m)) for t in tests],
            )
            for i, m in enumerate(results.models)
        ]
        _bars(ax, tests, series)
        trained = results.scenario_areas[scenario]
        for label in ax.get_xticklabels():
            if label.get_text() in trained:
                label.set_fontweight("bold")
        ax.set_title(f"Scenario {index}: {scenario}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    fig.suptitle(
        "Mean F1 per training scenario, test set and model (mean over window sizes; "
        "bold test sets: trained there)",
        fontsize=10,
    )
    return _png(fig)


def fig_window_sizes(results: ExperimentResults) -> bytes:
    """Fig 11: one panel per model, bars per scenario and window size (mean F1 over test sets)."""
    stats = grouped(results.rows, lambda r: (r.model, r.scenario, r.patch))
    fig, axes = _panels(len(results.models), 0.9 * len(results.scenarios) + 2.4, 3.4, ncols=2)
    shades = np.linspace(0.35, 0.85, max(len(results.patches), 1))
    for ax, model in zip(axes, results.models, strict=True):
        series = [
            (f"{p} × {p}", _blue(shade), [stats.get((model, s, p)) for s in results.scenarios])
            for p, shade in zip(results.patches, shades, strict=True)
        ]
        _bars(ax, list(results.scenarios), series)
        ax.set_title(model_label(model), fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        title="window (px)",
        loc="outside lower center",
        ncols=len(labels),
        fontsize=8,
    )
    fig.suptitle("Mean F1 per window size in every scenario (mean over test sets)", fontsize=10)
    return _png(fig)


def _blue(shade: float) -> Color:
    return (1.0 - shade, 1.0 - 0.6 * shade, 1.0 - 0.1 * shade)


def fig_transfer_matrix(results: ExperimentResults) -> bytes:
    """Training scenario × test set F1 heatmap, one panel per model (mean over windows, seeds).

    Cells where the model is tested on the area it was trained on are outlined.
    """
    stats = grouped(results.rows, lambda r: (r.model, r.scenario, r.test_set))
    scenarios, tests = results.scenarios, results.test_sets
    fig, axes = _panels(
        len(results.models), 1.1 * len(tests) + 1.8, 0.6 * len(scenarios) + 1.6, ncols=2
    )
    image = None
    for ax, model in zip(axes, results.models, strict=True):
        grid = np.full((len(scenarios), len(tests)), np.nan)
        for i, s in enumerate(scenarios):
            for j, t in enumerate(tests):
                stat = stats.get((model, s, t))
                grid[i, j] = stat.mean if stat is not None else np.nan
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            text = "–" if math.isnan(value) else f"{value:.2f}"
            color = "black" if not math.isnan(value) and value > 0.6 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=color)
            if results.scenario_areas[scenarios[i]] == (tests[j],):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="orange"))
        ax.set_xticks(range(len(tests)), tests, rotation=20, ha="right")
        ax.set_yticks(range(len(scenarios)), scenarios)
        ax.set_xlabel("test set")
        ax.set_ylabel("trained on (scenario)")
        ax.set_title(model_label(model), fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes, label="F1", shrink=0.9)
    fig.suptitle("Transfer matrix: mean F1 (orange: tested where trained)", fontsize=10)
    return _png(fig)


def fig_training_curves(results: ExperimentResults, curves: dict[Job, Curve]) -> bytes | None:
    """Loss per epoch: one panel per model × window, one colour per scenario.

    Solid lines: validation loss; dashed: training loss; one line per seed.
    ``None`` when no job has a training log.
    """
    if not curves:
        return None
    panels = [(m, p) for m in results.models for p in results.patches]
    fig, axes = _panels(len(panels), 3.4, 2.6, ncols=max(len(results.patches), 2))
    colors = {s: f"C{i % 10}" for i, s in enumerate(results.scenarios)}
    for ax, (model, patch) in zip(axes, panels, strict=True):
        for job, curve in curves.items():
            if (job.model, job.patch) != (model, patch):
                continue
            color = colors[job.scenario]
            ax.plot(curve.epochs, curve.val_loss, color=color, lw=1.4, label=job.scenario)
            ax.plot(curve.epochs, curve.train_loss, color=color, lw=1.0, ls="--")
        ax.set_title(f"{model_label(model)} {patch} × {patch}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss (BCE)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="outside lower center", ncols=len(unique))
    fig.suptitle("Training curves (solid: validation loss, dashed: training loss)", fontsize=10)
    return _png(fig)


def fig_maps(results: ExperimentResults, scenario: str) -> bytes | None:
    """TP/FP/FN maps of one scenario: rows = test sets, columns = model × window.

    Drawn from each job's ``confusion.tif``, cropped to the evaluated pixels and
    reduced to at most :data:`MAP_THUMB_PX` a side keeping the most telling code
    (:func:`slidemap.confusion.coarsen_codes`). The first seed's maps are shown;
    ``None`` when the scenario has no map on disk.
    """
    seed = results.seeds[0]
    jobs = {
        (j.model, j.patch): j
        for j in experiment_jobs(results)
        if j.scenario == scenario and j.seed == seed
    }
    columns = [(m, p) for m in results.models for p in results.patches if (m, p) in jobs]
    thumbs = {}
    for t in results.test_sets:
        for c in columns:
            path = confusion_path(results, jobs[c], t)
            if path is not None:
                thumbs[(t, c)] = _confusion_rgb(path)
    tests = [t for t in results.test_sets if any((t, c) in thumbs for c in columns)]
    if not tests:
        return None
    # test parts differ in shape (west-east or north-south splits): one height per row
    panel_in = max(2.6, MIN_WIDTH_IN / len(columns))
    heights = [
        min(
            panel_in * max(a.shape[0] / a.shape[1] for (t2, _), a in thumbs.items() if t2 == t), 4.0
        )
        for t in tests
    ]
    fig = Figure(figsize=(panel_in * len(columns), sum(heights) + 1.0), layout="constrained")
    axes = fig.subplots(
        len(tests), len(columns), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for i, t in enumerate(tests):
        for j, (model, patch) in enumerate(columns):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (t, (model, patch)) in thumbs:
                ax.imshow(thumbs[(t, (model, patch))], interpolation="nearest")
            if i == 0:
                ax.set_title(f"{model_label(model)} {patch}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"test: {t}", fontsize=9)
    handles = [Patch(facecolor=_rgb01(c), label=LABELS[c]) for c in (TP, FP, FN)]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    areas = " + ".join(results.scenario_areas[scenario])
    fig.suptitle(f"TP/FP/FN maps, scenario {scenario} (trained on {areas}), seed {seed}")
    return _png(fig)


def _rgb01(code: int) -> tuple[float, float, float]:
    r, g, b, _ = COLOURS[code]
    return r / 255, g / 255, b / 255


def _confusion_rgb(path: Path) -> np.ndarray:
    """(h, w, 3) uint8 colours of a ``confusion.tif``, cropped to its evaluated pixels.

    At most :data:`MAP_THUMB_PX` a side; TN grey, not evaluated white.
    """
    with rasterio.open(path) as src:
        codes = src.read(1)
    evaluated = codes != NOT_EVALUATED
    if evaluated.any():
        rows, cols = np.flatnonzero(evaluated.any(axis=1)), np.flatnonzero(evaluated.any(axis=0))
        codes = codes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    step = max(1, math.ceil(max(codes.shape) / MAP_THUMB_PX))
    shown = coarsen_codes(codes, step)
    palette = np.full((256, 3), 255, np.uint8)
    for code in (TN, TP, FP, FN):
        palette[code] = COLOURS[code][:3]
    return palette[shown]
