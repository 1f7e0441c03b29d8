"""``slidemap report``: tables, figures and report.html from an experiment directory.

The experiment directory is a fixture written here in the format ``slidemap
experiment`` writes (results.csv, experiment.json, jobs/<key>/run/metrics.jsonl,
jobs/<key>/eval/<test>/map.png) with F1 values chosen so that the best cell of
every row, the means and the standard deviations are known exactly.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_tiny_area
from slidemap.area import read_meta
from slidemap.confusion import FN, FP, NOT_EVALUATED, TN, TP, write_confusion_tif
from slidemap.errors import SlidemapError
from slidemap.report import load_experiment, transfer_summary, write_report
from slidemap.report.results import COLUMNS

AREAS = ("taiwan-like", "china-like")
SCENARIOS = {"all": AREAS, "taiwan-like": ("taiwan-like",), "china-like": ("china-like",)}
TEST_SETS = ("all", *AREAS)
MODELS = ("unet", "resunet")
PATCHES = (32, 64)
SEEDS = (0, 1)
BASE_F1 = {("unet", 32): 0.60, ("unet", 64): 0.62, ("resunet", 32): 0.64, ("resunet", 64): 0.66}
FIGURES = ("fig_scenarios.png", "fig_window_sizes.png", "fig_transfer_matrix.png")
MAP_FIGURES = tuple(f"fig_maps_{s}.png" for s in ("all", "taiwan-like", "china-like"))
REPORT_FILES = ("tables.md", *FIGURES, "fig_training_curves.png", *MAP_FIGURES, "report.html")


def target_f1(scenario: str, test: str, model: str, patch: int, seed: int) -> float:
    """F1 of the fixture: +0.15 in-area, -0.15 cross-area, +0.05 for the all-area scenario.

    One exception makes U-Net 32 the best cell of its row: trained on taiwan-like,
    tested on china-like. Seed 0 is 0.01 above the target, seed 1 0.01 below.
    """
    f1 = BASE_F1[(model, patch)]
    if scenario == "all":
        f1 += 0.05
    elif test == scenario:
        f1 += 0.15
    elif test != "all":
        f1 -= 0.15
        if (scenario, test, model, patch) == ("taiwan-like", "china-like", "unet", 32):
            f1 += 0.08
    return f1 + (0.01 if seed == 0 else -0.01)


def result_row(scenario: str, test: str, model: str, patch: int, seed: int) -> dict[str, object]:
    """A results.csv row whose counts give exactly ``target_f1`` (out of 1000 landslide px)."""
    tp = round(1000 * target_f1(scenario, test, model, patch, seed))
    miss = 1000 - tp
    fp, fn, tn = miss + miss // 3, miss - miss // 3, 50_000
    key = f"{scenario}-{model}-{patch}-s{seed}"
    return {
        "scenario": scenario,
        "train_areas": "+".join(SCENARIOS[scenario]),
        "model": model,
        "patch": patch,
        "seed": seed,
        "test_set": test,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "mcc": 0.5,
        "best_epoch": 3,
        "train_seconds": 12.5,
        "job_key": key,
    }


def write_csv(path: Path, rows: list[dict[str, object]], columns: tuple[str, ...]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_rows(experiment: Path) -> list[dict[str, str]]:
    with open(experiment / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_confusion(path: Path, area: Path, seed: int) -> None:
    """A TP/FP/FN code raster on ``area``'s grid, evaluated on its test part (east 40 %)."""
    meta = read_meta(area)
    rng = np.random.default_rng(seed)
    codes = np.full((meta.height, meta.width), NOT_EVALUATED, np.uint8)
    test = np.s_[:, int(meta.width * 0.6) :]
    codes[test] = rng.choice([TN, TP, FP, FN], p=[0.7, 0.1, 0.1, 0.1], size=codes[test].shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_confusion_tif(path, codes, meta)


def write_experiment(out: Path, with_jobs: bool = True) -> Path:
    """A complete fixture experiment directory (see the module docstring)."""
    out.mkdir(parents=True)
    areas = {name: str(make_tiny_area(out / "prepared", name, size=32)) for name in AREAS}
    design = {
        "name": "fixture",
        "areas": areas,
        "scenarios": {s: list(a) for s, a in SCENARIOS.items()},
        "models": list(MODELS),
        "patches": list(PATCHES),
        "seeds": list(SEEDS),
        "train": {"epochs": 5},
        "evaluate": {"threshold": 0.5},
    }
    (out / "experiment.json").write_text(json.dumps(design), encoding="utf-8")
    rows = [
        result_row(s, t, m, p, seed)
        for s in SCENARIOS
        for m in MODELS
        for p in PATCHES
        for t in TEST_SETS
        for seed in SEEDS
    ]
    write_csv(out / "results.csv", rows, COLUMNS)
    if with_jobs:
        for n, key in enumerate(sorted({str(r["job_key"]) for r in rows})):
            run = out / "jobs" / key / "run"
            run.mkdir(parents=True)
            lines = [
                {"epoch": e, "train_loss": 0.5 / e, "val_loss": 0.6 / e + 0.01 * n, "seconds": 1.0}
                for e in range(1, 6)
            ]
            (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
            for test in AREAS:
                confusion = out / "jobs" / key / "eval" / test / "confusion.tif"
                write_confusion(confusion, Path(areas[test]), n)
    return out


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_experiment(tmp_path_factory.mktemp("report") / "exp")


@pytest.fixture(scope="module")
def report_dir(experiment: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-out") / "report"
    write_report(experiment, out)
    return out


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Title → rows (cells, header included) of every Markdown table in ``text``."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("**Scenario"):
            title = line.strip("*")
            tables[title] = []
        elif line.startswith("|") and title is not None and not line.startswith("|:"):
            tables[title].append([c.strip() for c in line.strip("|").split("|")])
    return tables


def test_tables_follow_the_paper_layout(report_dir: Path) -> None:
    tables = markdown_tables((report_dir / "tables.md").read_text())
    assert list(tables) == [
        "Scenario 1: all (trained on taiwan-like + china-like)",
        "Scenario 2: taiwan-like (trained on taiwan-like)",
        "Scenario 3: china-like (trained on china-like)",
    ]
    for rows in tables.values():
        header, body = rows[0], rows[1:]
        assert header == [
            "Test set",
            "Metric",
            "U-Net 32",
            "U-Net 64",
            "ResU-Net 32",
            "ResU-Net 64",
        ]
        assert [r[0] for r in body] == ["all", "", "", "taiwan-like", "", "", "china-like", "", ""]
        assert [r[1] for r in body] == ["Precision", "Recall", "F1"] * 3


def test_cells_are_percent_mean_and_std_over_seeds(report_dir: Path) -> None:
    rows = markdown_tables((report_dir / "tables.md").read_text())[
        "Scenario 1: all (trained on taiwan-like + china-like)"
    ]
    f1_all = rows[3]
    # seeds 0.72 and 0.70: mean 71.00, sample std 1.41 (%)
    assert f1_all[5] == "**71.00 ± 1.41**"
    assert f1_all[2] == "65.00 ± 1.41"
    head = (report_dir / "tables.md").read_text().split("**Scenario")[0]
    assert "mean ± sample standard deviation over 2 seeds" in head


def test_tables_start_with_the_summary(report_dir: Path) -> None:
    head = (report_dir / "tables.md").read_text().split("**Scenario")[0]
    assert head.startswith("# slidemap report: fixture\n\n* 24 models were trained (U-Net")
    assert "\n* Transfer: in-area mean F1 0.780 vs cross-area 0.490 (gap +0.290;" in head


def test_best_f1_of_each_row_is_bold(report_dir: Path) -> None:
    tables = markdown_tables((report_dir / "tables.md").read_text())
    for title, rows in tables.items():
        header = rows[0]
        for i, row in enumerate(rows[1:]):
            bold = [header[j] for j, c in enumerate(row) if c.startswith("**")]
            if row[1] != "F1":
                assert bold == [], (title, row)
                continue
            test = rows[1:][i - 2][0]
            expected = (
                "U-Net 32"
                if title.startswith("Scenario 2") and test == "china-like"
                else "ResU-Net 64"
            )
            assert bold == [expected], (title, test, row)


def test_single_seed_has_no_std(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "exp", with_jobs=False)
    rows = read_rows(exp)
    write_csv(exp / "results.csv", [r for r in rows if r["seed"] == "0"], COLUMNS)
    write_report(exp)
    text = (exp / "tables.md").read_text()
    assert "±" not in text and "**72.00**" in text


def test_undefined_metrics_show_na_and_are_never_bold(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "exp", with_jobs=False)
    rows = read_rows(exp)
    for r in rows:  # nothing predicted and no landslide: every ratio undefined
        if (r["scenario"], r["test_set"], r["model"], r["patch"]) == (
            "all",
            "all",
            "resunet",
            "64",
        ):
            r.update(tp=0, fp=0, fn=0, precision="nan", recall="", f1="nan", iou="nan", mcc="nan")
    write_csv(exp / "results.csv", rows, COLUMNS)
    write_report(exp)
    f1_row = markdown_tables((exp / "tables.md").read_text())[
        "Scenario 1: all (trained on taiwan-like + china-like)"
    ][3]
    assert f1_row[2:] == ["65.00 ± 1.41", "67.00 ± 1.41", "**69.00 ± 1.41**", "n/a"]


def test_figures_are_real_pngs(report_dir: Path) -> None:
    for name in (*FIGURES, "fig_training_curves.png", *MAP_FIGURES):
        path = report_dir / name
        assert path.stat().st_size > 10_000, name
        with Image.open(path) as img:
            assert img.format == "PNG"
            assert img.width >= 400 and img.height >= 250, (name, img.size)
            pixels = np.asarray(img.convert("L"), dtype=float)
        assert pixels.std() > 5, f"{name} looks blank"


def test_html_is_self_contained(report_dir: Path) -> None:
    text = (report_dir / "report.html").read_text()
    srcs = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', text)
    assert len(srcs) == len(FIGURES) + 1 + len(MAP_FIGURES)
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        payload = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert payload.startswith(b"\x89PNG\r\n\x1a\n") and len(payload) > 10_000
    assert len(srcs) == text.count("<img")
    for pattern in (r'src="(?!data:)', r"href=", r"url\(", r"@import", r"<script", r"<link"):
        assert not re.search(pattern, text), pattern
    assert "http://" not in text and "https://" not in text


def test_html_has_banner_summary_tables_and_design(report_dir: Path) -> None:
    text = (report_dir / "report.html").read_text()
    assert "SYNTHETIC DATA" in text
    assert "in-area mean F1 0.780 vs cross-area 0.490 (gap +0.290;" in text
    assert "on each test area, the model trained there beats the one trained on another " in text
    assert "area in 4 of 4 (model, training area, test area) pairs." in text
    assert "Best: ResU-Net with 64 px windows trained in scenario &#x27;all&#x27;, F1 0.710" in text
    assert text.count("<table>") == 3 + 1  # scenario tables + areas
    assert "<b>71.00 ± 1.41</b>" in text
    assert "&quot;evaluate&quot;" in text  # experiment.json shown


def test_transfer_summary_numbers(experiment: Path) -> None:
    summary = transfer_summary(load_experiment(experiment).rows)
    # in-area: mean(BASE_F1) + 0.15; cross-area: mean - 0.15 + 2 × 0.08 / 16 rows
    assert summary.in_area_f1 == pytest.approx(0.78)
    assert summary.cross_area_f1 == pytest.approx(0.49)
    assert (summary.n_in_area, summary.n_cross_area) == (16, 16)
    assert summary.by_model["unet"] == pytest.approx((0.76, 0.48))
    assert summary.by_model["resunet"] == pytest.approx((0.80, 0.50))
    assert summary.gap == pytest.approx(0.29)
    assert (summary.pairs, summary.pairs_won) == (4, 4)


def test_transfer_pairs_compare_models_on_the_same_test_area(tmp_path: Path) -> None:
    """U-Net trained on taiwan-like beats the china-like one on china-like: 3 of 4 pairs."""
    exp = write_experiment(tmp_path / "exp", with_jobs=False)
    rows = read_rows(exp)
    for r in rows:
        if (r["scenario"], r["model"], r["test_set"]) == ("taiwan-like", "unet", "china-like"):
            r["f1"] = "0.95"
    write_csv(exp / "results.csv", rows, COLUMNS)
    summary = transfer_summary(load_experiment(exp).rows)
    assert (summary.pairs, summary.pairs_won) == (4, 3)
    assert summary.sentence().endswith(
        "the model trained there beats the one trained on another area in 3 of 4 "
        "(model, training area, test area) pairs"
    )


def test_cli_writes_into_the_experiment_and_refuses_to_overwrite(
    tmp_path: Path, run_cli: Callable
) -> None:
    exp = write_experiment(tmp_path / "exp")
    csv_before = (exp / "results.csv").read_bytes()
    result = run_cli("report", exp)
    assert result.code == 0, result.err
    assert result.out == f"{exp / 'report.html'}\n"
    assert all((exp / f).is_file() for f in REPORT_FILES)
    assert (exp / "results.csv").read_bytes() == csv_before
    html_before = (exp / "report.html").stat().st_mtime_ns
    result = run_cli("report", exp)
    assert result.code == 2
    assert result.err == (
        f"slidemap: error: {exp / 'tables.md'} already exists; "
        f"pass --overwrite to replace the report in {exp}\n"
    )
    assert (exp / "report.html").stat().st_mtime_ns == html_before
    assert run_cli("report", exp, "--overwrite").code == 0


def test_out_leaves_the_experiment_untouched(tmp_path: Path, run_cli: Callable) -> None:
    exp = write_experiment(tmp_path / "exp", with_jobs=False)
    before = sorted(p.relative_to(exp) for p in exp.rglob("*"))
    result = run_cli("report", exp, "--out", tmp_path / "r")
    assert result.code == 0, result.err
    assert sorted(p.relative_to(exp) for p in exp.rglob("*")) == before
    # no jobs/ yet: no curves, no maps, still a report
    written = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert written == sorted(["tables.md", *FIGURES, "report.html"])
    assert "No TP/FP/FN map was found" in (tmp_path / "r" / "report.html").read_text()


def test_results_saved_with_a_byte_order_mark_give_the_same_report(
    tmp_path: Path, run_cli: Callable
) -> None:
    """Excel saves a CSV as UTF-8 with a byte order mark before the first column's name."""
    plain = write_experiment(tmp_path / "plain", with_jobs=False)
    marked = tmp_path / "marked"
    shutil.copytree(plain, marked)
    text = (plain / "results.csv").read_text(encoding="utf-8")
    (marked / "results.csv").write_text(text, encoding="utf-8-sig")
    assert (marked / "results.csv").read_bytes().startswith(b"\xef\xbb\xbfscenario,")
    for exp in (plain, marked):
        result = run_cli("report", exp)
        assert result.code == 0, result.err
    assert (marked / "tables.md").read_text() == (plain / "tables.md").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("drop-results", "results.csv not found; run 'slidemap experiment EXP.toml --out"),
        ("drop-columns", "is not an experiment results file: missing column(s) f1, job_key"),
        ("no-rows", "results.csv has no result rows"),
        ("bad-int", "results.csv line 2: tp 'many' is not an integer"),
        ("bad-float", "results.csv line 3: f1 'high' is not a number"),
        ("duplicate", "has two rows for scenario all, model unet, patch 32, seed 0, test set all"),
        ("bad-json", "experiment.json is not valid JSON"),
    ],
)
def test_bad_experiment_is_a_user_error_and_writes_nothing(
    tmp_path: Path, run_cli: Callable, edit: str, message: str
) -> None:
    exp = write_experiment(tmp_path / "exp", with_jobs=False)
    rows = read_rows(exp)
    if edit == "drop-results":
        (exp / "results.csv").unlink()
    elif edit == "drop-columns":
        write_csv(
            exp / "results.csv", rows, tuple(c for c in COLUMNS if c not in ("f1", "job_key"))
        )
    elif edit == "no-rows":
        write_csv(exp / "results.csv", [], COLUMNS)
    elif edit == "bad-int":
        rows[0]["tp"] = "many"
        write_csv(exp / "results.csv", rows, COLUMNS)
    elif edit == "bad-float":
        rows[1]["f1"] = "high"
        write_csv(exp / "results.csv", rows, COLUMNS)
    elif edit == "duplicate":
        write_csv(exp / "results.csv", [*rows, rows[0]], COLUMNS)
    elif edit == "bad-json":
        (exp / "experiment.json").write_text("{not json")
    before = sorted(p.name for p in exp.iterdir())
    result = run_cli("report", exp)
    assert result.code == 2
    assert result.err.startswith("slidemap: error: ") and message in result.err, result.err
    assert "Traceback" not in result.err
    assert sorted(p.name for p in exp.iterdir()) == before


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SlidemapError, match=r"experiment directory not found: .*nowhere"):
        write_report(tmp_path / "nowhere")


def chromium() -> str:
    """The Chromium executable. Fails (never skips) without it: CI installs it."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(
            "chromium not found on PATH: report.html is checked in a real headless browser; "
            "install it with 'apt-get install -y chromium' (.ci/run does this)",
            pytrace=False,
        )
    return exe


def run_chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium with a throw-away ``profile`` and no network use; its stdout."""
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def screenshot(html: Path, png: Path, profile: Path, size: str = "1280,2000") -> None:
    """Render ``html`` from disk with headless Chromium into ``png``."""
    run_chromium(profile, f"--screenshot={png}", f"--window-size={size}", html.resolve().as_uri())


#: Appended to a copy of the page: after ``load`` (every image decoded or failed),
#: writes what the browser made of each ``<img>`` into ``<pre id="image-probe">``.
IMAGE_PROBE = """<script>
addEventListener("load", () => {
  const images = Array.from(document.images, (img) => ({
    scheme: img.currentSrc.split(",", 1)[0],
    complete: img.complete,
    width: img.naturalWidth,
    height: img.naturalHeight,
  }));
  const out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = JSON.stringify(images);
  document.body.append(out);
});
</script>"""


def browser_images(html: Path, work: Path) -> list[dict[str, object]]:
    """What headless Chromium loaded for every ``<img>`` of ``html``, in page order.

    The page is copied alone into ``work`` (so a relative link would break) with
    :data:`IMAGE_PROBE` before ``</body>``, opened from disk and its DOM dumped
    after the ``load`` event. Each entry: ``scheme`` (the part of the source
    before the first comma), ``complete``, ``width`` and ``height`` (natural
    size in pixels, 0 for a missing or broken image).
    """
    text = html.read_text(encoding="utf-8")
    assert text.count("</body>") == 1
    page = work / "probe.html"
    page.write_text(text.replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(work / "profile", "--dump-dom", "--virtual-time-budget=10000", page.as_uri())
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the probe never ran: the page did not finish loading in chromium"
    images: list[dict[str, object]] = json.loads(unescape(found.group(1)))
    return images


def embedded_png_sizes(html: Path) -> list[tuple[int, int]]:
    """(width, height) of every embedded PNG of ``html``, in page order."""
    sizes = []
    for src in re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,([^"]*)"', html.read_text()):
        with Image.open(io.BytesIO(base64.b64decode(src))) as img:
            sizes.append(img.size)
    return sizes


def assert_no_missing_image(html: Path, work: Path) -> None:
    """Every ``<img>`` of ``html`` loads in Chromium from its data: URI at its PNG's size."""
    images = browser_images(html, work)
    sizes = embedded_png_sizes(html)
    assert len(images) == html.read_text().count("<img") == len(sizes) > 0
    for image, (width, height) in zip(images, sizes, strict=True):
        assert image == {
            "scheme": "data:image/png;base64",
            "complete": True,
            "width": width,
            "height": height,
        }


def test_every_image_loads_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    assert_no_missing_image(report_dir / "report.html", tmp_path)


def test_image_check_fails_on_broken_or_missing_images(report_dir: Path, tmp_path: Path) -> None:
    """The check can fail: a corrupt data: URI loads as 0 × 0, a file reference is refused."""
    text = (report_dir / "report.html").read_text()
    prefix = 'src="data:image/png;base64,'
    start = text.index(prefix) + len(prefix)
    corrupt = tmp_path / "corrupt.html"
    corrupt.write_text(text[:start] + text[start + 5000 :])  # PNG signature and header gone
    (tmp_path / "a").mkdir()
    images = browser_images(corrupt, tmp_path / "a")
    assert (images[0]["complete"], images[0]["width"], images[0]["height"]) == (True, 0, 0)
    assert images[1]["width"] == embedded_png_sizes(report_dir / "report.html")[1][0]

    end = text.index('"', start)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "fig.png").write_bytes(base64.b64decode(text[start:end]))
    linked = tmp_path / "b" / "linked.html"
    linked.write_text(text[: start - len(prefix)] + 'src="fig.png' + text[end:])
    with pytest.raises(AssertionError):
        assert_no_missing_image(linked, tmp_path / "b")


def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    screenshot(report_dir / "report.html", png, tmp_path / "profile")
    with Image.open(png) as img:
        assert img.size == (1280, 2000)
        rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert rgb.std() > 20, "the screenshot is blank"
    # the inline CSS applied: the red SYNTHETIC DATA banner is near the top
    banner = (abs(rgb[..., 0] - 0xB0) < 12) & (rgb[..., 1] < 20) & (abs(rgb[..., 2] - 0x20) < 12)
    assert banner[:300].sum() > 20_000
    # the embedded figures rendered: many distinct colours below the tables
    assert len(np.unique(rgb[1000:].reshape(-1, 3), axis=0)) > 200


def test_loading_orders_from_the_design(experiment: Path) -> None:
    results = load_experiment(experiment)
    assert results.scenarios == tuple(SCENARIOS)
    assert results.models == MODELS
    assert results.patches == PATCHES and results.seeds == SEEDS
    assert results.test_sets == TEST_SETS
    assert results.single_area_scenarios == {
        "taiwan-like": "taiwan-like",
        "china-like": "china-like",
    }
    assert results.synthetic and [a.synthetic for a in results.areas] == [True, True]
    assert results.areas[0].size_px == (32, 32)


def test_scenarios_sharing_a_job_both_get_tables_and_maps(tmp_path: Path) -> None:
    """Two scenarios with the same training areas share their jobs (one key, two names)."""
    exp = write_experiment(tmp_path / "exp")
    rows = read_rows(exp)
    again = [{**r, "scenario": "taiwan-again"} for r in rows if r["scenario"] == "taiwan-like"]
    write_csv(exp / "results.csv", rows + again, COLUMNS)
    write_report(exp)
    tables = markdown_tables((exp / "tables.md").read_text())
    assert list(tables)[-1] == "Scenario 4: taiwan-again (trained on taiwan-like)"
    assert (
        tables["Scenario 4: taiwan-again (trained on taiwan-like)"][1:]
        == tables["Scenario 2: taiwan-like (trained on taiwan-like)"][1:]
    )
    assert (exp / "fig_maps_taiwan-again.png").read_bytes() != b""
    html = (exp / "report.html").read_text()
    assert "Training and validation loss per epoch of 24 jobs." in html
    summary = transfer_summary(load_experiment(exp).rows)
    assert (summary.n_in_area, summary.n_cross_area) == (24, 24)


def test_the_design_sentence_counts_in_the_singular_too() -> None:
    from types import SimpleNamespace

    from slidemap.report.summary import design_sentence

    results = SimpleNamespace(
        rows=[SimpleNamespace(job_key="k")],
        models=["unet"],
        patches=[64],
        scenarios=["l4s"],
        seeds=[0],
        test_sets=["l4s"],
    )
    assert design_sentence(results) == (  # type: ignore[arg-type]
        "1 model was trained (U-Net; window sizes 64 px; 1 training scenario; 1 seed) and "
        "tested on 1 test set (1 result)."
    )
