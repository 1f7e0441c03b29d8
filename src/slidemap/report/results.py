"""Reading an experiment directory: the rows of ``results.csv`` and the design.

``slidemap experiment`` writes one ``results.csv`` row per model × window size ×
training scenario × test set × seed, and ``experiment.json`` with the resolved
design (areas, scenarios, models, …). Everything the report shows is computed
from these two files plus the per-job training logs and maps under ``jobs/``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slidemap.errors import SlidemapError

#: The columns ``results.csv`` must have (any extra column is ignored).
COLUMNS = (
    "scenario",
    "train_areas",
    "model",
    "patch",
    "seed",
    "test_set",
    "tp",
    "fp",
    "fn",
    "tn",
    "precision",
    "recall",
    "f1",
    "iou",
    "mcc",
    "best_epoch",
    "train_seconds",
    "job_key",
)

#: The ``test_set`` name of all test parts counted together.
ALL_TEST = "all"

#: Display names of the models the paper compares; other names are shown as is.
MODEL_LABELS = {"unet": "U-Net", "resunet": "ResU-Net"}


def model_label(model: str) -> str:
    """The paper's name of ``model`` ("unet" → "U-Net"), or ``model`` itself."""
    return MODEL_LABELS.get(model, model)


@dataclass(frozen=True)
class ResultRow:
    """One row of ``results.csv``: one trained model evaluated on one test set.

    Ratios are in [0, 1] (MCC in [-1, 1]) and NaN where undefined; counts are pixels.
    ``train_areas`` holds the areas the model was trained on, ``patch`` the
    window size in pixels, ``best_epoch`` is ``None`` when not recorded.
    """

    scenario: str
    train_areas: tuple[str, ...]
    model: str
    patch: int
    seed: int
    test_set: str
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    iou: float
    mcc: float
    best_epoch: int | None
    train_seconds: float
    job_key: str


@dataclass(frozen=True)
class AreaInfo:
    """What the report says about one study area (from its prepared ``area.json``).

    ``synthetic`` and the inventory fields are ``None`` when ``area.json`` could
    not be read (the area directory moved, or the design does not list it).
    """

    name: str
    path: str
    synthetic: bool | None
    landslides: int | None = None
    mean_landslide_m2: float | None = None
    size_px: tuple[int, int] | None = None


@dataclass(frozen=True)
class ExperimentResults:
    """An experiment directory loaded for reporting.

    Attributes:
        directory: the experiment output directory.
        rows: every row of ``results.csv``.
        design: ``experiment.json`` as parsed (empty when the file is absent).
        scenarios: scenario names in design order.
        scenario_areas: scenario → the areas it trains on.
        models: model names in design order.
        patches: window sizes in pixels, ascending.
        seeds: seeds, ascending.
        test_sets: ``"all"`` first, then the test areas in design order.
        areas: study-area information, in design order.
    """

    directory: Path
    rows: tuple[ResultRow, ...]
    design: dict[str, Any]
    scenarios: tuple[str, ...]
    scenario_areas: dict[str, tuple[str, ...]]
    models: tuple[str, ...]
    patches: tuple[int, ...]
    seeds: tuple[int, ...]
    test_sets: tuple[str, ...]
    areas: tuple[AreaInfo, ...]

    @property
    def single_area_scenarios(self) -> dict[str, str]:
        """Scenario → its one training area, for the scenarios that train on one area."""
        return {s: a[0] for s, a in self.scenario_areas.items() if len(a) == 1}

    @property
    def synthetic(self) -> bool:
        """Whether any study area is synthetic (``"synthetic": true`` in its area.json)."""
        return any(a.synthetic for a in self.areas)

    def select(self, **where: object) -> list[ResultRow]:
        """The rows whose attributes equal every keyword (``select(model="unet", patch=64)``)."""
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in where.items())]


def load_experiment(directory: Path) -> ExperimentResults:
    """Load ``results.csv`` (required) and ``experiment.json`` (optional) of ``directory``.

    Raises:
        SlidemapError: ``directory`` or its ``results.csv`` is missing, the CSV
            lacks a column, has no row, holds an unparsable value or a
            duplicate row, or ``experiment.json`` is not valid JSON.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SlidemapError(f"experiment directory not found: {directory}")
    csv_path = directory / "results.csv"
    if not csv_path.is_file():
        raise SlidemapError(
            f"{csv_path} not found; run 'slidemap experiment EXP.toml --out {directory}' first"
        )
    rows = read_results_csv(csv_path)
    design = _read_design(directory / "experiment.json")
    scenario_areas = _scenario_areas(rows, design)
    test_order = [ALL_TEST, *_names(design.get("areas")), *(r.test_set for r in rows)]
    return ExperimentResults(
        directory=directory,
        rows=rows,
        design=design,
        scenarios=tuple(scenario_areas),
        scenario_areas=scenario_areas,
        models=_ordered([*_names(design.get("models")), *(r.model for r in rows)], rows, "model"),
        patches=tuple(sorted({r.patch for r in rows})),
        seeds=tuple(sorted({r.seed for r in rows})),
        test_sets=_ordered(test_order, rows, "test_set"),
        areas=_area_infos(design, directory),
    )


def read_results_csv(path: Path) -> tuple[ResultRow, ...]:
    """Parse ``results.csv`` into rows (see :data:`COLUMNS`).

    Raises:
        SlidemapError: missing columns, no data row, an unparsable value, or
            two rows for the same scenario, model, window size, seed and test set.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte order mark, as Excel saves
    except UnicodeDecodeError as exc:
        raise SlidemapError(
            f"{path} is not a results.csv written by 'slidemap experiment' (not UTF-8 text: "
            f"{exc.reason} at byte {exc.start})"
        ) from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SlidemapError(
                f"{path} is not an experiment results file: missing column(s) "
                f"{', '.join(missing)}; expected {','.join(COLUMNS)}"
            )
        rows = [_parse_row(raw, path, line) for line, raw in enumerate(reader, start=2)]
    if not rows:
        raise SlidemapError(f"{path} has no result rows; has the experiment finished any job?")
    seen: set[tuple[str, str, int, int, str]] = set()
    for r in rows:
        key = (r.scenario, r.model, r.patch, r.seed, r.test_set)
        if key in seen:
            raise SlidemapError(
                f"{path} has two rows for scenario {r.scenario}, model {r.model}, "
                f"patch {r.patch}, seed {r.seed}, test set {r.test_set}; "
                "remove the duplicate or re-run the experiment"
            )
        seen.add(key)
    return tuple(rows)


def _parse_row(raw: dict[str, str], path: Path, line: int) -> ResultRow:
    def text(col: str) -> str:
        value = (raw.get(col) or "").strip()
        if not value:
            raise SlidemapError(f"{path} line {line}: empty {col}")
        return value

    def integer(col: str) -> int:
        value = text(col)
        try:
            number = int(value)
        except ValueError:
            raise SlidemapError(f"{path} line {line}: {col} {value!r} is not an integer") from None
        if number < 0:
            raise SlidemapError(f"{path} line {line}: {col} {number} is negative")
        return number

    def real(col: str) -> float:
        value = (raw.get(col) or "").strip()
        try:
            return float(value) if value else math.nan
        except ValueError:
            raise SlidemapError(f"{path} line {line}: {col} {value!r} is not a number") from None

    best_epoch = (raw.get("best_epoch") or "").strip()
    return ResultRow(
        scenario=text("scenario"),
        train_areas=tuple(text("train_areas").split("+")),
        model=text("model"),
        patch=integer("patch"),
        seed=integer("seed"),
        test_set=text("test_set"),
        tp=integer("tp"),
        fp=integer("fp"),
        fn=integer("fn"),
        tn=integer("tn"),
        precision=real("precision"),
        recall=real("recall"),
        f1=real("f1"),
        iou=real("iou"),
        mcc=real("mcc"),
        best_epoch=integer("best_epoch") if best_epoch else None,
        train_seconds=real("train_seconds"),
        job_key=text("job_key"),
    )


def _read_design(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        design = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SlidemapError(f"{path} is not valid JSON ({exc}); re-run the experiment") from exc
    if not isinstance(design, dict):
        raise SlidemapError(f"{path} should hold a JSON object; re-run the experiment")
    return design


def _names(value: object) -> list[str]:
    """Names from a design entry that is a mapping (keys) or a list of strings."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def _ordered(candidates: list[str], rows: tuple[ResultRow, ...], attr: str) -> tuple[str, ...]:
    """The values of ``attr`` present in ``rows``, in the first order ``candidates`` gives."""
    present = {getattr(r, attr) for r in rows}
    return tuple(dict.fromkeys(c for c in candidates if c in present))


def _scenario_areas(
    rows: tuple[ResultRow, ...], design: dict[str, Any]
) -> dict[str, tuple[str, ...]]:
    from_rows: dict[str, tuple[str, ...]] = {}
    for r in rows:
        from_rows.setdefault(r.scenario, r.train_areas)
    order = _ordered([*_names(design.get("scenarios")), *from_rows], rows, "scenario")
    return {s: from_rows[s] for s in order}


def _area_infos(design: dict[str, Any], directory: Path) -> tuple[AreaInfo, ...]:
    areas = design.get("areas")
    if not isinstance(areas, dict):
        return ()
    return tuple(_area_info(str(name), str(path), directory) for name, path in areas.items())


def _area_info(name: str, path: str, directory: Path) -> AreaInfo:
    area_dir = Path(path)
    if not area_dir.is_absolute():
        area_dir = directory / area_dir
    try:
        meta = json.loads((area_dir / "area.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return AreaInfo(name, path, synthetic=None)
    if not isinstance(meta, dict):
        return AreaInfo(name, path, synthetic=None)
    inventory = meta.get("inventory") or {}
    width, height = meta.get("width"), meta.get("height")
    return AreaInfo(
        name=name,
        path=path,
        synthetic=bool(meta.get("synthetic", False)),
        landslides=inventory.get("count"),
        mean_landslide_m2=inventory.get("mean_m2"),
        size_px=(int(height), int(width)) if height and width else None,
    )
