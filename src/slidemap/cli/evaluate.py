"""``slidemap evaluate``: metrics and TP/FP/FN maps of a trained model on test parts."""

from __future__ import annotations

import math
from pathlib import Path

import click

from slidemap.cli.params import UTF8Path

_HELP = """Score the model trained in RUN (its best.pt) on the held-out test part
of each prepared area (split code 2): pixel precision, recall, F1, IoU, MCC and
kappa, and object-level matches (8-connected landslides matched at IoU >= 0.5)
with counts by size (< 1,000, 1,000-10,000, >= 10,000 m²).

--mode whole (default) predicts with overlapping windows over the whole area
image, so the model sees the context around the test part, and scores only
test pixels; --mode patches uses the paper's non-overlapping grid of the
training window size inside the test part. Pixels are scored where the label
is known and every band is finite.

\b
DIR/<area>/metrics.json   counts and metrics (undefined ratios are null)
DIR/<area>/confusion.tif  0 TN, 1 TP, 2 FP, 3 FN, 255 not evaluated (colour table, QGIS)
DIR/<area>/map.png        TP/FP/FN map of the test part, like the paper's Figs 6-9
DIR/summary.json          every area and all test parts together (summed counts)

Example: slidemap evaluate runs/unet64 --area prepared/japan-like --out eval/unet64
"""


@click.command(help=_HELP)
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--area",
    "areas",
    multiple=True,
    required=True,
    type=UTF8Path(),
    help="Prepared area directory (repeat for several areas).",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(path_type=Path), help="Output directory."
)
@click.option(
    "--mode",
    type=click.Choice(["whole", "patches"]),
    default="whole",
    show_default=True,
    help="Overlapping windows over the whole image, or the paper's patch grid.",
)
@click.option(
    "--window", type=int, default=256, show_default=True, help="Window side (px), whole mode."
)
@click.option(
    "--overlap", type=int, default=64, show_default=True, help="Window overlap (px), whole mode."
)
@click.option(
    "--threshold", type=float, help="Landslide if probability >= this (default: the model's)."
)
@click.option("--threads", type=int, help="CPU threads for torch (default: torch's choice).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def evaluate(
    run: Path,
    areas: tuple[Path, ...],
    out: Path,
    mode: str,
    window: int,
    overlap: int,
    threshold: float | None,
    threads: int | None,
    overwrite: bool,
) -> None:
    from slidemap.errors import SlidemapError
    from slidemap.evaluate import EvalOptions, evaluate_run
    from slidemap.metrics import f1

    if threads is not None and threads < 1:
        raise SlidemapError(f"--threads must be at least 1, got {threads}")
    options = EvalOptions(mode=mode, window=window, overlap=overlap, threshold=threshold)
    summary = evaluate_run(run, areas, out, options, overwrite=overwrite, threads=threads)
    score = f1(summary.all.counts)
    shown = "n/a" if math.isnan(score) else f"{score:.3f}"
    click.echo(
        f"F1 {shown} on {len(summary.areas)} test part(s) at threshold "
        f"{summary.threshold:.2f}, results in {summary.out}"
    )
