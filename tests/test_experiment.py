"""The experiment: file validation, job keys, a tiny matrix, skip/resume after SIGKILL, Dask."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_area
from slidemap import defaults
from slidemap.errors import SlidemapError
from slidemap.experiment.config import load_experiment_file
from slidemap.experiment.jobs import plan_jobs
from slidemap.experiment.results import COLUMNS
from slidemap.report.results import load_experiment

EXACT_COLUMNS = (
    "scenario,train_areas,model,patch,seed,test_set,tp,fp,fn,tn,precision,recall,f1,iou,mcc,"
    "best_epoch,train_seconds,job_key"
)

TINY = """\
name = "tiny"
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
epochs = 3
patience = 5
threads = 1

[evaluate]
mode = "whole"
window = 64
overlap = 16
"""


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with areas/a, areas/b (96 px, b spectrally shifted) and exp.toml."""
    root = tmp_path_factory.mktemp("exp")
    make_tiny_area(root / "areas", "a", size=96, seed=1)
    make_tiny_area(root / "areas", "b", size=96, seed=2, shift=0.02)
    (root / "exp.toml").write_text(TINY)
    return root


@pytest.fixture(scope="module")
def finished(root: Path) -> Path:
    """The tiny matrix run once, sequentially, in-process."""
    from slidemap.cli import main

    out = root / "run1"
    assert main(["experiment", str(root / "exp.toml"), "--out", str(out)]) == 0
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_seconds(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows]


# -- the experiment file -------------------------------------------------------------------------


def write_exp(root: Path, text: str) -> Path:
    path = root / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("models = [", "modles = ["), "line 2: modles: unknown key; expected one of: name,"),
        (('a-only = ["a"]', 'a-only = ["c"]'), "line 12: [scenarios] a-only: unknown area 'c'"),
        (('b = "areas/b"', 'b = "areas/missing"'), "line 8: [areas] b: prepared area directory "),
        (("patches = [32]", "patches = [20]"), "line 3: patches: window sides must be positive"),
        (('models = ["unet"]', 'models = ["unet", "vit"]'), "line 2: models: unknown 'vit'"),
        (("epochs = 3", "epochs = 0"), "line 15: [train] epochs: must be at least 1, got 0"),
        (("epochs = 3", "epoch = 3"), "line 15: [train] epoch: unknown key"),
        (('mode = "whole"', 'mode = "tiles"'), "line 20: [evaluate] mode: must be one of whole"),
        (("window = 64", "window = 60"), "line 21: [evaluate] window: must be a multiple of 16"),
        (('a = "areas/a"', 'all = "areas/a"'), "line 7: [areas] all: 'all' names all test parts"),
        (("seeds = [0]", "seeds = [0, 0]"), "line 4: seeds: a value is listed twice"),
        (("threads = 1", 'threads = "1"'), "line 17: [train] threads: expected an integer"),
        (('name = "tiny"', 'name = "a b"'), "line 1: name: use ASCII letters, digits"),
        (('name = "tiny"', ""), "bad.toml: missing key 'name'"),
        (("[scenarios]", "[scenarios"), "bad.toml: invalid TOML"),
    ],
)
def test_bad_experiment_files_exit_2_with_the_line(
    edit: tuple[str, str], message: str, root: Path, tmp_path: Path, run_cli: Callable
) -> None:
    old, new = edit
    assert old in TINY
    path = write_exp(root, TINY.replace(old, new))
    out = tmp_path / "out"
    result = run_cli("experiment", path, "--out", out)
    assert result.code == 2
    assert result.err.startswith(f"slidemap: error: {path}")
    assert message in result.err, result.err
    assert not out.exists()


def test_area_without_area_json_and_areas_with_other_bands(root: Path, run_cli: Callable) -> None:
    (root / "empty").mkdir(exist_ok=True)
    path = write_exp(root, TINY.replace('b = "areas/b"', 'b = "empty"'))
    result = run_cli("experiment", path, "--out", root / "never")
    assert result.code == 2 and "line 8: [areas] b: " in result.err
    assert "is not a prepared area (no area.json)" in result.err
    make_tiny_area(root / "other", "c", size=64, bands=("B2", "B3", "B4", "B8"))
    path = write_exp(root, TINY.replace('b = "areas/b"', 'b = "other/c"'))
    result = run_cli("experiment", path, "--out", root / "never")
    assert result.code == 2
    assert "line 8: [areas] b: bands B2,B3,B4,B8 differ from area a's" in result.err
    assert not (root / "never").exists()


def test_missing_experiment_file(tmp_path: Path, run_cli: Callable) -> None:
    result = run_cli("experiment", tmp_path / "x.toml", "--out", tmp_path / "o")
    assert result.code == 2
    assert result.err == f"slidemap: error: experiment file not found: {tmp_path / 'x.toml'}\n"


def test_defaults_follow_the_paper(root: Path) -> None:
    text = 'name = "d"\n[areas]\na = "areas/a"\nb = "areas/b"\n'
    cfg = load_experiment_file(write_exp(root, text))
    assert cfg.scenarios == (("all", ("a", "b")), ("a", ("a",)), ("b", ("b",)))
    assert (cfg.models, cfg.patches, cfg.seeds) == (("unet", "resunet"), (32, 64, 128), (0,))
    assert cfg.train.pos_weight == defaults.POS_WEIGHT and cfg.evaluate.mode == "whole"
    assert cfg.area_paths["a"] == root / "areas" / "a"


def test_overlap_is_checked_against_the_window_in_whole_mode_only(root: Path) -> None:
    text = 'name = "d"\n[areas]\na = "areas/a"\n[evaluate]\nmode = "{}"\nwindow = 32\n'
    cfg = load_experiment_file(write_exp(root, text.format("patches")))  # overlap 64: unused
    assert cfg.evaluate.mode == "patches"
    with pytest.raises(SlidemapError, match=r"\[evaluate\] overlap: must be at least 0 and sm"):
        load_experiment_file(write_exp(root, text.format("whole")))


def test_job_keys_follow_content_not_names(root: Path, tmp_path: Path) -> None:
    def keys(text: str, out: Path = tmp_path, threads: int = 1) -> list[str]:
        return [j.key for j in plan_jobs(load_experiment_file(write_exp(root, text)), out, threads)]

    jobs = plan_jobs(load_experiment_file(root / "exp.toml"), tmp_path, threads=1)
    base = [j.key for j in jobs]
    assert [j.scenarios for j in jobs] == [("all",), ("a-only",)]
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in base)
    # neither the output place nor the threads are part of the key
    assert keys(TINY, tmp_path / "elsewhere", threads=2) == base
    # a scenario with the same training areas under another name is the same job
    same = TINY.replace('a-only = ["a"]', 'a-only = ["a"]\nalso-a = ["a"]')
    shared = plan_jobs(load_experiment_file(write_exp(root, same)), tmp_path, 1)
    assert [j.scenarios for j in shared] == [("all",), ("a-only", "also-a")]
    assert [j.key for j in shared] == base
    # the same area contents elsewhere: the same keys
    shutil.copytree(root / "areas", tmp_path / "copy")
    assert keys(TINY.replace('"areas/', f'"{tmp_path / "copy"}/')) == base
    # another seed, training option or area content: other keys
    make_tiny_area(tmp_path / "new", "b", size=96, seed=9)
    for text in (
        TINY.replace("seeds = [0]", "seeds = [1]"),
        TINY.replace("threads = 1", "threads = 1\nlr = 0.01"),
        TINY.replace("overlap = 16", "overlap = 32"),
        TINY.replace('b = "areas/b"', f'b = "{tmp_path / "new" / "b"}"'),  # b is tested by all
    ):
        assert not set(keys(text)) & set(base)


# -- running ------------------------------------------------------------------------------------


def test_tiny_matrix_results(finished: Path, root: Path) -> None:
    lines = (finished / "results.csv").read_text().splitlines()
    assert lines[0] == EXACT_COLUMNS == ",".join(COLUMNS)
    rows = read_rows(finished / "results.csv")
    # 2 scenarios x 3 test sets (a, b, all) x 1 model x 1 patch x 1 seed
    assert len(rows) == 6
    order = [(r["scenario"], r["test_set"]) for r in rows]
    assert order == [(s, t) for s in ("all", "a-only") for t in ("a", "b", "all")]
    assert {r["train_areas"] for r in rows if r["scenario"] == "all"} == {"a+b"}
    for r in rows:
        job = finished / "jobs" / r["job_key"]
        result = json.loads((job / "result.json").read_text())
        counts = result["test_sets"][r["test_set"]]["counts"]
        assert [int(r[k]) for k in ("tp", "fp", "fn", "tn")] == [
            counts[k] for k in ("tp", "fp", "fn", "tn")
        ]
        tp, fp, fn = int(r["tp"]), int(r["fp"]), int(r["fn"])
        assert float(r["f1"]) == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert int(r["best_epoch"]) == result["best_epoch"] >= 1
        assert float(r["train_seconds"]) > 0
        assert (r["model"], r["patch"], r["seed"]) == ("unet", "32", "0")
        if r["test_set"] != "all":
            assert (job / "eval" / r["test_set"] / "map.png").is_file()
            assert (job / "eval" / r["test_set"] / "confusion.tif").is_file()
        assert (job / "run" / "best.pt").is_file() and (job / "job.json").is_file()
        assert not (job / "run" / "last.pt").exists()  # only needed to resume
    all_rows = [r for r in rows if r["test_set"] == "all"]
    for r in all_rows:
        parts = [x for x in rows if x["job_key"] == r["job_key"] and x["test_set"] != "all"]
        assert int(r["tp"]) == sum(int(x["tp"]) for x in parts)
    design = json.loads((finished / "experiment.json").read_text())
    assert design["name"] == "tiny"
    assert design["areas"] == {n: str((root / "areas" / n).resolve()) for n in ("a", "b")}
    assert design["scenarios"] == {"all": ["a", "b"], "a-only": ["a"]}
    assert (design["models"], design["patches"], design["seeds"]) == (["unet"], [32], [0])
    assert design["train"]["epochs"] == 3 and design["evaluate"]["window"] == 64
    # the report reads it
    loaded = load_experiment(finished)
    assert len(loaded.rows) == 6 and loaded.scenarios == ("all", "a-only")


def test_rerun_skips_every_job(finished: Path, tmp_path: Path, root: Path, run_cli: Callable):
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    before = {p: p.stat().st_mtime_ns for p in (out / "jobs").rglob("*")}
    result = run_cli("experiment", root / "exp.toml", "--out", out)
    assert result.code == 0, result.err
    assert "2 jobs (0 run, 2 done before)" in result.out
    assert result.err.count("skipped (done before)") == 2
    after = {p: p.stat().st_mtime_ns for p in (out / "jobs").rglob("*")}
    assert after == before  # nothing trained, evaluated or rewritten
    assert (out / "results.csv").read_text() == (finished / "results.csv").read_text()


def test_out_holding_something_else_is_refused(root: Path, tmp_path: Path, run_cli: Callable):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = run_cli("experiment", root / "exp.toml", "--out", tmp_path / "busy")
    assert result.code == 2 and "holds no experiment (no experiment.json)" in result.err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    result = run_cli("experiment", root / "exp.toml", "--out", tmp_path / "busy", "--overwrite")
    assert result.code == 2 and "holds no experiment (no experiment.json)" in result.err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    result = run_cli("experiment", root / "exp.toml", "--out", tmp_path / "o", "--workers", "0")
    assert result.code == 2 and "--workers must be at least 1" in result.err
    result = run_cli(
        "experiment", root / "exp.toml", "--out", tmp_path / "o", "--workers", "2",
        "--scheduler", "tcp://127.0.0.1:1",
    )  # fmt: skip
    assert result.code == 2 and "--workers and --scheduler exclude each other" in result.err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_writes_nothing(
    root: Path, tmp_path: Path, run_cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler is reached before anything is written: a new experiment leaves no
    directory (it used to leave experiment.json), one being resumed is left as it was."""
    monkeypatch.setattr("slidemap.cluster.CONNECT_TIMEOUT", "0.2s")
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "experiment.json").write_text('{"name": "an earlier design"}\n')
    for out in (tmp_path / "new", resumed):
        args = ("--out", out, "--scheduler", "tcp://127.0.0.1:1")
        result = run_cli("experiment", root / "exp.toml", *args)
        assert result.code == 2
        errors = [line for line in result.err.splitlines() if line.startswith("slidemap: error")]
        assert errors == [
            "slidemap: error: cannot connect to the Dask scheduler at tcp://127.0.0.1:1 (Timed "
            "out trying to connect to tcp://127.0.0.1:1 after 0.2 s); start one ('dask "
            "scheduler' and 'dask worker ADDRESS') or use --workers"
        ], result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resumed"]
    assert [p.name for p in resumed.iterdir()] == ["experiment.json"]
    assert (resumed / "experiment.json").read_text() == '{"name": "an earlier design"}\n'


def test_missing_dask_is_explained(root: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.distributed'] = None; "
        "from slidemap.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = [str(root / "exp.toml"), "--out", str(tmp_path / "o"), "--workers", "2"]
    proc = subprocess.run(
        [sys.executable, "-c", code, "experiment", *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "pip install 'slidemap[distributed]'" in proc.stderr
    assert not (tmp_path / "o").exists()


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"experiment ended early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the experiment")
        time.sleep(0.02)


def test_sigkill_and_restart_gives_the_same_results(
    finished: Path, root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "slidemap", "experiment", str(root / "exp.toml"), "--out"]
    proc = subprocess.Popen([*cmd, str(out)], stderr=subprocess.PIPE, text=True)

    def one_done_and_one_training() -> bool:
        jobs = list((out / "jobs").glob("*")) if (out / "jobs").is_dir() else []
        done = [j for j in jobs if (j / "result.json").is_file()]
        training = [j for j in jobs if (j / "run" / "last.pt").is_file() and j not in done]
        return bool(done and training)

    wait_for(one_done_and_one_training, proc, timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.csv").exists()
    interrupted = [j for j in (out / "jobs").iterdir() if not (j / "result.json").exists()]
    assert len(interrupted) == 1

    rerun = subprocess.run([*cmd, str(out)], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 jobs (1 run, 1 done before)" in rerun.stdout
    train_log = (interrupted[0] / "run" / "train.log").read_text()
    assert "resumed unet at epoch" in train_log
    assert without_seconds(read_rows(out / "results.csv")) == without_seconds(
        read_rows(finished / "results.csv")
    )
    assert not list(out.rglob("*.partial"))


@pytest.mark.slow
def test_dask_workers_give_the_same_results(finished: Path, root: Path, run_cli: Callable):
    out = root / "dask"
    result = run_cli("experiment", root / "exp.toml", "--out", out, "--workers", "2")
    assert result.code == 0, result.err
    assert "2 jobs (2 run, 0 done before)" in result.out
    assert without_seconds(read_rows(out / "results.csv")) == without_seconds(
        read_rows(finished / "results.csv")
    )
    assert json.loads((out / "experiment.json").read_text())["threads_per_job"] == 1


@pytest.mark.slow
def test_existing_dask_scheduler(finished: Path, root: Path, tmp_path: Path, run_cli: Callable):
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        out = tmp_path / "scheduled"
        result = run_cli(
            "experiment", root / "exp.toml", "--out", out, "--scheduler", cluster.scheduler_address
        )
    assert result.code == 0, result.err
    assert without_seconds(read_rows(out / "results.csv")) == without_seconds(
        read_rows(finished / "results.csv")
    )


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_designs(tmp_path: Path) -> None:
    """examples/paper.toml is the paper's 4 x 3 x 2 matrix; examples/l4s.toml one scenario."""
    for name in ("taiwan-like", "china-like", "japan-like", "l4s"):
        make_tiny_area(tmp_path / "prepared", name, size=64, seed=len(name))
    shutil.copy(EXAMPLES / "paper.toml", tmp_path)
    shutil.copy(EXAMPLES / "l4s.toml", tmp_path)
    paper = load_experiment_file(tmp_path / "paper.toml")
    assert [s for s, _ in paper.scenarios] == ["all", "taiwan", "china", "japan"]
    assert paper.scenarios[0][1] == ("taiwan-like", "china-like", "japan-like")
    assert (paper.models, paper.patches, paper.seeds) == (("unet", "resunet"), (32, 64, 128), (0,))
    assert len(plan_jobs(paper, tmp_path / "out", threads=1)) == 24
    l4s = load_experiment_file(tmp_path / "l4s.toml")
    assert l4s.scenarios == (("l4s", ("l4s",)),) and l4s.patches == (32,)
    assert (l4s.evaluate.window, l4s.evaluate.overlap) == (128, 0)
    assert len(plan_jobs(l4s, tmp_path / "out", threads=1)) == 2
