"""Result tables in the layout of the paper's Tables 4–7.

One table per training scenario. Rows come in groups of three (precision,
recall, F1), one group per test set, the pooled ``all`` test set first; the
columns are model × window size (U-Net 32, 64, 128, then ResU-Net 32, 64,
128). Values are in percent like the paper's; with more than one seed each
cell is mean ± sample standard deviation over seeds. The best F1 of each test
set (each F1 row) is in bold.

A :class:`Table` is plain data, rendered to Markdown here and to HTML by
:mod:`slidemap.report.html`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slidemap.report.results import ExperimentResults, model_label
from slidemap.report.stats import Stat, grouped

METRICS = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
MISSING = "–"
UNDEFINED = "n/a"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and whether it is emphasised (best in its row)."""

    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    """A titled table; the first ``label_columns`` columns are labels, the rest numbers."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    label_columns: int = 2


def caption(results: ExperimentResults) -> str:
    """What the numbers in every scenario table mean."""
    n = len(results.seeds)
    spread = (
        f"mean ± sample standard deviation over {n} seeds" if n > 1 else f"seed {results.seeds[0]}"
    )
    return (
        "Precision, recall and F1 in % of each model (columns: model and window size in "
        f"pixels) on each test part ('all' = every area's test part together); {spread}. "
        f"Bold: the best F1 on each test set. {UNDEFINED}: undefined (no landslide "
        f"predicted or in the reference); {MISSING}: not run."
    )


def format_stat(stat: Stat | None, with_std: bool) -> str:
    """``stat`` in percent with two decimals, ``± std`` when asked and defined."""
    if stat is None:
        return MISSING
    if not math.isfinite(stat.mean):
        return UNDEFINED
    text = f"{100 * stat.mean:.2f}"
    if with_std and math.isfinite(stat.std):
        text += f" ± {100 * stat.std:.2f}"
    return text


def scenario_title(results: ExperimentResults, index: int, scenario: str) -> str:
    """``Scenario 2: taiwan-like (trained on taiwan-like)``, numbered from 1."""
    areas = " + ".join(results.scenario_areas[scenario])
    return f"Scenario {index}: {scenario} (trained on {areas})"


def scenario_tables(results: ExperimentResults) -> list[Table]:
    """One table per training scenario, in the paper's layout (see module docstring)."""
    columns = [(m, p) for m in results.models for p in results.patches]
    header = ("Test set", "Metric", *(f"{model_label(m)} {p}" for m, p in columns))
    with_std = len(results.seeds) > 1
    tables = []
    for index, scenario in enumerate(results.scenarios, start=1):
        scenario_rows = results.select(scenario=scenario)
        rows: list[tuple[Cell, ...]] = []
        for test_set in results.test_sets:
            test_rows = [r for r in scenario_rows if r.test_set == test_set]
            if not test_rows:
                continue
            for i, (metric, label) in enumerate(METRICS):
                stats = grouped(test_rows, lambda r: (r.model, r.patch), metric)
                values = [stats.get(c) for c in columns]
                best = _best(values) if metric == "f1" else math.nan
                cells = [
                    Cell(format_stat(s, with_std), bold=s is not None and s.mean == best)
                    for s in values
                ]
                rows.append((Cell(test_set if i == 0 else ""), Cell(label), *cells))
        tables.append(Table(scenario_title(results, index, scenario), header, tuple(rows)))
    return tables


def _best(values: list[Stat | None]) -> float:
    means = [s.mean for s in values if s is not None and math.isfinite(s.mean)]
    return max(means) if means else math.nan


def to_markdown(table: Table) -> str:
    """The table as a GitHub-flavoured Markdown table under a bold title."""
    align = [":--"] * table.label_columns + ["--:"] * (len(table.header) - table.label_columns)
    lines = [
        f"**{table.title}**",
        "",
        "| " + " | ".join(table.header) + " |",
        "|" + "|".join(align) + "|",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(f"**{c.text}**" if c.bold else c.text for c in row) + " |")
    return "\n".join(lines) + "\n"


def tables_markdown(results: ExperimentResults, title: str, summary: Sequence[str] = ()) -> str:
    """``tables.md``: a heading, the ``summary`` sentences, the caption and every table."""
    parts = [f"# {title}", ""]
    if summary:
        parts += [*(f"* {sentence}" for sentence in summary), ""]
    parts += [caption(results), ""]
    for table in scenario_tables(results):
        parts += [to_markdown(table), ""]
    return "\n".join(parts)
