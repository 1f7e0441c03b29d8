"""``slidemap prepare``: raw inputs → prepared area."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("area_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Prepared area directory to create.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def prepare(area_file: Path, out: Path, overwrite: bool) -> None:
    """Turn raw bands + DEM + inventory (AREA_FILE, TOML) into a prepared area."""
    from slidemap.prepare import prepare_area

    result = prepare_area(area_file, out, overwrite=overwrite)
    click.echo(str(result))
