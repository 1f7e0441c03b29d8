"""Experiment report: tables like the paper's Tables 4–7, Figs 10–12, ``report.html``.

Input is an experiment directory written by ``slidemap experiment``
(``results.csv``, ``experiment.json``, ``jobs/<key>/``). Modules, upstream first:

* :mod:`~slidemap.report.results` — read and validate ``results.csv`` and the design;
* :mod:`~slidemap.report.stats` — means over seeds, the transfer summary, the best setting;
* :mod:`~slidemap.report.jobs` — per-job training curves and TP/FP/FN maps on disk;
* :mod:`~slidemap.report.tables`, :mod:`~slidemap.report.figures`,
  :mod:`~slidemap.report.summary`, :mod:`~slidemap.report.html` — the pieces;
* :mod:`~slidemap.report.build` — :func:`write_report`, which writes them all.
"""

from slidemap.report.build import Report, write_report
from slidemap.report.results import ExperimentResults, ResultRow, load_experiment
from slidemap.report.stats import BestSetting, TransferSummary, best_setting, transfer_summary

__all__ = [
    "BestSetting",
    "ExperimentResults",
    "Report",
    "ResultRow",
    "TransferSummary",
    "best_setting",
    "load_experiment",
    "transfer_summary",
    "write_report",
]
