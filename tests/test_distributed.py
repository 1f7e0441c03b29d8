"""Scale-out: DDP training under torchrun, the experiment on Dask with a worker killed,
scene prediction in row bands on Dask workers."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
from affine import Affine
from rasterio.crs import CRS

from conftest import make_tiny_area
from slidemap.distributed import Ranks, ranks_from_env, weights_digest
from slidemap.errors import SlidemapError
from slidemap.infer import layout
from slidemap.io.rasters import write_geotiff
from slidemap.io.vectors import write_polygons
from slidemap.predict_distributed import band_plans, band_rows
from slidemap.train import RUN_FILES, TrainConfig, train

if TYPE_CHECKING:
    import psutil  # comes with dask.distributed

TORCHRUN = Path(sys.executable).with_name("torchrun")
RGB = ("B2", "B3", "B4")


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(t) for t in path.read_text().splitlines()]


# -- sharing the windows of a step ------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch", "world"), [(11, 4, 2), (8, 4, 2), (13, 6, 3), (3, 4, 4)])
def test_ranks_share_exactly_the_single_process_batches(n: int, batch: int, world: int) -> None:
    order = np.random.default_rng(n).permutation(n)
    single = [order[i : i + batch] for i in range(0, n, batch)]
    alone = Ranks().batches(order, batch)  # one process: the plain batches
    assert [i.tolist() for i, _ in alone] == [b.tolist() for b in single]
    assert all(real.all() for _, real in alone)
    shares = [Ranks(r, world).batches(order, batch) for r in range(world)]
    assert {len(s) for s in shares} == {len(single)}  # every rank takes every step
    for step, expected in enumerate(single):
        taken = [i for s in shares for i in s[step][0][s[step][1]].tolist()]
        assert sorted(taken) == sorted(expected.tolist())  # no window lost or counted twice
        sizes = {len(s[step][0]) for s in shares}  # equal: DDP needs every rank in each step
        assert sizes == {batch // world} or (step == len(single) - 1 and len(sizes) == 1)
    padding = sum(int((~s[-1][1]).sum()) for s in shares)
    assert padding == -n % world


def test_batch_must_split_evenly_and_the_environment_must_be_torchrun_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SlidemapError, match="--batch 6 is the global batch and must be a multiple"):
        Ranks(0, 4).check_batch(6)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ranks_from_env() == Ranks(0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert ranks_from_env() == Ranks(1, 2, 1) and not ranks_from_env().main
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(SlidemapError, match="malformed torchrun environment: RANK=2, WORLD_SIZE=2"):
        ranks_from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(SlidemapError, match="malformed torchrun environment"):
        ranks_from_env()


# -- data-parallel training ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def areas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 + 3 = 11 training windows of 32 px: the last step of 2 processes has one padding."""
    root = tmp_path_factory.mktemp("areas")
    make_tiny_area(root, "a", size=128, seed=1)
    make_tiny_area(root, "c", size=96, seed=2)
    return root


def train_args(areas: Path, out: Path, epochs: int, model: str = "unet") -> list[str]:
    return [
        *("train", "--area", str(areas / "a"), "--area", str(areas / "c"), "--patch", "32"),
        *("--model", model),
        *("--epochs", str(epochs), "--seed", "7", "--threads", "1", "--device", "cpu"),
        # fp32: DDP equals one process up to fp32 rounding (bf16 would round the shards apart)
        *("--precision", "fp32", "--out", str(out)),
    ]


def single(areas: Path, out: Path, epochs: int, resume: bool = False, model: str = "unet") -> None:
    cfg = TrainConfig(
        areas=(areas / "a", areas / "c"),
        out=out,
        model=model,
        patch=32,
        epochs=epochs,
        seed=7,
        threads=1,
        device="cpu",
        precision="fp32",
        resume=resume,
    )
    train(cfg)


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """``torchrun`` with 2 processes on this machine running ``slidemap ARGS``, which succeeds."""
    proc = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node=2", "-m", "slidemap", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def assert_close_runs(ddp: Path, one: Path) -> None:
    for name in ("best.pt", "last.pt"):
        a = torch.load(ddp / name, weights_only=True)
        b = torch.load(one / name, weights_only=True)
        assert (a["epoch"], a["threshold"]) == (b["epoch"], b["threshold"])
        assert a["model"].keys() == b["model"].keys()
        for key in a["model"]:  # float rounding only: sums over 2 shards instead of 1
            torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=1e-6)
    for x, y in zip(lines(ddp / "metrics.jsonl"), lines(one / "metrics.jsonl"), strict=True):
        assert x["epoch"] == y["epoch"]
        for key in ("train_loss", "val_loss", "val_f1"):
            assert x[key] == pytest.approx(y[key], rel=1e-5), key


@pytest.mark.slow
def test_torchrun_two_processes_train_like_one(
    areas: Path, tmp_path: Path, run_cli: Callable
) -> None:
    ddp, one = tmp_path / "ddp", tmp_path / "one"
    proc = torchrun(*train_args(areas, ddp, 2))
    assert proc.stdout.count("best epoch") == 1  # the summary comes from rank 0 only
    single(areas, one, epochs=2)
    assert_close_runs(ddp, one)
    # only rank 0 wrote: one line per event, the run files and nothing else
    assert {p.name for p in ddp.iterdir()} == set(RUN_FILES)
    log = (ddp / "train.log").read_text()
    assert log.count("started unet at epoch 1") == 1 and log.count("done: best epoch") == 1
    assert "2 data-parallel processes: global batch 4 = 2 x 2 windows per step" in log
    assert json.loads((ddp / "config.json").read_text())["processes"] == 2
    # each epoch the two processes held the same weights, those of the checkpoint
    digests = re.findall(r"weights identical in 2 processes \(sha256 ([0-9a-f]{16})\)", log)
    assert len(digests) == 2
    last = torch.load(ddp / "last.pt", weights_only=True)["model"]
    assert digests[-1] == weights_digest(last)[:16]

    # resume with `slidemap train --nproc 2` (torchrun started by slidemap), one epoch more
    result = run_cli(*train_args(areas, ddp, epochs=3), "--resume", "--nproc", "2")
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1 and result.out.startswith("best epoch ")
    single(areas, one, epochs=3, resume=True)
    assert_close_runs(ddp, one)
    log = (ddp / "train.log").read_text()
    assert log.count("resumed unet at epoch 3 of 3") == 1 and len(lines(ddp / "metrics.jsonl")) == 3


@pytest.mark.slow
def test_torchrun_resunet_batch_norm_uses_the_global_batch(areas: Path, tmp_path: Path) -> None:
    """ResU-Net under DDP normalises each step over the global batch's real windows.

    Its weights cannot be compared to the last digits: a conv bias followed by batch
    norm has a gradient that is zero but for rounding, which Adam's first steps turn
    into updates of ± lr (one process on 1 and on 2 threads differs by 5e-3 there).
    The losses of training and the running statistics can: batch norm over each
    process's own 2 windows moves them by ≈ 1e-2 (losses, relative) and ≈ 0.3 (statistics).
    """
    ddp, one = tmp_path / "ddp", tmp_path / "one"
    torchrun(*train_args(areas, ddp, 2, model="resunet"))
    single(areas, one, epochs=2, model="resunet")
    for x, y in zip(lines(ddp / "metrics.jsonl"), lines(one / "metrics.jsonl"), strict=True):
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-4)  # measured: 1.4e-5
    a = torch.load(ddp / "last.pt", weights_only=True)["model"]
    b = torch.load(one / "last.pt", weights_only=True)["model"]
    stats = [key for key in b if key.endswith(("running_mean", "running_var"))]
    assert len(stats) > 20
    for key in stats:  # measured: ≤ 6.5e-3, as one process on 1 vs 2 threads (6.8e-3)
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=2e-2)


def test_nproc_mistakes_end_before_torchrun(
    areas: Path, tmp_path: Path, run_cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    result = run_cli(*train_args(areas, out, 1), "--nproc", "2", "--batch", "3")
    assert result.code == 2
    assert "--batch 3 is the global batch and must be a multiple of the 2 training" in result.err
    assert run_cli(*train_args(areas, out, 1), "--nproc", "0").code == 2
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_cli(*train_args(areas, out, 1), "--nproc", "2")
    assert result.code == 2 and f"run directory {out} is not empty" in result.err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()  # not a prepared area: refused once, by the launcher
    args = ["train", "--area", tmp_path / "empty", "--out", tmp_path / "run2", "--nproc", "2"]
    result = run_cli(*args)
    assert result.code == 2 and "starting 2 training processes" not in result.err
    assert f"slidemap: error: {tmp_path / 'empty'} is not a prepared area" in result.err
    assert not (tmp_path / "run2").exists()
    monkeypatch.setenv("WORLD_SIZE", "1")
    result = run_cli(*train_args(areas, tmp_path / "nested", 1), "--nproc", "2")
    assert result.code == 2 and "already runs under torchrun; leave out --nproc" in result.err
    assert not (tmp_path / "nested").exists()


@pytest.mark.slow
def test_a_failing_rank_fails_the_launch(tmp_path: Path) -> None:
    area = make_tiny_area(tmp_path, "cut")
    image = area / "image.tif"
    image.write_bytes(image.read_bytes()[:2000])  # its area.json is fine: only ranks see this
    args = ["train", "--area", str(area), "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [sys.executable, "-m", "slidemap", *args, "--nproc", "2"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    # each rank's own error, then the launcher's, and no traceback of torchrun's
    assert proc.stderr.count(f"slidemap: error: cannot read {image}") == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "OMP_NUM_THREADS" not in proc.stderr
    assert proc.stderr.rstrip().endswith(
        "slidemap: error: distributed training failed (torchrun exit code 1); the processes' "
        "errors are above"
    )
    assert not (tmp_path / "run").exists()


def start_training_processes(
    areas: Path, out: Path, epochs: int, **popen: Any
) -> subprocess.Popen[str]:
    """``slidemap train … --nproc 2`` started with its stdout and stderr piped (unbuffered)
    and ``popen``'s further Popen arguments."""
    return subprocess.Popen(
        [sys.executable, "-m", "slidemap", *train_args(areas, out, epochs), "--nproc", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **popen,
    )


def stderr_until(proc: subprocess.Popen[str], wanted: str) -> list[str]:
    """The lines of ``proc``'s stderr up to and with the first that contains ``wanted``."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if wanted in line:
            break
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["starting", "training", "training in the background"])
def test_ctrl_c_stops_every_training_process(areas: Path, tmp_path: Path, moment: str) -> None:
    """Ctrl-C in the terminal (SIGINT to the foreground process group) while torchrun
    starts the ranks, or while they train: every process stops, exit 130, no traceback.
    Started as a shell's background job, slidemap ignores SIGINT and torchrun does not:
    a SIGINT then stops the ranks too, which is an interruption, not a failure."""
    out, epochs = tmp_path / "run", 200
    proc = start_training_processes(
        areas,
        out,
        epochs,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=(
            (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if moment.endswith("background")
            else None
        ),
    )
    wanted = "starting 2 training processes" if moment == "starting" else "epoch 1: train loss"
    seen = stderr_until(proc, wanted)
    os.killpg(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.rstrip().endswith("slidemap: aborted"), err
    assert "failed" not in err, err
    metrics = out / "metrics.jsonl"  # the run may be stopped before its first epoch
    done = len(metrics.read_text().splitlines()) if metrics.exists() else 0
    assert done < epochs, err
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.slow
def test_sigterm_to_the_launcher_stops_every_training_process(areas: Path, tmp_path: Path) -> None:
    """SIGTERM to slidemap alone (``kill PID``, a batch scheduler): it asks torchrun to stop
    the ranks, waits for them, and ends with exit 143 and "terminated"; nothing keeps
    training."""
    import psutil

    out, epochs = tmp_path / "run", 200
    proc = start_training_processes(areas, out, epochs)
    seen = stderr_until(proc, "epoch 1: train loss")
    started = psutil.Process(proc.pid).children(recursive=True)  # torchrun and the ranks
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 143, err
    assert "Traceback" not in err and err.rstrip().endswith("slidemap: terminated"), err
    assert "slidemap: done" not in err, err  # stopped, not trained to its end
    assert len(started) == 3, started
    _, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, alive
    assert not list(tmp_path.rglob("*.partial"))
    assert len((out / "metrics.jsonl").read_text().splitlines()) < epochs


# -- the experiment on Dask, one worker killed --------------------------------------------------

EXPERIMENT = """\
name = "killed"
models = ["unet"]
patches = [32]
seeds = [0]

[areas]
a = "areas/a"
b = "areas/b"

[scenarios]
all = ["a", "b"]
a-only = ["a"]

[train]
epochs = 6
patience = 10
threads = 1

[evaluate]
mode = "whole"
window = 64
overlap = 16
"""


def results(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]


def training_worker(proc: psutil.Process) -> tuple[psutil.Process, Path] | None:
    """A worker process of ``proc``'s cluster that trains a job past its first checkpoint
    (train.log stays open while a job trains)."""
    import psutil

    for child in proc.children(recursive=True):
        try:
            opened = [Path(f.path) for f in child.open_files()]
        except psutil.Error:
            continue
        for path in opened:
            if path.name == "train.log" and (path.parent / "last.pt").is_file():
                return child, path.parents[1]
    return None


@pytest.mark.slow
def test_experiment_survives_a_killed_dask_worker(tmp_path: Path, run_cli: Callable) -> None:
    import psutil

    make_tiny_area(tmp_path / "areas", "a", size=96, seed=1)
    make_tiny_area(tmp_path / "areas", "b", size=96, seed=2, shift=0.02)
    exp = tmp_path / "exp.toml"
    exp.write_text(EXPERIMENT)
    assert run_cli("experiment", exp, "--out", tmp_path / "sequential").code == 0

    out = tmp_path / "dask"
    cmd = [sys.executable, "-m", "slidemap", "experiment", str(exp), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.PIPE, text=True)
    me, found, deadline = psutil.Process(proc.pid), None, time.monotonic() + 240
    while found is None and proc.poll() is None and time.monotonic() < deadline:
        found = training_worker(me)
        time.sleep(0.01)
    assert found is not None, "no worker was caught training a job"
    worker, job = found
    worker.send_signal(signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert "2 jobs (2 run, 0 done before), 6 rows" in stdout
    assert not psutil.pid_exists(worker.pid) or worker.status() == psutil.STATUS_ZOMBIE
    # the killed job was retried from its last checkpoint, once
    log = (job / "run" / "train.log").read_text()
    assert log.count("started unet at epoch 1") == 1 and log.count("resumed unet") == 1
    # every row once, as in the sequential run; nothing half-written left
    assert results(out / "results.csv") == results(tmp_path / "sequential" / "results.csv")
    assert len({(r["scenario"], r["test_set"]) for r in results(out / "results.csv")}) == 6
    assert not list(out.rglob("*.partial")) and not list(out.rglob(".*"))


# -- scene prediction in row bands --------------------------------------------------------------


def test_bands_cover_the_scene_and_read_a_halo_above() -> None:
    lay = layout(300, 230, window=64, overlap=16)
    rows = band_rows(300, 64)
    assert rows == [(0, 64), (64, 128), (128, 192), (192, 256), (256, 300)]
    for top, bottom in rows:
        windows, plans = band_plans(lay, top, bottom, 64)
        expected = [w for w in lay.windows if w.row_off < bottom and w.row_off + w.height > top]
        assert list(windows) == expected  # every window blended there, in layout order
        assert {p.core.row_off for p in plans} == {top}
        assert sum(p.core.width for p in plans) == 230
        computed = sorted(i for p in plans for i in p.compute)
        assert computed == list(range(len(windows)))  # each window once per band
        assert min(p.read.row_off for p in plans) == min(w.row_off for w in windows) < top


def write_rgb_scene(
    prefix: Path,
    shape: tuple[int, int],
    rng: np.random.Generator | None = None,
    nodata_corner: int = 0,
) -> list[Path]:
    """B2, B3, B4 of a (rows, cols) scene as uint16 DN GeoTIFFs ``PREFIX_B*.tif`` (UTM 54N,
    10 m, nodata 0): smooth stripes, plus N(0, 40) noise from ``rng`` and a nodata square
    of ``nodata_corner`` px in the north-west corner where given."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    files = []
    for k, band in enumerate(RGB):
        dn = 700 + 200 * np.sin(xx / (20 + 4 * k)) * np.cos(yy / 31)
        if rng is not None:
            dn += rng.normal(0, 40, yy.shape)
        data = np.clip(dn, 1, 10000).astype(np.uint16)
        data[:nodata_corner, :nodata_corner] = 0
        files.append(prefix.with_name(f"{prefix.name}_{band}.tif"))
        transform = Affine(10, 0, 500000, 0, -10, 4000000)
        write_geotiff(files[-1], data, CRS.from_epsg(32654), transform, 0)
    return files


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], Path]:
    """A run trained on B2, B3, B4 + slope, and a 300 x 230 px scene (uint16 DN, a nodata
    corner) with a 30 m DEM in another grid."""
    root = tmp_path_factory.mktemp("scene")
    area = make_tiny_area(root, "rgbslope", size=128, seed=3, bands=(*RGB, "slope"))
    cfg = TrainConfig(areas=(area,), out=root / "run", patch=32, epochs=1, seed=0, threads=1)
    train(cfg)
    crs = CRS.from_epsg(32654)
    files = write_rgb_scene(root / "scene", (300, 230), np.random.default_rng(4), nodata_corner=24)
    dem = (300 + 60 * np.sin(np.mgrid[0:120, 0:100][1] / 7.0)).astype(np.float32)
    write_geotiff(root / "dem.tif", dem, crs, Affine(30, 0, 499700, 0, -30, 4000300), None)
    return root / "run", files, root / "dem.tif"


@pytest.mark.slow
def test_predict_on_two_workers_equals_one_process(
    scene: tuple[Path, list[Path], Path], tmp_path: Path, run_cli: Callable
) -> None:
    run, files, dem = scene
    aoi = tmp_path / "aoi.gpkg"  # rows 10 to 290, a triangle: bands of the crop, nodata beside
    write_polygons(
        aoi,
        [shapely.Polygon([(500100, 3999900), (502200, 3997100), (500100, 3997100)])],
        CRS.from_epsg(32654),
    )
    args = ["predict", run, "--bands", *files, "--dem", dem, "--window", "64", "--overlap", "16"]
    args += ["--aoi", aoi]
    # batch 1: batched windows may differ in the last bit when batched differently
    args += ["--block", "64", "--batch", "1", "--backend", "torch", "--threads", "1"]
    one = run_cli(*args, "--out", tmp_path / "one")
    assert one.code == 0, one.err
    two = run_cli(*args, "--out", tmp_path / "two", "--workers", "2")
    assert two.code == 0, two.err
    assert two.out.split(" outputs in ")[0] == one.out.split(" outputs in ")[0]
    outputs = ["landslides.gpkg", "mask.tif", "probability.tif", "quicklook.png"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == outputs
    for name in ("probability.tif", "mask.tif"):
        with (
            rasterio.open(tmp_path / "one" / name) as a,
            rasterio.open(tmp_path / "two" / name) as b,
        ):
            assert (a.crs, a.transform, a.shape, a.nodata) == (
                b.crs,
                b.transform,
                b.shape,
                b.nodata,
            )
            assert b.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert a.shape == (280, 210)
            assert np.array_equal(a.read(1), b.read(1))  # 5 bands of 64 rows, no seam
            assert 0.4 < (a.read(1) == a.nodata).mean() < 0.6  # outside the triangle
    x = pyogrio.raw.read(tmp_path / "one" / "landslides.gpkg")
    y = pyogrio.raw.read(tmp_path / "two" / "landslides.gpkg")
    assert x[0]["crs"] == y[0]["crs"] and len(x[2]) == len(y[2]) > 0
    assert list(x[2]) == list(y[2])  # the same polygons, also across band edges
    assert all(np.array_equal(a, b) for a, b in zip(x[3], y[3], strict=True))
    quick = [(tmp_path / d / "quicklook.png").read_bytes() for d in ("one", "two")]
    assert quick[0] == quick[1]


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_ctrl_c_stops_a_prediction_on_workers(
    scene: tuple[Path, list[Path], Path], tmp_path: Path, stop: str
) -> None:
    """SIGINT to the process group (Ctrl-C in a terminal) while the workers predict: exit
    130 and "aborted", no worker dying of the interrupt, no output left; SIGTERM to
    slidemap alone: the same with exit 143 and "terminated", and no worker left running;
    no warning of a worker closed while its band was running. (Dask may still log a failed
    heartbeat of a worker whose scheduler is already gone.)"""
    import psutil

    run, _, _ = scene
    crs, side = CRS.from_epsg(32654), 1536
    files = write_rgb_scene(tmp_path / "big", (side, side))
    dem = np.full((side // 3 + 20, side // 3 + 20), 300, np.float32)
    write_geotiff(tmp_path / "dem.tif", dem, crs, Affine(30, 0, 5e5 - 300, 0, -30, 4e6 + 300), None)
    out = tmp_path / "map"
    args = ["predict", run, "--bands", *files, "--dem", tmp_path / "dem.tif", "--out", out]
    args += ["--window", "64", "--overlap", "16", "--block", "256", "--backend", "torch"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "slidemap", *map(str, args), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "scene … px": the cluster starts now
    time.sleep(4.0)
    workers = psutil.Process(proc.pid).children(recursive=True)
    if stop == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    err = first + rest
    code, last = (130, "slidemap: aborted") if stop == "ctrl-c" else (143, "slidemap: terminated")
    assert proc.returncode == code, err
    assert "KeyboardInterrupt" not in err and err.rstrip().endswith(last), err
    assert "CancelledError" not in err, err  # the workers' closing warnings are filtered
    assert not out.exists() and not list(tmp_path.glob(".map.*"))
    assert workers and not psutil.wait_procs(workers, timeout=10)[1]


def test_workers_drop_only_their_closing_warning() -> None:
    """dask_setup, run in each local worker, filters the one warning Dask logs for a task
    still running when the worker closes, and nothing else; run twice, one filter."""
    import logging

    from slidemap.cluster import QuietClose, dask_setup

    logger = logging.getLogger("distributed.worker.state_machine")
    before = list(logger.filters)
    try:
        dask_setup(None)
        dask_setup(None)
        added = [f for f in logger.filters if f not in before]
        assert len(added) == 1 and isinstance(added[0], QuietClose)

        def record(message: str, *args: object) -> logging.LogRecord:
            return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args, None)

        closing = "Async instruction for %s ended with CancelledError"
        assert not logger.filter(record(closing, "<Task cancelled name='execute(band-1)'>"))
        assert logger.filter(record("Async instruction for %s ended", "<Task>"))
        assert logger.filter(record("Unhandled exception in async instruction for x"))
    finally:
        for f in [f for f in logger.filters if f not in before]:
            logger.removeFilter(f)


def test_distributed_predict_mistakes(
    scene: tuple[Path, list[Path], Path], tmp_path: Path, run_cli: Callable
) -> None:
    run, files, dem = scene
    args = ["predict", run, "--bands", *files, "--dem", dem, "--out", tmp_path / "o"]
    result = run_cli(*args, "--workers", "0")
    assert result.code == 2 and "--workers must be at least 1, got 0" in result.err
    result = run_cli(*args, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert result.code == 2 and "--workers and --scheduler exclude each other" in result.err
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.distributed'] = None; "
        "from slidemap.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args), "--workers", "2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "pip install 'slidemap[distributed]'" in proc.stderr
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


@pytest.mark.slow
def test_a_band_s_user_error_comes_back_from_a_scheduler_s_worker(
    scene: tuple[Path, list[Path], Path], tmp_path: Path, run_cli: Callable
) -> None:
    """A DEM covering only a corner passes the checks made here; the worker finds the rest."""
    from dask.distributed import LocalCluster

    run, files, _ = scene
    corner = tmp_path / "inputs" / "corner.tif"
    corner.parent.mkdir()
    dem = np.full((20, 20), 300, np.float32)
    write_geotiff(corner, dem, CRS.from_epsg(32654), Affine(30, 0, 5e5, 0, -30, 4e6), None)
    out = tmp_path / "o"
    args = ["predict", run, "--bands", *files, "--dem", corner, "--out", out, "--window", "64"]
    args += ["--overlap", "16", "--block", "64", "--backend", "torch", "--threads", "1"]
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run_cli(*args, "--scheduler", cluster.scheduler_address)
    assert result.code == 2
    assert f"slidemap: error: DEM {corner} does not cover the image" in result.err, result.err
    assert "of the image has no DEM" in result.err  # counted by the worker, not found here
    assert sorted(os.listdir(tmp_path)) == ["inputs"]  # no output, no temporary left
