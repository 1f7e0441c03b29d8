"""``slidemap export``: a trained model as a portable file."""

from __future__ import annotations

from pathlib import Path

import click

_HELP = """Export the model trained in RUN (a run directory, whose best.pt is used, or
a checkpoint file) for use outside slidemap.

--format onnx writes an ONNX graph (input "image" (N, C, H, W) float32,
output "logits" (N, 1, H, W); H and W multiples of 16; probability =
sigmoid(logits)) with the band names, the normalisation (mean, std) and the
decision threshold in its metadata. Default output: RUN/model.onnx (or the
checkpoint's name with .onnx).

Example: slidemap export runs/unet64 --format onnx
"""


@click.command(help=_HELP)
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx"]),
    default="onnx",
    show_default=True,
    help="Output format.",
)
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Output file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def export(run: Path, fmt: str, out: Path | None, overwrite: bool) -> None:
    from slidemap.backends import export_onnx
    from slidemap.checkpoint import load_model
    from slidemap.errors import SlidemapError
    from slidemap.io.atomic import check_writable_target

    target = out or (run / "model.onnx" if run.is_dir() else run.with_suffix(f".{fmt}"))
    if target.suffix == ".pt" and target.exists():
        raise SlidemapError(f"refusing to replace {target}, a checkpoint, with an {fmt} file")
    check_writable_target(target, overwrite)
    model, info = load_model(run)
    click.echo(str(export_onnx(model, info, target, overwrite=overwrite)))
