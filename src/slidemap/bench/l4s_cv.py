"""Cross-validation of training recipes on real Landslide4Sense patches (docs/accuracy.md).

Each fold's test patches are imported as a test area, the other patches as a
training area (train + validation, :func:`slidemap.l4s_import.import_l4s`).
Every recipe is trained once per fold and seed, and scored on its fold's test
part at its own threshold:

* a *slidemap* recipe is ``slidemap train`` with extra options (the default
  recipe has none) followed by ``slidemap evaluate`` (whole mode, one window
  per patch: ``--window 128 --overlap 0``);
* a *reference* recipe is the plain by-the-paper loop of
  :mod:`slidemap.bench.plain_unet` (threshold 0.5) with extra options.

Every job runs in its own process on one thread, ``--jobs`` at a time. With
``--work DIR`` the runs are kept and a rerun reuses every finished job whose
command is unchanged. Run it from the checkout::

    python benchmarks/l4s_accuracy.py --data ../shared/data/l4s --out cv.json
    python benchmarks/l4s_accuracy.py --data ../shared/data/l4s --recipe default= \\
        --recipe "pw20=--pos-weight 20" --reference "plain=" --seeds 0,1,2

The JSON document (schema ``slidemap-l4s-cv/1``)::

    schema, slidemap_version, created, data, folds [[id, …], …], seeds, epochs,
    eval_window, recipes [{name, kind, args}],
    runs [{recipe, fold, seed, f1, threshold, epochs, command}],
    summary {recipe: {n, mean, sd, worst, per_fold [mean F1 of each fold]}}

``sd`` is the population standard deviation over the recipe's runs; an
undefined F1 (no landslide in reference and prediction) is null and left out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slidemap import __version__
from slidemap.bench.results import write_json
from slidemap.errors import SlidemapError
from slidemap.io.l4s import find_patches
from slidemap.l4s_import import import_l4s

SCHEMA = "slidemap-l4s-cv/1"
# The folds of docs/accuracy.md: the 14 patches of shared/data/l4s, neighbours
# (consecutive ids) never split between train and test.
DEFAULT_FOLDS = ((1, 27, 72, 461, 800), (2, 16, 38, 253, 525), (3, 28, 40, 41))
SLIDEMAP, REFERENCE = "slidemap", "reference"
RECIPE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # names become file names


@dataclass(frozen=True)
class Recipe:
    """One way of training: ``kind`` is "slidemap" (``slidemap train`` + ``args``)
    or "reference" (:mod:`slidemap.bench.plain_unet` + ``args``)."""

    name: str
    kind: str
    args: tuple[str, ...] = ()


DEFAULT_RECIPES = (
    Recipe("default", SLIDEMAP),
    Recipe("paper-bce", SLIDEMAP, ("--pos-weight", "1")),
    Recipe("plain-reference", REFERENCE),
)


@dataclass(frozen=True)
class Job:
    """One recipe trained on one fold with one seed."""

    recipe: Recipe
    fold: int
    seed: int


def parse_folds(text: str) -> tuple[tuple[int, ...], ...]:
    """Folds from "1,27,72;2,16": the test patch ids of each fold, ';' between folds.

    Raises:
        SlidemapError: an empty fold, an id that is not an integer, an id in two folds.
    """
    folds = []
    for part in text.split(";"):
        ids = _int_list(part, "--folds")
        if not ids:
            raise SlidemapError(f"--folds {text!r}: empty fold")
        folds.append(ids)
    every = [i for fold in folds for i in fold]
    twice = sorted({i for i in every if every.count(i) > 1})
    if twice:
        raise SlidemapError(f"--folds: patch(es) {twice} in more than one fold or twice")
    return tuple(folds)


def parse_recipe(text: str, kind: str) -> Recipe:
    """A recipe from "NAME=OPTIONS" (OPTIONS split like a shell; may be empty).

    Raises:
        SlidemapError: no '=', no name, or a name unfit for a file name.
    """
    name, sep, options = text.partition("=")
    if not sep or not name.strip():
        raise SlidemapError(f"recipe {text!r}: write NAME=OPTIONS, e.g. 'pw20=--pos-weight 20'")
    if not RECIPE_NAME_RE.fullmatch(name.strip()):
        raise SlidemapError(
            f"recipe name {name!r}: use ASCII letters, digits, '_', '.' and '-' only"
        )
    return Recipe(name.strip(), kind, tuple(shlex.split(options)))


def setup_folds(data: Path, folds: Sequence[Sequence[int]], work: Path) -> list[tuple[Path, Path]]:
    """Import each fold's training and test area from the patches in ``data``.

    Returns:
        (training area, test area) of each fold.

    Raises:
        SlidemapError: a fold names a patch that ``data`` lacks, or leaves no
            training patch; any import error.
    """
    found = find_patches(data)
    patches = {p.id: (p.image, p.mask) for p in found if p.mask is not None}
    if len(patches) < len(found):
        raise SlidemapError(f"{data} holds patches without masks; cross-validation needs masks")
    areas = []
    for k, fold in enumerate(folds, start=1):
        missing = sorted(set(fold) - set(patches))
        if missing:
            raise SlidemapError(f"fold {k}: no patch {missing} in {data}")
        parts = {"train": sorted(set(patches) - set(fold)), "test": sorted(fold)}
        if not parts["train"]:
            raise SlidemapError(f"fold {k} leaves no patch to train on")
        pair = []
        for role, ids in parts.items():
            source = work / "patches" / f"fold{k}-{role}"
            source.mkdir(parents=True, exist_ok=True)
            for i in ids:
                for path in patches[i]:
                    link = source / path.name
                    if not link.exists():
                        link.symlink_to(path.resolve())
            area = work / "areas" / f"fold{k}-{role}"
            import_l4s(source, area, role=role, overwrite=True)
            pair.append(area)
        areas.append((pair[0], pair[1]))
    return areas


def job_command(
    job: Job, areas: tuple[Path, Path], run: Path, epochs: int, eval_window: int
) -> list[list[str]]:
    """The commands of one job, each an argv list (Python of this interpreter)."""
    train_area, test_area = areas
    common = ["--seed", str(job.seed), "--epochs", str(epochs), "--threads", "1"]
    if job.recipe.kind == REFERENCE:
        reference = [sys.executable, "-m", "slidemap.bench.plain_unet"]
        areas_args = ["--train", str(train_area), "--test", str(test_area)]
        window = ["--test-window", str(eval_window)]
        return [[*reference, *areas_args, *common, *window, *job.recipe.args]]
    slidemap = [sys.executable, "-m", "slidemap", "-q"]
    train = ["train", "--area", str(train_area), "--out", str(run), *common, "--overwrite"]
    evaluate = ["evaluate", str(run), "--area", str(test_area), "--out", f"{run}.eval"]
    windows = ["--window", str(eval_window), "--overlap", "0", "--threads", "1", "--overwrite"]
    return [[*slidemap, *train, *job.recipe.args], [*slidemap, *evaluate, *windows]]


def run_job(
    job: Job, areas: tuple[Path, Path], work: Path, epochs: int, eval_window: int
) -> dict[str, Any]:
    """Run one job (or reuse its stored result when its commands are unchanged).

    Returns:
        recipe, fold (1-based), seed, f1 (test part; NaN if undefined),
        threshold, epochs (run) and the commands.

    Raises:
        SlidemapError: a command failed (its last output lines are in the message).
    """
    tag = f"{job.recipe.name}-fold{job.fold}-seed{job.seed}"
    run, stored = work / "runs" / tag, work / "results" / f"{tag}.json"
    commands = job_command(job, areas, run, epochs, eval_window)
    printable = [shlex.join(c[1:]) for c in commands]  # without the interpreter's path
    if stored.is_file():
        previous = json.loads(stored.read_text(encoding="utf-8"))
        if previous.get("command") == printable:
            return dict(previous, f1=_nan_if_none(previous["f1"]))
    outputs = []
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise SlidemapError(f"{tag}: {shlex.join(argv[1:])} failed:\n{tail}")
        outputs.append(done.stdout)
    if job.recipe.kind == REFERENCE:
        ref = json.loads(outputs[0])
        f1, threshold, epochs_run = ref["f1"], 0.5, ref["epochs"]
    else:
        summary = json.loads((Path(f"{run}.eval") / "summary.json").read_text(encoding="utf-8"))
        lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        f1, threshold, epochs_run = summary["all"]["f1"], summary["threshold"], len(lines)
    result = {
        "recipe": job.recipe.name,
        "fold": job.fold,
        "seed": job.seed,
        "f1": _nan_if_none(f1),
        "threshold": threshold,
        "epochs": epochs_run,
        "command": printable,
    }
    write_json(result, stored, overwrite=True)
    return result


def summarise(
    recipes: Sequence[Recipe], runs: Sequence[dict[str, Any]], n_folds: int
) -> dict[str, dict[str, Any]]:
    """Mean, population sd, worst and per-fold mean F1 of each recipe (NaN F1 left out)."""
    summary = {}
    for recipe in recipes:
        mine = [r for r in runs if r["recipe"] == recipe.name and not math.isnan(r["f1"])]
        values = [r["f1"] for r in mine]
        per_fold = []
        for k in range(1, n_folds + 1):
            fold = [r["f1"] for r in mine if r["fold"] == k]
            per_fold.append(statistics.fmean(fold) if fold else math.nan)
        summary[recipe.name] = {
            "n": len(values),
            "mean": statistics.fmean(values) if values else math.nan,
            "sd": statistics.pstdev(values) if values else math.nan,
            "worst": min(values) if values else math.nan,
            "per_fold": per_fold,
        }
    return summary


def format_table(recipes: Sequence[Recipe], summary: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: recipe, options, mean, sd, worst, per-fold means."""
    rows = [
        "| recipe | options | n | mean F1 | sd | worst | per fold |",
        "|---|---|---|---|---|---|---|",
    ]
    for recipe in recipes:
        s = summary[recipe.name]
        options = f"{recipe.kind} {shlex.join(recipe.args)}".strip()
        folds = " / ".join(f"{v:.3f}" for v in s["per_fold"])
        rows.append(
            f"| {recipe.name} | {options} | {s['n']} | {s['mean']:.3f} | {s['sd']:.3f} "
            f"| {s['worst']:.3f} | {folds} |"
        )
    return "\n".join(rows)


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _int_list(text: str, option: str) -> tuple[int, ...]:
    """The integers of a comma-separated list (empty items left out)."""
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise SlidemapError(f"{option} {text!r}: write integers separated by commas") from None


def _seeds(text: str) -> tuple[int, ...]:
    seeds = _int_list(text, "--seeds")
    if not seeds:
        raise SlidemapError("--seeds: give at least one seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/l4s_accuracy.py``."""
    parser = argparse.ArgumentParser(
        prog="l4s_accuracy",
        description="Cross-validate training recipes on Landslide4Sense patches.",
    )
    parser.add_argument("--data", type=Path, required=True, help="folder of L4S patches")
    parser.add_argument("--out", type=Path, help="JSON document to write")
    parser.add_argument(
        "--folds",
        default=";".join(",".join(map(str, fold)) for fold in DEFAULT_FOLDS),
        help="test patch ids of each fold, ';' between folds (default: docs/accuracy.md's)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated")
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help="slidemap recipe: 'slidemap train' options (repeatable)",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help="plain reference recipe: slidemap.bench.plain_unet options (repeatable)",
    )
    parser.add_argument("--epochs", type=int, default=100, help="most epochs of every run")
    parser.add_argument("--eval-window", type=int, default=128, help="test window side (px)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--work", type=Path, help="keep runs here and reuse finished ones")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the cross-validation; print the table; write ``--out``. Errors exit with code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        folds, seeds = parse_folds(args.folds), _seeds(args.seeds)
        recipes = [parse_recipe(r, SLIDEMAP) for r in args.recipe]
        recipes += [parse_recipe(r, REFERENCE) for r in args.reference]
        recipes = recipes or list(DEFAULT_RECIPES)
        names = [r.name for r in recipes]
        if len(set(names)) != len(names):
            raise SlidemapError(f"recipe names must differ: {names}")
        if args.epochs < 1 or args.jobs < 1:
            raise SlidemapError("--epochs and --jobs must be at least 1")
        if args.out and args.out.exists() and not args.overwrite:
            raise SlidemapError(f"{args.out} exists; pass --overwrite to replace it")
        with tempfile.TemporaryDirectory(prefix="slidemap-l4s-cv-") as tmp:
            work = args.work or Path(tmp)
            runs = _run_all(args, folds, seeds, recipes, work)
    except SlidemapError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    summary = summarise(recipes, runs, len(folds))
    print(format_table(recipes, summary))
    if args.out:
        document = {
            "schema": SCHEMA,
            "slidemap_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "data": str(args.data),
            "folds": [list(fold) for fold in folds],
            "seeds": list(seeds),
            "epochs": args.epochs,
            "eval_window": args.eval_window,
            "recipes": [asdict(r) for r in recipes],
            "runs": runs,
            "summary": summary,
        }
        write_json(document, args.out, overwrite=args.overwrite)
    return 0


def _run_all(
    args: argparse.Namespace,
    folds: tuple[tuple[int, ...], ...],
    seeds: tuple[int, ...],
    recipes: list[Recipe],
    work: Path,
) -> list[dict[str, Any]]:
    areas = setup_folds(args.data, folds, work)
    jobs = [
        Job(recipe, k, seed)
        for recipe in recipes
        for k in range(1, len(folds) + 1)
        for seed in seeds
    ]

    finished = itertools.count(1)

    def one(job: Job) -> dict[str, Any]:
        result = run_job(job, areas[job.fold - 1], work, args.epochs, args.eval_window)
        print(
            f"[{next(finished)}/{len(jobs)}] {result['recipe']} fold {job.fold} seed {job.seed}: "
            f"F1 {result['f1']:.3f} (threshold {result['threshold']}, {result['epochs']} epochs)",
            file=sys.stderr,
            flush=True,
        )
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        return list(pool.map(one, jobs))
