"""Cases of ``--overwrite`` aimed at something that is not an earlier output of the command.

``--overwrite`` replaces an earlier output of the same kind (a directory with
its marker file: ``probability.tif``, ``area.json``, ``summary.json``…) or an
empty directory; never the command's own inputs, a folder slidemap did not
write, a file where a directory is written or the reverse, or a checkpoint.
Each case must leave everything as it was.
"""

from __future__ import annotations

from collections.abc import Callable
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


def prepared_scene(ws: Workspace) -> Call:
    cases_raw.scene(ws)
    return cases_raw.prepare(ws, "")


def l4s_patches(ws: Workspace) -> Call:
    cases_raw.patches(ws)
    return cases_raw.l4s(ws, "")


#: A command and its own input folder as --out: (case, the command, folder, kind, marker).
INTO_AN_INPUT: list[tuple[str, Callable[[Workspace], Call], str, str, str]] = [
    ("predict-overwrite-into-its-input-folder", lambda ws: cases_model.predict(ws, ""), "in",
     "a prediction", "probability.tif"),
    ("prepare-overwrite-into-its-input-folder", prepared_scene, "in", "a prepared area",
     "area.json"),
    ("import-l4s-overwrite-its-patch-folder", l4s_patches, "l4s", "a prepared area",
     "area.json"),
    ("evaluate-overwrite-its-run", lambda ws: cases_model.evaluate(ws, ""), "run",
     "an evaluation", "summary.json"),
    ("evaluate-overwrite-its-area", lambda ws: cases_model.evaluate(ws, ""), "tiny",
     "an evaluation", "summary.json"),
]  # fmt: skip


def into_an_input(
    command: Callable[[Workspace], Call], folder: str, what: str, marker: str
) -> Callable[[Workspace], Call]:
    """A builder: ``command`` with ``--out`` its input ``folder`` and ``--overwrite``."""

    def build(ws: Workspace) -> Call:
        call = command(ws)
        path = ws.path(folder)
        return with_out(call, path, not_of_kind(path, what, marker))

    return build


for name, command, folder, what, marker in INTO_AN_INPUT:
    CASES.append(Case(name, into_an_input(command, folder, what, marker)))


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
