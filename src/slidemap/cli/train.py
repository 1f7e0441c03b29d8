"""``slidemap train``: train one network on the train parts of prepared areas."""

from __future__ import annotations

import math
from pathlib import Path

import click

from slidemap import defaults
from slidemap.cli.params import UTF8Path

_HELP = """Train the paper's U-Net or ResU-Net on the train parts of one or more
prepared areas (regular grid of non-overlapping PATCH windows, Adam lr 1e-3,
batch 4, binary cross-entropy, early stopping on the validation part's loss).
The best weights and the decision threshold that maximises F1 on the
validation part are kept in RUN/best.pt.

RUN holds config.json, train.log, metrics.jsonl (one line per epoch),
last.pt and best.pt. An interrupted run continues with --resume and ends with
the same weights as an uninterrupted one; --resume with a larger --epochs
extends a finished run.

Data-parallel training (DDP) on this machine: --nproc N starts N processes
with torchrun (gloo on the CPU, nccl with one GPU each on CUDA); across
machines run 'torchrun --nnodes … --nproc-per-node N -m slidemap train …'.
--batch stays the global batch (split evenly, so a multiple of N) and the
result is that of one process with the same batch. Only rank 0 writes RUN.

\b
Example:
  slidemap train --area prepared/japan-like --model unet --patch 64 --out runs/unet64
  slidemap train --area prepared/japan-like --out runs/ddp --nproc 2
"""


@click.command(help=_HELP)
@click.option(
    "--area",
    "areas",
    multiple=True,
    required=True,
    type=UTF8Path(),
    help="Prepared area directory (repeat for several areas).",
)
@click.option(
    "--model",
    type=click.Choice(["unet", "resunet"]),
    default="unet",
    show_default=True,
    help="Network (paper Tables 2 and 3).",
)
@click.option(
    "--patch",
    type=int,
    default=defaults.PATCH_PX,
    show_default=True,
    help="Window side in pixels, a multiple of 16 (paper: 32, 64, 128).",
)
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Run directory.")
@click.option("--epochs", type=int, default=100, show_default=True, help="Most epochs in total.")
@click.option(
    "--patience",
    type=int,
    default=defaults.PATIENCE,
    show_default=True,
    help="Stop after this many epochs without a lower validation loss.",
)
@click.option("--batch", type=int, default=4, show_default=True, help="Windows per step.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option(
    "--pos-weight",
    type=float,
    default=defaults.POS_WEIGHT,
    show_default=True,
    help="Loss weight of landslide pixels (1: plain BCE, the paper's).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--threads", type=int, help="CPU threads for torch (default: torch's choice).")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto: CUDA when available, else CPU.",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    default="auto",
    show_default=True,
    help="auto: bf16 autocast where the CPU (AVX-512-BF16, AMX) or GPU computes bf16 "
    "natively, else fp32; fp16: mixed precision on CUDA only.",
)
@click.option(
    "--channels-last/--no-channels-last",
    default=True,
    show_default=True,
    help="NHWC memory format (faster on CPUs and tensor cores).",
)
@click.option(
    "--nodata-max",
    type=float,
    default=0.5,
    show_default=True,
    help="Drop training windows with a larger share of nodata pixels.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Data-parallel processes on this machine (starts torchrun).",
)
@click.pass_context
def train(
    ctx: click.Context,
    areas: tuple[Path, ...],
    model: str,
    patch: int,
    out: Path,
    epochs: int,
    patience: int,
    batch: int,
    lr: float,
    pos_weight: float,
    seed: int,
    threads: int | None,
    device: str,
    precision: str,
    channels_last: bool,
    nodata_max: float,
    resume: bool,
    overwrite: bool,
    nproc: int,
) -> None:
    from slidemap.distributed import Ranks, launch, ranks_from_env
    from slidemap.train import TrainConfig, check_areas, check_run_dir
    from slidemap.train import train as run_training

    cfg = TrainConfig(
        areas=areas,
        out=out,
        model=model,
        patch=patch,
        epochs=epochs,
        patience=patience,
        batch=batch,
        lr=lr,
        pos_weight=pos_weight,
        seed=seed,
        threads=threads,
        device=device,
        precision=precision,
        channels_last=channels_last,
        nodata_max=nodata_max,
        resume=resume,
        overwrite=overwrite,
    )
    if nproc > 1:  # check here, so that mistakes end before torchrun starts
        Ranks(world=nproc).check_batch(batch)
        check_areas(cfg)
        check_run_dir(cfg.out, cfg)
        click.echo(launch(nproc, _without_nproc(ctx)), nl=False)
        return
    result = run_training(cfg)
    if not ranks_from_env().main:
        return
    f1 = "n/a" if math.isnan(result.val_f1) else f"{result.val_f1:.3f}"
    click.echo(
        f"best epoch {result.best_epoch}/{result.epochs_run}, val F1 {f1} at threshold "
        f"{result.threshold:.2f}, run {result.run_dir}"
    )


def _without_nproc(ctx: click.Context) -> list[str]:
    """This command line, as parsed, without ``--nproc``: what each torchrun process runs."""
    root = ctx.find_root()
    args = [f"--{name}" for name, value in root.params.items() if value is True]
    args.append(ctx.info_name or "train")
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in (None, "nproc"):
            continue
        value, flag = ctx.params[param.name], param.opts[0]
        if param.is_flag:
            args += [flag] if value else []
        elif param.multiple:
            args += [item for v in value for item in (flag, str(v))]
        elif value is not None:
            args += [flag, str(value)]
    return args
