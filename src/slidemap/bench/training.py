"""Training throughput and the training accuracy guard.

The **naive baseline** (:func:`naive_rates`) is what a plain reference
implementation does: eager fp32, default memory format, batch 4, Adam,
``BCEWithLogitsLoss``, ``loss.item()`` after every step. slidemap's path is
the real :func:`slidemap.train.train` with a :class:`Recipe` (its defaults,
or the channels-last / bf16 options of :class:`~slidemap.train.TrainConfig`);
its throughput is the ``patches_per_s`` it writes to ``metrics.jsonl`` for
every epoch (windows / seconds of the epoch's training loop, validation and
checkpoints excluded). Both see the same windows of the same area. The first
epoch of every run is warm-up (oneDNN kernel selection, allocator) and is
not counted. Whether a recipe keeps F1 is :mod:`slidemap.bench.accuracy`'s job.

The FLOPs a training step computes are ≈ 3 × the forward pass's (the
backward pass computes the input's gradient and the weights', each about a
forward pass), so :func:`gflops` states every loop's GFLOP/s as a share of
the machine's fp32 matmul peak: how much room the naive loop leaves decides
whether 1.5 × of it is possible in fp32 at all.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slidemap.area import TRAIN, load_area, read_meta
from slidemap.backends import CpuFeatures
from slidemap.bench.results import Measurement, Skipped, compared
from slidemap.bench.synthetic import write_bench_area
from slidemap.data import PatchDataset, train_statistics
from slidemap.train import TrainConfig, resolve_precision, train

#: Windows per optimizer step: the paper's batch size, for the baseline and every recipe.
BATCH = 4
#: Fewest training windows per epoch (two optimizer steps).
MIN_WINDOWS = 2 * BATCH
#: Width of the validation and test strips of a throughput area (px).
STRIP_PX = 16
#: FLOPs of a training step per FLOP of the forward pass (forward, input and weight gradients).
TRAIN_FLOPS_PER_FORWARD = 3


@dataclass(frozen=True)
class Recipe:
    """A way to run slidemap's training loop: the numerics knobs of TrainConfig.

    Attributes:
        label: "default", "fp32" (the paper's numerics: NCHW, fp32), "channels_last",
            "bf16" or "channels_last+bf16".
        channels_last: NHWC memory format.
        precision: "fp32" or "bf16" (CPU autocast).
    """

    label: str
    channels_last: bool
    precision: str


def default_recipe(features: CpuFeatures | None = None) -> Recipe:
    """What :class:`~slidemap.train.TrainConfig` does when not told otherwise.

    Args:
        features: the CPU's (default: this machine's); they resolve ``precision="auto"``.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    precision = resolve_precision(str(defaults["precision"]), torch.device("cpu"), features)
    return Recipe("default", bool(defaults["channels_last"]), precision)


def reference_recipe() -> Recipe:
    """The paper's recipe in plain eager fp32 (the accuracy guard's baseline)."""
    return Recipe("fp32", channels_last=False, precision="fp32")


def recipes(features: CpuFeatures) -> tuple[list[Recipe], list[Skipped]]:
    """slidemap's default recipe, then every other recipe this CPU can run.

    The first of the others is slidemap's loop in the paper's numerics (NCHW,
    fp32): what the loop itself gains over the naive one, and what the
    default's channels-last and bf16 add to that. bf16 needs native bf16
    (AVX-512-BF16 or AMX): elsewhere it is emulated and slow, so it is
    skipped. An option equal to the default is not repeated.

    Returns:
        ``(recipes, skipped)``; the default comes first.
    """
    default = default_recipe(features)
    out, skipped = [default], []
    candidates = [
        reference_recipe(),
        Recipe("channels_last", True, "fp32"),
        Recipe("bf16", False, "bf16"),
        Recipe("channels_last+bf16", True, "bf16"),
    ]
    for r in candidates:
        if (r.channels_last, r.precision) == (default.channels_last, default.precision):
            continue
        if r.precision == "bf16" and not features.bf16:
            skipped.append(Skipped.no_bf16(f"train recipe {r.label}", features))
            continue
        out.append(r)
    return out, skipped


def naive_rates(area_dir: Path, model_name: str, patch: int, epochs: int, seed: int) -> list[float]:
    """Training throughput of the naive baseline, one value per epoch after a warm-up epoch.

    Args:
        area_dir: a prepared area (its train part gives the windows).
        model_name: "unet" or "resunet".
        patch: window side in pixels.
        epochs: measured epochs (one more is run first, untimed).
        seed: seeds the weights and the window order.

    Returns:
        Windows per second of each measured epoch.
    """
    from slidemap.models import build_model

    area = load_area(area_dir)
    data = PatchDataset([area], TRAIN, patch, train_statistics([area]))
    items = [data[i] for i in range(len(data))]
    torch.manual_seed(seed)
    model = build_model(model_name, len(area.meta.band_names)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(epochs + 1):
        order = rng.permutation(len(items))
        total = 0.0
        start = time.perf_counter()
        for i in range(0, len(order), BATCH):
            chosen = [items[j] for j in order[i : i + BATCH]]
            image = torch.stack([c[0] for c in chosen])
            label = torch.stack([c[1] for c in chosen])
            optimizer.zero_grad()
            loss = loss_fn(model(image), label)
            loss.backward()
            optimizer.step()
            total += loss.item()
        rates.append(len(items) / (time.perf_counter() - start))
    return rates[1:]


def config(
    area_dir: Path,
    out: Path,
    model_name: str,
    patch: int,
    recipe: Recipe,
    epochs: int,
    seed: int,
    threads: int | None,
) -> TrainConfig:
    """The TrainConfig of a bench run: CPU, no early stopping, ``recipe``'s knobs, overwrite."""
    return TrainConfig(
        areas=(area_dir,),
        out=out,
        model=model_name,
        patch=patch,
        epochs=epochs,
        patience=epochs,
        batch=BATCH,
        seed=seed,
        threads=threads,
        device="cpu",
        channels_last=recipe.channels_last,
        precision=recipe.precision,
        overwrite=True,
    )


def recipe_rates(cfg: TrainConfig) -> list[float]:
    """Training throughput of :func:`slidemap.train.train` run with ``cfg``.

    Args:
        cfg: a bench run (:func:`config`); its first epoch is the warm-up.

    Returns:
        ``patches_per_s`` of each epoch after the first, from ``metrics.jsonl``.
    """
    train(cfg)
    lines = (cfg.out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [float(json.loads(line)["patches_per_s"]) for line in lines[1:]]


def train_area(folder: Path, patch: int, pixels: int, seed: int) -> Path:
    """A prepared area whose train part holds about ``pixels`` px of ``patch`` windows.

    Windows: ``max(MIN_WINDOWS, pixels // patch²)``, on a near-square grid;
    validation and test are :data:`STRIP_PX` wide strips on the east side.
    """
    windows = max(MIN_WINDOWS, pixels // patch**2)
    rows = math.ceil(math.sqrt(windows))
    cols = math.ceil(windows / rows)
    return write_bench_area(folder, rows * patch, cols * patch, STRIP_PX, STRIP_PX, seed)


def measure(
    area_dir: Path,
    run_dir: Path,
    model_name: str,
    patch: int,
    chosen: list[Recipe],
    rounds: int,
    seed: int,
    threads: int | None,
) -> list[Measurement]:
    """Naive baseline and every recipe in turn, ``rounds`` times, compared with naive.

    Each round runs each candidate for one warm-up and one measured epoch, so
    load from other processes that comes and goes affects all of them alike;
    each candidate's fastest round is its value (the least disturbed one), its
    speed-up the median over rounds of its speed-up within a round.

    Returns:
        ``train.<model>.<patch>.naive`` (windows/s) and one
        ``train.<model>.<patch>.<recipe>`` per recipe, with its speed-up;
        ``params["gflop_per_window"]`` is a training step's GFLOP per window.
    """
    from slidemap.models import build_model, count_flops

    bands = len(read_meta(area_dir).band_names)
    forward = count_flops(build_model(model_name, bands), patch, patch)
    samples: dict[str, list[float]] = {"naive": [], **{r.label: [] for r in chosen}}
    for _ in range(rounds):
        samples["naive"] += naive_rates(area_dir, model_name, patch, 1, seed)
        for recipe in chosen:
            # one warm-up epoch and one measured epoch
            cfg = config(area_dir, run_dir, model_name, patch, recipe, 2, seed, threads)
            samples[recipe.label] += recipe_rates(cfg)
    params = {
        "model": model_name,
        "patch": patch,
        "batch": BATCH,
        "threads": threads,
        "gflop_per_window": TRAIN_FLOPS_PER_FORWARD * forward / 1e9,
    }
    naive = Measurement(
        f"train.{model_name}.{patch}.naive",
        "train",
        max(samples["naive"]),
        "windows/s",
        {**params, "channels_last": False, "precision": "fp32", "loop": "naive"},
        samples=tuple(samples["naive"]),
    )
    out = [naive]
    for recipe in chosen:
        rates = samples[recipe.label]
        out.append(
            compared(
                f"train.{model_name}.{patch}.{recipe.label}",
                "train",
                max(rates),
                "windows/s",
                naive,
                {
                    **params,
                    "channels_last": recipe.channels_last,
                    "precision": recipe.precision,
                    "loop": "slidemap.train",
                },
                tuple(rates),
                rounds=True,
            )
        )
    return out


def gflops(train_rows: list[Measurement], peak: Measurement) -> list[Measurement]:
    """``train_gflops.<model>.<patch>.<loop>``: the FLOPs each training loop computed per
    second, as a fraction of the run's fp32 matmul ``peak``.

    Args:
        train_rows: ``train.*`` rows of :func:`measure` (their samples are windows/s).
        peak: ``peak.fp32``, the best sample of the run.

    Returns:
        One row per training row, GFLOP/s of each round in ``samples``, the best as
        ``value``; its ratio is ``value / peak`` (the peak is not sampled per training round).
    """
    out = []
    for row in train_rows:
        per_window = float(row.params["gflop_per_window"])
        rates = tuple(per_window * s for s in row.samples)
        name = "train_gflops." + row.name.split(".", 1)[1]
        out.append(compared(name, "train_gflops", max(rates), "GFLOP/s", peak, row.params, rates))
    return out
