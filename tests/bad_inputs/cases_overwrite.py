"""Cases of ``--overwrite`` aimed at something that is not an earlier output of the command.

``--overwrite`` replaces an earlier output of the same kind (a directory with
its marker file: ``probability.tif``, ``area.json``, ``summary.json``…) or an
empty directory; never the command's own inputs, a folder slidemap did not
write, a file where a directory is written or the
reverse, or a checkpoint. Each case must leave everything as it was.
"""

from __future__ import annotations

from pathlib import Path

from bad_inputs import cases_model, cases_raw
from bad_inputs.harness import Call, Case, Workspace

CASES: list[Case] = []


def case(name: str):
    """Register the decorated builder as case ``name``."""
    return cases_raw.case(name, table=CASES)


def with_out(call: Call, out: Path | str, message: str) -> Call:
    """``call`` with its ``--out`` replaced by ``out``, plus ``--overwrite``."""
    args = list(call.args)
    args[args.index("--out") + 1] = out
    return Call((*args, "--overwrite"), message)


def not_of_kind(path: Path, what: str, marker: str) -> str:
    return (
        f"refusing to replace {path}: it is not {what} (no {marker}), and --overwrite "
        "replaces only an earlier output of the same kind"
    )


@case("predict-overwrite-into-its-input-folder")
def predict_overwrite_into_its_input_folder(ws: Workspace) -> Call:
    call = cases_model.predict(ws, "")
    folder = ws.path("in")
    return with_out(call, folder, not_of_kind(folder, "a prediction", "probability.tif"))


@case("prepare-overwrite-into-its-input-folder")
def prepare_overwrite_into_its_input_folder(ws: Workspace) -> Call:
    cases_raw.scene(ws)
    folder = ws.path("in")
    call = cases_raw.prepare(ws, "")
    return with_out(call, folder, not_of_kind(folder, "a prepared area", "area.json"))


@case("prepare-overwrite-its-area-file")
def prepare_overwrite_its_area_file(ws: Workspace) -> Call:
    cases_raw.scene(ws)
    area = ws.path("in", "area.toml")
    return with_out(
        cases_raw.prepare(ws, ""),
        area,
        f"refusing to replace {area}: it is a file, and the output is a prepared area",
    )


@case("prepare-overwrite-a-folder-of-the-user")
def prepare_overwrite_a_folder_of_the_user(ws: Workspace) -> Call:
    cases_raw.scene(ws)
    ws.path("out").mkdir()
    ws.path("out", "notes.txt").write_text("keep me", encoding="utf-8")
    call = cases_raw.prepare(ws, "")
    return Call(
        (*call.args, "--overwrite"), not_of_kind(ws.path("out"), "a prepared area", "area.json")
    )


@case("import-l4s-overwrite-its-patch-folder")
def import_l4s_overwrite_its_patch_folder(ws: Workspace) -> Call:
    cases_raw.patches(ws)
    folder = ws.path("l4s")
    call = cases_raw.l4s(ws, "")
    return with_out(call, folder, not_of_kind(folder, "a prepared area", "area.json"))


@case("evaluate-overwrite-its-run")
def evaluate_overwrite_its_run(ws: Workspace) -> Call:
    call = cases_model.evaluate(ws, "")
    run = ws.path("run")
    return with_out(call, run, not_of_kind(run, "an evaluation", "summary.json"))


@case("evaluate-overwrite-its-area")
def evaluate_overwrite_its_area(ws: Workspace) -> Call:
    call = cases_model.evaluate(ws, "")
    area = ws.path("tiny")
    return with_out(call, area, not_of_kind(area, "an evaluation", "summary.json"))


@case("export-overwrite-its-checkpoint")
def export_overwrite_its_checkpoint(ws: Workspace) -> Call:
    call = cases_model.export(ws, "")
    best = ws.path("run", "best.pt")
    return with_out(call, best, f"refusing to replace {best}, a checkpoint, with an onnx file")


@case("export-overwrite-a-directory")
def export_overwrite_a_directory(ws: Workspace) -> Call:
    call = cases_model.export(ws, "")
    folder = ws.path("model.onnx")
    folder.mkdir()
    return with_out(
        call, folder, f"refusing to replace {folder}: it is a directory, and the output is a file"
    )


@case("synth-overwrite-a-folder-of-the-user")
def synth_overwrite_a_folder_of_the_user(ws: Workspace) -> Call:
    folder = ws.path("areas")
    folder.mkdir()
    (folder / "README.txt").write_text("my project\n", encoding="utf-8")
    args = ("synth", "--area", "japan-like", "--scale", 0.25, "--out", folder, "--overwrite")
    return Call(args, not_of_kind(folder, "a set of synthetic areas", "README.txt"))
