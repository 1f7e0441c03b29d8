"""The performance suite: options per mode, the steps in order, the SPEC §8 verdicts.

:func:`run_bench` measures, in this order: the fp32 (and bf16) matmul peak;
training throughput (:mod:`.training`); the training accuracy guard
(:mod:`.accuracy`), which also trains the U-Net used afterwards (and, outside
``--quick``, one ResU-Net); inference throughput, probability differences and
F1 per backend (:mod:`.inference`); whole-scene time and memory, the largest
scene also in bf16 (:mod:`.scene`); then achieved GFLOP/s against the peak,
the targets (:mod:`.targets`) and the defaults beside the fastest options
(:mod:`.defaults`). Everything runs on the CPU on synthetic data in a
temporary directory (:mod:`.synthetic`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slidemap.backends import cpu_features
from slidemap.bench import accuracy, inference, training
from slidemap.bench.defaults import defaults
from slidemap.bench.machine import (
    PEAK_N,
    fastest_op,
    load_average,
    machine_info,
    matmul_gflops,
    matmul_product,
    peak_ops,
    product_gflops,
)
from slidemap.bench.results import BenchReport, Measurement, Skipped, compared
from slidemap.bench.scene import SceneRecord, predict_synthetic, scene_rows
from slidemap.bench.synthetic import BANDS, make_tile
from slidemap.bench.targets import TILE_SIDE, judge
from slidemap.checkpoint import ModelInfo, load_model
from slidemap.data import Normalization
from slidemap.errors import SlidemapError
from slidemap.progress import bar, bars_enabled

log = logging.getLogger("slidemap")

MODES = ("tiny", "quick", "standard", "full")
MODELS = ("unet", "resunet")
#: Back-to-back products per peak op after each inference round (the best one counts).
PEAK_BURST = 3


@dataclass(frozen=True)
class BenchOptions:
    """Sizes and repeats of a bench run; :meth:`for_mode` gives the presets.

    Attributes:
        mode: "tiny" (tests of the suite only), "quick", "standard" or "full".
        threads: torch / ONNX Runtime / OpenVINO threads; None keeps each one's default.
        models: networks whose training and inference are measured.
        train_patches: training window sides (px).
        train_px: model → training pixels per epoch (windows = px / patch², at least 8).
        train_rounds: runs of each recipe (each: one warm-up and one measured epoch).
        accuracy_rows: side of the accuracy area's train part (px).
        accuracy_patch, accuracy_epochs, accuracy_seeds: the accuracy guard's U-Net training.
        infer_trained: models whose inference runs with weights trained on the
            accuracy task (F1 per backend); the others get seeded random weights.
            The U-Net is always trained (by the accuracy guard); any other
            model listed is trained once, reference recipe, first seed.
        infer_side: model → side of the square inference image (px).
        infer_rounds: timed runs of every backend.
        scene_sides: whole-scene sides (px), smallest first.
        scene_bf16: predict the largest scene in bf16 too (CPUs with native bf16).
        scene_timeout_s: longest one scene may take.
        peak_n, peak_repeats: matmul side and repeats.
        seed: seeds every synthetic input and every training.
        work_dir: parent of the temporary directory (None: the system's default).
    """

    mode: str = "standard"
    threads: int | None = None
    models: tuple[str, ...] = MODELS
    train_patches: tuple[int, ...] = (32, 64, 128)
    train_px: Mapping[str, int] = field(default_factory=lambda: {"unet": 2**18, "resunet": 2**16})
    train_rounds: int = 2
    accuracy_rows: int = 384
    accuracy_patch: int = 32
    accuracy_epochs: int = 8
    accuracy_seeds: tuple[int, ...] = (0, 1)
    infer_trained: tuple[str, ...] = MODELS
    infer_side: Mapping[str, int] = field(default_factory=lambda: {"unet": 1024, "resunet": 512})
    infer_rounds: int = 3
    scene_sides: tuple[int, ...] = (1024, 2048, 4096)
    scene_bf16: bool = True
    scene_timeout_s: float = 1800.0
    peak_n: int = PEAK_N
    peak_repeats: int = 5
    seed: int = 0
    work_dir: Path | None = None

    @classmethod
    def for_mode(cls, mode: str, threads: int | None = None) -> BenchOptions:
        """The preset of ``mode``.

        * quick: 64 px training, two rounds; 512² (U-Net) / 256² (ResU-Net,
          random weights) inference; scenes 512², 1024², 2048²;
        * standard: 32/64/128 px training, two rounds; 1024² / 512² inference,
          both networks trained; scenes 1024², 2048², 4096²;
        * full: standard with three rounds and seeds, 4× longer U-Net training
          epochs, 1024² ResU-Net inference and the whole 10980² Sentinel-2 tile;
        * tiny: a few seconds per step, for tests of the suite (numbers meaningless).

        Raises:
            SlidemapError: unknown mode, threads < 1.
        """
        if mode not in MODES:
            raise SlidemapError(f"unknown bench mode {mode!r}; choose one of {', '.join(MODES)}")
        if threads is not None and threads < 1:
            raise SlidemapError(f"--threads must be at least 1, got {threads}")
        base = cls(mode=mode, threads=threads)
        presets: dict[str, dict[str, object]] = {
            "standard": {},
            "quick": {
                "train_patches": (64,),
                "train_px": {"unet": 2**17, "resunet": 2**15},
                "accuracy_seeds": (0,),
                "infer_trained": ("unet",),
                "infer_side": {"unet": 512, "resunet": 256},
                "infer_rounds": 2,
                "scene_sides": (512, 1024, 2048),
                "peak_repeats": 3,
            },
            "full": {
                "train_rounds": 3,
                # U-Net epochs of ≈ 4 s rather than 1 s: the short steps are the noisiest
                "train_px": {"unet": 2**20, "resunet": 2**16},
                "accuracy_epochs": 10,
                "accuracy_seeds": (0, 1, 2),
                "infer_side": {"unet": 1024, "resunet": 1024},
                "scene_sides": (1024, 2048, 4096, TILE_SIDE),
            },
            "tiny": {
                "models": ("unet",),
                "train_patches": (16,),
                "train_px": {"unet": 0, "resunet": 0},
                "train_rounds": 1,
                "accuracy_rows": 128,
                "accuracy_patch": 16,
                "accuracy_epochs": 5,
                "accuracy_seeds": (0,),
                "infer_trained": ("unet",),
                "infer_side": {"unet": 64, "resunet": 32},
                "infer_rounds": 1,
                "scene_sides": (64, 128),
                "peak_n": 256,
                "peak_repeats": 2,
            },
        }
        return replace(base, **presets[mode])  # type: ignore[arg-type]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the INFO logs and progress bars of the library calls the bench makes."""
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for the run and restore them after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Run:
    """The state of one bench run; each public method is one step of the progress bar."""

    def __init__(self, opts: BenchOptions, work: Path) -> None:
        self.opts = opts
        self.work = work
        self.features = cpu_features()
        self.report = BenchReport(opts.mode, machine_info())
        self.recipes, skipped = training.recipes(self.features)
        self.report.skipped += skipped
        self.peaks: dict[torch.dtype, dict[str, list[float]]] = {}  # dtype → op → samples
        self.infer_peaks: dict[str, dict[str, list[float]]] = {}  # model → op → round rates
        self.trained: dict[str, Path] = {}
        self.accuracy_scores: dict[str, list[float]] = {}
        self.model_scores: dict[str, list[float]] = {}
        self.rows: dict[str, list[Measurement]] = {}
        self.scenes: dict[str, list[SceneRecord]] = {"fp32": [], "bf16": []}
        self.plan = self._plan()

    @staticmethod
    def _plan() -> inference.WindowPlan:
        from slidemap.predict import PredictOptions

        defaults = PredictOptions()
        return inference.WindowPlan(defaults.window, defaults.overlap, defaults.batch)

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        """(description, step) in order."""
        out: list[tuple[str, Callable[[], None]]] = [("matmul peak", self.peak)]
        for model in self.opts.models:
            for patch in self.opts.train_patches:
                out.append((f"train {model} {patch}", partial(self.train, model, patch)))
        for recipe in accuracy.accuracy_recipes(self.recipes):
            out.append((f"accuracy {recipe.label}", partial(self.accuracy, recipe)))
        for model in self.opts.infer_trained:
            if model != "unet" and model in self.opts.models:
                out.append((f"accuracy {model}", partial(self.train_for_inference, model)))
        for model in self.opts.models:
            out.append((f"infer {model}", partial(self.infer, model)))
        for side in self.opts.scene_sides:
            out.append((f"scene {side}", partial(self.scene, side)))
        return out

    def peak(self) -> None:
        self._sample_peaks(self.opts.peak_repeats)
        if not self.features.bf16:
            self.report.skipped.append(Skipped.no_bf16("peak.bf16", self.features))

    def _sample_peaks(self, repeats: int) -> None:
        """``repeats`` more samples of the fp32 (and, where native, bf16) matmul peak, for
        every op of :func:`~slidemap.bench.machine.peak_ops`."""
        dtypes = (torch.float32, torch.bfloat16) if self.features.bf16 else (torch.float32,)
        for dtype in dtypes:
            for op in peak_ops():
                self.peaks.setdefault(dtype, {}).setdefault(op, []).extend(
                    matmul_gflops(dtype, self.opts.peak_n, repeats, op, self.opts.threads)
                )

    def _peak(self, dtype: torch.dtype, baseline: Measurement | None) -> Measurement:
        """``peak.fp32`` / ``peak.bf16``: the best sample of the fastest op; ``params``
        name that op and every op's best (``op_peaks``), ``samples`` are that op's."""
        by_op = self.peaks[dtype]
        op, best = fastest_op(by_op)
        name = "fp32" if dtype == torch.float32 else "bf16"
        params = {
            "n": self.opts.peak_n,
            "dtype": str(dtype).removeprefix("torch."),
            "op": op,
            "op_peaks": best,
        }
        return compared(
            f"peak.{name}", "peak", best[op], "GFLOP/s", baseline, params, tuple(by_op[op])
        )

    def train(self, model: str, patch: int) -> None:
        area = training.train_area(
            self.work / f"train-{model}-{patch}", patch, self.opts.train_px[model], self.opts.seed
        )
        rows = training.measure(
            area,
            self.work / "train-run",
            model,
            patch,
            self.recipes,
            self.opts.train_rounds,
            self.opts.seed,
            self.opts.threads,
        )
        self.rows.setdefault("train", []).extend(rows)

    def _accuracy_area(self) -> Path:
        folder = self.work / "accuracy-area"
        if folder.exists():
            return folder
        return accuracy.accuracy_area(folder, self.opts.accuracy_rows, self.opts.seed)

    def _scores(
        self, model: str, recipe: training.Recipe, seeds: tuple[int, ...]
    ) -> tuple[list[float], list[Path]]:
        return accuracy.recipe_scores(
            self._accuracy_area(),
            self.work / f"accuracy-{model}-{recipe.label}",
            model,
            recipe,
            self.opts.accuracy_patch,
            self.opts.accuracy_epochs,
            seeds,
            self.opts.threads,
        )

    def accuracy(self, recipe: training.Recipe) -> None:
        scores, runs = self._scores("unet", recipe, self.opts.accuracy_seeds)
        self.accuracy_scores[recipe.label] = scores
        if recipe == training.reference_recipe():
            self.trained["unet"] = runs[0]

    def train_for_inference(self, model: str) -> None:
        scores, runs = self._scores(
            model, training.reference_recipe(), self.opts.accuracy_seeds[:1]
        )
        self.model_scores[model] = scores
        self.trained[model] = runs[0]

    def _model(self, name: str) -> tuple[nn.Module, ModelInfo, np.ndarray]:
        """The network, its info and a normalised (C, side, side) image.

        Trained networks come from the accuracy steps; the others have seeded
        random weights and the image's own band statistics.
        """
        from slidemap.models import build_model, model_config

        side = self.opts.infer_side[name]
        tile = make_tile((self.opts.seed, 1), side, side)
        raw = np.concatenate([tile.reflectance, tile.slope_deg[None]])
        if name in self.trained:
            model, info = load_model(self.trained[name])
        else:
            torch.manual_seed(self.opts.seed)
            model = build_model(name, len(BANDS)).eval()
            mean = tuple(float(x) for x in raw.mean(axis=(1, 2)))
            std = tuple(float(x) for x in raw.std(axis=(1, 2)))
            info = ModelInfo(name, model_config(model), BANDS, mean, std, 64, 0.5)
        return model, info, Normalization(info.mean, info.std).apply(raw)

    def infer(self, name: str) -> None:
        model, info, image = self._model(name)
        n, threads = self.opts.peak_n, self.opts.threads
        products = {op: matmul_product(torch.float32, n, op, threads) for op in peak_ops()}

        def sample_peak() -> dict[str, float]:
            return {op: max(product_gflops(run, n, PEAK_BURST)) for op, run in products.items()}

        result = inference.measure(
            model,
            info,
            image,
            self.features,
            self.opts.threads,
            self.plan,
            self.opts.infer_rounds,
            {"weights": "trained" if name in self.trained else "random"},
            sample_peak,
        )
        self.infer_peaks[name] = result.peak_rounds
        if name == self.opts.models[0]:
            self.report.skipped += result.skipped
        rows = result.measurements
        self.rows.setdefault("infer", []).extend(r for r in rows if r.group == "infer")
        self.rows.setdefault("maxdiff", []).extend(r for r in rows if r.group == "maxdiff")
        if name in self.trained:
            self.rows.setdefault("accuracy_infer", []).extend(
                accuracy.backend_f1(result.candidates, info, self._accuracy_area(), self.plan)
            )
        self._sample_peaks(2)

    def scene(self, side: int) -> None:
        if "unet" not in self.trained:
            raise RuntimeError("the scene step needs the U-Net of the accuracy step")
        precisions: tuple[str, ...] = ("fp32",)
        if side == max(self.opts.scene_sides) and self.opts.scene_bf16:
            if self.features.bf16:
                precisions = ("fp32", "bf16")
            else:
                self.report.skipped.append(Skipped.no_bf16(f"scene.{side}.bf16", self.features))
        records = predict_synthetic(
            self.work / f"scene-{side}",
            side,
            self.trained["unet"],
            self.opts.seed,
            self.opts.threads,
            self.opts.scene_timeout_s,
            precisions,
        )
        for record in records:
            self.scenes[record.precision].append(record)

    def _accuracy_rows(self) -> list[Measurement]:
        """``accuracy.train.*``: the U-Net recipes, then the other trained networks."""
        base = {
            "patch": self.opts.accuracy_patch,
            "epochs": self.opts.accuracy_epochs,
        }
        out: list[Measurement] = []
        if self.accuracy_scores:
            recipes = accuracy.accuracy_recipes(self.recipes)
            params = {"model": "unet", **base, "seeds": list(self.opts.accuracy_seeds)}
            out += accuracy.training_measurements(self.accuracy_scores, recipes, params)
        reference = training.reference_recipe()
        for model, scores in self.model_scores.items():
            params = {"model": model, **base, "seeds": list(self.opts.accuracy_seeds[:1])}
            out += accuracy.training_measurements({reference.label: scores}, [reference], params)
        return out

    def finish(self) -> BenchReport:
        """Peak, all rows in report order, GFLOP/s, targets, defaults."""
        fp32 = self._peak(torch.float32, None)
        report = self.report
        report.add(fp32)
        if torch.bfloat16 in self.peaks:
            report.add(self._peak(torch.bfloat16, fp32))
        report.add(*self.rows.get("train", []))
        report.add(*training.gflops(self.rows.get("train", []), fp32))
        report.add(*self._accuracy_rows())
        report.add(*self.rows.get("accuracy_infer", []))
        infer_rows = self.rows.get("infer", [])
        report.add(*infer_rows)
        for model, peak_rounds in self.infer_peaks.items():
            peak = inference.round_peak(model, peak_rounds, fp32)
            report.add(peak)
            rows = [r for r in infer_rows if r.params["model"] == model]
            report.add(*inference.gflops(rows, peak))
        report.add(*self.rows.get("maxdiff", []))
        scene, skipped = scene_rows(self.scenes["fp32"], self.scenes["bf16"])
        report.add(*scene)
        report.skipped += skipped
        report.machine["load_average"]["end"] = load_average()
        report.targets = judge(report)
        report.defaults = defaults(report, self.features)
        return report


def run_bench(opts: BenchOptions) -> BenchReport:
    """Run the suite (module docstring); a progress bar counts the steps.

    Args:
        opts: sizes, repeats and threads (:meth:`BenchOptions.for_mode`).

    Returns:
        The filled :class:`~slidemap.bench.results.BenchReport`.

    Raises:
        SlidemapError: a scene prediction failed or timed out.
    """
    start = time.perf_counter()
    with (
        _threads(opts.threads),
        tempfile.TemporaryDirectory(prefix="slidemap-bench-", dir=opts.work_dir) as tmp,
    ):
        run = _Run(opts, Path(tmp))
        steps = run.steps()
        say = log.debug if bars_enabled() else log.info  # else the bar shows the step
        with bar(total=len(steps), desc="bench", unit="step") as pbar:
            for k, (description, step) in enumerate(steps, start=1):
                pbar.set_postfix_str(description)
                say("bench step %d/%d: %s", k, len(steps), description)
                with _quiet():
                    step()
                pbar.update(1)
        report = run.finish()
    report.seconds = time.perf_counter() - start
    return report
