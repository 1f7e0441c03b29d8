"""``slidemap predict``: a whole scene → probability COG, mask COG, polygons, quick-look."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from slidemap.cli.params import UTF8Path

_HELP = """Map landslides over a whole scene with the model trained in RUN (a run
directory, whose best.pt is used, or a checkpoint file).

The scene is either the [bands], [dem] and [aoi] of an area file (--area;
its inventory and split are ignored) or band files (--bands) in the model's
band order: one file per band, one multi-band stack, or a Sentinel-2 .SAFE
directory or .zip. --dem is needed when the model has a slope channel. Bands
are read exactly as 'slidemap prepare' reads them (DN to reflectance, slope
from the DEM resampled bilinearly to the image grid). With an AOI (--aoi, or
the area file's [aoi]) the outputs cover the AOI's bounding box on the image
grid, nodata outside its polygons, as 'slidemap prepare' crops; the model
still sees the pixels around the AOI.

The scene is processed in blocks of --block pixels (this bounds memory) with
overlapping windows blended smoothly (the result does not depend on --block).
The --out directory receives probability.tif (Cloud-Optimized GeoTIFF; uint8 = probability x
254, 255 nodata, or float32 with NaN nodata), mask.tif (1 landslide, 0 not,
255 nodata), landslides.gpkg (area_m2, mean_prob, max_prob) and
quicklook.png, all on the input grid (cropped to the AOI).

--workers N predicts row bands of blocks (--block rows each) on a local Dask
cluster of N processes, --scheduler ADDR on a running one (every worker must
see RUN, the inputs and --out at the same paths; needs pip install
'slidemap[distributed]'). The outputs are the same as with one process.

Example: slidemap predict runs/unet64 --bands B02.jp2 B03.jp2 B04.jp2 B08.jp2
--dem dem.tif --out maps/iburi
"""


class _GreedyBands(click.Command):
    """Lets ``--bands`` take several files: ``--bands a b c`` → ``--bands a --bands b --bands c``
    (the values end at the next argument starting with ``-``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        expanded: list[str] = []
        greedy = False
        for arg in args:
            if arg == "--bands":
                greedy = True
            elif greedy and not arg.startswith("-"):
                expanded += ["--bands", arg]
            else:
                greedy = False
                expanded.append(arg)
        return super().parse_args(ctx, expanded)


@click.command(cls=_GreedyBands, help=_HELP)
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    metavar="DIR",
    type=UTF8Path(),
    help="Output directory (created; see --overwrite).",
)
@click.option("--area", "area_file", type=UTF8Path(), help="Area file (TOML) of the scene.")
@click.option(
    "--bands",
    "band_files",
    multiple=True,
    metavar="FILE...",
    type=UTF8Path(),
    help="Band files in the model's band order (--bands B2.tif B3.tif …), a stack, or a "
    ".SAFE/.zip.",
)
@click.option(
    "--aoi",
    type=UTF8Path(),
    help="Map only inside these polygons (any OGR format and CRS; default: the area file's "
    "[aoi], else the whole scene).",
)
@click.option("--dem", type=UTF8Path(), help="DEM (any CRS), for slope.")
@click.option("--window", type=int, default=256, show_default=True, help="Window side (px).")
@click.option("--overlap", type=int, default=64, show_default=True, help="Overlap of windows (px).")
@click.option("--block", type=int, default=2048, show_default=True, help="Output block side (px).")
@click.option("--batch", type=int, default=4, show_default=True, help="Windows per model call.")
@click.option(
    "--threshold", type=float, help="Landslide if probability >= this (default: the model's)."
)
@click.option(
    "--prob-dtype",
    type=click.Choice(["uint8", "float32"]),
    default="uint8",
    show_default=True,
    help="Encoding of probability.tif.",
)
@click.option(
    "--min-area", type=float, default=0.0, show_default=True, help="Smallest polygon (m²)."
)
@click.option(
    "--simplify", type=float, default=0.0, show_default=True, help="Polygon tolerance (m)."
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "onnx", "openvino"]),
    default="auto",
    show_default=True,
    help="auto: OpenVINO, else ONNX Runtime, else torch.",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="bf16: about 2x faster on CPUs with native bf16; probabilities move by up to "
    "~1e-2 (1e-5 on average).",
)
@click.option(
    "--threads",
    type=int,
    help="Inference threads (per worker with --workers/--scheduler; default: the runtime's "
    "choice, with --workers the cores over the workers).",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Row bands at a time; > 1 starts a local Dask cluster of that many processes.",
)
@click.option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def predict(
    run: Path,
    out: Path,
    area_file: Path | None,
    band_files: tuple[Path, ...],
    aoi: Path | None,
    dem: Path | None,
    window: int,
    overlap: int,
    block: int,
    batch: int,
    threshold: float | None,
    prob_dtype: str,
    min_area: float,
    simplify: float,
    backend: str,
    precision: str,
    threads: int | None,
    workers: int,
    scheduler: str | None,
    overwrite: bool,
) -> None:
    from slidemap.backends import make_backend
    from slidemap.checkpoint import load_model
    from slidemap.cluster import check_workers
    from slidemap.errors import SlidemapError
    from slidemap.io.atomic import check_writable_target
    from slidemap.predict import PREDICTION, PredictOptions, open_scene, predict_scene
    from slidemap.scene import SLOPE, inputs_from_area, inputs_from_files

    if (area_file is None) == (not band_files):
        raise SlidemapError("give either --area AREA.toml or --bands FILE [FILE ...]")
    if area_file is not None and dem is not None:
        raise SlidemapError("--dem goes with --bands; with --area the area file's [dem] is used")
    options = PredictOptions(
        window=window,
        overlap=overlap,
        block=block,
        batch=batch,
        threshold=threshold,
        prob_dtype=prob_dtype,
        min_area_m2=min_area,
        simplify_m=simplify,
        overwrite=overwrite,
    )
    options.check()
    check_workers(workers, scheduler)  # and Dask installed where needed
    distributed = workers > 1 or scheduler is not None
    check_writable_target(out, overwrite, PREDICTION)
    model, info = load_model(run)
    if area_file is not None:
        inputs = inputs_from_area(area_file)
    else:
        image_bands = tuple(b for b in info.band_names if b != SLOPE)
        if SLOPE in info.band_names and dem is None:
            raise SlidemapError(
                f"the model uses slope ({','.join(info.band_names)}); give the DEM with --dem"
            )
        if SLOPE not in info.band_names and dem is not None:
            raise SlidemapError(
                f"the model does not use a DEM (it was trained on bands "
                f"{','.join(info.band_names)}, without slope); drop --dem"
            )
        inputs = inputs_from_files(list(band_files), dem, image_bands)
    if aoi is not None:
        inputs = replace(inputs, aoi=aoi)
    scene = open_scene(inputs, info)
    if distributed:
        from slidemap.predict_distributed import ModelSpec, predict_scene_distributed

        spec = ModelSpec(run, backend, precision, threads)
        summary = predict_scene_distributed(spec, info, scene, out, options, workers, scheduler)
    else:
        summary = predict_scene(
            make_backend(model, info, backend, precision, threads), info, scene, out, options
        )
    click.echo(summary.line())
