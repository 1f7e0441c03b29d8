"""``slidemap synth``: write the synthetic study areas."""

from __future__ import annotations

from pathlib import Path

import click

from slidemap.synth.areas import AREAS


@click.command()
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to create, with one folder per area.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (0 or more).")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Image side = 512 px × SCALE (10 m pixels).",
)
@click.option(
    "--area",
    "areas",
    multiple=True,
    type=click.Choice(AREAS),
    help="Write only this area (repeatable). Default: all three.",
)
@click.option("--quicklook", is_flag=True, help="Also write quicklook.png per area.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def synth(
    out: Path, seed: int, scale: float, areas: tuple[str, ...], quicklook: bool, overwrite: bool
) -> None:
    """Write the SYNTHETIC study areas taiwan-like, china-like and japan-like.

    Each area folder holds Sentinel-2 L2A-style bands (B2.tif B3.tif B4.tif
    B8.tif: uint16 digital numbers in UTM at 10 m, with MTD_MSIL2A.xml for
    baseline 04.00), a ~30 m DEM in another CRS or grid (dem.tif), a landslide
    inventory (landslides.gpkg) and an area file (area.toml) that 'slidemap
    prepare' reads as is. Landslide sizes follow the paper's inventories (mean
    34,360 / 11,572 / 8,689 m² for Taiwan / China / Japan). The same seed
    writes the same areas. The area files are printed, one per line.

    Example: slidemap synth --out synthetic --quicklook
    """
    from slidemap.synth import synthesize

    for area_file in synthesize(
        out, seed=seed, scale=scale, areas=areas or AREAS, overwrite=overwrite, quicklook=quicklook
    ):
        click.echo(str(area_file))
