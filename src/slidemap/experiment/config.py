"""Experiment files (TOML) → a frozen, validated :class:`ExperimentConfig`.

Every key is in :data:`slidemap.experiment.EXPERIMENT_FILE_EXAMPLE` (also
shown by ``slidemap experiment --help``). Paths are relative to the experiment file's directory.
Errors name the file, the line and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slidemap import __version__, defaults
from slidemap.area import AreaMeta, read_meta
from slidemap.config import AREA_NAME_RE
from slidemap.errors import SlidemapError
from slidemap.evaluate import ALL, MODES, EvalOptions
from slidemap.infer import SIDE_MULTIPLE
from slidemap.tomltables import TableReader, read_toml
from slidemap.train import DEVICES, MAX_SEED, MAX_THREADS, MODELS, PRECISIONS, TrainConfig

TOP_KEYS = ("name", "areas", "scenarios", "models", "patches", "seeds", "train", "evaluate")
TRAIN_KEYS = (
    *("epochs", "patience", "batch", "lr", "betas", "pos_weight", "precision"),
    *("channels_last", "nodata_max", "device", "threads"),
)
EVALUATE_KEYS = ("mode", "window", "overlap", "threshold", "iou_threshold", "size_edges_m2")
PAPER_PATCHES = (32, 64, 128)


@dataclass(frozen=True)
class TrainOptions:
    """The ``[train]`` table: options passed to :class:`slidemap.train.TrainConfig`.

    ``device`` and ``threads`` decide where and how fast a job runs, not what
    it computes, so they are left out of :meth:`recipe` (and the job key).
    """

    epochs: int = 100
    patience: int = defaults.PATIENCE
    batch: int = 4
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    pos_weight: float = defaults.POS_WEIGHT
    precision: str = "auto"
    channels_last: bool = True
    nodata_max: float = 0.5
    device: str = "auto"
    threads: int | None = None

    def recipe(self) -> dict[str, Any]:
        """The options that change a trained model, JSON-ready."""
        return {
            "epochs": self.epochs,
            "patience": self.patience,
            "batch": self.batch,
            "lr": self.lr,
            "betas": list(self.betas),
            "pos_weight": self.pos_weight,
            "precision": self.precision,
            "channels_last": self.channels_last,
            "nodata_max": self.nodata_max,
        }

    def to_dict(self) -> dict[str, Any]:
        """Every option, JSON-ready."""
        return {**self.recipe(), "device": self.device, "threads": self.threads}

    def train_config(
        self, areas: tuple[Path, ...], out: Path, model: str, patch: int, seed: int, threads: int
    ) -> TrainConfig:
        """The :class:`TrainConfig` of one job (resuming an interrupted run in ``out``)."""
        return TrainConfig(
            areas=areas,
            out=out,
            model=model,
            patch=patch,
            epochs=self.epochs,
            patience=self.patience,
            batch=self.batch,
            lr=self.lr,
            betas=self.betas,
            pos_weight=self.pos_weight,
            seed=seed,
            threads=threads,
            device=self.device,
            precision=self.precision,
            channels_last=self.channels_last,
            nodata_max=self.nodata_max,
            resume=True,
        )


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment file, validated.

    Attributes:
        name: experiment name.
        source: the experiment file.
        areas: (area name, prepared area directory) pairs, in file order.
        band_names: the bands every area has.
        scenarios: (scenario name, training area names) pairs, in file order.
        models, patches, seeds: the other axes of the matrix, in file order.
        train: training options.
        evaluate: evaluation options.
    """

    name: str
    source: Path
    areas: tuple[tuple[str, Path], ...]
    band_names: tuple[str, ...]
    scenarios: tuple[tuple[str, tuple[str, ...]], ...]
    models: tuple[str, ...]
    patches: tuple[int, ...]
    seeds: tuple[int, ...]
    train: TrainOptions
    evaluate: EvalOptions

    @property
    def area_paths(self) -> dict[str, Path]:
        return dict(self.areas)

    def to_dict(self) -> dict[str, Any]:
        """The resolved design (``experiment.json``); area paths absolute."""
        return {
            "name": self.name,
            "source": str(self.source.resolve()),
            "areas": {name: str(path.resolve()) for name, path in self.areas},
            "band_names": list(self.band_names),
            "scenarios": {name: list(areas) for name, areas in self.scenarios},
            "models": list(self.models),
            "patches": list(self.patches),
            "seeds": list(self.seeds),
            "train": self.train.to_dict(),
            "evaluate": self.evaluate.to_dict(),
            "slidemap_version": __version__,
        }


def load_experiment_file(path: Path) -> ExperimentConfig:
    """Read and validate an experiment file (every key: ``EXPERIMENT_FILE_EXAMPLE``).

    Every area directory must be a prepared area, all with the same bands.

    Raises:
        SlidemapError: missing file, TOML syntax error, unknown key, wrong
            type or value, unknown area in a scenario, missing or unprepared
            area directory, areas with different bands; the message gives the
            file and line.
    """
    path = Path(path)
    text, data = read_toml(path, "experiment file")
    top = TableReader(path, text, data, "")
    top.check_keys(TOP_KEYS)
    name = top.get("name", str)
    if name is None:
        raise top.fail(None, "missing key 'name'")
    if not AREA_NAME_RE.match(name):
        raise top.fail("name", f"use ASCII letters, digits, '-', '_' or '.', got {name!r}")
    areas_reader = top.sub("areas")
    if areas_reader is None:
        raise top.fail(None, "missing table [areas] (area name = prepared area directory)")
    areas, band_names = _areas(areas_reader)
    scenarios_reader = top.sub("scenarios")
    if scenarios_reader is None:
        names = tuple(a for a, _ in areas)
        singles = tuple((a, (a,)) for a in names) if len(names) > 1 else ()
        scenarios = ((ALL, names), *singles)
    else:
        scenarios = _scenarios(scenarios_reader, tuple(a for a, _ in areas))
    train = top.sub("train")
    evaluate = top.sub("evaluate")
    return ExperimentConfig(
        name=name,
        source=path,
        areas=areas,
        band_names=band_names,
        scenarios=scenarios,
        models=_choices(top, "models", MODELS, MODELS),
        patches=_patches(top),
        seeds=_seeds(top),
        train=_train(train) if train is not None else TrainOptions(),
        evaluate=_evaluate(evaluate) if evaluate is not None else EvalOptions(),
    )


def _areas(r: TableReader) -> tuple[tuple[tuple[str, Path], ...], tuple[str, ...]]:
    if not r.table:
        raise r.fail(None, 'lists no area; add lines like  taiwan = "prepared/taiwan"')
    areas: list[tuple[str, Path]] = []
    metas: list[AreaMeta] = []
    for name in r.table:
        if not AREA_NAME_RE.match(name):
            raise r.fail(name, "area names use ASCII letters, digits, '-', '_' or '.'")
        if name == ALL:
            raise r.fail(name, f"'{ALL}' names all test parts together; rename the area")
        path = r.required_path(name)
        if not path.is_dir():
            raise r.fail(
                name,
                f"prepared area directory not found: {path} (paths are relative to the "
                "experiment file); write it with 'slidemap prepare' or fix the path",
            )
        try:
            meta = read_meta(path)
        except SlidemapError as exc:
            raise r.fail(name, str(exc)) from exc
        if metas and meta.band_names != metas[0].band_names:
            raise r.fail(
                name,
                f"bands {','.join(meta.band_names)} differ from area {areas[0][0]}'s "
                f"({','.join(metas[0].band_names)}); every area of an experiment needs the "
                "same bands in the same order",
            )
        areas.append((name, path))
        metas.append(meta)
    return tuple(areas), metas[0].band_names


def _scenarios(
    r: TableReader, area_names: tuple[str, ...]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not r.table:
        raise r.fail(None, 'lists no scenario; add lines like  all = ["a", "b"]')
    out = []
    for name in r.table:
        if not AREA_NAME_RE.match(name):
            raise r.fail(name, "scenario names use ASCII letters, digits, '-', '_' or '.'")
        members = r.get(name, list)
        if not members or not all(isinstance(m, str) for m in members):
            raise r.fail(name, "expected a non-empty list of area names")
        if len(set(members)) != len(members):
            raise r.fail(name, "an area is listed twice")
        unknown = [m for m in members if m not in area_names]
        if unknown:
            raise r.fail(
                name,
                f"unknown area {', '.join(map(repr, unknown))}; areas are "
                f"{', '.join(area_names)} (see [areas])",
            )
        out.append((name, tuple(members)))
    return tuple(out)


def _list(r: TableReader, key: str, kind: type, default: tuple[Any, ...]) -> tuple[Any, ...]:
    """A non-empty list of ``kind`` without repeats (``default`` when absent)."""
    values = r.get(key, list)
    if values is None:
        return default
    if not values or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise r.fail(key, f"expected a non-empty list of {kind.__name__} values, got {values!r}")
    if len(set(values)) != len(values):
        raise r.fail(key, f"a value is listed twice: {values!r}")
    return tuple(values)


def _choices(
    r: TableReader, key: str, choices: tuple[str, ...], default: tuple[str, ...]
) -> tuple[str, ...]:
    values = _list(r, key, str, default)
    bad = [v for v in values if v not in choices]
    if bad:
        raise r.fail(key, f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(choices)}")
    return values


def _patches(r: TableReader) -> tuple[int, ...]:
    values = _list(r, "patches", int, PAPER_PATCHES)
    bad = [v for v in values if v <= 0 or v % SIDE_MULTIPLE]
    if bad:
        raise r.fail(
            "patches",
            f"window sides must be positive multiples of {SIDE_MULTIPLE} (the networks halve "
            f"the window four times), got {bad}",
        )
    return values


def _seeds(r: TableReader) -> tuple[int, ...]:
    values = _list(r, "seeds", int, (0,))
    if any(not 0 <= v <= MAX_SEED for v in values):
        raise r.fail("seeds", f"seeds must be between 0 and {MAX_SEED}, got {list(values)}")
    return values


def _at_least(r: TableReader, key: str, default: int, low: int = 1, high: int | None = None) -> int:
    value: int = r.get(key, int, default)
    if value < low:
        raise r.fail(key, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise r.fail(key, f"must be at most {high}, got {value}")
    return value


def _positive(r: TableReader, key: str, default: float) -> float:
    value = float(r.get(key, (int, float), default))
    if not 0 < value < math.inf:
        raise r.fail(key, f"must be a positive number, got {value}")
    return value


def _train(r: TableReader) -> TrainOptions:
    r.check_keys(TRAIN_KEYS)
    d = TrainOptions()
    betas = r.get("betas", list, list(d.betas))
    if len(betas) != 2 or not all(
        isinstance(b, int | float) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
    ):
        raise r.fail("betas", f"expected two numbers in [0, 1), got {betas!r}")
    nodata_max = float(r.get("nodata_max", (int, float), d.nodata_max))
    if not 0 <= nodata_max <= 1:
        raise r.fail("nodata_max", f"must be between 0 and 1, got {nodata_max}")
    return TrainOptions(
        epochs=_at_least(r, "epochs", d.epochs),
        patience=_at_least(r, "patience", d.patience),
        batch=_at_least(r, "batch", d.batch),
        lr=_positive(r, "lr", d.lr),
        betas=(float(betas[0]), float(betas[1])),
        pos_weight=_positive(r, "pos_weight", d.pos_weight),
        precision=r.choice("precision", PRECISIONS, d.precision) or d.precision,
        channels_last=r.get("channels_last", bool, d.channels_last),
        nodata_max=nodata_max,
        device=r.choice("device", DEVICES, d.device) or d.device,
        threads=_at_least(r, "threads", 1, high=MAX_THREADS) if "threads" in r.table else None,
    )


def _evaluate(r: TableReader) -> EvalOptions:
    r.check_keys(EVALUATE_KEYS)
    d = EvalOptions()
    mode = r.choice("mode", MODES, d.mode) or d.mode
    window = _at_least(r, "window", d.window)
    if window % SIDE_MULTIPLE:
        raise r.fail("window", f"must be a multiple of {SIDE_MULTIPLE}, got {window}")
    overlap = r.get("overlap", int, d.overlap)
    if overlap < 0 or (mode == "whole" and overlap >= window):  # both: whole mode only
        raise r.fail("overlap", f"must be at least 0 and smaller than window ({window})")
    threshold = r.get("threshold", (int, float))
    if threshold is not None and not 0 < threshold < 1:
        raise r.fail("threshold", f"must be between 0 and 1 (exclusive), got {threshold}")
    iou_threshold = float(r.get("iou_threshold", (int, float), d.iou_threshold))
    if not 0 < iou_threshold <= 1:
        raise r.fail("iou_threshold", f"must be in (0, 1], got {iou_threshold}")
    edges = r.get("size_edges_m2", list, list(d.size_edges_m2))
    numbers = all(isinstance(e, int | float) and not isinstance(e, bool) for e in edges)
    if not numbers or not all(0 < e < math.inf for e in edges) or edges != sorted(set(edges)):
        raise r.fail("size_edges_m2", f"expected positive increasing areas in m², got {edges!r}")
    return EvalOptions(
        mode=mode,
        window=window,
        overlap=overlap,
        threshold=None if threshold is None else float(threshold),
        iou_threshold=iou_threshold,
        size_edges_m2=tuple(float(e) for e in edges),
    )
