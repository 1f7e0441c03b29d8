"""``slidemap bench``: the performance suite (SPEC §8) → a table on stdout and optional JSON."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

#: Set to "tiny" to shrink every size to seconds (tests of the suite; numbers are meaningless).
SIZES_ENV = "SLIDEMAP_BENCH_SIZES"

_HELP = """Measure slidemap's speed on this machine against a naive PyTorch baseline
run in the same process, and judge the SPEC targets relative to it.

Measures the fp32 (and bf16) matmul peak; training throughput of the U-Net and
ResU-Net (naive eager loop vs 'slidemap train' with its default and every other
fast recipe the CPU supports); the F1 of each training recipe and inference
backend on a synthetic task; inference throughput, achieved GFLOP/s (% of
peak) and max probability difference of every backend; time and peak memory
of 'slidemap predict' on synthetic scenes of growing size (each in its own
process; the largest also in bf16 where the CPU has it). Everything runs on
the CPU on synthetic data in a temporary directory.

Prints ratios first (speed-up over the naive baseline, % of peak), absolute
numbers after, the CPU features found, slidemap's defaults beside the fastest
options measured, and which targets are met.

The standard suite takes several minutes on 2 cores; --quick a few minutes;
--full adds repeats and a whole 10980 x 10980 Sentinel-2 tile. Other
processes on the machine slow every measurement: the load average at start
and end is reported.

Example: slidemap bench --quick --out bench.json
"""


@click.command(help=_HELP)
@click.option("--quick", is_flag=True, help="Fewer sizes and repeats (a few minutes).")
@click.option("--full", is_flag=True, help="More repeats and seeds, and a whole 10980² tile.")
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    help="Also write the results as JSON (schema in docs/performance.md).",
)
@click.option("--threads", type=int, help="Threads of every runtime (default: each one's own).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def bench(quick: bool, full: bool, out: Path | None, threads: int | None, overwrite: bool) -> None:
    from slidemap import __version__
    from slidemap.bench import BenchOptions, format_table, run_bench, write_json
    from slidemap.errors import SlidemapError
    from slidemap.io.atomic import check_writable_target

    if quick and full:
        raise SlidemapError("--quick and --full exclude each other; give one (or neither)")
    mode = "quick" if quick else "full" if full else "standard"
    sizes = os.environ.get(SIZES_ENV)
    if sizes == "tiny":
        mode = "tiny"
    elif sizes:
        raise SlidemapError(f"{SIZES_ENV} must be 'tiny' or unset, got {sizes!r}")
    opts = BenchOptions.for_mode(mode, threads)
    if out is not None:
        if out.is_dir():
            raise SlidemapError(f"--out {out} is a directory; give a file name, e.g. bench.json")
        check_writable_target(out, overwrite)  # before minutes of measuring
    report = run_bench(opts)
    click.echo(format_table(report))
    if out is not None:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        write_json(report.to_dict(__version__, created), out, overwrite=overwrite)
        click.echo(f"results in {out}")
