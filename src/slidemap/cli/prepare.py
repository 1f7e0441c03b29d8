"""``slidemap prepare``: raw inputs → prepared area."""

from __future__ import annotations

from pathlib import Path

import click

from slidemap.cli.params import UTF8Path
from slidemap.config import AREA_FILE_EXAMPLE

# click rewraps paragraphs unless each starts with \b
_VERBATIM_EXAMPLE = "\n\n".join("\b\n" + p for p in AREA_FILE_EXAMPLE.strip().split("\n\n"))
_HELP = f"""Turn raw bands + DEM + inventory, described by AREA_FILE (TOML), into a
prepared area: image.tif (reflectance + slope), label.tif, split.tif and
area.json on one grid (the finest band's, unless [bands] crs and resolution set
one), readable by QGIS. Paths in AREA_FILE are relative
to its directory. Every key:

{_VERBATIM_EXAMPLE}

Example: slidemap prepare examples/iburi2018.toml --out prepared/iburi2018
"""


@click.command(help=_HELP)
@click.argument("area_file", type=UTF8Path())
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Prepared area directory to create.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def prepare(area_file: Path, out: Path, overwrite: bool) -> None:
    from slidemap.prepare import prepare_area

    click.echo(str(prepare_area(area_file, out, overwrite=overwrite)))
