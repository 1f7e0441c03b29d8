"""``slidemap demo``: the whole pipeline on synthetic study areas, ending in report.html."""

from __future__ import annotations

from pathlib import Path

import click

from slidemap.cli.params import UTF8Path

#: The same as :data:`slidemap.demo.DEFAULT_OUT`; not imported, so that the CLI starts fast.
DEFAULT_OUT = Path("slidemap-demo")


@click.command()
@click.option(
    "--out",
    "-o",
    type=UTF8Path(),
    default=DEFAULT_OUT,
    show_default=True,
    help="Demo directory; re-running in it reuses every finished step.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Both models and all four scenarios on 256 px areas, but 32 px windows only, at "
    "most 10 epochs and the paper's grid evaluation: 8 models in about 1-6 min on 2 CPU "
    "cores instead of 24 models on 512 px areas.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Synthetic areas and training."
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Experiment jobs run in parallel (Dask LocalCluster when > 1).",
)
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="Torch threads per job; more only help on an otherwise idle machine.",
)
@click.option("--overwrite", is_flag=True, help="Start again: redo every step.")
def demo(out: Path, quick: bool, seed: int, workers: int, threads: int, overwrite: bool) -> None:
    """Generate three SYNTHETIC study areas (taiwan-like, china-like, japan-like),
    prepare them, run the paper's transferability experiment on them (examples/paper.toml:
    4 training scenarios × U-Net and ResU-Net × window sizes 32, 64, 128) and write the
    report. Prints the path of report.html and a five-line summary.

    Example: slidemap demo --quick
    """
    from slidemap.demo import run_demo

    result = run_demo(
        out, quick=quick, seed=seed, workers=workers, overwrite=overwrite, threads=threads
    )
    click.echo(str(result.report))
    for line in result.summary:
        click.echo(line)
