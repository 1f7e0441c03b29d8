"""``slidemap report``: tables, figures and report.html from an experiment directory."""

from __future__ import annotations

from pathlib import Path

import click

from slidemap.cli.params import UTF8Path


@click.command()
@click.argument("directory", type=UTF8Path())
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    help="Where to write the report (default: DIRECTORY itself).",
)
@click.option("--overwrite", is_flag=True, help="Replace report files that already exist.")
def report(directory: Path, out: Path | None, overwrite: bool) -> None:
    """Write tables.md (the paper's Tables 4–7 layout), fig_scenarios.png (Fig 10),
    fig_window_sizes.png (Fig 11), fig_transfer_matrix.png, fig_training_curves.png,
    fig_maps_<scenario>.png (TP/FP/FN maps) and a self-contained report.html from the
    results.csv that 'slidemap experiment' wrote into DIRECTORY. Prints the path of
    report.html.

    Example: slidemap report experiments/paper
    """
    from slidemap.report import write_report

    click.echo(str(write_report(directory, out, overwrite=overwrite).html))
