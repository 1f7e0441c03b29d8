"""``slidemap demo``: synthetic areas → prepared areas → experiment → report, resumable."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import make_tiny_area
from slidemap.cli.demo import DEFAULT_OUT as CLI_DEFAULT_OUT
from slidemap.demo import (
    DEFAULT_OUT,
    PAPER_DESIGN,
    QUICK_EVALUATE,
    QUICK_PATCHES,
    QUICK_TRAIN,
    demo_design,
    experiment_text,
    run_demo,
)
from slidemap.experiment.config import load_experiment_file
from slidemap.report import load_experiment, transfer_summary
from test_report import assert_no_missing_image

AREAS = ("taiwan-like", "china-like", "japan-like")
PAPER_TOML = Path(__file__).resolve().parents[1] / "examples" / "paper.toml"


def test_embedded_design_is_examples_paper_toml() -> None:
    paper = tomllib.loads(PAPER_TOML.read_text(encoding="utf-8"))
    assert list(paper.pop("areas")) == list(AREAS)
    assert paper == PAPER_DESIGN
    assert CLI_DEFAULT_OUT == DEFAULT_OUT


def test_design_has_the_demo_areas_and_quick_reduces_it(tmp_path: Path) -> None:
    prepared = {a: tmp_path / a for a in AREAS}
    design = demo_design(prepared, quick=False, seed=3)
    assert design["areas"] == {a: str(tmp_path / a) for a in AREAS}
    assert design["seeds"] == [3]
    assert {k: v for k, v in design.items() if k not in ("areas", "seeds")} == {
        k: v for k, v in PAPER_DESIGN.items() if k != "seeds"
    }

    quick = demo_design(prepared, quick=True, seed=0)
    assert quick["name"] == PAPER_DESIGN["name"] + "-quick"
    assert quick["patches"] == list(QUICK_PATCHES) == [32]
    assert quick["train"] == {**PAPER_DESIGN["train"], **QUICK_TRAIN}
    assert quick["evaluate"] == {**PAPER_DESIGN["evaluate"], **QUICK_EVALUATE}
    assert quick["models"] == ["unet", "resunet"]
    assert quick["scenarios"] == PAPER_DESIGN["scenarios"]
    assert PAPER_DESIGN["patches"] == [32, 64, 128]  # not changed by the quick design

    tiny = demo_design(prepared, quick=True, seed=0, epochs=2, patches=(64,))
    assert tiny["train"]["epochs"] == 2 and tiny["train"]["patience"] == 2
    assert tiny["patches"] == [64]


def test_written_experiment_file_loads_as_the_design(tmp_path: Path) -> None:
    prepared = {a: make_tiny_area(tmp_path / "prepared", a, size=64) for a in AREAS}
    exp_file = tmp_path / "experiment.toml"
    exp_file.write_text(experiment_text(demo_design(prepared, True, 0), True))
    assert exp_file.read_text().startswith("# Written by 'slidemap demo --quick'")
    config = load_experiment_file(exp_file)
    assert dict(config.scenarios) == {k: tuple(v) for k, v in PAPER_DESIGN["scenarios"].items()}
    assert config.models == ("unet", "resunet") and config.patches == QUICK_PATCHES
    assert config.train.epochs == QUICK_TRAIN["epochs"]
    assert config.train.patience == QUICK_TRAIN["patience"]
    assert config.train.lr == PAPER_DESIGN["train"]["lr"] and config.train.batch == 4
    assert config.evaluate.mode == "patches"
    assert config.area_paths == prepared


def test_refuses_a_directory_that_is_not_a_demo(tmp_path: Path, run_cli: Callable) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("demo", "--quick", "--out", tmp_path)
    assert result.code == 2
    assert result.err == (
        f"slidemap: error: --out {tmp_path} is not empty and holds no demo (no demo.json); "
        "choose another directory\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_refuses_a_quick_demo_of_another_seed(tmp_path: Path, run_cli: Callable) -> None:
    marker = tmp_path / "demo.json"
    marker.write_text(json.dumps({"quick": {"seed": 1, "scale": 0.5}}))
    result = run_cli("demo", "--quick", "--out", tmp_path, "--seed", "2")
    assert result.code == 2
    assert result.err == (
        f"slidemap: error: {tmp_path} holds a --quick demo made with seed 1; run it with "
        "those settings, choose another --out, or pass --overwrite to start it again\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]
    assert json.loads(marker.read_text()) == {"quick": {"seed": 1, "scale": 0.5}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seed", "-1"), "--seed must be at least 0, got -1"),
        (("--threads", "0"), "--threads must be at least 1, got 0"),
        # both were found by step 3 (the experiment) only, after steps 1 and 2 had written
        (("--workers", "0"), "--workers must be at least 1, got 0"),
        (("--seed", str(2**32)), "--seed must be at most 4294967295, got 4294967296"),
    ],
)
def test_bad_options_are_user_errors(
    tmp_path: Path, run_cli: Callable, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("demo", "--quick", "--out", tmp_path / "demo", *args)
    assert result.code == 2
    assert result.err == f"slidemap: error: {message}\n"
    assert not (tmp_path / "demo").exists()


def test_an_output_that_cannot_be_written_is_refused_first(
    tmp_path: Path, run_cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below a file, or in a read-only directory (root may write anywhere, so os.access says
    so): refused before anything is written, as the other commands do."""
    blocker = tmp_path / "d"
    blocker.write_text("x\n")
    result = run_cli("demo", "--quick", "--out", blocker / "sub")
    assert result.code == 2
    assert result.err == (
        f"slidemap: error: cannot create output directory {blocker}: {blocker} is a file, "
        "not a directory\n"
    )
    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "os.access",
        lambda path, mode: (
            real_access(path, mode) and not (Path(path) == read_only and mode & os.W_OK)
        ),
    )
    for out in (read_only / "demo", read_only):
        result = run_cli("demo", "--quick", "--out", out)
        assert result.code == 2
        assert result.err == f"slidemap: error: output directory {read_only} is not writable\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "ro"]
    assert not any(read_only.iterdir())


def test_corrupt_marker_is_a_user_error(tmp_path: Path, run_cli: Callable) -> None:
    (tmp_path / "demo.json").write_text("{not json")
    result = run_cli("demo", "--quick", "--out", tmp_path)
    assert result.code == 2
    assert result.err.startswith(f"slidemap: error: {tmp_path / 'demo.json'} is corrupt (")
    assert result.err.endswith(f"); delete {tmp_path} or choose another --out\n")
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]


def test_help_says_what_quick_does(run_cli: Callable) -> None:
    result = run_cli("demo", "--help")
    assert result.code == 0
    for text in ("--quick", "report.html", "SYNTHETIC", "--threads", "slidemap demo --quick"):
        assert text in result.out, text


@pytest.mark.slow
def test_quick_demo_end_to_end_transfer_and_resume(tmp_path: Path) -> None:
    """Small areas (192 px), 2 epochs, one thread (the same numbers on any machine)."""
    out = tmp_path / "demo"
    first = run_demo(out, quick=True, threads=1, scale=0.375, epochs=2)
    assert first.report == out / "experiment-quick" / "report.html"
    assert json.loads((out / "demo.json").read_text()) == {"quick": {"seed": 0, "scale": 0.375}}
    assert sorted(p.name for p in (out / "prepared-quick").iterdir()) == sorted(AREAS)
    html = first.report.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html
    assert_no_missing_image(first.report, tmp_path)
    assert len(list(first.experiment.glob("fig_maps_*.png"))) == 4

    assert len(first.summary) == 5
    assert re.fullmatch(
        r"SYNTHETIC data: 3 areas, 4 training scenarios × 2 models × 32 px windows = "
        r"8 trained models; this run took (\d+ s|\d+\.\d min)",
        first.summary[0],
    )
    assert re.fullmatch(
        r"best: (U-Net|ResU-Net), 32 px windows, scenario '\w+': F1 0\.\d{3} on all test parts "
        r"together",
        first.summary[1],
    )
    # transfer shows up: models do better on the area they were trained on
    transfer = transfer_summary(load_experiment(first.experiment).rows)
    assert (transfer.n_in_area, transfer.n_cross_area, transfer.pairs) == (6, 12, 12)
    assert transfer.in_area_f1 > transfer.cross_area_f1 + 0.1, transfer.sentence()
    assert first.summary[2] == (
        f"transfer: trained on one area, mean F1 {transfer.in_area_f1:.3f} on that area "
        f"vs {transfer.cross_area_f1:.3f} on the others; on each test area the model "
        f"trained there wins {transfer.pairs_won} of 12 pairs"
    )
    assert f"in-area mean F1 {transfer.in_area_f1:.3f} vs cross-area" in html
    assert re.fullmatch(r"models: mean F1 U-Net 0\.\d{3}, ResU-Net 0\.\d{3}", first.summary[3])
    assert first.summary[4].startswith(f"maps: TP/FP/FN maps in {first.experiment}/fig_maps_")

    results_before = (first.experiment / "results.csv").read_bytes()
    done = sorted(first.experiment.glob("jobs/*/result.json"))
    assert len(done) == 8
    reused = [*done, *(out / "prepared-quick").glob("*/image.tif"), out / "synthetic-quick"]
    stamps = [p.stat().st_mtime_ns for p in reused]
    second = run_demo(out, quick=True, threads=1, scale=0.375, epochs=2)
    assert [p.stat().st_mtime_ns for p in reused] == stamps  # no step ran again
    assert (second.experiment / "results.csv").read_bytes() == results_before
    assert second.summary[1:4] == first.summary[1:4]
    assert re.search(r"this run took \d+ s$", second.summary[0])  # seconds, not "0.0 min"
