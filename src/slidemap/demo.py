"""``slidemap demo``: synthetic areas → prepared areas → the paper's experiment → report.

The embedded default of the product: no download, no input. Two variants, each
in its own part of the demo directory, each step reused when an earlier demo
there finished it::

    DIR/demo.json                       seed and scale of each variant (checked on reuse)
    DIR/synthetic[-quick]/<area>/       slidemap synth: bands, DEM, inventory, area.toml
    DIR/prepared[-quick]/<area>/        slidemap prepare of each area
    DIR/experiment[-quick].toml         the experiment file the demo runs
    DIR/experiment[-quick]/             slidemap experiment (finished jobs are kept
                                        and skipped) and slidemap report: report.html

The full demo runs :data:`PAPER_DESIGN` (the design of ``examples/paper.toml``:
4 training scenarios × U-Net and ResU-Net × 32, 64 and 128 px windows = 24
models) on 512 × 512 px areas. ``--quick`` keeps both models and all four
scenarios on 256 × 256 px areas (:data:`QUICK_SCALE`) but trains 32 px
windows only for at most :data:`QUICK_TRAIN` epochs and scores the test parts
with the paper's grid of windows (:data:`QUICK_EVALUATE`): 8 models, 1–3
CPU-minutes (57 s wall on 2 idle Zen 5 cores, 79 s on 2 idle Zen 4 cores,
3.2 min on 2 idle Zen 3 cores, which train in fp32 without native bf16;
5.4 min on 2 cores shared with other work).
Jobs run one after another with one torch thread each unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slidemap.errors import SlidemapError
from slidemap.io.atomic import check_writable_target, write_text_atomic
from slidemap.report.results import ALL_TEST, ExperimentResults, model_label
from slidemap.report.stats import best_setting, grouped, transfer_summary

log = logging.getLogger("slidemap")

DEFAULT_OUT = Path("slidemap-demo")
#: The paper's experiment (``examples/paper.toml`` without ``[areas]``): scenarios
#: 1–4 of Tables 4–7, both models, the three window sizes, Adam 1e-3, batch 4.
PAPER_DESIGN: dict[str, Any] = {
    "name": "paper-synthetic",
    "models": ["unet", "resunet"],
    "patches": [32, 64, 128],
    "seeds": [0],
    "scenarios": {
        "all": ["taiwan-like", "china-like", "japan-like"],
        "taiwan": ["taiwan-like"],
        "china": ["china-like"],
        "japan": ["japan-like"],
    },
    "train": {"epochs": 60, "patience": 8, "batch": 4, "lr": 0.001},
    "evaluate": {"mode": "whole", "window": 256, "overlap": 64},
}
#: ``--quick``: synthetic area side = 512 × this (px).
QUICK_SCALE = 0.5
#: ``--quick``: the window sizes trained.
QUICK_PATCHES = (32,)
#: ``--quick``: overrides of the ``[train]`` table.
QUICK_TRAIN: dict[str, Any] = {"epochs": 10, "patience": 3}
#: ``--quick``: overrides of the ``[evaluate]`` table (the paper's non-overlapping grid).
QUICK_EVALUATE: dict[str, Any] = {"mode": "patches"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        out: the demo directory.
        experiment: the experiment directory (results.csv, jobs/, the report).
        report: ``report.html``.
        summary: five lines for people (what ran, best setting, transfer,
            models, where the maps are).
        seconds: wall time of this call.
    """

    out: Path
    experiment: Path
    report: Path
    summary: tuple[str, ...]
    seconds: float


def run_demo(
    out: Path = DEFAULT_OUT,
    quick: bool = False,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    threads: int = 1,
    *,
    scale: float | None = None,
    epochs: int | None = None,
    patches: tuple[int, ...] | None = None,
) -> DemoResult:
    """Run the whole demo into ``out``, reusing what an earlier run there finished.

    Args:
        out: demo directory (created; an existing one must be a demo directory).
        quick: the reduced design (module docstring) instead of the full paper matrix.
        seed: seed of the synthetic areas and of the training (≥ 0).
        workers: parallel experiment jobs (Dask LocalCluster when > 1).
        overwrite: redo every step of this variant (quick or full) from scratch.
        threads: torch threads per job. 1 by default: on a machine shared with other work,
            threads of one job waiting for each other cost more than they gain.
        scale: synthetic area side = 512 × ``scale`` px; default
            :data:`QUICK_SCALE` with ``quick``, else 1 (tests use smaller areas).
        epochs: override the most epochs per model (tests).
        patches: override the window sizes (tests).

    Raises:
        SlidemapError: an option out of range or an ``out`` that cannot be written
            (both before anything is written), ``out`` holds something that is
            not a demo, or a demo variant of another seed or scale (without
            ``overwrite``), or a step failed (finished steps are kept for the next run).
    """
    from slidemap.cluster import check_workers
    from slidemap.experiment.run import run_experiment
    from slidemap.report import write_report
    from slidemap.train import MAX_SEED, MAX_THREADS

    start = time.monotonic()
    # every option and the output are checked before step 1 writes anything
    if seed < 0:
        raise SlidemapError(f"--seed must be at least 0, got {seed}")
    if seed > MAX_SEED:
        raise SlidemapError(f"--seed must be at most {MAX_SEED}, got {seed}")
    if threads < 1:
        raise SlidemapError(f"--threads must be at least 1, got {threads}")
    if threads > MAX_THREADS:
        raise SlidemapError(f"--threads must be at most {MAX_THREADS}, got {threads}")
    check_workers(workers, None)
    scale = (QUICK_SCALE if quick else 1.0) if scale is None else scale
    out = Path(out)
    _check_out(out)
    suffix = "-quick" if quick else ""
    _claim(out, "quick" if quick else "full", {"seed": seed, "scale": scale}, overwrite)
    area_files = _synthetic_areas(out / f"synthetic{suffix}", seed, scale, overwrite)
    prepared = _prepared_areas(area_files, out / f"prepared{suffix}", overwrite)

    exp_file = out / f"experiment{suffix}.toml"
    design = demo_design(prepared, quick, seed, epochs, patches)
    design["train"]["threads"] = threads
    write_text_atomic(exp_file, experiment_text(design, quick))
    experiment = out / f"experiment{suffix}"
    log.info("demo 3/4: running the experiment %s into %s", exp_file, experiment)
    run_experiment(exp_file, experiment, workers=workers, overwrite=overwrite)

    log.info("demo 4/4: writing the report")
    report = write_report(experiment, overwrite=True)
    seconds = time.monotonic() - start
    summary = demo_summary(report.results, report.html, seconds)
    return DemoResult(out, experiment, report.html, tuple(summary), seconds)


def _synthetic_areas(directory: Path, seed: int, scale: float, overwrite: bool) -> list[Path]:
    """Step 1: the synthetic areas' area files, written unless there (synth is all or nothing)."""
    from slidemap.synth import AREAS, synthesize

    if directory.is_dir() and not overwrite:
        log.info("demo 1/4: synthetic areas in %s (done before)", directory)
        return [directory / a / "area.toml" for a in AREAS]
    log.info("demo 1/4: writing synthetic areas to %s", directory)
    return synthesize(directory, seed=seed, scale=scale, overwrite=overwrite)


def _prepared_areas(area_files: list[Path], directory: Path, overwrite: bool) -> dict[str, Path]:
    """Step 2: area name → prepared area (absolute), prepared unless there (written atomically)."""
    from slidemap.prepare import prepare_area

    if overwrite and directory.is_dir():
        shutil.rmtree(directory)
    prepared: dict[str, Path] = {}
    for area_file in area_files:
        name = area_file.parent.name
        target = directory / name
        if (target / "area.json").is_file():
            log.info("demo 2/4: prepared area %s (done before)", target)
        else:
            log.info("demo 2/4: preparing %s", target)
            prepare_area(area_file, target, overwrite=True)
        prepared[name] = target.resolve()
    return prepared


def _check_out(out: Path) -> None:
    """Refuse an ``out`` that cannot be written (below a file, in a read-only directory);
    changes nothing on disk. What an existing directory holds is :func:`_claim`'s check.
    """
    if out.exists() and not out.is_dir():
        raise SlidemapError(f"--out {out} exists and is not a directory")
    if not out.exists():
        check_writable_target(out, overwrite=False)
    elif not os.access(out, os.W_OK | os.X_OK):
        raise SlidemapError(f"output directory {out} is not writable")


def _claim(out: Path, variant: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Record ``settings`` of ``variant`` in ``out/demo.json``, or refuse (see :func:`run_demo`).

    ``demo.json`` maps each variant run in ``out`` ("quick", "full") to its settings.
    """
    marker = out / "demo.json"
    if out.exists() and not out.is_dir():
        raise SlidemapError(f"--out {out} exists and is not a directory")
    variants: dict[str, Any] = {}
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise SlidemapError(
                f"--out {out} is not empty and holds no demo (no demo.json); choose another "
                "directory"
            )
        try:
            variants = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SlidemapError(
                f"{marker} is corrupt ({exc}); delete {out} or choose another --out"
            ) from exc
        if not isinstance(variants, dict):
            raise SlidemapError(f"{marker} is corrupt; delete {out} or choose another --out")
        saved = variants.get(variant)
        if isinstance(saved, dict) and saved != settings and not overwrite:
            was = ", ".join(f"{k} {saved.get(k)}" for k in settings if saved.get(k) != settings[k])
            flag = " --quick" if variant == "quick" else ""
            raise SlidemapError(
                f"{out} holds a{flag} demo made with {was}; run it with those settings, "
                "choose another --out, or pass --overwrite to start it again"
            )
    out.mkdir(parents=True, exist_ok=True)
    variants[variant] = settings
    write_text_atomic(marker, json.dumps(variants, indent=2) + "\n")


def demo_design(
    prepared: dict[str, Path],
    quick: bool,
    seed: int,
    epochs: int | None = None,
    patches: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """:data:`PAPER_DESIGN` with the demo's areas and seed, reduced when ``quick``.

    Args:
        prepared: area name → prepared area directory.
        quick: apply :data:`QUICK_PATCHES`, :data:`QUICK_TRAIN` and :data:`QUICK_EVALUATE`.
        seed: the one training seed.
        epochs, patches: test overrides of the most epochs and the window sizes.

    Returns:
        The experiment file's tables (see :mod:`slidemap.experiment`).
    """
    design = json.loads(json.dumps(PAPER_DESIGN))  # a deep copy
    design["areas"] = {name: str(path) for name, path in prepared.items()}
    design["seeds"] = [seed]
    if quick:
        design["name"] += "-quick"
        design["patches"] = list(QUICK_PATCHES)
        design["train"].update(QUICK_TRAIN)
        design["evaluate"].update(QUICK_EVALUATE)
    if epochs is not None:
        design["train"]["epochs"] = epochs
        design["train"]["patience"] = min(int(design["train"]["patience"]), epochs)
    if patches is not None:
        design["patches"] = list(patches)
    return design


def experiment_text(design: dict[str, Any], quick: bool) -> str:
    """``design`` as an experiment file (TOML), with a header saying where it comes from."""
    lines = [
        "# Written by 'slidemap demo" + (" --quick" if quick else "") + "': the design of "
        "examples/paper.toml",
        "# on SYNTHETIC areas. Re-run with: slidemap experiment THIS_FILE --out DIR",
    ]
    tables = {k: v for k, v in design.items() if isinstance(v, dict)}
    lines += [f"{_key(k)} = {_value(v)}" for k, v in design.items() if k not in tables]
    for table, entries in tables.items():
        lines += ["", f"[{_key(table)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: object) -> str:
    """A TOML value: strings (JSON escapes are TOML's), numbers, booleans, arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def _duration(seconds: float) -> str:
    """A run's duration: seconds under a minute (a demo that reused every step), else minutes."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def demo_summary(results: ExperimentResults, report: Path, seconds: float) -> list[str]:
    """Five lines: what ran, the best setting, the transfer gap, the models, the maps."""
    jobs = len({r.job_key for r in results.rows})
    patches = "/".join(str(p) for p in results.patches)
    lines = [
        f"SYNTHETIC data: {len(results.areas) or len(results.test_sets) - 1} areas, "
        f"{len(results.scenarios)} training scenarios × {len(results.models)} models × "
        f"{patches} px windows = {jobs} trained models; this run took {_duration(seconds)}",
    ]
    best = best_setting(results)
    if best is None:
        lines.append("best: no F1 defined (nothing predicted and no landslide in the tests)")
    else:
        where = "all test parts together" if best.test_set == ALL_TEST else best.test_set
        lines.append(
            f"best: {model_label(best.model)}, {best.patch} px windows, scenario "
            f"'{best.scenario}': F1 {best.f1.mean:.3f} on {where}"
        )
    transfer = transfer_summary(results.rows)
    if math.isnan(transfer.in_area_f1) or math.isnan(transfer.cross_area_f1):
        lines.append("transfer: no single-area scenario with in-area and cross-area tests")
    else:
        lines.append(
            f"transfer: trained on one area, mean F1 {transfer.in_area_f1:.3f} on that area "
            f"vs {transfer.cross_area_f1:.3f} on the others; on each test area the model "
            f"trained there wins {transfer.pairs_won} of {transfer.pairs} pairs"
        )
    by_model = grouped(results.rows, lambda r: r.model)
    lines.append(
        "models: mean F1 "
        + ", ".join(f"{model_label(m)} {by_model[m].mean:.3f}" for m in results.models)
    )
    lines.append(
        f"maps: TP/FP/FN maps in {report.parent}/fig_maps_*.png and "
        f"{results.directory}/jobs/*/eval/*/map.png"
    )
    return lines
