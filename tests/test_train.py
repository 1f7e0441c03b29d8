"""Training: learning, early stopping, checkpoints, resume (in-process, after SIGKILL), errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import make_tiny_area
from slidemap import defaults
from slidemap.area import TRAIN, VALIDATION, load_area
from slidemap.backends import cpu_features
from slidemap.checkpoint import (
    ModelInfo,
    check_bands,
    load_checkpoint,
    load_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from slidemap.data import Normalization, PatchDataset
from slidemap.errors import SlidemapError
from slidemap.metrics import Counts
from slidemap.train import (
    THRESHOLDS,
    EarlyStopping,
    TrainConfig,
    epoch_order,
    masked_bce,
    pick_threshold,
    resolve_precision,
    train,
    validate,
)

THREADS = 1  # bit-identical resume needs the same thread count in every run


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def areas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two learnable 128 px areas (west 60 % train with a validation strip, east 40 % test)."""
    root = tmp_path_factory.mktemp("areas")
    make_tiny_area(root, "a", size=128, seed=1)
    make_tiny_area(root, "b", size=128, seed=2, shift=0.02)
    return root


def config(areas: Path, out: Path, **kw: object) -> TrainConfig:
    settings: dict = {
        "areas": (areas / "a",),
        "out": out,
        "model": "unet",
        "patch": 32,
        "epochs": 3,
        "patience": 10,
        "seed": 7,
        "threads": THREADS,
        "device": "cpu",
    }
    settings.update(kw)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def metric_lines(run: Path) -> list[dict]:
    return [json.loads(t) for t in (run / "metrics.jsonl").read_text().splitlines()]


# -- pure parts -------------------------------------------------------------------------------


def test_early_stopping_on_a_constructed_curve():
    losses = [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77, 0.5]
    stopper = EarlyStopping(patience=3)
    improved = []
    for epoch, loss in enumerate(losses, start=1):
        if stopper.should_stop:
            break
        improved.append(stopper.step(epoch, loss))
    assert improved == [True, True, False, False, True, False, False, False]
    assert (stopper.best_epoch, stopper.best_loss, stopper.bad_epochs) == (5, 0.7, 3)
    restored = EarlyStopping.from_state(3, stopper.state_dict())
    assert restored == stopper and restored.should_stop
    assert not EarlyStopping.from_state(5, stopper.state_dict()).should_stop


def test_early_stopping_never_takes_nan_or_equal_losses():
    stopper = EarlyStopping(patience=2)
    assert stopper.step(1, 0.5)
    assert not stopper.step(2, float("nan"))
    assert not stopper.step(3, 0.5)
    assert stopper.should_stop and stopper.best_epoch == 1


def test_threshold_maximises_f1_and_defaults_without_landslides():
    def counts_for(best: float) -> list[Counts]:
        # F1 peaks at ``best``: the further a threshold is from it, the more FP
        return [Counts(50, 10 + int(100 * abs(t - best)), 10, 1000) for t in THRESHOLDS]

    assert pick_threshold(counts_for(0.3)) == 0.3
    assert pick_threshold(counts_for(0.85)) == 0.85
    flat = [Counts(50, 10, 10, 1000)] * len(THRESHOLDS)
    assert pick_threshold(flat) == 0.5  # ties go to the threshold nearest 0.5
    no_landslide = [Counts(0, 5, 0, 1000)] * len(THRESHOLDS)
    assert pick_threshold(no_landslide) == 0.5


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = epoch_order(3, 5, 40)
    assert sorted(a.tolist()) == list(range(40))
    assert np.array_equal(a, epoch_order(3, 5, 40))
    assert not np.array_equal(a, epoch_order(3, 6, 40))
    assert not np.array_equal(a, epoch_order(4, 5, 40))


def test_masked_bce_ignores_invalid_pixels():
    logits = torch.tensor([[[[2.0, -1.0], [100.0, 0.5]]]])
    label = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    valid = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])  # the confidently wrong pixel is nodata
    loss = masked_bce(logits, label, valid, None)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[valid > 0], label[valid > 0]
    )
    assert torch.allclose(loss, expected)
    weighted = masked_bce(logits, label, valid, torch.tensor([3.0]))
    assert weighted > loss


# -- checkpoints --------------------------------------------------------------------------------


def payload(**kw: object) -> dict:
    p: dict = {
        "model": {"w": torch.arange(6.0).reshape(2, 3)},
        "model_config": {"name": "unet", "in_channels": 2},
        "band_names": ["B4", "B8"],
        "mean": [0.1, 0.3],
        "std": [0.05, 0.1],
        "patch_px": 64,
        "threshold": 0.35,
        "epoch": 4,
        "rng": rng_state(),
    }
    p.update(kw)
    return p


def test_checkpoint_round_trip_with_weights_only(tmp_path: Path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, payload())
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["format"] == "slidemap-checkpoint" and raw["epoch"] == 4
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_checkpoint_write_is_atomic(tmp_path: Path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, payload(epoch=1))
    with pytest.raises((pickle.PicklingError, AttributeError)):  # fails half-way through
        save_checkpoint(path, payload(epoch=2, model=lambda: None))
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_rng_states_round_trip(tmp_path: Path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state()})
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_corrupt_checkpoints_are_refused(tmp_path: Path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, payload())
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "empty.pt": b"",
        "garbage.pt": b"not a checkpoint at all" * 20,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SlidemapError, match="is corrupt or not a slidemap checkpoint"):
            load_checkpoint(tmp_path / name)
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(SlidemapError, match=r"not a slidemap checkpoint \(no slidemap header"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(SlidemapError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


class Payload:
    """Stands for arbitrary code in a pickle: unpickling it must never run it."""

    ran = False

    def __reduce__(self):
        return (Payload._run, ())

    @staticmethod
    def _run() -> str:
        Payload.ran = True
        return "ran"


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "slidemap-checkpoint", "x": Payload()}, path)
    with pytest.raises(SlidemapError, match=r"pickled objects other than tensors.*refused"):
        load_checkpoint(path)
    assert not Payload.ran
    with pytest.raises(SlidemapError, match="pickled objects"):
        load_model(path)


def test_check_bands():
    info = ModelInfo("unet", {}, ("B2", "B3", "B4"), (0,) * 3, (1,) * 3, 64, 0.5)
    check_bands(info, ["B2", "B3", "B4"], "area x")
    with pytest.raises(SlidemapError, match="area x has bands B2,B4 but the unet model was"):
        check_bands(info, ("B2", "B4"), "area x")
    with pytest.raises(SlidemapError, match="expects them in the order B2,B3,B4; reorder"):
        check_bands(info, ("B4", "B3", "B2"), "area x")


# -- training runs ------------------------------------------------------------------------------


def test_unet_learns(areas: Path, tmp_path: Path):
    result = train(config(areas, tmp_path / "run", epochs=30, patience=30, patch=32))
    assert result.val_f1 >= 0.6, result
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "train.log",
        "metrics.jsonl",
        "last.pt",
        "best.pt",
    }
    lines = metric_lines(run)
    assert [line["epoch"] for line in lines] == list(range(1, result.epochs_run + 1))
    assert set(lines[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "val_precision",
        "val_recall",
        "val_f1",
        "seconds",
        "patches_per_s",
    }
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    best = min(lines, key=lambda line: line["val_loss"])
    assert best["epoch"] == result.best_epoch
    assert result.best_val_loss == pytest.approx(best["val_loss"])

    model, info = load_model(run)
    assert info.threshold == result.threshold and info.threshold in THRESHOLDS
    assert info.band_names == ("B2", "B3", "B4", "B8", "slope") and info.patch_px == 32
    assert info.model_name == "unet" and len(info.mean) == 5
    assert not model.training
    assert_same_weights_in_memory(model, run / "best.pt")
    saved = json.loads((run / "config.json").read_text())
    assert saved["train_config"]["seed"] == 7 and saved["band_names"][-1] == "slope"
    assert saved["windows"] == {"train": 8, "validation": 4}
    assert "done: best epoch" in (run / "train.log").read_text()


def assert_same_weights_in_memory(model: torch.nn.Module, ckpt: Path) -> None:
    saved = weights(ckpt)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_early_stopping_restores_the_best_weights(areas: Path, tmp_path: Path):
    # patience 1 stops at the first epoch whose validation loss is not a new best
    result = train(config(areas, tmp_path / "run", epochs=20, patience=1))
    lines = metric_lines(tmp_path / "run")
    assert result.stopped_early and result.epochs_run < 20
    assert result.epochs_run == result.best_epoch + 1 == len(lines)
    assert lines[-1]["val_loss"] >= lines[-2]["val_loss"]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert best["epoch"] == result.best_epoch and last["epoch"] == result.epochs_run
    assert last["finished"] and best["threshold"] == last["threshold"] == result.threshold
    assert any(not torch.equal(best["model"][k], last["model"][k]) for k in best["model"])
    # the reported validation counts are those of the restored best weights
    model, info = load_model(tmp_path / "run")
    norm = Normalization(info.mean, info.std)
    val_set = PatchDataset([load_area(areas / "a")], VALIDATION, 32, norm)
    assert validate(model, val_set, 4, torch.device("cpu")).at(info.threshold) == (
        result.val_counts
    )


def test_early_stopping_watches_the_weighted_training_loss(areas: Path, tmp_path: Path):
    result = train(config(areas, tmp_path / "run", epochs=2, precision="fp32", pos_weight=10.0))
    best_line = metric_lines(tmp_path / "run")[result.best_epoch - 1]
    model, info = load_model(tmp_path / "run")
    norm = Normalization(info.mean, info.std)
    val_set = PatchDataset([load_area(areas / "a")], VALIDATION, 32, norm)
    cpu = torch.device("cpu")
    weighted = validate(model, val_set, 4, cpu, channels_last=True, pos_weight=torch.tensor([10.0]))
    plain = validate(model, val_set, 4, cpu, channels_last=True)
    assert weighted.loss == pytest.approx(best_line["val_loss"], rel=1e-5)
    assert weighted.loss > plain.loss * 1.5
    assert weighted.counts == plain.counts


def test_default_recipe_weights_landslides(areas: Path, tmp_path: Path, run_cli: Callable):
    assert TrainConfig(areas=(areas / "a",), out=tmp_path).pos_weight == defaults.POS_WEIGHT > 1
    result = run_cli("train", "--help")
    assert f"[default: {defaults.POS_WEIGHT}]" in result.out


@pytest.mark.parametrize(
    "options",
    [
        {"precision": "bf16"},
        {"precision": "fp32"},
        {"channels_last": False},
        {"pos_weight": 1.0, "batch": 3},
    ],
)
def test_training_options(areas: Path, tmp_path: Path, options: dict):
    result = train(config(areas, tmp_path / "run", epochs=2, **options))
    lines = metric_lines(tmp_path / "run")
    assert len(lines) == 2 and all(math.isfinite(x["train_loss"]) for x in lines)
    assert result.best_epoch in (1, 2)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_config"][
        next(iter(options))
    ] == next(iter(options.values()))


def test_auto_precision_is_resolved_for_the_device_and_stored(areas: Path, tmp_path: Path):
    cpu = torch.device("cpu")
    native = "bf16" if cpu_features().bf16 else "fp32"
    assert resolve_precision("auto", cpu) == native
    assert [resolve_precision(p, cpu) for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    assert TrainConfig(areas=(areas / "a",), out=tmp_path).precision == "auto"
    train(config(areas, tmp_path / "run", epochs=1))
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["train_config"]
    assert (stored["precision"], stored["channels_last"]) == (native, True)
    # resuming with the default "auto" matches the stored, resolved precision
    resumed = train(config(areas, tmp_path / "run", epochs=2, resume=True))
    assert resumed.epochs_run == 2


def test_resume_in_process_matches_an_uninterrupted_run(areas: Path, tmp_path: Path):
    full = train(config(areas, tmp_path / "full", epochs=4))
    part = train(config(areas, tmp_path / "part", epochs=2))
    assert part.epochs_run == 2
    # a crash after a metrics line but before its checkpoint, then a torn line
    with open(tmp_path / "part" / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "train_loss": 9.0}\n{"epoch": 4, "tra')
    resumed = train(config(areas, tmp_path / "part", epochs=4, resume=True))
    assert resumed.epochs_run == 4 and resumed.best_epoch == full.best_epoch
    for name in ("best.pt", "last.pt"):
        assert_same_weights(tmp_path / "full" / name, tmp_path / "part" / name)
    a, b = metric_lines(tmp_path / "full"), metric_lines(tmp_path / "part")
    assert [(x["epoch"], x["train_loss"], x["val_loss"]) for x in a] == [
        (x["epoch"], x["train_loss"], x["val_loss"]) for x in b
    ]
    # resuming a finished run trains nothing more, and says so
    again = train(config(areas, tmp_path / "part", epochs=4, resume=True))
    assert again.epochs_run == 4 and len(metric_lines(tmp_path / "part")) == 4
    log = (tmp_path / "part" / "train.log").read_text()
    assert "resumed unet after its last epoch (4 of 4; raise --epochs to train longer)" in log
    assert_same_weights(tmp_path / "full" / "last.pt", tmp_path / "part" / "last.pt")


def cli_args(areas: Path, out: Path, epochs: int) -> list[str]:
    return [
        *("train", "--area", str(areas / "a"), "--area", str(areas / "b")),
        *("--model", "unet", "--patch", "32", "--out", str(out), "--seed", "11"),
        *("--epochs", str(epochs), "--patience", "20", "--threads", str(THREADS)),
        *("--device", "cpu"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "stop", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["sigkill", "ctrl-c", "sigterm"]
)
def test_resume_after_an_interruption_matches_an_uninterrupted_run(
    stop: signal.Signals, areas: Path, tmp_path: Path, run_cli: Callable
):
    """Killed, or stopped with Ctrl-C (exit 130) or SIGTERM (143; one line, no traceback,
    no temporaries), inside epoch 3."""
    epochs = 5
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "slidemap", *cli_args(areas, killed, epochs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    log = killed / "train.log"  # "epoch 2: …" is logged once epoch 2's checkpoints are written
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and "epoch 2: train loss" in log.read_text():
            break
        time.sleep(0.005)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    time.sleep(metric_lines(killed)[1]["seconds"] * 0.4)  # inside epoch 3
    proc.send_signal(stop)
    proc.wait()
    if stop != signal.SIGKILL:
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert proc.returncode == 128 + stop, err
        last = "slidemap: aborted" if stop == signal.SIGINT else "slidemap: terminated"
        assert err.rstrip().endswith(last) and "Traceback" not in err, err
        assert not list(killed.rglob("*.partial"))  # (a SIGKILL may land inside a write)
    interrupted_at = load_checkpoint(killed / "last.pt")["epoch"]
    assert 2 <= interrupted_at < epochs

    result = run_cli(*cli_args(areas, killed, epochs), "--resume")
    assert result.code == 0, result.err
    assert "best epoch" in result.out and str(killed) in result.out
    full = run_cli(*cli_args(areas, tmp_path / "full", epochs))
    assert full.code == 0, full.err
    for name in ("best.pt", "last.pt"):
        assert_same_weights(tmp_path / "full" / name, killed / name)
    assert [x["epoch"] for x in metric_lines(killed)] == list(range(1, epochs + 1))


# -- errors -------------------------------------------------------------------------------------


def test_refuses_a_non_empty_run_directory(areas: Path, tmp_path: Path, run_cli: Callable):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["train", "--area", areas / "a", "--patch", "32", "--out", out, "--epochs", "1"]
    result = run_cli(*args)
    assert result.code == 2
    assert f"slidemap: error: run directory {out} is not empty; pass --resume" in result.err
    result = run_cli(*args, "--overwrite")
    assert result.code == 2 and "not a slidemap run directory (no config.json)" in result.err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_a_run(areas: Path, tmp_path: Path):
    train(config(areas, tmp_path / "run", epochs=1))
    (tmp_path / "run" / "stale.txt").write_text("x")
    train(config(areas, tmp_path / "run", epochs=1, overwrite=True))
    assert not (tmp_path / "run" / "stale.txt").exists()
    assert len(metric_lines(tmp_path / "run")) == 1


def test_resume_with_other_settings_is_refused(areas: Path, tmp_path: Path):
    train(config(areas, tmp_path / "run", epochs=1))
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(SlidemapError, match=r"trained with lr = 0\.001, not 0\.01; resume with"):
        train(config(areas, tmp_path / "run", epochs=2, lr=0.01, resume=True))
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_resume_without_last_pt(areas: Path, tmp_path: Path, run_cli: Callable):
    """--resume continues from last.pt. Without it, a run stopped in its first epoch (its
    metrics line and maybe best.pt written, last.pt not: a full disk, a kill) starts afresh; a run
    past epoch 1 lost last.pt, and starting afresh would overwrite its best.pt and
    metrics.jsonl: refused, nothing changed."""
    stopped = tmp_path / "stopped"
    train(config(areas, stopped, epochs=1))
    (stopped / "last.pt").unlink()  # killed between epoch 1's best.pt and last.pt
    resumed = train(config(areas, stopped, epochs=2, resume=True))
    assert resumed.epochs_run == 2 and [x["epoch"] for x in metric_lines(stopped)] == [1, 2]

    lost = tmp_path / "lost"
    train(config(areas, lost, epochs=2))
    (lost / "last.pt").unlink()
    before = {p.name: p.read_bytes() for p in lost.iterdir()}
    args = ["train", "--area", areas / "a", "--patch", "32", "--seed", "7", "--out", lost]
    result = run_cli(*args, "--epochs", "3", "--threads", THREADS, "--device", "cpu", "--resume")
    assert result.code == 2
    assert result.err == (
        f"slidemap: error: {lost} has no last.pt to resume from, but holds the results of 2 "
        "epochs (metrics.jsonl, best.pt), which starting afresh would overwrite; pass "
        "--overwrite to train it again from epoch 1, or choose another --out\n"
    )
    assert {p.name: p.read_bytes() for p in lost.iterdir()} == before


def test_cli_errors(areas: Path, tmp_path: Path, run_cli: Callable):
    out = tmp_path / "run"
    base = ["train", "--area", areas / "a", "--out", out, "--epochs", "1"]
    cases = [
        (["--patch", "40"], "--patch must be a positive multiple of 16"),
        (["--patch", "128"], "no 128 x 128 px training window fits in its train part"),
        (["--patch", "32", "--lr", "0"], "--lr must be positive"),
        # inf passed '> 0', then the loss diverged after config.json and train.log were written
        (["--patch", "32", "--lr", "inf"], "--lr must be positive and finite, got inf"),
        (["--patch", "32", "--lr", "nan"], "--lr must be positive and finite, got nan"),
        (["--patch", "32", "--nodata-max", "nan"], "--nodata-max must be between 0 and 1"),
        (["--patch", "32", "--pos-weight", "0"], "--pos-weight must be a positive number"),
        (["--patch", "32", "--pos-weight", "nan"], "--pos-weight must be a positive number"),
        (["--patch", "32", "--resume", "--overwrite"], "exclude each other"),
        (["--patch", "32", "--precision", "fp16", "--device", "cpu"], "needs a CUDA device"),
        (["--patch", "32", "--seed", "-1"], "--seed must be between 0 and 4294967295"),
        (["--patch", "32", "--seed", "4294967296"], "--seed must be between 0 and 4294967295"),
        (["--patch", "32", "--threads", "99999999999"], "--threads must be between 1 and 1024"),
    ]
    for extra, message in cases:
        result = run_cli(*base, *extra)
        assert result.code == 2, extra
        assert result.err.startswith("slidemap: error: ") and message in result.err, result.err
        assert not out.exists()
    result = run_cli("train", "--area", tmp_path / "nowhere", "--out", out)
    assert result.code == 2 and "is not a prepared area" in result.err
    result = run_cli("train", "--area", areas / "a", "--out", out, "--model", "vgg")
    assert result.code == 2 and "slidemap: error: Invalid value for '--model'" in result.err


def test_band_mismatch_between_areas(tmp_path: Path, run_cli: Callable):
    make_tiny_area(tmp_path, "five", size=96)
    make_tiny_area(tmp_path, "four", size=96, bands=("B2", "B3", "B4", "B8"))
    result = run_cli(
        *("train", "--area", tmp_path / "five", "--area", tmp_path / "four"),
        *("--patch", "32", "--out", tmp_path / "run"),
    )
    assert result.code == 2
    assert "different bands (B2,B3,B4,B8,slope vs B2,B3,B4,B8)" in result.err
    assert not (tmp_path / "run").exists()


def test_load_model_errors(areas: Path, tmp_path: Path):
    with pytest.raises(SlidemapError, match=r"checkpoint not found: .*best\.pt"):
        load_model(tmp_path)
    train(config(areas, tmp_path / "run", epochs=1))
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    ckpt["model_config"] = {**ckpt["model_config"], "in_channels": 4}
    save_checkpoint(tmp_path / "other.pt", ckpt)
    with pytest.raises(SlidemapError, match="the weights do not fit model 'unet'"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(SlidemapError, match="must be 'best' or 'last'"):
        load_model(tmp_path / "run", which="first")
    model, info = load_model(tmp_path / "run", which="last")
    assert not model.training
    assert math.isfinite(info.threshold) and info.model_config["name"] == "unet"


def test_area_without_validation_part(tmp_path: Path, run_cli: Callable):
    area = make_tiny_area(tmp_path, "noval", size=96)
    with rasterio.open(area / "split.tif", "r+") as dst:
        split = dst.read(1)
        split[split == VALIDATION] = TRAIN
        dst.write(split, 1)
    result = run_cli("train", "--area", area, "--patch", "32", "--out", tmp_path / "run")
    assert result.code == 2
    assert "no training area has a validation part (split code 3)" in result.err
    assert not (tmp_path / "run").exists()
