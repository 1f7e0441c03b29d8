"""``slidemap report``: tables, figures and ``report.html`` from an experiment directory."""

from __future__ import annotations

import logging
import re
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from slidemap.errors import SlidemapError
from slidemap.io.atomic import atomic_file, write_bytes_durably
from slidemap.report.figures import (
    fig_maps,
    fig_scenarios,
    fig_training_curves,
    fig_transfer_matrix,
    fig_window_sizes,
)
from slidemap.report.html import Plot, render_html
from slidemap.report.jobs import training_curves
from slidemap.report.results import ExperimentResults, load_experiment
from slidemap.report.summary import summary_sentences
from slidemap.report.tables import caption, scenario_tables, tables_markdown

log = logging.getLogger("slidemap")


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes:
        html: the self-contained ``report.html``.
        files: every file written (``tables.md``, the figures, ``report.html``).
        results: the experiment results the report was made from.
        summary: the summary paragraph, one sentence per item.
    """

    html: Path
    files: tuple[Path, ...]
    results: ExperimentResults
    summary: tuple[str, ...]


def write_report(directory: Path, out: Path | None = None, overwrite: bool = False) -> Report:
    """Write ``tables.md``, the figures and ``report.html`` for experiment ``directory``.

    Args:
        directory: an experiment output directory (``results.csv`` required,
            ``experiment.json`` and ``jobs/`` used when present); never modified
            unless it is also ``out``.
        out: where to write; ``directory`` itself when omitted.
        overwrite: replace report files that already exist there.

    Raises:
        SlidemapError: no or malformed ``results.csv`` (see
            :func:`~slidemap.report.results.load_experiment`), or a report file
            exists and ``overwrite`` is false; nothing is written then.
    """
    results = load_experiment(Path(directory))
    out = Path(directory) if out is None else Path(out)
    title = f"slidemap report: {results.design.get('name') or Path(directory).resolve().name}"
    plots = _plots(results)
    map_plots = _map_plots(results)
    targets = [out / "tables.md", *(out / p.file for p in plots + map_plots), out / "report.html"]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise SlidemapError(
            f"{existing[0]} already exists; pass --overwrite to replace the report in {out}"
        )
    summary = summary_sentences(results)
    html = render_html(
        results, title, summary, scenario_tables(results), caption(results), plots, map_plots
    )
    contents = [
        tables_markdown(results, title, summary).encode(),
        *(p.png for p in plots + map_plots),
        html.encode(),
    ]
    # every file goes to a temporary name first; all are renamed once all are written,
    # so a failed write (disk full) leaves no partial report
    created = not out.exists()
    try:
        with ExitStack() as stack:
            for target, content in zip(targets, contents, strict=True):
                tmp = stack.enter_context(atomic_file(target, overwrite=True))
                write_bytes_durably(tmp, [content])
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("report written to %s", out / "report.html")
    return Report(out / "report.html", tuple(targets), results, tuple(summary))


def _plots(results: ExperimentResults) -> list[Plot]:
    plots = [
        Plot(
            "fig_scenarios.png",
            "Mean F1 per training scenario and model (paper Fig 10)",
            "Mean F1 over window sizes for each test set; error bars: standard deviation "
            "over seeds.",
            fig_scenarios(results),
        ),
        Plot(
            "fig_window_sizes.png",
            "Mean F1 per window size (paper Fig 11)",
            "Mean F1 over the test sets of each scenario (the mean of a table column).",
            fig_window_sizes(results),
        ),
        Plot(
            "fig_transfer_matrix.png",
            "Transfer matrix",
            "F1 of models trained in each scenario (rows) on each test set (columns), mean over "
            "window sizes and seeds; outlined: tested on the area trained on.",
            fig_transfer_matrix(results),
        ),
    ]
    curves = training_curves(results)
    png = fig_training_curves(results, curves)
    if png is None:
        log.warning("no training log (jobs/*/run/metrics.jsonl) found; no training-curve figure")
    else:
        plots.append(
            Plot(
                "fig_training_curves.png",
                "Training curves",
                f"Training and validation loss per epoch of {len(curves)} jobs.",
                png,
            )
        )
    return plots


def _map_plots(results: ExperimentResults) -> list[Plot]:
    plots = []
    for index, scenario in enumerate(results.scenarios, start=1):
        png = fig_maps(results, scenario)
        if png is not None:
            plots.append(
                Plot(
                    f"fig_maps_{_file_safe(scenario)}.png",
                    f"Scenario {index}: {scenario}",
                    "TP/FP/FN maps of the test parts (grey: true negative, white: not "
                    "evaluated), first seed. Each job's jobs/<key>/eval/<test set>/ holds the "
                    "full-resolution map.png (over true colour) and confusion.tif (for QGIS).",
                    png,
                )
            )
    return plots


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)
