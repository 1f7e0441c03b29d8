"""Accuracy guard: the fast paths must not cost F1.

* Training (:func:`recipe_scores`): the U-Net is trained with each recipe
  (plain fp32 first, the reference) on the same small synthetic task, same
  seeds and epochs, early stopping off, and the best checkpoint is scored on
  the area's test part by :func:`slidemap.evaluate.evaluate_run` (threshold
  picked on validation, as always). Several seeds show how much F1 moves by
  chance alone. The ResU-Net is trained once with the reference recipe, so
  that its inference is measured with trained weights too.
* Inference (:func:`backend_f1`): each trained network is run by every
  backend over the same area; F1 on the test part at the model's threshold.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from slidemap.area import TEST, load_area
from slidemap.backends import Backend
from slidemap.bench.inference import WindowPlan, counts_at
from slidemap.bench.results import Measurement, compared
from slidemap.bench.synthetic import write_bench_area
from slidemap.bench.training import Recipe, config, reference_recipe
from slidemap.checkpoint import ModelInfo
from slidemap.data import Normalization
from slidemap.infer import predict_probabilities
from slidemap.metrics import f1
from slidemap.train import train


def accuracy_area(folder: Path, rows: int, seed: int) -> Path:
    """The accuracy task: a ``rows`` × ``rows`` train part, a validation strip, a test part.

    The validation strip is ``rows / 8`` (at least 16) px wide, the test part ``3/4 rows``.
    """
    return write_bench_area(folder, rows, rows, max(16, rows // 8), rows * 3 // 4, seed)


def accuracy_recipes(chosen: list[Recipe]) -> list[Recipe]:
    """The fp32 reference, then each recipe of ``chosen`` with other knobs (no repeats)."""
    reference = reference_recipe()
    seen = {(reference.channels_last, reference.precision)}
    out = [reference]
    for r in chosen:
        if (r.channels_last, r.precision) not in seen:
            seen.add((r.channels_last, r.precision))
            out.append(r)
    return out


def recipe_scores(
    area_dir: Path,
    work: Path,
    model_name: str,
    recipe: Recipe,
    patch: int,
    epochs: int,
    seeds: tuple[int, ...],
    threads: int | None,
) -> tuple[list[float], list[Path]]:
    """Test-part F1 of ``model_name`` trained with ``recipe``, one per seed.

    Args:
        area_dir: a prepared area with train, validation and test parts.
        work: directory for the runs (``work/<seed>/run``) and evaluations.
        model_name: "unet" or "resunet".
        recipe: channels-last and precision of training.
        patch: training window side.
        epochs: epochs (early stopping off: patience = epochs).
        seeds: training seeds.
        threads: torch threads.

    Returns:
        ``(f1 per seed, run directory per seed)``; F1 is NaN when nothing is
        predicted and nothing is there.
    """
    from slidemap.evaluate import EvalOptions, evaluate_run

    scores, runs = [], []
    for seed in seeds:
        run_dir = work / str(seed) / "run"
        train(config(area_dir, run_dir, model_name, patch, recipe, epochs, seed, threads))
        summary = evaluate_run(
            run_dir,
            [area_dir],
            work / str(seed) / "eval",
            EvalOptions(),
            overwrite=True,
            threads=threads,
        )
        scores.append(f1(summary.all.counts))
        runs.append(run_dir)
    return scores, runs


def training_measurements(
    scores: dict[str, list[float]], recipes: list[Recipe], params: dict[str, object]
) -> list[Measurement]:
    """``accuracy.train.<model>.<recipe>``: mean F1 over seeds, compared with the first.

    Args:
        scores: recipe label → test F1 per seed.
        recipes: the recipes of ``scores``, the reference first.
        params: what was trained (``model`` names the network).
    """
    model = params["model"]
    out: list[Measurement] = []
    for r in recipes:
        out.append(
            compared(
                f"accuracy.train.{model}.{r.label}",
                "accuracy",
                statistics.fmean(scores[r.label]),
                "F1",
                out[0] if out else None,
                {**params, "channels_last": r.channels_last, "precision": r.precision},
                tuple(scores[r.label]),
            )
        )
    return out


def backend_f1(
    candidates: dict[str, Backend], info: ModelInfo, area_dir: Path, plan: WindowPlan
) -> list[Measurement]:
    """``accuracy.infer.<model>.<backend>``: F1 over the test part of ``area_dir`` per backend.

    Args:
        candidates: label → backend, the naive baseline first (the comparison).
        info: the model's normalisation and threshold.
        area_dir: the accuracy area the model was trained on.
        plan: window, overlap, batch.
    """
    area = load_area(area_dir)
    image = Normalization(info.mean, info.std).apply(area.image)
    test = area.split == TEST
    scored = test & area.valid
    out: list[Measurement] = []
    for label, backend in candidates.items():
        prob = predict_probabilities(
            backend, image, plan.window, plan.overlap, plan.batch, valid=test
        )
        score = f1(counts_at(prob, area.label, scored, info.threshold))
        params = {"model": info.model_name, "backend": label, "threshold": info.threshold}
        name = f"accuracy.infer.{info.model_name}.{label}"
        out.append(compared(name, "accuracy", score, "F1", out[0] if out else None, params))
    return out
