"""Crash safety: ``prepare``, ``train``, ``experiment`` and ``predict`` killed with SIGKILL.

Each command runs as a real subprocess (``python -m slidemap``) on tiny inputs
and is killed (its whole process group, SIGKILL) at seeded random points spread
over the work of an uninterrupted run of the same command, profiled in the same
test: from its first line of output to its last (before the first, a command
only starts Python and imports modules, and writes nothing). A point is placed
after a line of output, in CPU and wall seconds, so that it falls in the same
phase of the work however busy the machine is. Per seed, a first run is
killed, then the documented way to carry on is started and killed too, then it
is allowed to finish:

* ``prepare`` and ``predict``: the same command again (their output directory
  appears only when complete, so after a kill it is either absent or whole);
* ``train``: the same command with ``--resume``;
* ``experiment``: the same command again (finished jobs are skipped, an
  interrupted one resumes its training).

After every kill, every file under a final name (not a ``.*.partial``
temporary) is complete: GeoTIFFs have every IFD, tag value and tile inside the
file and read fully, JSON parses, JSON lines and CSV rows are whole, checkpoints
load with ``torch.load(weights_only=True)``, GeoPackages read, PNGs end with
their IEND chunk and decode. At the end the result equals the uninterrupted run's
(same arrays, same weights and optimizer state, same ``results.csv`` apart from
timings) and the inputs are unchanged (checksums).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pyogrio.raw
import pytest
import rasterio
import torch

from slidemap.prepare import prepare_area
from slidemap.synth import synthesize

pytestmark = pytest.mark.slow

SLIDEMAP = (sys.executable, "-m", "slidemap")
#: Seeds of the kill points; each kills every command twice (a first run, then its re-run).
SEEDS = (0, 1, 2)
#: Kills that must land per command (a point in the last moments of a run may come too late).
MIN_KILLS = 5
TRAIN_ARGS = (
    *("--model", "unet", "--patch", "32", "--epochs", "4", "--patience", "100"),
    *("--threads", "1", "--seed", "3"),
)
PREDICT_ARGS = (
    *("--window", "64", "--overlap", "16", "--block", "64", "--threads", "1"),
    *("--backend", "torch"),
)
EXPERIMENT_FILE = """\
name = "kill"
models = ["unet"]
patches = [32]
seeds = [0, 1]

[areas]
japan = "{area}"

[train]
epochs = 2
patience = 100
threads = 1

[evaluate]
window = 64
overlap = 16
"""


# --------------------------------------------------------------------------- processes


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The IEND chunk that ends every PNG file.
PNG_END = b"IEND\xaeB`\x82"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class KillPoint:
    """Where to kill a run: once it has printed ``lines`` lines of output and, since then,
    used ``cpu_s`` seconds of CPU or run ``wall_s`` seconds, whichever comes first."""

    lines: int
    cpu_s: float
    wall_s: float


@dataclass(frozen=True)
class Profile:
    """An uninterrupted run: CPU and wall time (from its start) when each line of its output
    appeared.

    Kill points are drawn from the work between its first line (before it a command only
    starts Python and imports modules, and writes nothing) and its last (the summary on
    stdout, which comes out as the process exits). CPU time locates a point in computation
    whatever the load of the machine (other tests, other users), wall time in waiting for
    the disk; a kill point uses both.
    """

    line_cpu_s: tuple[float, ...]
    line_wall_s: tuple[float, ...]

    def kill_point(self, f: float) -> KillPoint:
        """The point at fraction ``f`` of the work, anchored to the line of output before it
        (so that it falls in the same phase of the work)."""
        cpu = self.line_cpu_s[0] + self.work_cpu_s * f
        wall = self.line_wall_s[0] + self.work_wall_s * f
        k = max(1, sum(c <= cpu for c in self.line_cpu_s))
        return KillPoint(k, cpu - self.line_cpu_s[k - 1], wall - self.line_wall_s[k - 1])

    def kill_points(self, seed: int, resumed: bool) -> tuple[KillPoint, KillPoint]:
        """The two kill points of ``seed``: in the first half of a first run, then in the
        second half of a full re-run or (``resumed``) anywhere in the work a resumed run has
        left (about the part the first kill did not reach)."""
        rng = random.Random(seed)
        f = rng.uniform(0.02, 0.5)
        first = self.kill_point(f)
        if resumed:
            g = rng.uniform(0.02, 0.9) * (1 - f)
            return first, KillPoint(1, self.work_cpu_s * g, self.work_wall_s * g)
        return first, self.kill_point(rng.uniform(0.5, 0.9))

    @property
    def work_cpu_s(self) -> float:
        """CPU seconds from the first line of output to the last."""
        return self.line_cpu_s[-1] - self.line_cpu_s[0]

    @property
    def work_wall_s(self) -> float:
        """Wall seconds from the first line of output to the last."""
        return self.line_wall_s[-1] - self.line_wall_s[0]


@dataclass
class Runner:
    """Runs ``slidemap`` subprocesses in ``cwd``, their output going to ``log``."""

    cwd: Path
    log: Path

    def _start(self, args: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
        """Start ``slidemap ARGS``; also returns where its output starts in the log."""
        with open(self.log, "ab") as log:
            log.write(f"\n$ slidemap {' '.join(args)}\n".encode())
            log.flush()
            offset = log.tell()
            proc = subprocess.Popen(
                [*SLIDEMAP, *args],
                cwd=self.cwd,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: killed as a whole
                # kill points count lines of output: a library warning that shows in one
                # run and not in the next would shift them
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        return proc, offset

    def _lines(self, offset: int) -> int:
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read().count(b"\n")

    @staticmethod
    def _ended(proc: subprocess.Popen[bytes]) -> float | None:
        """The CPU seconds ``proc`` used in all if it has ended (reaped here), else None."""
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == 0:
            return None
        proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime

    def _check(self, proc: subprocess.Popen[bytes], args: Sequence[str]) -> None:
        assert proc.returncode == 0, f"slidemap {' '.join(args)} failed:\n{self.tail()}"

    def run(self, args: Sequence[str]) -> int:
        """Run to the end; returns the exit code."""
        return self._start(args)[0].wait(timeout=300)

    def complete(self, args: Sequence[str]) -> Profile:
        """Run to the end, noting its CPU and wall time at each line of output. Fails on an
        error."""
        started = time.perf_counter()
        proc, offset = self._start(args)
        cpu: list[float] = []
        wall: list[float] = []
        while (end_cpu_s := self._ended(proc)) is None:
            new = self._lines(offset) - len(cpu)
            if new:
                cpu += [cpu_seconds(proc.pid)] * new
                wall += [time.perf_counter() - started] * new
            time.sleep(0.005)
        self._check(proc, args)
        new = self._lines(offset) - len(cpu)  # lines that came out as the process ended
        cpu += [end_cpu_s] * new
        wall += [time.perf_counter() - started] * new
        assert cpu, f"slidemap {' '.join(args)} printed nothing"
        return Profile(tuple(cpu), tuple(wall))

    def killed(self, args: Sequence[str], point: KillPoint) -> bool:
        """Run and SIGKILL the process group at ``point``; False if it ended before."""
        proc, offset = self._start(args)
        anchor: tuple[float, float] | None = None
        while self._ended(proc) is None:
            if anchor is None and self._lines(offset) >= point.lines:
                anchor = cpu_seconds(proc.pid), time.perf_counter()
            if anchor is not None and (
                cpu_seconds(proc.pid) - anchor[0] >= point.cpu_s
                or time.perf_counter() - anchor[1] >= point.wall_s
            ):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return True
            time.sleep(0.002)
        self._check(proc, args)
        return False

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


# --------------------------------------------------------------------------- checks


def _temporary(name: str) -> bool:
    """A temporary name of :mod:`slidemap.io.atomic` (or a checkpoint being written)."""
    return name.startswith(".") and name.endswith(".partial")


def assert_no_temporaries(output: Path) -> None:
    """Nothing the killed runs left half-written is still there, beside or below ``output``."""
    left = list(output.parent.glob(f".{output.name}.*.partial"))
    for dirpath, dirnames, filenames in os.walk(output):
        left += [Path(dirpath) / n for n in (*dirnames, *filenames) if _temporary(n)]
    assert not left, f"temporaries of killed runs left behind: {left}"


def final_files(root: Path) -> Iterator[Path]:
    """Files under final names below ``root`` (temporary files and directories skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _temporary(d)]
        for name in filenames:
            if not _temporary(name):
                yield Path(dirpath) / name


def check_complete(path: Path) -> None:
    """Read ``path`` completely with the reader its kind needs; raises if it is damaged."""
    suffix = path.suffix
    if suffix == ".tif":
        check_geotiff(path)
    elif suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".jsonl":
        text = path.read_text(encoding="utf-8")
        assert not text or text.endswith("\n"), f"{path}: torn last line"
        for line in text.splitlines():
            json.loads(line)
    elif suffix == ".csv":
        text = path.read_text(encoding="utf-8")
        rows = list(csv.reader(text.splitlines()))
        assert text.endswith("\n"), f"{path}: torn last row"
        assert rows and all(len(r) == len(rows[0]) for r in rows), f"{path}: torn CSV"
    elif suffix == ".pt":
        payload = torch.load(path, map_location="cpu", weights_only=True)
        assert payload["format"] == "slidemap-checkpoint"
    elif suffix == ".gpkg":
        pyogrio.raw.read(path)
    elif suffix == ".png":
        assert path.read_bytes().endswith(PNG_END), f"{path}: no IEND chunk"
        matplotlib.image.imread(path)
    elif suffix in (".log", ".txt", ".toml", ".xml"):
        path.read_text(encoding="utf-8")
    else:
        raise AssertionError(f"unexpected output {path}: add a completeness check for it")


#: Bytes per value of the TIFF field types.
TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
TIFF_TYPE_SIZES |= {13: 4, 16: 8, 17: 8, 18: 8}
#: Tags of the pixel data: (offsets, byte counts) of strips and of tiles.
TIFF_DATA_TAGS = ((273, 279), (324, 325))


def check_geotiff(path: Path) -> None:
    """Every IFD (image and overviews), tag value, strip and tile lies inside the file, and
    every pixel reads."""
    data = path.read_bytes()
    order = {b"II": "<", b"MM": ">"}[data[:2]]
    big = struct.unpack(order + "H", data[2:4])[0] == 43  # BigTIFF
    entry_fmt, count_fmt, word = (order + "HHQQ", "Q", 8) if big else (order + "HHII", "H", 4)
    offset = struct.unpack(order + ("Q" if big else "I"), data[8:16] if big else data[4:8])[0]
    while offset:
        (entries,) = struct.unpack_from(order + count_fmt, data, offset)
        start = offset + struct.calcsize(count_fmt)
        entry_size = struct.calcsize(entry_fmt)
        tags: dict[int, tuple[int, ...]] = {}
        for i in range(entries):
            tag, kind, count, value = struct.unpack_from(entry_fmt, data, start + i * entry_size)
            size = TIFF_TYPE_SIZES.get(kind, 1) * count
            where = start + i * entry_size + (entry_size - word) if size <= word else value
            assert where + size <= len(data), f"{path}: tag {tag} cut off"
            if kind in (3, 4, 16):
                code = {3: "H", 4: "I", 16: "Q"}[kind]
                tags[tag] = struct.unpack_from(f"{order}{count}{code}", data, where)
        for offsets_tag, counts_tag in TIFF_DATA_TAGS:
            for at, length in zip(tags.get(offsets_tag, ()), tags.get(counts_tag, ()), strict=True):
                assert at + length <= len(data), f"{path}: pixel data cut off"
        (offset,) = struct.unpack_from(
            order + ("Q" if big else "I"), data, start + entries * entry_size
        )
    with rasterio.open(path) as ds:
        ds.read()


def assert_all_complete(root: Path) -> None:
    for path in final_files(root):
        try:
            check_complete(path)
        except Exception as exc:
            raise AssertionError(f"half-written file under its final name: {path}") from exc


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` (relative path → digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_raster(path: Path) -> tuple[np.ndarray, Any, Any]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.crs, ds.transform


def assert_same_rasters(a: Path, b: Path) -> None:
    (xa, crs_a, ta), (xb, crs_b, tb) = read_raster(a), read_raster(b)
    assert crs_a == crs_b and ta == tb, f"{b}: grid differs from {a}"
    np.testing.assert_array_equal(xa, xb, err_msg=str(b))


def report(command: str, kills: int, profile: Profile) -> None:
    """Print how many kills landed (``pytest -s`` shows it) and require enough of them."""
    print(
        f"{command}: {kills} of {2 * len(SEEDS)} kills landed; uninterrupted run: "
        f"{profile.work_wall_s:.1f} s ({profile.work_cpu_s:.1f} s CPU) from its first line of "
        f"output to its last, {profile.line_wall_s[-1]:.1f} s in all"
    )
    assert kills >= MIN_KILLS, f"{command}: only {kills} kills landed before the run ended"


def kill_and_recover(
    runner: Runner,
    first: Sequence[str],
    again: Sequence[str],
    points: tuple[KillPoint, KillPoint],
    check_root: Path,
    done: Path | None,
) -> int:
    """Kill ``first`` at ``points[0]``, then ``again`` at ``points[1]``, then run ``again``
    to the end; after each kill every final-named file under ``check_root`` must be whole.

    Args:
        done: for ``prepare`` and ``predict``, the output directory: once it exists the
            command had finished (it is complete, and the command refuses to run again);
            None for the commands that resume.

    Returns:
        The number of kills that landed (a run that ended first is not killed).
    """
    kills = 0
    finished = done.exists if done is not None else lambda: False
    for args, point in ((first, points[0]), (again, points[1])):
        if finished() or not runner.killed(args, point):
            return kills
        kills += 1
        assert_all_complete(check_root)
    if not finished():
        runner.complete(again)
    return kills


# --------------------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kill")


@pytest.fixture(scope="module")
def area_file(work: Path) -> Path:
    """A synthetic 128 × 128 px area (bands, DEM, inventory, area.toml)."""
    (toml,) = synthesize(work / "synth", seed=0, scale=0.25, areas=("japan-like",))
    return toml


@pytest.fixture(scope="module")
def prepared(work: Path, area_file: Path) -> Path:
    return prepare_area(area_file, work / "prepared")


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run: its output and profile."""

    out: Path
    profile: Profile


@pytest.fixture(scope="module")
def train_reference(work: Path, prepared: Path) -> Reference:
    runner = Runner(work, work / "train-reference.log")
    out = work / "train-reference"
    profile = runner.complete(["train", "--area", str(prepared), "--out", str(out), *TRAIN_ARGS])
    return Reference(out, profile)


# --------------------------------------------------------------------------- prepare


def test_prepare_killed_leaves_nothing_or_a_whole_area(work: Path, area_file: Path) -> None:
    root = work / "prepare"
    root.mkdir()
    runner = Runner(root, root / "log.txt")
    inputs = checksums(area_file.parent)
    reference = root / "reference"
    profile = runner.complete(["prepare", str(area_file), "--out", str(reference)])
    kills = 0
    for seed in SEEDS:
        out = root / f"seed{seed}"
        args = ["prepare", str(area_file), "--out", str(out)]
        kills += kill_and_recover(
            runner, args, args, profile.kill_points(seed, resumed=False), root, out
        )
        assert_same_area(reference, out)
        assert_no_temporaries(out)
    assert checksums(area_file.parent) == inputs
    report("prepare", kills, profile)


def assert_same_area(reference: Path, out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for name in ("image.tif", "label.tif", "split.tif"):
        assert_same_rasters(reference / name, out / name)
    assert json.loads((out / "area.json").read_text()) == json.loads(
        (reference / "area.json").read_text()
    )


# --------------------------------------------------------------------------- train


def _weights(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(a: Any, b: Any, where: str) -> None:
    """Equal nested dicts/lists of tensors and plain values (tensors bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def assert_same_run(reference: Path, run: Path) -> None:
    """Same weights, optimizer and early-stopping state, threshold and per-epoch losses."""
    for name in ("best.pt", "last.pt"):
        ref, got = _weights(reference / name), _weights(run / name)
        for key in ("model", "optimizer", "epoch", "early_stopping", "threshold", "finished"):
            assert_same_tensors(ref[key], got[key], f"{run / name}:{key}")
    columns = ("epoch", "train_loss", "val_loss", "val_precision", "val_recall", "val_f1")

    def losses(path: Path) -> list[tuple[Any, ...]]:
        lines = path.read_text().splitlines()
        return [tuple(json.loads(line)[c] for c in columns) for line in lines]

    assert losses(run / "metrics.jsonl") == losses(reference / "metrics.jsonl")


def test_train_killed_resumes_to_the_same_weights(
    work: Path, prepared: Path, train_reference: Reference
) -> None:
    root = work / "train"
    root.mkdir()
    runner = Runner(root, root / "log.txt")
    inputs = checksums(prepared)
    profile = train_reference.profile
    kills = 0
    for seed in SEEDS:
        run = root / f"seed{seed}"
        args = ["train", "--area", str(prepared), "--out", str(run), *TRAIN_ARGS]
        points = profile.kill_points(seed, resumed=True)
        kills += kill_and_recover(runner, args, [*args, "--resume"], points, root, None)
        assert_same_run(train_reference.out, run)
        assert_no_temporaries(run)
    assert checksums(prepared) == inputs
    report("train", kills, profile)


def _assert_resumes(runner: Runner, args: list[str], refusal: str) -> None:
    code = runner.run(args)
    assert refusal not in runner.tail()
    assert code == 0, runner.tail()


def test_train_resumes_after_a_kill_while_writing_config_json(
    prepared: Path, tmp_path: Path
) -> None:
    """The state a SIGKILL between mkstemp and rename of config.json leaves (a window of a few
    milliseconds in the first seconds of a run, too narrow to hit with random delays)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / ".config.json.k1ll3d.partial").write_text('{"model_con')
    args = ["train", "--area", str(prepared), "--out", str(run), *TRAIN_ARGS, "--resume"]
    _assert_resumes(Runner(tmp_path, tmp_path / "log.txt"), args, "not a slidemap run directory")


# --------------------------------------------------------------------------- experiment


def read_results(path: Path) -> list[dict[str, str]]:
    """results.csv rows without the timing column."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(f)]


def test_experiment_killed_resumes_to_the_same_results(work: Path, prepared: Path) -> None:
    root = work / "experiment"
    root.mkdir()
    exp_file = root / "exp.toml"
    exp_file.write_text(EXPERIMENT_FILE.format(area=prepared), encoding="utf-8")
    runner = Runner(root, root / "log.txt")
    inputs = checksums(prepared)
    reference = root / "reference"
    profile = runner.complete(["experiment", str(exp_file), "--out", str(reference)])
    expected = read_results(reference / "results.csv")
    assert len(expected) == 4  # 2 seeds x (the area, all)
    kills = 0
    for seed in SEEDS:
        out = root / f"seed{seed}"
        args = ["experiment", str(exp_file), "--out", str(out)]
        points = profile.kill_points(seed, resumed=True)
        kills += kill_and_recover(runner, args, args, points, root, None)
        assert read_results(out / "results.csv") == expected
        assert_no_temporaries(out)
        for confusion in reference.glob("jobs/*/eval/*/confusion.tif"):
            assert_same_rasters(confusion, out / confusion.relative_to(reference))
    assert checksums(prepared) == inputs
    report("experiment", kills, profile)


def test_experiment_resumes_after_a_kill_while_writing_experiment_json(
    prepared: Path, tmp_path: Path
) -> None:
    """The state a SIGKILL between mkstemp and rename of experiment.json leaves."""
    out = tmp_path / "exp"
    out.mkdir()
    (out / ".experiment.json.k1ll3d.partial").write_text('{"name": "ki')
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(EXPERIMENT_FILE.format(area=prepared).replace("[0, 1]", "[0]"))
    args = ["experiment", str(exp_file), "--out", str(out)]
    _assert_resumes(Runner(tmp_path, tmp_path / "log.txt"), args, "holds no experiment")


# --------------------------------------------------------------------------- predict


def assert_same_prediction(reference: Path, out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for name in ("probability.tif", "mask.tif"):
        assert_same_rasters(reference / name, out / name)
    ref_gpkg, got_gpkg = (
        pyogrio.raw.read(reference / "landslides.gpkg"),
        pyogrio.raw.read(out / "landslides.gpkg"),
    )
    assert list(ref_gpkg[2]) == list(got_gpkg[2])  # geometries (WKB)
    for ref_field, got_field in zip(ref_gpkg[3], got_gpkg[3], strict=True):
        np.testing.assert_array_equal(ref_field, got_field)
    np.testing.assert_array_equal(
        matplotlib.image.imread(reference / "quicklook.png"),
        matplotlib.image.imread(out / "quicklook.png"),
    )


def test_predict_killed_leaves_nothing_or_whole_maps(
    work: Path, area_file: Path, train_reference: Reference
) -> None:
    root = work / "predict"
    root.mkdir()
    runner = Runner(root, root / "log.txt")
    model = root / "model"
    shutil.copytree(train_reference.out, model)
    inputs = {**checksums(area_file.parent), **checksums(model)}
    reference = root / "reference"
    base = ["predict", str(model), "--area", str(area_file), *PREDICT_ARGS]
    profile = runner.complete([*base, "--out", str(reference)])
    kills = 0
    for seed in SEEDS:
        out = root / f"seed{seed}"
        args = [*base, "--out", str(out)]
        kills += kill_and_recover(
            runner, args, args, profile.kill_points(seed, resumed=False), root, out
        )
        assert_same_prediction(reference, out)
        assert_no_temporaries(out)
    assert {**checksums(area_file.parent), **checksums(model)} == inputs
    report("predict", kills, profile)
