"""``slidemap experiment``: the transferability matrix, resumable, optionally on Dask."""

from __future__ import annotations

from pathlib import Path

import click

from slidemap.cli.params import UTF8Path
from slidemap.experiment import EXPERIMENT_FILE_EXAMPLE

# click rewraps paragraphs unless each starts with \b
_VERBATIM_EXAMPLE = "\n\n".join("\b\n" + p for p in EXPERIMENT_FILE_EXAMPLE.strip().split("\n\n"))
_HELP = f"""Run the paper's transferability experiment described by EXP_FILE (TOML):
one model per training scenario x window size x model x seed, each trained on
its scenario's train parts and evaluated on every area's test part and on all
test parts together. Paths in EXP_FILE are relative to its directory. Every key:

{_VERBATIM_EXAMPLE}

\b
DIR/experiment.json   the resolved design
DIR/jobs/<key>/       run/ (training), eval/ (metrics, maps), result.json
DIR/results.csv       scenario,train_areas,model,patch,seed,test_set,tp,fp,fn,tn,
                      precision,recall,f1,iou,mcc,best_epoch,train_seconds,job_key

Interrupted? Run the same command again: finished jobs are skipped and an
interrupted one resumes its training. A job's key is a hash of everything that
changes its result (areas' contents, model, window, seed, options, version).
--workers N runs N jobs at a time on a local Dask cluster, --scheduler uses
an existing one (needs: pip install 'slidemap[distributed]').

Example: slidemap experiment examples/paper.toml --out experiments/paper --workers 2
"""


@click.command(help=_HELP)
@click.argument("exp_file", type=UTF8Path())
@click.option(
    "--out", "-o", required=True, type=click.Path(path_type=Path), help="Experiment directory."
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Jobs at a time; > 1 starts a local Dask cluster of that many processes.",
)
@click.option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786).")
@click.option("--overwrite", is_flag=True, help="Delete DIR first and run every job again.")
def experiment(
    exp_file: Path, out: Path, workers: int, scheduler: str | None, overwrite: bool
) -> None:
    from slidemap.experiment.run import run_experiment

    summary = run_experiment(exp_file, out, workers, scheduler, overwrite)
    click.echo(
        f"{summary.jobs} jobs ({summary.ran} run, {summary.skipped} done before), "
        f"{summary.rows} rows in {summary.results_csv}"
    )
