"""Whole-scene scaling: time and peak memory of ``predict`` on synthetic scenes of growing size.

Each scene (:func:`slidemap.bench.synthetic.write_scene`: a 4-band uint16
stack and a 30 m DEM) is predicted with ``predict``'s default options and
``--backend auto`` in a child process of its own (:mod:`slidemap.bench.child`),
so its peak resident memory is that of the prediction alone.

A run costs a fixed part (opening the outputs, converting them to COGs with
overviews, merging polygons, the quick-look) plus a part per pixel, so the
throughput of small scenes understates the per-pixel rate. Time is linear in
the pixels when the **marginal throughput** (extra pixels / extra seconds
between two successive scenes) stays the same from one pair to the next;
memory is flat when the peak RSS stops growing once the scene is larger than
one block (``predict --block``, 2048 px by default).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slidemap.bench.results import Measurement, Skipped, compared
from slidemap.bench.synthetic import write_scene
from slidemap.errors import SlidemapError


@dataclass(frozen=True)
class SceneRecord:
    """One scene predicted by the child process.

    Attributes:
        side: scene height and width in pixels.
        precision: "fp32" or "bf16" (``predict --precision``).
        record: the child's JSON record (see :mod:`.child`).
    """

    side: int
    precision: str
    record: dict[str, Any]

    @property
    def mpx(self) -> float:
        """Scene size in megapixels."""
        return self.side * self.side / 1e6

    @property
    def seconds(self) -> float:
        """``predict_scene``'s wall time (set-up excluded)."""
        return float(self.record["seconds"])


def run_child(
    run: Path,
    stack: Path,
    dem: Path,
    out: Path,
    threads: int | None,
    timeout_s: float,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Predict one scene in a child process; returns its record (see :mod:`.child`).

    Raises:
        SlidemapError: the child failed or timed out (its stderr tail in the message).
    """
    args = [str(run), str(stack), str(dem), str(out), "" if threads is None else str(threads)]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "slidemap.bench.child", *args, precision],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SlidemapError(
            f"bench: predicting the scene {stack} took over {timeout_s:.0f} s; the machine "
            "is overloaded or too small for this mode, try 'slidemap bench --quick'"
        ) from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SlidemapError(
            f"bench: predicting the scene {stack} failed (exit {proc.returncode}):\n{tail}"
        )
    record: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return record


def predict_synthetic(
    folder: Path,
    side: int,
    run: Path,
    seed: int,
    threads: int | None,
    timeout_s: float,
    precisions: tuple[str, ...] = ("fp32",),
) -> list[SceneRecord]:
    """Write a ``side`` × ``side`` scene into the new ``folder``, predict it, delete it.

    Args:
        folder: directory to create (and remove afterwards).
        side: scene side in pixels.
        run: the trained model's run directory.
        seed: seeds the synthetic scene.
        threads: runtime threads (None: each runtime's default).
        timeout_s: longest one prediction may take.
        precisions: one prediction per precision, in order, on the same scene.

    Returns:
        One record per precision.
    """
    folder.mkdir(parents=True)
    try:
        stack, dem = write_scene(folder, side, seed)
        return [
            SceneRecord(
                side,
                p,
                run_child(run, stack, dem, folder / f"out-{p}", threads, timeout_s, p),
            )
            for p in precisions
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a 10980² scene is about 1 GB


def _params(scene: SceneRecord) -> dict[str, Any]:
    r = scene.record
    return {
        "side": scene.side,
        "precision": scene.precision,
        "seconds": r["seconds"],
        "setup_seconds": r["setup_seconds"],
        "backend": r["backend"],
        "landslides": r["landslides"],
        "rss_source": r["rss_source"],
    }


def scene_rows(
    fp32: list[SceneRecord], bf16: list[SceneRecord]
) -> tuple[list[Measurement], list[Skipped]]:
    """The scaling rows, smallest scene first.

    * ``scene.<side>.throughput`` (scene Mpx/s) and ``scene.<side>.peak_rss``
      (MiB), compared with the smallest scene;
    * ``scene.<side>.marginal`` (Mpx/s between the previous scene and this
      one), compared with the first such rate (≈ 1: time linear in pixels);
    * ``scene.<side>.bf16.throughput`` / ``.bf16.peak_rss``: the same scene
      with ``--precision bf16``, compared with its fp32 run.

    Args:
        fp32: fp32 records, one per side, smallest first.
        bf16: bf16 records (any sides that also have an fp32 record).

    Returns:
        ``(measurements, skipped)``; a marginal rate is skipped when the larger
        scene did not take longer (load from other processes).
    """
    rows: list[Measurement] = []
    skipped: list[Skipped] = []
    first_thr: Measurement | None = None
    first_rss: Measurement | None = None
    first_marginal: Measurement | None = None
    by_side: dict[int, tuple[Measurement, Measurement]] = {}
    previous: SceneRecord | None = None
    for scene in fp32:
        params = _params(scene)
        thr_name, rss_name = f"scene.{scene.side}.throughput", f"scene.{scene.side}.peak_rss"
        rss_mib = scene.record["peak_rss_kib"] / 1024
        if first_thr is None or first_rss is None:
            thr = Measurement(thr_name, "scene", scene.mpx / scene.seconds, "Mpx/s", params)
            rss = Measurement(rss_name, "scene", rss_mib, "MiB", params)
            first_thr, first_rss = thr, rss
        else:
            thr = compared(thr_name, "scene", scene.mpx / scene.seconds, "Mpx/s", first_thr, params)
            rss = compared(rss_name, "scene", rss_mib, "MiB", first_rss, params)
        rows += [thr, rss]
        by_side[scene.side] = (thr, rss)
        if previous is not None:
            marginal = _marginal(previous, scene, first_marginal)
            if marginal is None:
                skipped.append(
                    Skipped(
                        f"scene.{scene.side}.marginal",
                        f"{scene.side}^2 did not take longer than {previous.side}^2 "
                        "(load from other processes); rerun on a quieter machine",
                    )
                )
            else:
                rows.append(marginal)
                first_marginal = first_marginal or marginal
        previous = scene
    for scene in bf16:
        params = _params(scene)
        thr32, rss32 = by_side[scene.side]
        prefix = f"scene.{scene.side}.bf16"
        rows.append(
            compared(
                f"{prefix}.throughput", "scene", scene.mpx / scene.seconds, "Mpx/s", thr32, params
            )
        )
        rss_mib = scene.record["peak_rss_kib"] / 1024
        rows.append(compared(f"{prefix}.peak_rss", "scene", rss_mib, "MiB", rss32, params))
    return rows, skipped


def _marginal(
    smaller: SceneRecord, larger: SceneRecord, first: Measurement | None
) -> Measurement | None:
    """Mpx/s between two scenes, or None when the larger one was not slower."""
    extra_s = larger.seconds - smaller.seconds
    if extra_s <= 0:
        return None
    value = (larger.mpx - smaller.mpx) / extra_s
    params = {**_params(larger), "from_side": smaller.side}
    name = f"scene.{larger.side}.marginal"
    if first is None:
        return Measurement(name, "scene", value, "Mpx/s", params)
    return compared(name, "scene", value, "Mpx/s", first, params)
