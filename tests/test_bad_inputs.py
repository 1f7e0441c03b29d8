"""The bad-input matrix (SPEC §9): every command, fed one broken input at a time.

Each case (``tests/bad_inputs/cases_*.py``; its pytest id names it) builds
valid inputs in an empty folder, breaks one thing and runs the command. A bad
input must end with ``slidemap: error: <the expected text>`` and exit code 2,
without a traceback, and leave the folder exactly as it was: every input
byte-identical (sha256) and no output, partial output or temporary file
(only an interrupted ``train`` or ``experiment`` may keep its resumable
state). Tolerated inputs (an inventory in another CRS, repairable polygons,
NaN as nodata, a window larger than the area) must work and give the right
result. Disk-full cases run in a child process whose file size is limited.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from bad_inputs import cases_experiment, cases_model, cases_overwrite, cases_raw
from bad_inputs.corrupt import code_checkpoint
from bad_inputs.harness import Call, Case, Workspace, leftovers, run_limited, snapshot
from conftest import CliResult
from slidemap.checkpoint import load_checkpoint
from slidemap.errors import SlidemapError

BAD = [*cases_raw.CASES, *cases_model.CASES, *cases_experiment.CASES, *cases_overwrite.CASES]
TOLERATED = [*cases_raw.TOLERATED, *cases_model.TOLERATED]
COMMANDS = (
    "prepare",
    "import-l4s",
    "train",
    "evaluate",
    "experiment",
    "predict",
    "export",
    "report",
)


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def run(call: Call, ws: Workspace, run_cli: Callable[..., CliResult]) -> CliResult:
    if call.file_size_limit is not None:
        return run_limited(call.args, call.file_size_limit, ws.root)
    return run_cli(*call.args)


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths added, removed or modified between two snapshots."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def outside(paths: list[str], root: Path, allowed: Path | None) -> list[str]:
    """The ``paths`` (relative to ``root``) that are not ``allowed`` or below it."""
    if allowed is None:
        return paths
    return [p for p in paths if not (root / p == allowed or allowed in (root / p).parents)]


@pytest.mark.parametrize("case", [c.param() for c in BAD])
def test_bad_input_is_refused_cleanly(
    case: Case, tmp_path: Path, shared_data: Path, run_cli: Callable[..., CliResult]
) -> None:
    ws = Workspace(tmp_path, shared_data)
    call = case.build(ws)
    before = snapshot(tmp_path)
    result = run(call, ws, run_cli)
    assert "Traceback" not in result.err, result.err
    assert result.code == 2, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("slidemap: error: ")]
    assert len(errors) == 1, result.err
    assert call.message in errors[0], result.err
    assert outside(changed(before, snapshot(tmp_path)), tmp_path, call.may_write) == []
    assert leftovers(tmp_path) == []
    assert not ws.marker.exists()  # pickled code never ran
    if call.check is not None:
        call.check()


@pytest.mark.parametrize("case", [c.param() for c in TOLERATED])
def test_tolerated_input_works(
    case: Case, tmp_path: Path, shared_data: Path, run_cli: Callable[..., CliResult]
) -> None:
    ws = Workspace(tmp_path, shared_data)
    call = case.build(ws)
    before = snapshot(tmp_path)
    result = run(call, ws, run_cli)
    assert result.code == 0, result.err
    assert call.message in result.out
    assert outside(changed(before, snapshot(tmp_path)), tmp_path, call.may_write) == []
    assert call.check is not None
    call.check()


def test_matrix_has_at_least_40_distinct_cases_covering_every_command() -> None:
    names = [c.name for c in BAD + TOLERATED]
    assert len(set(names)) == len(names) >= 40
    for command in COMMANDS:
        assert sum(n.startswith(f"{command}-") for n in names) >= 5, command


def test_the_pickled_payload_runs_when_loaded_unsafely(tmp_path: Path) -> None:
    """The hostile checkpoints of the matrix are live: an unsafe load creates the marker,
    slidemap's load refuses them and does not."""
    for torch_zip in (True, False):
        marker = tmp_path / f"ran-{torch_zip}"
        path = code_checkpoint(tmp_path / f"evil-{torch_zip}.pt", marker, torch_zip)
        with pytest.raises(SlidemapError, match=r"pickled objects|not a torch checkpoint"):
            load_checkpoint(path)
        assert not marker.exists()
        data = path.read_bytes()
        if torch_zip:
            torch.load(io.BytesIO(data), weights_only=False)
        else:
            pickle.loads(data)
        assert marker.exists()
