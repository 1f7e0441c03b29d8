"""The L4S cross-validation harness (benchmarks/l4s_accuracy.py) and its plain reference loop.

The real runs of docs/accuracy.md take an hour; here the same code runs on the
shared patches with two small folds, one seed and one or two epochs, and the
checks are on what it writes, never on how good the models are.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from slidemap.area import LABEL_NODATA, TEST, TRAIN, VALIDATION
from slidemap.bench import l4s_cv, plain_unet
from slidemap.bench.l4s_cv import REFERENCE, SLIDEMAP, Recipe
from slidemap.errors import SlidemapError

REPO = Path(__file__).resolve().parents[1]
SMALL_FOLDS = "1,27;2,16"


@pytest.fixture(scope="module")
def l4s(shared_data: Path) -> Path:
    return shared_data / "l4s"


@pytest.fixture(scope="module")
def fold_areas(l4s: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    work = tmp_path_factory.mktemp("cv")
    return l4s_cv.setup_folds(l4s, l4s_cv.parse_folds(SMALL_FOLDS), work)


def patch_ids(area: Path) -> set[int]:
    """The ids of the L4S images an area was imported from (its area.json's sources)."""
    sources = json.loads((area / "area.json").read_text())["sources"]
    return {int(m.group(1)) for m in map(re.compile(r"image_(\d+)\.h5$").search, sources) if m}


# --- folds and recipes ------------------------------------------------------------------


def test_folds_hold_the_test_patches_and_train_on_all_others(fold_areas) -> None:
    for (train, test), ids in zip(fold_areas, ((1, 27), (2, 16)), strict=True):
        test_ids, train_ids = patch_ids(test), patch_ids(train)
        assert test_ids == set(ids)
        assert train_ids == {1, 2, 3, 16, 27, 28, 38, 40, 41, 72, 253, 461, 525, 800} - set(ids)
        with rasterio.open(train / "split.tif") as src:
            codes = set(np.unique(src.read(1)).tolist())
        assert {TRAIN, VALIDATION} <= codes and TEST not in codes
        with rasterio.open(test / "split.tif") as src:
            assert TEST in set(np.unique(src.read(1)).tolist())


def test_default_folds_cover_every_shared_patch_once(l4s) -> None:
    every = sorted(i for fold in l4s_cv.DEFAULT_FOLDS for i in fold)
    assert every == sorted(p.id for p in l4s_cv.find_patches(l4s))


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,2;", "empty fold"), ("1,x", "integers"), ("1,2;2,3", "more than one fold")],
)
def test_parse_folds_errors(text: str, message: str) -> None:
    with pytest.raises(SlidemapError, match=message):
        l4s_cv.parse_folds(text)


def test_parse_recipe_splits_options_like_a_shell() -> None:
    assert l4s_cv.parse_recipe("pw20=--pos-weight 20", SLIDEMAP) == Recipe(
        "pw20", SLIDEMAP, ("--pos-weight", "20")
    )
    assert l4s_cv.parse_recipe("plain=", REFERENCE) == Recipe("plain", REFERENCE, ())
    for bad in ("--pos-weight 20", "=--patch 32"):
        with pytest.raises(SlidemapError, match="NAME=OPTIONS"):
            l4s_cv.parse_recipe(bad, SLIDEMAP)
    for bad in ("a/b=", "two words=", "-x="):
        with pytest.raises(SlidemapError, match="letters, digits"):
            l4s_cv.parse_recipe(bad, SLIDEMAP)


def test_summary_statistics_leave_undefined_f1_out() -> None:
    recipes = [Recipe("a", SLIDEMAP), Recipe("b", REFERENCE)]
    runs = [
        {"recipe": "a", "fold": 1, "f1": 0.2},
        {"recipe": "a", "fold": 1, "f1": 0.4},
        {"recipe": "a", "fold": 2, "f1": 0.9},
        {"recipe": "a", "fold": 2, "f1": math.nan},
        {"recipe": "b", "fold": 1, "f1": math.nan},
    ]
    summary = l4s_cv.summarise(recipes, runs, n_folds=2)
    assert summary["a"]["n"] == 3
    assert summary["a"]["mean"] == pytest.approx(0.5)
    assert summary["a"]["sd"] == pytest.approx(np.std([0.2, 0.4, 0.9]))
    assert summary["a"]["worst"] == pytest.approx(0.2)
    assert summary["a"]["per_fold"] == pytest.approx([0.3, 0.9])
    assert summary["b"]["n"] == 0 and math.isnan(summary["b"]["mean"])
    table = l4s_cv.format_table(recipes, summary)
    assert "| a | slidemap | 3 | 0.500 |" in table and "| b | reference | 0 | nan |" in table


# --- the plain reference loop -----------------------------------------------------------


def test_grid_windows_lie_wholly_in_their_part_finite_and_labelled() -> None:
    image = np.zeros((2, 8, 8), np.float32)
    label = np.zeros((8, 8), np.uint8)
    split = np.full((8, 8), TRAIN, np.uint8)
    split[:4, 4:] = VALIDATION  # window (0, 1) is validation
    image[0, 5, 1] = np.nan  # window (1, 0) has a nodata pixel
    label[6, 6] = LABEL_NODATA  # so has window (1, 1)
    label[0, 0] = 1
    x, y = plain_unet.grid_windows(image, label, split, TRAIN, 4)
    assert x.shape == (1, 2, 4, 4) and y.shape == (1, 1, 4, 4)
    assert y[0, 0, 0, 0] == 1.0 and y.sum() == 1.0
    x, _ = plain_unet.grid_windows(image, label, split, VALIDATION, 4)
    assert x.shape[0] == 1
    with pytest.raises(SlidemapError, match="no 4 px window"):
        plain_unet.grid_windows(image, label, split, TEST, 4)


def test_plain_reference_trains_and_scores_one_window_per_test_patch(
    fold_areas, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = fold_areas[0]
    argv = ["--train", str(train), "--test", str(test), "--epochs", "2", "--patience", "1"]
    threads = torch.get_num_threads()
    try:
        assert plain_unet.main([*argv, "--seed", "3"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert plain_unet.main([*argv, "--seed", "3"]) == 0
        again = json.loads(capsys.readouterr().out)
    finally:
        torch.set_num_threads(threads)  # main() runs torch on one thread
    assert again == result  # seeded: the same run twice
    windows = result["windows"]
    assert windows["train"] + windows["validation"] == 12 * 4  # 12 patches, 4 windows of 64 px
    assert windows["validation"] in (4, 8, 12) and windows["test"] == 2
    assert 1 <= result["best_epoch"] <= result["epochs"] <= 2
    counts = result["counts"]
    assert sum(counts.values()) == 2 * 128 * 128
    assert counts["tp"] + counts["fn"] > 0  # patches 1 and 27 hold landslides
    assert 0.0 <= result["f1"] <= 1.0
    assert result["f1"] == pytest.approx(
        2 * counts["tp"] / (2 * counts["tp"] + counts["fp"] + counts["fn"])
    )


def test_plain_reference_rejects_a_directory_that_is_not_an_area(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        plain_unet.main(["--train", str(tmp_path), "--test", str(tmp_path)])
    assert exc.value.code == 2
    assert "is not a prepared area" in capsys.readouterr().err


# --- the whole harness --------------------------------------------------------------------


@pytest.mark.slow
def test_cross_validation_runs_writes_its_document_and_reuses_finished_jobs(
    l4s, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, work = tmp_path / "cv.json", tmp_path / "work"
    argv = ["--data", str(l4s), "--folds", SMALL_FOLDS, "--seeds", "0", "--epochs", "1"]
    argv += ["--recipe", "weighted=", "--reference", "plain=--patience 5", "--work", str(work)]
    argv += ["--out", str(out)]
    assert l4s_cv.main(argv) == 0
    table = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["schema"] == l4s_cv.SCHEMA
    assert doc["folds"] == [[1, 27], [2, 16]] and doc["seeds"] == [0] and doc["epochs"] == 1
    assert [r["name"] for r in doc["recipes"]] == ["weighted", "plain"]
    assert doc["recipes"][1] == {"name": "plain", "kind": "reference", "args": ["--patience", "5"]}
    assert len(doc["runs"]) == 4
    for run in doc["runs"]:
        assert run["recipe"] in ("weighted", "plain") and run["fold"] in (1, 2)
        assert 0.0 <= run["f1"] <= 1.0 and run["epochs"] == 1
        assert 0.0 < run["threshold"] < 1.0
    plain = [r for r in doc["runs"] if r["recipe"] == "plain"]
    assert all(r["threshold"] == 0.5 and "--patience 5" in r["command"][0] for r in plain)
    for name, summary in doc["summary"].items():
        values = [r["f1"] for r in doc["runs"] if r["recipe"] == name]
        assert summary["n"] == 2 and summary["mean"] == pytest.approx(np.mean(values))
        assert f"| {name} |" in table
    weighted = work / "runs" / "weighted-fold1-seed0"
    assert (weighted / "best.pt").is_file() and (
        work / "runs" / "weighted-fold1-seed0.eval"
    ).is_dir()

    # A rerun reuses the stored result of a job whose commands are unchanged:
    # mark one stored result and see the mark in the new document.
    stored = work / "results" / "plain-fold2-seed0.json"
    marked = dict(json.loads(stored.read_text()), f1=0.123456)
    stored.write_text(json.dumps(marked))
    shutil.rmtree(weighted)  # reused jobs do not need their run any more
    assert l4s_cv.main([*argv, "--overwrite"]) == 0
    rerun = json.loads(out.read_text())["runs"]
    assert [r["f1"] for r in rerun if r["recipe"] == "plain" and r["fold"] == 2] == [0.123456]
    assert not weighted.exists()


def test_the_benchmark_script_runs_the_harness() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "l4s_accuracy.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "--recipe NAME=OPTIONS" in done.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "1,999"], "no patch [999]"),
        (["--seeds", "a"], "--seeds"),
        (["--recipe", "x=", "--reference", "x="], "names must differ"),
        (["--epochs", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_before_any_run(
    l4s, tmp_path, capsys, extra: list[str], message: str
) -> None:
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as exc:
        l4s_cv.main(["--data", str(l4s), "--work", str(work), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("l4s_accuracy: error:") and message in err
    assert not (work / "runs").exists()


def test_missing_data_and_existing_output_are_refused(tmp_path, l4s, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        l4s_cv.main(["--data", str(tmp_path / "nowhere")])
    assert exc.value.code == 2 and "not found" in capsys.readouterr().err
    out = tmp_path / "cv.json"
    out.write_text("{}")
    with pytest.raises(SystemExit) as exc:
        l4s_cv.main(["--data", str(l4s), "--out", str(out), "--work", str(tmp_path / "w")])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "{}" and not (tmp_path / "w").exists()


def test_patches_without_masks_are_refused(tmp_path, l4s, capsys) -> None:
    shutil.copy(l4s / "image_1.h5", tmp_path)
    with pytest.raises(SystemExit) as exc:
        l4s_cv.main(["--data", str(tmp_path), "--folds", "1"])
    assert exc.value.code == 2 and "without masks" in capsys.readouterr().err
