"""Shared test fixtures: the real data folder, an in-process CLI runner, tiny areas."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from slidemap.area import (
    LABEL_NODATA,
    TEST,
    TRAIN,
    VALIDATION,
    AreaMeta,
    InventoryStats,
    band_stats,
    write_area,
)
from slidemap.cli import main

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Give the commands the tests start a Ctrl-C they can receive.

    A shell starts a background job (``cmd &``) with SIGINT ignored, and every process
    started from it inherits that; the tests that press Ctrl-C (SIGINT to a command, as
    a terminal sends it) would then interrupt commands that cannot be interrupted.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; a test that needs it fails (never skips) when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``slidemap ARGS…`` in-process; returns exit code, stdout and stderr."""

    def _run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return _run


def make_tiny_area(
    out: Path,
    name: str = "tiny",
    size: int = 128,
    seed: int = 0,
    bands: tuple[str, ...] = ("B2", "B3", "B4", "B8", "slope"),
    shift: float = 0.0,
) -> Path:
    """Write a small learnable prepared area: bright, low-NIR, steep blobs are landslides.

    The west 60 % is train (its last tenth of columns validation), the east 40 % test.
    ``shift`` adds a constant to the visible bands (a spectral domain shift).
    """
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w]
    label = np.zeros((h, w), np.uint8)
    for _ in range(max(4, size * size // 600)):
        cy, cx = rng.integers(4, h - 4), rng.integers(4, w - 4)
        ry, rx = rng.integers(2, 6), rng.integers(2, 5)
        label[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    noise = rng.normal(0, 0.01, (len(bands), h, w)).astype(np.float32)
    image = np.empty((len(bands), h, w), np.float32)
    for i, band in enumerate(bands):
        if band == "slope":
            base, slide = 15.0, 35.0
        elif band == "B8":
            base, slide = 0.35, 0.15
        else:
            base, slide = 0.05 + shift, 0.18 + shift
        image[i] = np.where(label == 1, slide, base) + noise[i] * (100 if band == "slope" else 1)
    image[:, :4, :4] = np.nan
    label[:4, :4] = LABEL_NODATA
    split = np.full((h, w), TEST, np.uint8)
    train_cols = int(w * 0.6)
    split[:, :train_cols] = TRAIN
    split[:, int(train_cols * 0.9) : train_cols] = VALIDATION
    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    areas = label[label != LABEL_NODATA].astype(np.float64) * 100.0
    meta = AreaMeta(
        name=name,
        crs_wkt=CRS.from_epsg(32654).to_wkt(),
        transform=tuple(transform)[:6],
        width=w,
        height=h,
        band_names=bands,
        band_stats=band_stats(image, split == TRAIN, bands),
        inventory=InventoryStats(
            count=1, total_m2=float(areas.sum()), min_m2=0.0, mean_m2=0.0, max_m2=0.0
        ),
        synthetic=True,
    )
    return write_area(out / name, meta, image, label, split)


@pytest.fixture
def tiny_area(tmp_path: Path) -> Path:
    """A 128 × 128 learnable prepared area (see :func:`make_tiny_area`)."""
    return make_tiny_area(tmp_path)
