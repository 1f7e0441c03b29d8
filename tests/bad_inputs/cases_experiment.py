"""Cases of the experiment matrix and its report: ``experiment`` and ``report``.

The experiment file (:func:`inputs.experiment_file`) trains one U-Net epoch
per scenario on two 64 px prepared areas ``a`` and ``b``; the experiment
directory of ``report`` holds a small, well-formed ``results.csv``.
"""

from __future__ import annotations

from typing import Any

from bad_inputs import corrupt, inputs
from bad_inputs.cases_raw import case, line_of
from bad_inputs.harness import Call, Case, Workspace

CASES: list[Case] = []


# ---------------------------------------------------------------- experiment


def experiment(ws: Workspace, message: str, text: str | None = None, **kw: Any) -> Call:
    """``slidemap experiment exp/exp.toml --out results`` (``text`` edits the file first)."""
    path = inputs.experiment_file(ws.path("exp"))
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return Call(("experiment", path, "--out", ws.path("results")), message, **kw)


def exp_text(ws: Workspace) -> str:
    return inputs.experiment_file(ws.path("exp")).read_text(encoding="utf-8")


def exp_path(ws: Workspace) -> str:
    return str(ws.path("exp", "exp.toml"))


@case("experiment-missing-file", table=CASES)
def experiment_missing_file(ws: Workspace) -> Call:
    missing = ws.path("exp", "nowhere.toml")
    ws.path("exp").mkdir()
    return Call(
        ("experiment", missing, "--out", ws.path("results")),
        f"experiment file not found: {missing}",
    )


@case("experiment-file-is-a-directory", table=CASES)
def experiment_file_is_a_directory(ws: Workspace) -> Call:
    inputs.experiment_file(ws.path("exp"))
    folder = ws.path("exp")
    return Call(
        ("experiment", folder, "--out", ws.path("results")),
        f"experiment file {folder} is a directory, not a file; give the TOML file, e.g. "
        f"{folder / 'exp.toml'}",
    )


@case("experiment-scheduler-without-a-port", table=CASES)
def experiment_scheduler_without_a_port(ws: Workspace) -> Call:
    """Refused before anything is written (it used to leave results/experiment.json)."""
    call = experiment(ws, "")
    return Call(
        (*call.args, "--scheduler", "junk"),
        "--scheduler 'junk' is not a Dask scheduler address (missing port number in address "
        "'junk'); give tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786",
    )


@case("experiment-toml-syntax-error", table=CASES)
def experiment_toml_syntax_error(ws: Workspace) -> Call:
    text = exp_text(ws).replace("[areas]", "[areas")
    return experiment(ws, f"{exp_path(ws)}: invalid TOML: ", text)


@case("experiment-toml-wrong-type", table=CASES)
def experiment_toml_wrong_type(ws: Workspace) -> Call:
    text = exp_text(ws).replace("patches = [32]", 'patches = "32"')
    line = line_of(text, "patches")
    return experiment(ws, f"{exp_path(ws)}, line {line}: patches: expected a list, got '32'", text)


@case("experiment-toml-wrong-type-in-a-table", table=CASES)
def experiment_toml_wrong_type_in_a_table(ws: Workspace) -> Call:
    text = exp_text(ws).replace("epochs = 1", "epochs = 1.5")
    line = line_of(text, "epochs")
    return experiment(
        ws, f"{exp_path(ws)}, line {line}: [train] epochs: expected an integer, got 1.5", text
    )


@case("experiment-toml-unknown-key", table=CASES)
def experiment_toml_unknown_key(ws: Workspace) -> Call:
    text = exp_text(ws) + "lr_rate = 0.1\n"
    line = line_of(text, "lr_rate")
    return experiment(
        ws,
        f"{exp_path(ws)}, line {line}: [train] lr_rate: unknown key; expected one of: epochs,",
        text,
    )


@case("experiment-missing-area-directory", table=CASES)
def experiment_missing_area_directory(ws: Workspace) -> Call:
    text = exp_text(ws).replace('b = "b"', 'b = "gone"')
    line = line_of(text, '"gone"')
    return experiment(
        ws,
        f"{exp_path(ws)}, line {line}: [areas] b: prepared area directory not found: "
        f"{ws.path('exp', 'gone')}",
        text,
    )


@case("experiment-area-not-prepared", table=CASES)
def experiment_area_not_prepared(ws: Workspace) -> Call:
    text = exp_text(ws)
    ws.path("exp", "raw").mkdir()
    text = text.replace('b = "b"', 'b = "raw"')
    line = line_of(text, '"raw"')
    return experiment(
        ws,
        f"{exp_path(ws)}, line {line}: [areas] b: {ws.path('exp', 'raw')} is not a prepared "
        "area (no area.json)",
        text,
    )


@case("experiment-areas-with-different-bands", table=CASES)
def experiment_areas_with_different_bands(ws: Workspace) -> Call:
    text = exp_text(ws).replace('b = "b"', 'b = "rgbn"')
    inputs.prepared_area(ws.path("exp"), "rgbn", bands=inputs.IMAGE_BANDS)
    line = line_of(text, '"rgbn"')
    return experiment(
        ws,
        f"{exp_path(ws)}, line {line}: [areas] b: bands B2,B3,B4,B8 differ from area a's "
        "(B2,B3,B4,B8,slope); every area of an experiment needs the same bands",
        text,
    )


@case("experiment-scenario-of-an-unknown-area", table=CASES)
def experiment_scenario_of_an_unknown_area(ws: Workspace) -> Call:
    text = exp_text(ws) + '\n[scenarios]\nboth = ["a", "c"]\n'
    line = line_of(text, "both")
    return experiment(
        ws,
        f"{exp_path(ws)}, line {line}: [scenarios] both: unknown area 'c'; areas are a, b",
        text,
    )


@case("experiment-window-larger-than-an-area", table=CASES)
def experiment_window_larger_than_an_area(ws: Workspace) -> Call:
    """The first job fails with train's message; the design stays to resume after a fix."""
    text = exp_text(ws).replace("patches = [32]", "patches = [128]")
    return experiment(
        ws,
        f"failed: area {ws.path('exp', 'a')}: no 128 x 128 px training window fits in its train "
        "part (64 x 34 px bounding box); use a smaller --patch (e.g. 32) (finished jobs are "
        "kept; run the experiment again after fixing this)",
        text,
        may_write=ws.path("results"),
    )


@case("experiment-output-is-a-file", table=CASES)
def experiment_output_is_a_file(ws: Workspace) -> Call:
    call = experiment(ws, "")
    ws.path("results").write_text("not a directory\n", encoding="utf-8")
    return Call(call.args, f"--out {ws.path('results')} exists and is not a directory")


@case("experiment-output-holds-something-else", table=CASES)
def experiment_output_holds_something_else(ws: Workspace) -> Call:
    call = experiment(ws, "")
    ws.path("results").mkdir()
    ws.path("results", "thesis.tex").write_text("\\begin{document}\n", encoding="utf-8")
    return Call(
        call.args,
        f"--out {ws.path('results')} is not empty and holds no experiment (no experiment.json)",
    )


@case("experiment-disk-full", table=CASES)
def experiment_disk_full(ws: Workspace) -> Call:
    """No checkpoint fits: the job fails, finished work and the design are kept to resume."""
    text = exp_text(ws) + '\n[scenarios]\nall = ["a", "b"]\n'
    return experiment(
        ws,
        f"failed: cannot write {ws.path('results', 'jobs')}/",
        text,
        file_size_limit=1 << 20,
        may_write=ws.path("results"),
    )


# ---------------------------------------------------------------- report


def report(ws: Workspace, message: str, **kw: Any) -> Call:
    """``slidemap report exp --out report`` (``exp/`` holds a small ``results.csv`` unless
    the case made ``exp/`` already)."""
    if not ws.path("exp").exists():
        inputs.experiment_dir(ws.path("exp"))
    return Call(("report", ws.path("exp"), "--out", ws.path("report")), message, **kw)


def csv_path(ws: Workspace) -> str:
    return str(ws.path("exp", "results.csv"))


@case("report-missing-directory", table=CASES)
def report_missing_directory(ws: Workspace) -> Call:
    return Call(
        ("report", ws.path("gone"), "--out", ws.path("report")),
        f"experiment directory not found: {ws.path('gone')}",
    )


@case("report-no-results", table=CASES)
def report_no_results(ws: Workspace) -> Call:
    ws.path("exp").mkdir()
    return report(
        ws,
        f"{csv_path(ws)} not found; run 'slidemap experiment EXP.toml --out {ws.path('exp')}' "
        "first",
    )


@case("report-results-without-columns", table=CASES)
def report_results_without_columns(ws: Workspace) -> Call:
    ws.path("exp").mkdir()
    ws.path("exp", "results.csv").write_text("model,f1\nunet,0.5\n", encoding="utf-8")
    return report(
        ws,
        f"{csv_path(ws)} is not an experiment results file: missing column(s) scenario, "
        "train_areas,",
    )


@case("report-results-with-a-bad-number", table=CASES)
def report_results_with_a_bad_number(ws: Workspace) -> Call:
    path = inputs.experiment_dir(ws.path("exp")) / "results.csv"
    path.write_text(path.read_text().replace(",10,5,", ",ten,5,", 1), encoding="utf-8")
    return report(ws, f"{csv_path(ws)} line 2: tp 'ten' is not an integer")


@case("report-results-without-rows", table=CASES)
def report_results_without_rows(ws: Workspace) -> Call:
    path = inputs.experiment_dir(ws.path("exp")) / "results.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n", encoding="utf-8")
    return report(ws, f"{csv_path(ws)} has no result rows; has the experiment finished any job?")


@case(
    "report-results-random-bytes",
    table=CASES,
)
def report_results_random_bytes(ws: Workspace) -> Call:
    inputs.experiment_dir(ws.path("exp"))
    corrupt.random_bytes(ws.path("exp", "results.csv"))
    return report(ws, f"{csv_path(ws)}")


@case(
    "report-results-with-negative-counts",
    table=CASES,
)
def report_results_with_negative_counts(ws: Workspace) -> Call:
    path = inputs.experiment_dir(ws.path("exp")) / "results.csv"
    path.write_text(path.read_text().replace(",10,5,", ",-10,5,", 1), encoding="utf-8")
    return report(ws, f"{csv_path(ws)} line 2: tp ")


@case("report-corrupt-design", table=CASES)
def report_corrupt_design(ws: Workspace) -> Call:
    inputs.experiment_dir(ws.path("exp"))
    ws.path("exp", "experiment.json").write_text('{"name": ', encoding="utf-8")
    return report(ws, f"{ws.path('exp', 'experiment.json')} is not valid JSON (")


@case("report-output-below-a-file", table=CASES)
def report_output_below_a_file(ws: Workspace) -> Call:
    call = report(ws, "")
    blocker = ws.blocker()
    return Call(
        (*call.args[:-1], blocker),
        f"cannot create output directory {blocker}: {blocker} is a file, not a directory",
    )


@case("report-exists", table=CASES)
def report_exists(ws: Workspace) -> Call:
    call = report(ws, "")
    ws.path("report").mkdir()
    ws.path("report", "report.html").write_text("<p>last week's</p>", encoding="utf-8")
    return Call(call.args, f"{ws.path('report', 'report.html')} already exists; pass --overwrite")


@case(
    "report-disk-full",
    table=CASES,
)
def report_disk_full(ws: Workspace) -> Call:
    return report(ws, f"cannot write {ws.path('report')}", file_size_limit=4096)
