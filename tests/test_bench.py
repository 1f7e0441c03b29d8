"""slidemap bench: the suite runs end to end (tiny sizes), its JSON schema, its verdicts, errors.

No timing is asserted anywhere: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch

from slidemap.backends import CpuFeatures, auto_backend, cpu_features
from slidemap.bench import BenchOptions, BenchReport, Measurement, format_table, write_json
from slidemap.bench.defaults import defaults
from slidemap.bench.inference import gflops, round_peak
from slidemap.bench.machine import (
    PEAK_OPS,
    cpu_model,
    features_dict,
    matmul_gflops,
    physical_cores,
)
from slidemap.bench.results import compared, round_ratios
from slidemap.bench.scene import SceneRecord, run_child, scene_rows
from slidemap.bench.synthetic import IMAGE_BANDS, make_tile, write_scene
from slidemap.bench.targets import judge
from slidemap.bench.training import Recipe, default_recipe, recipes
from slidemap.bench.training import gflops as train_gflops
from slidemap.cli import main
from slidemap.cli.bench import SIZES_ENV
from slidemap.errors import SlidemapError
from slidemap.scene import Scene, inputs_from_files
from slidemap.tiling import Window

MEASUREMENT_KEYS = {"name", "group", "value", "unit", "params", "baseline", "ratio", "samples"}
GROUPS = {"peak", "train", "train_gflops", "accuracy", "infer", "gflops", "maxdiff", "scene"}


# ---------------------------------------------------------------- the whole suite, tiny sizes


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, dict[str, Any]]:
    """``slidemap bench --quick --threads 1 --out …``, every size shrunk (one run per module):
    exit code, stdout, stderr and the JSON document."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        mp.setenv(SIZES_ENV, "tiny")
        code = main(["bench", "--quick", "--threads", "1", "--out", str(out)])
    doc = json.loads(out.read_text(encoding="utf-8"))
    return code, stdout.getvalue(), stderr.getvalue(), doc


@pytest.mark.slow
def test_tiny_suite_writes_a_complete_json_document(
    tiny_run: tuple[int, str, str, dict[str, Any]],
) -> None:
    code, _, _, doc = tiny_run
    assert code == 0
    assert doc["schema"] == "slidemap-bench/4"
    assert doc["mode"] == "tiny"
    machine = doc["machine"]
    assert machine["torch_threads"] == 1
    assert machine["physical_cores"] >= 1 and machine["cpu_model"]
    for flag in ("avx2", "avx512", "avx512_bf16", "amx", "native_bf16"):
        assert isinstance(machine["features"][flag], bool)
    assert len(machine["load_average"]["start"]) == 3
    assert len(machine["load_average"]["end"]) == 3

    rows = doc["measurements"]
    names = [m["name"] for m in rows]
    assert len(names) == len(set(names))
    assert {m["group"] for m in rows} == GROUPS
    by_name = {m["name"]: m for m in rows}
    for m in rows:
        assert set(m) == MEASUREMENT_KEYS, m["name"]
        assert math.isfinite(m["value"]) and m["value"] >= 0, m["name"]
        assert m["unit"]
        if m["baseline"] is not None:
            assert m["baseline"] in by_name, m["name"]
        if m["ratio"] is not None:
            assert math.isfinite(m["ratio"]) and m["ratio"] > 0, m["name"]
            base = by_name[m["baseline"]]
            if m["group"] in ("train", "infer", "gflops"):  # timed in rounds with the baseline
                assert len(m["samples"]) == len(base["samples"]) >= 1, m["name"]
                within = [s / b for s, b in zip(m["samples"], base["samples"], strict=True)]
                expected = statistics.median_low(within)
            else:
                expected = m["value"] / base["value"]
            assert m["ratio"] == pytest.approx(expected), m["name"]
    # every speed-up, % of peak and scaling ratio is there (the naive rows are the baselines)
    for m in rows:
        if m["group"] in ("train", "infer") and not m["name"].endswith(".naive"):
            assert m["ratio"] is not None, m["name"]
            assert by_name[m["baseline"]]["name"].endswith(".naive")
        if m["group"] == "gflops":  # against the peak of the same rounds
            model = m["name"].split(".")[1]
            assert m["baseline"] == f"peak.fp32.infer.{model}" and m["ratio"] is not None
            assert by_name[m["baseline"]]["baseline"] == "peak.fp32"
        if m["group"] == "train":  # every training loop's FLOPs, against the run's peak
            flops = by_name["train_gflops." + m["name"].split(".", 1)[1]]
            assert flops["baseline"] == "peak.fp32" and flops["ratio"] is not None
            per_window = m["params"]["gflop_per_window"]
            assert flops["value"] == pytest.approx(m["value"] * per_window)
    # the paper's numerics in slidemap's loop are measured beside the default
    assert by_name["train.unet.16.fp32"]["params"]["channels_last"] is False
    assert by_name["train.unet.16.fp32"]["params"]["precision"] == "fp32"
    assert by_name["train.unet.16.default"]["params"]["loop"] == "slidemap.train"
    # the peak is the fastest op's best sample, and every op measured is reported
    for dtype in ("fp32", "bf16") if machine["features"]["native_bf16"] else ("fp32",):
        peak = by_name[f"peak.{dtype}"]
        op_peaks = peak["params"]["op_peaks"]
        assert set(op_peaks) == {"torch.mm", "openvino.MatMul"}  # OpenVINO is installed in CI
        assert peak["value"] == max(op_peaks.values()) == op_peaks[peak["params"]["op"]]
        assert max(peak["samples"]) == peak["value"]
    rounds_peak = by_name["peak.fp32.infer.unet"]
    assert set(rounds_peak["params"]["op_peaks"]) == {"torch.mm", "openvino.MatMul"}
    assert len(rounds_peak["samples"]) == len(by_name["infer.unet.naive"]["samples"])
    # the accuracy guard learned something, so its F1 ratios exist
    assert by_name["accuracy.train.unet.fp32"]["value"] > 0
    assert by_name["accuracy.infer.unet.naive"]["value"] > 0
    assert by_name["infer.unet.naive"]["params"]["weights"] == "trained"
    # SPEC 6: every fp32 backend agrees with eager torch (a correctness check, not a timing)
    fp32_diffs = [m for m in rows if m["group"] == "maxdiff" and m["params"]["precision"] == "fp32"]
    assert {m["params"]["backend"] for m in fp32_diffs} >= {"torch"}
    assert all(m["value"] <= 1e-4 for m in fp32_diffs)
    for m in fp32_diffs:
        assert 0 <= m["params"]["mean_abs_diff"] <= m["value"]
        assert m["params"]["flipped_share"] <= 1e-3
    # whole-scene rows: one process per scene, memory from the child itself
    for side in (64, 128):
        rss = by_name[f"scene.{side}.peak_rss"]
        assert rss["unit"] == "MiB" and rss["params"]["side"] == side
        assert rss["params"]["rss_source"] in ("VmHWM", "ru_maxrss")
    assert by_name["scene.128.throughput"]["baseline"] == "scene.64.throughput"
    skipped = {s["name"] for s in doc["skipped"]}
    assert "scene.128.marginal" in by_name or "scene.128.marginal" in skipped
    if machine["features"]["native_bf16"]:
        bf16 = by_name["scene.128.bf16.throughput"]
        assert bf16["baseline"] == "scene.128.throughput" and bf16["params"]["precision"] == "bf16"
    else:
        assert "scene.128.bf16" in skipped

    targets = {t["name"]: t for t in doc["targets"]}
    assert {"training", "backend_agreement", "tile_seconds", "tile_memory"} <= set(targets)
    assert targets["backend_agreement"]["met"] is True
    assert "extrapolated" in targets["tile_seconds"]["basis"]
    for t in doc["targets"]:
        assert t["met"] in (True, False, None)

    defaults = doc["defaults"]
    assert defaults["predict"]["backend"] in ("torch", "onnx", "openvino")
    native = "bf16" if cpu_features().bf16 else "fp32"
    assert defaults["train"] == {"channels_last": True, "precision": native}
    compared = {c["what"]: c for c in defaults["compared"]}
    assert set(compared) == {"infer unet", "train unet 16"}
    infer = compared["infer unet"]
    assert infer["default"]["option"] == defaults["predict"]["backend"] + "-fp32"
    assert infer["fastest"]["speedup"] >= infer["fastest_exact"]["speedup"]
    assert compared["train unet 16"]["default"]["option"] == "default"


@pytest.mark.slow
def test_tiny_suite_prints_ratios_first_and_the_cpu_features(
    tiny_run: tuple[int, str, str, dict[str, Any]],
) -> None:
    code, out, err, doc = tiny_run
    assert code == 0
    # without a terminal (no progress bar) every step is announced as it starts
    steps = [line for line in err.splitlines() if line.startswith("slidemap: bench step ")]
    assert len(steps) > 5 and steps[0].startswith("slidemap: bench step 1/")
    assert steps[-1].startswith(f"slidemap: bench step {len(steps)}/{len(steps)}: ")
    assert "AVX-512-BF16" in out and "AMX" in out
    assert "Training throughput" in out and "% peak" in out
    assert out.strip().splitlines()[-1].startswith("results in ")
    # in each row the ratio column comes before the absolute value
    row = next(line for line in out.splitlines() if "unet.16.default" in line)
    ratio_at = row.index("x ")
    value = next(m for m in doc["measurements"] if m["name"] == "train.unet.16.default")["value"]
    assert ratio_at < row.index(f"{value:,.3g}" if value < 100 else f"{value:,.0f}")


# ---------------------------------------------------------------- command-line errors


def test_quick_and_full_exclude_each_other(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = run_cli("bench", "--quick", "--full", "--out", out)
    assert result.code == 2
    assert "slidemap: error: --quick and --full exclude each other" in result.err
    assert not out.exists()


def test_bad_threads_exit_2(run_cli: Callable[..., Any]) -> None:
    result = run_cli("bench", "--quick", "--threads", "0")
    assert result.code == 2
    assert "--threads must be at least 1, got 0" in result.err


def test_existing_output_is_refused_before_measuring(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    out.write_text("keep me", encoding="utf-8")
    result = run_cli("bench", "--quick", "--out", out)
    assert result.code == 2
    assert f"{out} already exists; pass --overwrite" in result.err
    assert out.read_text(encoding="utf-8") == "keep me"
    assert list(tmp_path.iterdir()) == [out]


def test_output_directory_is_refused(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    result = run_cli("bench", "--quick", "--out", tmp_path)
    assert result.code == 2
    assert "is a directory; give a file name" in result.err


def test_unknown_size_override_is_refused(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIZES_ENV, "huge")
    result = run_cli("bench", "--quick")
    assert result.code == 2
    assert f"{SIZES_ENV} must be 'tiny' or unset, got 'huge'" in result.err


# ---------------------------------------------------------------- options and recipes


def test_modes_grow_from_quick_to_full() -> None:
    quick, standard, full = (BenchOptions.for_mode(m) for m in ("quick", "standard", "full"))
    assert max(quick.scene_sides) < max(standard.scene_sides) < max(full.scene_sides) == 10980
    assert len(quick.train_patches) < len(standard.train_patches) == 3
    assert quick.train_rounds <= standard.train_rounds <= full.train_rounds
    for model in ("unet", "resunet"):
        assert quick.train_px[model] <= standard.train_px[model] <= full.train_px[model]
    assert BenchOptions.for_mode("tiny", threads=1).threads == 1
    with pytest.raises(SlidemapError, match="unknown bench mode 'fast'"):
        BenchOptions.for_mode("fast")


def test_bf16_recipes_only_with_native_bf16() -> None:
    plain = CpuFeatures(frozenset({"avx2"}), "AVX2")
    chosen, skipped = recipes(plain)
    assert chosen[0] == default_recipe(plain) == Recipe("default", True, "fp32")
    assert chosen[1:] == [Recipe("fp32", False, "fp32")]  # NCHW fp32 beside the default
    assert {s.name for s in skipped} >= {"train recipe channels_last+bf16"}
    assert "no native bf16" in skipped[0].reason
    zen4 = CpuFeatures(frozenset({"avx2", "avx512f", "avx512_bf16"}), "AVX512")
    chosen, skipped = recipes(zen4)
    assert chosen[0] == default_recipe(zen4) == Recipe("default", True, "bf16")
    knobs = [(r.channels_last, r.precision) for r in chosen]
    assert len(knobs) == len(set(knobs)) == 4 and not skipped  # channels_last+bf16 is the default
    assert features_dict(zen4)["native_bf16"] and not features_dict(plain)["native_bf16"]


@pytest.mark.parametrize("op", PEAK_OPS)
def test_matmul_rates_of_each_peak_op(op: str) -> None:
    rates = matmul_gflops(torch.float32, 64, 3, op, threads=1)
    assert len(rates) == 3 and all(math.isfinite(r) and r > 0 for r in rates)
    with pytest.raises(ValueError, match="unknown matmul op"):
        matmul_gflops(torch.float32, 64, 1, "numpy.dot")


def test_cpu_model_and_cores_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    blocks = [
        f"processor\t: {i}\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: {i // 2}\n"
        for i in range(4)
    ]
    cpuinfo.write_text("\n".join(blocks), encoding="utf-8")
    assert cpu_model(cpuinfo) == "Test CPU 9000"
    assert physical_cores(cpuinfo) == 2  # 4 logical CPUs, 2 cores with 2 threads each


# ---------------------------------------------------------------- synthetic inputs


def test_synthetic_scene_is_read_by_the_predict_path(tmp_path: Path) -> None:
    stack, dem = write_scene(tmp_path, 96, seed=3)
    with rasterio.open(stack) as src:
        assert (src.count, src.width, src.height, src.dtypes[0]) == (4, 96, 96, "uint16")
        assert src.descriptions == IMAGE_BANDS
        assert src.nodata == 0
    scene = Scene(inputs_from_files([stack], dem, IMAGE_BANDS))
    assert (scene.grid.width, scene.grid.height) == (96, 96)
    block = scene.read(Window(0, 0, 96, 96))
    assert block.image.shape == (5, 96, 96)
    assert np.isfinite(block.image).all() and block.covered.all()
    assert 0.0 < np.nanmean(block.image[0]) < 0.5  # DN scaled to reflectance
    assert 2.0 < np.nanmean(block.image[4]) < 45.0  # slope in degrees from the 30 m DEM


def test_scene_strips_join_without_seams() -> None:
    whole = make_tile(7, 40, 64, row0=100)
    again = make_tile(7, 40, 64, row0=100)
    np.testing.assert_array_equal(whole.reflectance, again.reflectance)
    assert 0.005 < whole.label.mean() < 0.2
    lit = whole.reflectance[0][whole.label == 1].mean()
    assert lit > whole.reflectance[0][whole.label == 0].mean() + 0.05


def test_failed_scene_child_is_reported(tmp_path: Path) -> None:
    stack, dem = write_scene(tmp_path, 32)
    with pytest.raises(SlidemapError, match=r"predicting the scene .* failed \(exit 1\)"):
        run_child(tmp_path / "no-run", stack, dem, tmp_path / "out", 1, 120)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- verdicts and output


def _report(scene_side: int, scene_seconds: float, rss_mib: float) -> BenchReport:
    machine = {
        "cpu_model": "Test CPU",
        "physical_cores": 2,
        "torch_threads": 2,
        "features": features_dict(CpuFeatures(frozenset({"avx2"}), "AVX2")),
        "load_average": {"start": [0.1, 0.1, 0.1], "end": [0.2, 0.1, 0.1]},
    }
    report = BenchReport("standard", machine)
    peak = Measurement("peak.fp32", "peak", 100.0, "GFLOP/s")
    train_p = {"model": "unet", "patch": 64, "precision": "fp32", "channels_last": False}
    fast_p = {**train_p, "precision": "bf16", "channels_last": True}
    naive = Measurement("train.unet.64.naive", "train", 40.0, "windows/s", train_p)
    fast = compared("train.unet.64.default", "train", 80.0, "windows/s", naive, fast_p)
    infer_p = {"model": "unet", "backend": "openvino", "precision": "fp32"}
    i_naive = Measurement("infer.unet.naive", "infer", 1.0, "Mpx/s", {**infer_p, "backend": "x"})
    ov = compared("infer.unet.openvino-fp32", "infer", 3.0, "Mpx/s", i_naive, infer_p)
    gf = compared("gflops.unet.openvino-fp32", "gflops", 85.0, "GFLOP/s", peak, infer_p)
    diff = Measurement("maxdiff.unet.openvino-fp32", "maxdiff", 2e-7, "probability", infer_p)
    scene_p = {"side": scene_side, "seconds": scene_seconds, "backend": "openvino fp32"}
    thr = Measurement(f"scene.{scene_side}.throughput", "scene", 1.0, "Mpx/s", scene_p)
    rss = Measurement(f"scene.{scene_side}.peak_rss", "scene", rss_mib, "MiB", scene_p)
    report.add(peak, naive, fast, i_naive, ov, gf, diff, thr, rss)
    f1_ref = Measurement(
        "accuracy.train.unet.fp32", "accuracy", 0.9, "F1", train_p, samples=(0.89, 0.91)
    )
    report.add(
        f1_ref, compared("accuracy.train.unet.default", "accuracy", 0.9, "F1", f1_ref, fast_p)
    )
    return report


def test_targets_are_judged_against_this_machine() -> None:
    report = _report(scene_side=1098, scene_seconds=0.5, rss_mib=900.0)
    targets = {t.name: t for t in judge(report)}
    peak = targets["fp32_inference_peak.unet"]
    assert peak.met is True and peak.measured == pytest.approx(85.0)
    assert targets["training"].met is True and targets["training"].measured == pytest.approx(2.0)
    assert "sizes 64 px" in targets["training"].basis
    assert targets["fast_mode.unet"].met is None  # no bf16 backend ran
    assert "no fast mode on this CPU" in targets["fast_mode.unet"].basis
    assert targets["fp32_inference_peak.resunet"].met is None
    tile = targets["tile_seconds"]
    assert tile.measured == pytest.approx(50.0)  # 0.5 s × (10980 / 1098)²
    assert tile.met is True and "extrapolated" in tile.basis
    assert targets["tile_memory"].met is None  # one scene below the tile: no bound
    assert "run --full" in targets["tile_memory"].basis
    slow = {t.name: t for t in judge(_report(1098, 1.0, 3000.0))}
    assert slow["tile_seconds"].met is False and slow["tile_memory"].met is False


def test_speed_targets_without_an_f1_are_undecided_and_an_f1_loss_fails() -> None:
    report = BenchReport("quick", {})
    train_p = {"model": "unet", "patch": 32, "precision": "fp32", "channels_last": False}
    fast_p = {**train_p, "precision": "bf16", "channels_last": True}
    naive = Measurement("train.unet.32.naive", "train", 40.0, "windows/s", train_p)
    infer_p = {"model": "resunet", "backend": "openvino", "precision": "bf16"}
    i_naive = Measurement("infer.resunet.naive", "infer", 1.0, "Mpx/s", {**infer_p, "backend": "x"})
    report.add(
        naive,
        compared("train.unet.32.default", "train", 80.0, "windows/s", naive, fast_p),
        i_naive,
        compared("infer.resunet.openvino-bf16", "infer", 6.0, "Mpx/s", i_naive, infer_p),
        Measurement("maxdiff.resunet.openvino-bf16", "maxdiff", 1e-3, "probability", infer_p),
    )
    targets = {t.name: t for t in judge(report)}
    # fast enough and close enough, but no F1: neither met nor failed
    assert targets["fast_mode.resunet"].met is None
    assert "F1 not measured" in targets["fast_mode.resunet"].basis
    assert targets["training"].met is None and "F1 not measured" in targets["training"].basis
    f1_ref = Measurement("accuracy.train.unet.fp32", "accuracy", 0.9, "F1", train_p, samples=(0.9,))
    worse = compared("accuracy.train.unet.default", "accuracy", 0.8, "F1", f1_ref, fast_p)
    report.add(f1_ref, worse)
    assert {t.name: t for t in judge(report)}["training"].met is False


def test_speedups_of_rounds_cancel_a_machine_that_changes_speed() -> None:
    # the machine ran fast in round 2, while the naive loop had its turn
    naive = Measurement("train.unet.32.naive", "train", 100.0, "windows/s", samples=(60, 100, 62))
    rates = (90.0, 95.0, 93.0)
    fast = compared("train.unet.32.default", "train", 95.0, "windows/s", naive, None, rates)
    assert fast.ratio == pytest.approx(0.95)  # best / best: the fast path looks slower
    paired = compared("t", "train", 95.0, "windows/s", naive, None, rates, rounds=True)
    assert paired.ratio == pytest.approx(1.5)  # median of 1.5, 0.95, 1.5
    two = Measurement("n", "train", 100.0, "windows/s", samples=(60.0, 100.0))
    low = compared("t", "train", 95.0, "windows/s", two, None, (90.0, 95.0), rounds=True)
    assert low.ratio == pytest.approx(0.95)  # even count: the lower middle, never flattering
    stalled = compared("t", "train", 95.0, "windows/s", two, None, (0.0, 95.0), rounds=True)
    assert stalled.ratio is None
    with pytest.raises(ValueError, match="2 rounds, baseline 3"):
        compared("t", "train", 95.0, "windows/s", naive, None, (90.0, 95.0), rounds=True)
    assert round_ratios(rates, naive.samples) == pytest.approx((1.5, 0.95, 1.5))
    assert round_ratios((90.0, 95.0), naive.samples) == ()
    assert round_ratios((0.0, 95.0), (60.0, 100.0)) == ()


def test_training_verdict_states_how_far_its_rounds_disagree() -> None:
    report = BenchReport("full", {})
    params = {"model": "unet", "patch": 32, "precision": "bf16", "channels_last": True}
    naive = Measurement("train.unet.32.naive", "train", 165.0, "windows/s", samples=(116, 165, 147))
    rates = (176.0, 163.0, 174.0)
    fast = compared(
        "train.unet.32.default", "train", 176.0, "windows/s", naive, params, rates, True
    )
    report.add(naive, fast)
    (target,) = [t for t in judge(report) if t.name == "training"]
    assert target.measured == pytest.approx(174 / 147)  # the median round decides
    assert target.met is False
    assert "(train.unet.32.default, rounds 0.99-1.52x)" in target.basis
    assert "of the fp32 peak" not in target.basis  # no GFLOP/s derived: no room stated
    # the naive loop at 0.4 GFLOP per window and at best 165 windows/s: 66 GFLOP/s of 110
    peak = Measurement("peak.fp32", "peak", 110.0, "GFLOP/s")
    bf16 = compared("peak.bf16", "peak", 220.0, "GFLOP/s", peak)
    rows = [replace(m, params={**m.params, "gflop_per_window": 0.4}) for m in (naive, fast)]
    report.add(peak, bf16, *train_gflops(rows, peak))
    assert report.get("train_gflops.unet.32.naive").ratio == pytest.approx(0.6)
    (target,) = [t for t in judge(report) if t.name == "training"]
    assert "naive at 60 % of the fp32 peak, 1.5x needs 90 % (bf16 peak 200 %)" in target.basis
    one = BenchReport("quick", {})
    single = Measurement("train.unet.64.naive", "train", 90.0, "windows/s", samples=(90.0,))
    one.add(single, compared("train.unet.64.default", "train", 130.0, "windows/s", single, params))
    (target,) = [t for t in judge(one) if t.name == "training"]
    assert "rounds" not in target.basis  # one round: no spread to state


def test_share_of_the_peak_is_taken_within_the_rounds_of_a_model() -> None:
    # OpenVINO's MatMul is the faster op; the machine is 20 % slower in round 2
    peak_rounds = {"torch.mm": [100.0, 80.0, 95.0], "openvino.MatMul": [400.0, 320.0, 390.0]}
    run_peak = Measurement("peak.fp32", "peak", 420.0, "GFLOP/s")
    peak = round_peak("unet", peak_rounds, run_peak)
    assert peak.name == "peak.fp32.infer.unet" and peak.samples == (400.0, 320.0, 390.0)
    assert peak.value == 400.0 and peak.ratio == pytest.approx(400 / 420)
    assert peak.params["op"] == "openvino.MatMul"
    assert peak.params["op_peaks"] == {"torch.mm": 100.0, "openvino.MatMul": 400.0}
    # a 1 Mpx scene of 10 windows of 32 GFLOP: 1 Mpx/s is 320 GFLOP/s
    params = {"model": "unet", "side": 1000, "windows": 10, "flops_per_window": 32e9}
    row = Measurement(
        "infer.unet.openvino-fp32", "infer", 1.0, "Mpx/s", params, None, None, (1.0, 0.9, 1.0)
    )
    (gf,) = gflops([row], peak)
    assert gf.name == "gflops.unet.openvino-fp32" and gf.value == pytest.approx(320.0)
    assert gf.samples == pytest.approx((320.0, 288.0, 320.0))
    # within rounds 80 %, 90 %, 82 %: the median, not best / best (320 / 400 = 80 %)
    assert gf.ratio == pytest.approx(320 / 390)


def test_table_and_json_of_a_report(tmp_path: Path) -> None:
    report = _report(1098, 0.5, 900.0)
    report.targets = judge(report)
    text = format_table(report)
    assert "85 %" in text  # GFLOP/s as a share of the peak
    assert "2.00x" in text  # the training speed-up
    assert "[met]" in text
    out = write_json(report.to_dict("0.0", "now"), tmp_path / "r.json")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["measurements"][2]["ratio"] == pytest.approx(2.0)
    with pytest.raises(SlidemapError, match="already exists"):
        write_json(report.to_dict("0.0", "now"), out)
    nan = Measurement("maxdiff.x", "maxdiff", float("nan"), "probability")
    report.add(nan)
    doc = json.loads(write_json(report.to_dict("0", "n"), out, overwrite=True).read_text())
    assert doc["measurements"][-1]["value"] is None  # NaN is not JSON: written as null


def _scene(
    side: int, seconds: float, precision: str = "fp32", rss_mib: float = 600.0
) -> SceneRecord:
    record = {
        "seconds": seconds,
        "setup_seconds": 1.0,
        "peak_rss_kib": rss_mib * 1024,
        "rss_source": "VmHWM",
        "backend": f"openvino {precision}",
        "landslides": 3,
    }
    return SceneRecord(side, precision, record)


def test_scene_rows_give_the_marginal_rate_and_the_bf16_speedup() -> None:
    fp32 = [_scene(1000, 2.0), _scene(2000, 5.0), _scene(4000, 11.0)]
    rows, skipped = scene_rows(fp32, [_scene(4000, 5.5, "bf16")])
    assert not skipped
    by_name = {m.name: m for m in rows}
    assert by_name["scene.2000.marginal"].value == pytest.approx(1.0)  # 3 Mpx in 3 s
    marginal = by_name["scene.4000.marginal"]
    assert marginal.value == pytest.approx(2.0)  # 12 Mpx in 6 s
    assert marginal.baseline == "scene.2000.marginal" and marginal.ratio == pytest.approx(2.0)
    assert by_name["scene.4000.bf16.throughput"].ratio == pytest.approx(2.0)
    assert by_name["scene.4000.peak_rss"].ratio == pytest.approx(1.0)

    report = BenchReport("standard", {})
    report.add(*rows)
    tile = {t.name: t for t in judge(report)}["tile_seconds"]
    assert tile.measured == pytest.approx(11.0 + (10980**2 / 1e6 - 16.0) / 2.0)
    assert "marginal 2.00 Mpx/s of 2000^2 -> 4000^2" in tile.basis
    assert f"bf16 (openvino bf16): {(tile.measured or 0.0) / 2:.0f} s" in tile.basis
    memory = {t.name: t for t in judge(report)}["tile_memory"]
    assert memory.met is True and memory.measured == pytest.approx(600.0)  # flat: bound = peak


def test_growing_memory_bounds_the_tile_per_pixel() -> None:
    fp32 = [_scene(2000, 5.0, rss_mib=700.0), _scene(4000, 17.0, rss_mib=1000.0)]
    report = BenchReport("standard", {})
    report.add(*scene_rows(fp32, [])[0])
    memory = {t.name: t for t in judge(report)}["tile_memory"]
    bound = 1000.0 + 300.0 / 12e6 * (10980**2 - 16e6)
    assert memory.measured == pytest.approx(bound)
    assert memory.met is None and "undecided, run --full" in memory.basis
    small = [_scene(2000, 5.0, rss_mib=700.0), _scene(4000, 17.0, rss_mib=710.0)]
    report = BenchReport("standard", {})
    report.add(*scene_rows(small, [])[0])
    assert {t.name: t for t in judge(report)}["tile_memory"].met is True


def test_scene_rows_skip_a_marginal_rate_that_load_made_negative() -> None:
    rows, skipped = scene_rows([_scene(1000, 5.0), _scene(2000, 4.0)], [])
    assert [s.name for s in skipped] == ["scene.2000.marginal"]
    assert "did not take longer" in skipped[0].reason
    assert all(m.value > 0 for m in rows)
    report = BenchReport("quick", {})
    report.add(*rows)
    tile = {t.name: t for t in judge(report)}["tile_seconds"]
    assert tile.measured == pytest.approx(4.0 * (10980 / 2000) ** 2)
    assert "extrapolated linearly from 2000^2" in tile.basis


def test_defaults_are_compared_with_the_fastest_options() -> None:
    report = _report(1098, 0.5, 900.0)
    naive = report.get("infer.unet.naive")
    assert naive is not None
    bf16_p = {"model": "unet", "backend": "openvino", "precision": "bf16"}
    report.add(compared("infer.unet.openvino-bf16", "infer", 4.0, "Mpx/s", naive, bf16_p))
    found = defaults(report, CpuFeatures(frozenset({"avx512_bf16"}), "AVX512"))
    assert found["predict"]["bf16_available"] is True
    by_what = {c["what"]: c for c in found["compared"]}
    infer = by_what["infer unet"]
    assert infer["fastest_exact"] == {"option": "openvino-fp32", "speedup": pytest.approx(3.0)}
    assert infer["fastest"] == {"option": "openvino-bf16", "speedup": pytest.approx(4.0)}
    auto = f"{auto_backend()}-fp32"  # the report measured openvino-fp32 only
    expected = {"option": auto, "speedup": pytest.approx(3.0)} if auto == "openvino-fp32" else None
    assert infer["default"] == expected
    assert by_what["train unet 64"]["default"] == {"option": "default", "speedup": 2.0}
    text = format_table(report)
    assert "predict --backend auto -> " not in text  # defaults are filled by run_bench only
    report.defaults = found
    assert "fastest openvino-bf16 4.00x" in format_table(report)
