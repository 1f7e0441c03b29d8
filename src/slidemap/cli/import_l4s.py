"""``slidemap import-l4s``: Landslide4Sense HDF5 patches → prepared area."""

from __future__ import annotations

from pathlib import Path

import click

_HELP = """Import the Landslide4Sense patches in DIRECTORY (image_<id>.h5 and
mask_<id>.h5, flat or in img/ and mask/ as released) as one prepared area: the
128 px patches side by side on a 128 px grid (sorted by id, ceil(sqrt(n))
columns), 10 m pixels on a local grid that is NOT a real location.

Values are converted to reflectance, slope in degrees and DEM in metres with the
per-band constants L4S data appear divided by. Whole patches are train,
validation or test; patches with consecutive ids (neighbours) keep one role.
Without masks the area is unlabelled.

Example: slidemap import-l4s TrainData --out prepared/l4s --role train
"""


@click.command("import-l4s", help=_HELP)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Prepared area directory to create.",
)
@click.option("--name", help="Area name (default: the name of --out).")
@click.option(
    "--bands",
    default="B2,B3,B4,B8,slope",
    show_default=True,
    help="Comma-separated bands from B1…B12 (no B8A), slope, dem.",
)
@click.option(
    "--role",
    type=click.Choice(["auto", "train", "test"]),
    default="auto",
    show_default=True,
    help="auto: ~60 % train (10 % of it validation) / ~40 % test by patch; "
    "train: all train + validation; test: all test (an independent test area).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the patch split.")
@click.option(
    "--split-file",
    type=click.Path(path_type=Path),
    help="CSV with columns id,role (train, validation or test) instead of --role.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def import_l4s(
    directory: Path,
    out: Path,
    name: str | None,
    bands: str,
    role: str,
    seed: int,
    split_file: Path | None,
    overwrite: bool,
) -> None:
    from slidemap.area import TEST, TRAIN, VALIDATION
    from slidemap.l4s_import import import_l4s as run_import

    result = run_import(
        directory,
        out,
        name=name,
        bands=bands,
        role=role,
        seed=seed,
        split_file=split_file,
        overwrite=overwrite,
    )
    roles = [p.role for p in result.placements]
    parts = ", ".join(
        f"{roles.count(code)} {label}"
        for code, label in ((TRAIN, "train"), (VALIDATION, "validation"), (TEST, "test"))
        if roles.count(code)
    )
    labels = "" if result.meta.inventory is not None else ", unlabelled"
    click.echo(
        f"{result.path}: {len(roles)} L4S patches ({parts}{labels}), "
        f"{result.meta.width} x {result.meta.height} px, bands {','.join(result.meta.band_names)}"
    )
