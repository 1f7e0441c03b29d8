"""Train one network on the train parts of prepared areas (paper: Adam, BCE, batch 4, early stop).

The loop in :func:`train` reads top to bottom: load areas → windows → model →
per epoch (train on a shuffled window order, validate, early-stopping
bookkeeping, checkpoints, one line of ``metrics.jsonl``) → restore the best
weights → pick the decision threshold on validation.

Run directory (``TrainConfig.out``)::

    config.json     everything needed to reproduce the run
    train.log       what happened, one line per event
    metrics.jsonl   one JSON line per epoch: epoch, train_loss, val_loss,
                    val_precision, val_recall, val_f1 (threshold 0.5),
                    seconds, patches_per_s
    last.pt         state after the latest epoch (for --resume)
    best.pt         weights with the lowest validation loss, and the threshold

Defaults, chosen for real data such as Landslide4Sense (SPEC §8) while keeping
the paper's recipe, and measured in docs/accuracy.md: 64 px windows; BCE with
landslide pixels weighted 10 (:mod:`slidemap.defaults`: landslides are 1–5 %
of the pixels, and plain BCE, ``pos_weight=1``, stops early on a model that
hardly ever says "landslide"); the validation loss that early stopping
watches is the same weighted loss; per-band z-score normalisation over the
train parts (the paper leaves normalisation open; raw reflectance, slope in
degrees and DEM heights differ by orders of magnitude); patience 10 of at
most 100 epochs; the decision threshold maximising F1 on the validation part
(fp32 probabilities) over 0.05, 0.10, …, 0.95 (0.5 when validation has no
landslide), since the weighting moves the best threshold away from 0.5.

Numerics (measured by ``slidemap bench``, docs/performance.md): channels-last
memory format, and bf16 autocast where the hardware computes bf16 natively
(``precision="auto"``: CPUs with AVX-512-BF16 or AMX, CUDA devices with bf16;
plain fp32 elsewhere). That is the fastest recipe at most window sizes, the
others within their noise (1.15–2.4 × the plain fp32 loop on 2 cores of a
Zen 4 and of a Zen 5, least for 32 px windows), with validation F1
unchanged within seed noise; ``precision="fp32"`` and
``channels_last=False`` give the paper's plain fp32 loop. The precision a run
used is stored resolved in ``config.json``. On the CPU the fused Adam update
runs on contiguous views of the channels-last weights (:mod:`slidemap.optim`),
bit-identical to ``torch.optim.Adam`` and without its layout copies.

Resuming: the window order of every epoch is drawn from ``(seed, epoch)``
alone, and ``last.pt`` holds weights, optimizer, early-stopping and RNG
states, so a run interrupted at any point and resumed ends with the same
weights as an uninterrupted one (bit-identical on the CPU with the same
number of threads).

Data-parallel: under ``torchrun --nproc-per-node N -m slidemap train …`` (or
``slidemap train --nproc N``) every process runs :func:`train`; ``batch`` stays
the global batch (paper: 4), each process takes ``batch / N`` windows of every
step, and the result is that of one process with the same batch up to float
rounding (:mod:`slidemap.distributed`). Only rank 0 writes the run directory;
a data-parallel run resumes like any other, with any number of processes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from slidemap import __version__, defaults
from slidemap.area import TRAIN, VALIDATION, AreaMeta, load_area, read_meta
from slidemap.backends import CpuFeatures, cpu_features
from slidemap.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from slidemap.data import (
    Normalization,
    PatchDataset,
    check_patch,
    check_same_bands,
    train_statistics,
)
from slidemap.distributed import Ranks, process_group, ranks_from_env
from slidemap.errors import SlidemapError
from slidemap.global_norm import real_windows
from slidemap.io.atomic import OutputKind, check_writable_target, has_outputs, write_text_atomic
from slidemap.metrics import Counts, f1, precision, recall
from slidemap.models import build_model, model_config
from slidemap.optim import ViewAdam
from slidemap.progress import bar

log = logging.getLogger("slidemap")

MODELS = ("unet", "resunet")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
THRESHOLDS = tuple(round(t / 20, 2) for t in range(1, 20))  # 0.05 … 0.95
DEFAULT_THRESHOLD = 0.5
#: Largest seed: training seeds numpy's legacy generator, which takes 0 … 2**32 - 1.
MAX_SEED = 2**32 - 1
#: Most CPU threads accepted (torch.set_num_threads takes a C int).
MAX_THREADS = 1024
#: A run directory (``--overwrite`` replaces one; :func:`check_run_dir` says more).
RUN = OutputKind("a run directory", "config.json")
RUN_FILES = ("config.json", "train.log", "metrics.jsonl", "last.pt", "best.pt")
# Settings that change the result: a resumed run must keep them.
RECIPE = (
    *("areas", "model", "patch", "batch", "lr", "betas"),
    *("pos_weight", "seed", "nodata_max", "precision"),
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything :func:`train` needs; validated on construction.

    Attributes:
        areas: prepared area directories whose train parts are used.
        out: run directory.
        model: "unet" or "resunet".
        patch: window side in pixels, a multiple of 16 (paper: 32, 64, 128).
        epochs: most epochs in total (a resumed run counts the earlier ones).
        patience: stop after this many epochs without a lower validation loss.
        batch: windows per optimizer step (paper: 4); with several data-parallel
            processes the global batch, split evenly across them.
        lr, betas: Adam settings (paper: 1e-3, (0.9, 0.999)).
        pos_weight: BCE weight of landslide pixels (1 = plain BCE, the paper's).
        seed: seeds weights, window order and every RNG.
        threads: torch CPU threads; None leaves torch's default.
        device: "auto" (CUDA if available), "cpu" or "cuda".
        precision: "auto" (bf16 where the device computes it natively, else
            fp32; see :func:`resolve_precision`); "fp32"; "bf16" (autocast,
            CPU or CUDA); "fp16" (AMP with gradient scaling, CUDA only).
        channels_last: NHWC memory format (faster on CPU and tensor cores).
        nodata_max: drop training windows with a larger share of nodata (0–1).
        resume: continue the run in ``out`` (a missing or empty run, or one stopped in
            its first epoch, starts fresh; one past it without ``last.pt`` is refused).
        overwrite: replace an existing run in ``out``.
    """

    areas: tuple[Path, ...]
    out: Path
    model: str = "unet"
    patch: int = defaults.PATCH_PX
    epochs: int = 100
    patience: int = defaults.PATIENCE
    batch: int = 4
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    pos_weight: float = defaults.POS_WEIGHT
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    nodata_max: float = 0.5
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "areas", tuple(Path(a) for a in self.areas))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "betas", tuple(self.betas))
        checks = [
            (len(self.areas) > 0, "give at least one --area"),
            (self.model in MODELS, f"--model must be one of {', '.join(MODELS)}"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.patience >= 1, "--patience must be at least 1"),
            (self.batch >= 1, "--batch must be at least 1"),
            (0 < self.lr < math.inf, f"--lr must be positive and finite, got {self.lr}"),
            (all(0 <= b < 1 for b in self.betas), "betas must be in [0, 1)"),
            (0 < self.pos_weight < math.inf, "--pos-weight must be a positive number"),
            (
                self.threads is None or 1 <= self.threads <= MAX_THREADS,
                f"--threads must be between 1 and {MAX_THREADS}",
            ),
            (0 <= self.seed <= MAX_SEED, f"--seed must be between 0 and {MAX_SEED}"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (0 <= self.nodata_max <= 1, "--nodata-max must be between 0 and 1"),
            (not (self.resume and self.overwrite), "--resume and --overwrite exclude each other"),
        ]
        for ok, message in checks:
            if not ok:
                raise SlidemapError(message)
        check_patch(self.patch)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; area paths absolute."""
        d = asdict(self)
        d["areas"] = [str(a.resolve()) for a in self.areas]
        d["out"] = str(self.out.resolve())
        d["betas"] = list(self.betas)
        return d


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        run_dir: the run directory.
        best_epoch: epoch of the lowest validation loss (the weights in best.pt).
        epochs_run: epochs completed in total.
        stopped_early: whether early stopping ended the run.
        best_val_loss: validation loss of the best epoch.
        threshold: decision threshold chosen on validation (stored in best.pt).
        val_counts: validation confusion counts of the best weights at ``threshold``.
    """

    run_dir: Path
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    best_val_loss: float
    threshold: float
    val_counts: Counts

    @property
    def val_precision(self) -> float:
        return precision(self.val_counts)

    @property
    def val_recall(self) -> float:
        return recall(self.val_counts)

    @property
    def val_f1(self) -> float:
        return f1(self.val_counts)


@dataclass
class EarlyStopping:
    """Early stopping on validation loss: stop after ``patience`` epochs without improvement.

    An epoch improves when its loss is strictly below the best so far (a NaN
    loss never improves).
    """

    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def step(self, epoch: int, loss: float) -> bool:
        """Record the validation ``loss`` of ``epoch``; True when it is a new best."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad": self.bad_epochs}

    @classmethod
    def from_state(cls, patience: int, state: dict[str, Any]) -> EarlyStopping:
        return cls(patience, float(state["best_loss"]), int(state["best_epoch"]), int(state["bad"]))


@dataclass
class Validation:
    """Validation loss (mean over scored pixels) and counts at every threshold in THRESHOLDS."""

    loss: float
    counts: list[Counts] = field(default_factory=list)

    def at(self, threshold: float) -> Counts:
        return self.counts[THRESHOLDS.index(threshold)]


def pick_threshold(counts: list[Counts]) -> float:
    """The threshold of THRESHOLDS with the highest F1, ties going to the one nearest 0.5.

    Args:
        counts: validation counts, one per threshold in THRESHOLDS.

    Returns:
        The threshold; DEFAULT_THRESHOLD when validation has no landslide pixel.
    """
    if counts[0].tp + counts[0].fn == 0:
        return DEFAULT_THRESHOLD
    scores = [f1(c) for c in counts]
    return max(
        THRESHOLDS,
        key=lambda t: (scores[THRESHOLDS.index(t)], -abs(t - DEFAULT_THRESHOLD)),
    )


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The window order of ``epoch``: a permutation of ``range(n)`` from ``(seed, epoch)`` only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def summed_bce(
    logits: torch.Tensor, label: torch.Tensor, valid: torch.Tensor, pos_weight: torch.Tensor | None
) -> torch.Tensor:
    """() binary cross-entropy summed over the pixels, each weighted by ``valid``.

    The loss of training and of validation, so that early stopping watches the
    objective being minimised.

    Args:
        logits, label, valid: (N, 1, H, W); ``valid`` is the per-pixel weight (0 = ignored).
        pos_weight: (1,) weight of landslide pixels, or None.
    """
    return F.binary_cross_entropy_with_logits(
        logits.float(), label, weight=valid, pos_weight=pos_weight, reduction="sum"
    )


def masked_bce(
    logits: torch.Tensor,
    label: torch.Tensor,
    valid: torch.Tensor,
    pos_weight: torch.Tensor | None,
    pixels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of :func:`summed_bce` over the valid pixels.

    Args:
        logits, label, valid, pos_weight: as for :func:`summed_bce`.
        pixels: () the weight to divide the summed loss by; default ``valid.sum()``.
            A data-parallel process passes the global batch's sum over the number
            of processes, so that DDP's gradient average is the global mean's gradient.
    """
    loss = summed_bce(logits, label, valid, pos_weight)
    return loss / (valid.sum() if pixels is None else pixels).clamp_min(1.0)


def train(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.model`` on the train parts of ``cfg.areas``; see the module docstring.

    Under torchrun every process calls it; they train one model together
    (:mod:`slidemap.distributed`) and each returns the same result.

    Raises:
        SlidemapError: bad settings, unusable areas, a non-empty run directory
            without ``resume``/``overwrite``, a resumed run with other settings,
            a diverging loss, or a batch that does not split across the processes.
    """
    ranks = ranks_from_env()
    ranks.check_batch(cfg.batch)
    device = _device(cfg)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, device))
    if ranks.main:
        check_run_dir(cfg.out, cfg)
    with process_group(device) as (ranks, device):
        return _train(cfg, ranks, device)


def resolve_precision(
    precision: str, device: torch.device, features: CpuFeatures | None = None
) -> str:
    """The precision ``precision`` stands for on ``device``: "auto" resolved, others as given.

    "auto" is "bf16" where bf16 is native (a CPU with AVX-512-BF16 or AMX, a
    CUDA device that supports bf16) and "fp32" elsewhere: emulated bf16 is
    slower than fp32. ``features``: the CPU's (default: this machine's).
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = (features or cpu_features()).bf16
    return "bf16" if native else "fp32"


def _train(cfg: TrainConfig, ranks: Ranks, device: torch.device) -> TrainResult:
    """The training loop of :func:`train`, in one of ``ranks.world`` processes."""
    run = cfg.out
    amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    band_names, norm, train_set, val_set = _datasets(cfg)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    net = build_model(cfg.model, len(band_names)).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    # fused: one kernel for the whole update, 8–14 % faster steps at 32–64 px on a CPU; on
    # the CPU without copies of channels-last weights (slidemap.optim). CUDA keeps plain Adam:
    # fp16's gradient scaler unscales the gradients of param_groups before the step.
    adam = ViewAdam if device.type == "cpu" else torch.optim.Adam
    optimizer = adam(net.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    pos_weight = None if cfg.pos_weight == 1 else torch.tensor([cfg.pos_weight], device=device)
    stopper = EarlyStopping(cfg.patience)
    static = {
        "model_config": model_config(net),
        "band_names": list(band_names),
        "mean": list(norm.mean),
        "std": list(norm.std),
        "patch_px": cfg.patch,
        "train_config": cfg.to_dict(),
    }

    # -- resume: rank 0 reads last.pt and hands its state to the other processes
    start_epoch = 1
    ckpt = ranks.from_main(_resume_state(run, cfg, static) if ranks.main else None)
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        stopper = EarlyStopping.from_state(cfg.patience, ckpt["early_stopping"])
        set_rng_state(ckpt["rng"])
        start_epoch = int(ckpt["epoch"]) + 1
    model = ranks.wrap(net, device)  # DDP with several processes, else ``net`` itself
    if ranks.main:
        _open_run_dir(run, resumed=ckpt is not None, last_epoch=start_epoch - 1)
        config = {
            **static,
            "slidemap_version": __version__,
            "torch_version": torch.__version__,
            "windows": {"train": len(train_set), "validation": len(val_set)},
            "processes": ranks.world,
        }
        write_text_atomic(run / "config.json", json.dumps(config, indent=2))

    with _run_log(run, ranks.main) as run_log:
        where = (
            f"after its last epoch ({start_epoch - 1} of {cfg.epochs}; raise --epochs to "
            "train longer)"
            if start_epoch > cfg.epochs
            else f"at epoch {start_epoch} of {cfg.epochs}"
        )
        _note(
            run_log,
            f"{'resumed' if ckpt else 'started'} {cfg.model} {where}: patch {cfg.patch}, "
            f"{len(cfg.areas)} area(s), seed {cfg.seed}, {device.type} {cfg.precision} "
            "(all settings in config.json)",
        )
        if ranks.distributed:
            _note(
                run_log,
                f"{ranks.world} data-parallel processes: global batch {cfg.batch} = "
                f"{ranks.world} x {cfg.batch // ranks.world} windows per step",
            )
        _note(run_log, f"{len(train_set)} training, {len(val_set)} validation windows")
        epochs_run = start_epoch - 1
        for epoch in range(start_epoch, cfg.epochs + 1):
            if stopper.should_stop:
                break
            started = time.perf_counter()

            # -- train: one pass over the windows in this epoch's order (this process's share)
            model.train()
            steps = ranks.batches(epoch_order(cfg.seed, epoch, len(train_set)), cfg.batch)
            loss_sum = torch.zeros((), device=device)
            with bar(total=len(steps), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch") as pbar:
                for indices, real in steps:
                    image, label, valid = _batch(train_set, indices, device, cfg.channels_last)
                    only_real: AbstractContextManager[None] = nullcontext()
                    if not real.all():  # padding of the last step: no weight, no batch norm
                        mask = torch.from_numpy(real).to(device)
                        valid *= mask.to(valid).view(-1, 1, 1, 1)
                        only_real = real_windows(net, mask)
                    pixels = ranks.all_sum(valid.sum()) / ranks.world
                    with _autocast(device, amp_dtype), only_real:
                        logits = model(image)
                    loss = masked_bce(logits, label, valid, pos_weight, pixels)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    loss_sum += loss.detach()
                    pbar.update(1)
            train_loss = (ranks.all_sum(loss_sum) / ranks.world / len(steps)).item()
            train_seconds = time.perf_counter() - started

            # -- validate, early-stopping bookkeeping, checkpoints, metrics line
            ranks.sync_buffers(net)
            val = validate(
                net, val_set, cfg.batch, device, amp_dtype, cfg.channels_last, ranks, pos_weight
            )
            if not (math.isfinite(train_loss) and math.isfinite(val.loss)):
                raise SlidemapError(
                    f"training diverged at epoch {epoch} (train loss {train_loss}, validation "
                    f"loss {val.loss}); lower --lr or check the areas for extreme values"
                )
            improved = stopper.step(epoch, val.loss) if ranks.main else False
            stopper, improved = ranks.from_main((stopper, improved))
            in_step = (
                f", weights identical in {ranks.world} processes "
                f"(sha256 {ranks.same_weights(net, epoch)[:16]})"
                if ranks.distributed
                else ""
            )
            epochs_run = epoch
            at_half = val.at(DEFAULT_THRESHOLD)
            line = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val.loss,
                "val_precision": _json_float(precision(at_half)),
                "val_recall": _json_float(recall(at_half)),
                "val_f1": _json_float(f1(at_half)),
                "seconds": time.perf_counter() - started,
                "patches_per_s": len(train_set) / train_seconds,
            }
            if ranks.main:
                _append_line(run / "metrics.jsonl", json.dumps(line))
                payload = {
                    **static,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "epoch": epoch,
                    "early_stopping": stopper.state_dict(),
                    "rng": rng_state(),
                    "threshold": DEFAULT_THRESHOLD,
                    "finished": False,
                }
                if improved:
                    save_checkpoint(run / "best.pt", payload)
                save_checkpoint(run / "last.pt", payload)
            _note(
                run_log,
                f"epoch {epoch}: train loss {train_loss:.4f}, val loss {val.loss:.4f}, "
                f"val F1@0.5 {f1(at_half):.3f}, {line['seconds']:.1f} s{in_step}"
                + (" (best)" if improved else ""),
            )

        # -- restore the best weights, choose the threshold on validation in fp32:
        # the probabilities predict and evaluate compute by default
        best = load_checkpoint(run / "best.pt") if ranks.main else {}
        net.load_state_dict(ranks.from_main(best.get("model", {})))
        val = validate(net, val_set, cfg.batch, device, None, cfg.channels_last, ranks)
        threshold = pick_threshold(val.counts)
        if val.counts[0].tp + val.counts[0].fn == 0:
            _note(run_log, "validation has no landslide pixel; threshold left at 0.5")
        if ranks.main:
            save_checkpoint(run / "best.pt", {**best, "threshold": threshold})
            final = load_checkpoint(run / "last.pt")
            save_checkpoint(run / "last.pt", {**final, "threshold": threshold, "finished": True})
        result = TrainResult(
            run_dir=run,
            best_epoch=stopper.best_epoch,
            epochs_run=epochs_run,
            stopped_early=stopper.should_stop,
            best_val_loss=stopper.best_loss,
            threshold=threshold,
            val_counts=val.at(threshold),
        )
        _note(
            run_log,
            f"done: best epoch {result.best_epoch} of {result.epochs_run}, threshold "
            f"{threshold:.2f}, val F1 {result.val_f1:.4f} (P {result.val_precision:.4f}, "
            f"R {result.val_recall:.4f})",
        )
    return result


def _resume_state(run: Path, cfg: TrainConfig, static: dict[str, Any]) -> dict[str, Any] | None:
    """The checked ``last.pt`` of a run to resume, None to start afresh."""
    last = _resumable(run, cfg)
    if last is None:
        return None
    ckpt = load_checkpoint(last)
    _check_same_run(ckpt, static, cfg, last)
    return ckpt


def _open_run_dir(run: Path, resumed: bool, last_epoch: int) -> None:
    """Empty ``run`` unless resuming, drop what a killed run left half-written, create it."""
    if not resumed and run.exists():
        shutil.rmtree(run)  # --overwrite (checked), or --resume before any checkpoint
    run.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:  # temporaries of atomic writes a kill interrupted
        for partial in run.glob(f".{name}.*.partial"):
            partial.unlink(missing_ok=True)
    _keep_metrics(run / "metrics.jsonl", last_epoch)


@contextmanager
def _run_log(run: Path, main: bool) -> Iterator[TextIO | None]:
    """``run/train.log`` opened for appending in rank 0, None in the other processes."""
    if not main:
        yield None
        return
    with open(run / "train.log", "a", encoding="utf-8") as f:
        yield f


@dataclass(frozen=True)
class _Described:
    path: Path
    meta: AreaMeta


def check_areas(cfg: TrainConfig) -> None:
    """What :func:`train` checks of ``cfg.areas`` before it reads their pixels: each is a
    prepared area, and all have the same bands. For a launcher, before it starts processes.

    Raises:
        SlidemapError: a missing or unprepared area, areas with different bands.
    """
    check_same_bands([_Described(Path(p), read_meta(Path(p))) for p in cfg.areas])


def _datasets(
    cfg: TrainConfig,
) -> tuple[tuple[str, ...], Normalization, PatchDataset, PatchDataset]:
    """Band names, normalisation, training and validation windows of ``cfg.areas``."""
    areas = [load_area(path) for path in cfg.areas]
    band_names = check_same_bands(areas)
    norm = train_statistics(areas)
    train_set = PatchDataset(areas, TRAIN, cfg.patch, norm, cfg.nodata_max)
    val_set = PatchDataset(areas, VALIDATION, cfg.patch, norm)
    if len(val_set) == 0:
        raise SlidemapError(
            "no training area has a validation part (split code 3) with valid pixels; early "
            "stopping needs one: prepare the areas again ('slidemap prepare' carves it out)"
        )
    return band_names, norm, train_set, val_set


@torch.inference_mode()
def validate(
    model: nn.Module,
    dataset: PatchDataset,
    batch: int,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    ranks: Ranks | None = None,
    pos_weight: torch.Tensor | None = None,
) -> Validation:
    """Mean loss over the scored validation pixels and counts at every threshold in THRESHOLDS.

    The loss is the training loss, :func:`summed_bce` with ``pos_weight``.

    With data-parallel ``ranks``, each process scores every ``world``-th window and
    the sums are added up across the processes; all get the same result.
    """
    ranks = ranks or Ranks()
    model.eval()
    thresholds = torch.tensor(THRESHOLDS, device=device).view(-1, 1, 1, 1, 1)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    pixels = torch.zeros((), dtype=torch.float64, device=device)
    tp, fp, fn, n = (torch.zeros(len(THRESHOLDS), dtype=torch.int64, device=device) for _ in "abcd")
    share = range(ranks.rank, len(dataset), ranks.world)
    for start in range(0, len(share), batch):
        indices = share[start : start + batch]
        image, label, valid = _batch(dataset, indices, device, channels_last)
        with _autocast(device, amp_dtype):
            logits = model(image)
        loss_sum += summed_bce(logits, label, valid, pos_weight)
        pixels += valid.sum()
        pred = torch.sigmoid(logits.float()) >= thresholds  # (T, N, 1, H, W)
        ref, scored = label > 0.5, valid > 0.5
        tp += (pred & ref & scored).sum(dim=(1, 2, 3, 4))
        fp += (pred & ~ref & scored).sum(dim=(1, 2, 3, 4))
        fn += (~pred & ref & scored).sum(dim=(1, 2, 3, 4))
        n += scored.sum()
    for total in (loss_sum, pixels, tp, fp, fn, n):
        ranks.all_sum(total)
    loss = (loss_sum / pixels.clamp_min(1.0)).item()
    counts = [
        Counts(a, b, c, d - a - b - c)
        for a, b, c, d in zip(tp.tolist(), fp.tolist(), fn.tolist(), n.tolist(), strict=True)
    ]
    return Validation(loss, counts)


def _batch(
    dataset: PatchDataset, indices: Any, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack dataset items into (N, C, H, W), (N, 1, H, W), (N, 1, H, W) on ``device``."""
    images, labels, valids = zip(*(dataset[int(i)] for i in indices), strict=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return (
        torch.stack(images).to(device, non_blocking=True, memory_format=fmt),
        torch.stack(labels).to(device, non_blocking=True),
        torch.stack(valids).to(device, non_blocking=True),
    )


def _autocast(device: torch.device, amp_dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(
        device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None
    )


def _device(cfg: TrainConfig) -> torch.device:
    cuda = torch.cuda.is_available()
    if cfg.device == "cuda" and not cuda:
        raise SlidemapError("--device cuda, but no CUDA device is available; use --device cpu")
    device = torch.device(
        "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and cuda) else "cpu"
    )
    if cfg.precision == "fp16" and device.type != "cuda":
        raise SlidemapError("--precision fp16 needs a CUDA device; use bf16 on the CPU")
    return device


def check_run_dir(run: Path, cfg: TrainConfig) -> None:
    """Refuse a run directory we may not write into; changes nothing on disk.

    Raises:
        SlidemapError: ``run`` is a file, a non-empty directory without
            ``cfg.resume``/``cfg.overwrite``, not a run directory, a run to resume
            that lost its ``last.pt`` after its first epoch, or not writable.
    """
    if run.exists() and not run.is_dir():
        raise SlidemapError(f"--out {run} exists and is not a directory")
    non_empty = has_outputs(run)  # a kill while writing config.json leaves only a .partial
    if non_empty and not (cfg.resume or cfg.overwrite):
        raise SlidemapError(
            f"run directory {run} is not empty; pass --resume to continue the run in it "
            "or --overwrite to replace it"
        )
    if non_empty and not (run / "config.json").is_file():
        raise SlidemapError(
            f"{run} is not a slidemap run directory (no config.json); refusing to "
            f"{'resume in' if cfg.resume else 'replace'} it, choose another --out"
        )
    if non_empty and cfg.resume and _resumable(run, cfg) is None:
        _check_restartable(run)
    check_writable_target(run, overwrite=True, kind=RUN)


def _check_restartable(run: Path) -> None:
    """Refuse to start afresh (``--resume`` without ``last.pt``) in a run past its first epoch.

    ``last.pt`` is written at the end of every epoch and only ever replaced, so a run
    without it stopped in its first epoch: what that epoch left (``config.json``,
    ``train.log``; its ``metrics.jsonl`` line and ``best.pt`` when a kill or a full disk
    came before ``last.pt`` was written) is redone, with the same result. A later epoch's
    line or ``best.pt`` without ``last.pt`` means ``last.pt`` was lost (deleted, as an
    experiment does once a job is done, or not copied): starting afresh would overwrite
    them.
    """
    epochs = [epoch for _, epoch in _metrics_lines(run / "metrics.jsonl")]
    if (run / "best.pt").is_file():
        epochs.append(int(load_checkpoint(run / "best.pt").get("epoch", 0)))
    if max(epochs, default=0) > 1:
        raise SlidemapError(
            f"{run} has no last.pt to resume from, but holds the results of {max(epochs)} "
            "epochs (metrics.jsonl, best.pt), which starting afresh would overwrite; pass "
            "--overwrite to train it again from epoch 1, or choose another --out"
        )


def _metrics_lines(path: Path) -> list[tuple[str, int]]:
    """The complete lines of ``metrics.jsonl`` with their epochs (none when it is absent)."""
    if not path.is_file():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append((text, int(json.loads(text)["epoch"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn last line from a crash
    return lines


def _resumable(run: Path, cfg: TrainConfig) -> Path | None:
    """``run/last.pt`` when resuming a run that has one, else None."""
    last = run / "last.pt"
    return last if cfg.resume and last.is_file() else None


def _check_same_run(
    ckpt: dict[str, Any], static: dict[str, Any], cfg: TrainConfig, path: Path
) -> None:
    """Refuse to resume with settings or data that differ from the checkpoint's."""
    saved = ckpt.get("train_config", {})
    for key in RECIPE:
        if saved.get(key) != cfg.to_dict()[key]:
            raise SlidemapError(
                f"{path} was trained with {key} = {saved.get(key)}, not {cfg.to_dict()[key]}; "
                "resume with the same settings or start a new run with --overwrite"
            )
    for key in ("band_names", "mean", "std", "model_config"):
        if ckpt.get(key) != static[key]:
            raise SlidemapError(
                f"the training areas changed since {path} was written ({key} differs); "
                "start a new run with --overwrite"
            )


def _keep_metrics(path: Path, last_epoch: int) -> None:
    """Keep only complete ``metrics.jsonl`` lines of epochs up to ``last_epoch``."""
    if not path.is_file():
        return
    kept = [text for text, epoch in _metrics_lines(path) if epoch <= last_epoch]
    write_text_atomic(path, "".join(f"{t}\n" for t in kept))


def _append_line(path: Path, text: str) -> None:
    """Append one line durably (single write, flush, fsync: never a torn line)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def _note(run_log: TextIO | None, message: str) -> None:
    """Log ``message`` (INFO) and append it to train.log (None: not rank 0) with a timestamp."""
    log.info(message)
    if run_log is not None:
        run_log.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")
        run_log.flush()


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x
