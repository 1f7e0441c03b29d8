"""Child process of the whole-scene measurement: predict one scene, print one JSON line.

Run as ``python -m slidemap.bench.child RUN STACK DEM OUT THREADS PRECISION``
(THREADS empty for the runtime's default; PRECISION "fp32" or "bf16"). It does
what ``slidemap predict RUN --bands STACK --dem DEM --out OUT --precision
PRECISION`` does with the default options and backend (``auto``), and prints:

    seconds         predict_scene's own wall time (first block read → outputs done)
    setup_seconds   loading the model, opening the scene, building the backend
    peak_rss_kib    this process's peak resident memory (VmHWM of /proc/self/status)
    rss_source      "VmHWM", or "ru_maxrss" where /proc is missing
    width, height, landslides, backend

The child reads its own VmHWM because ``ru_maxrss`` of a child is not clean:
Linux carries the parent's peak over fork and exec, and the bench parent has
trained networks by then.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_kib() -> tuple[int, str]:
    """This process's peak resident memory in KiB and where it came from.

    ``VmHWM`` of ``/proc/self/status`` where it exists (Linux), else
    ``ru_maxrss`` (KiB on Linux, bytes on macOS: converted).
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]), "VmHWM"
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss // 1024 if sys.platform == "darwin" else rss), "ru_maxrss"


def predict_child(argv: list[str]) -> dict[str, Any]:
    """Predict one scene as ``slidemap predict`` does; returns the record (module docstring).

    Args:
        argv: ``[run, stack, dem, out, threads, precision]``.
    """
    from slidemap.backends import make_backend
    from slidemap.checkpoint import load_model
    from slidemap.predict import open_scene, predict_scene
    from slidemap.scene import SLOPE, inputs_from_files

    run, stack, dem, out, threads_arg, precision = argv
    threads = int(threads_arg) if threads_arg else None
    start = time.perf_counter()
    model, info = load_model(Path(run))
    image_bands = tuple(b for b in info.band_names if b != SLOPE)
    scene = open_scene(inputs_from_files([Path(stack)], Path(dem), image_bands), info)
    backend = make_backend(model, info, "auto", precision, threads)
    setup = time.perf_counter() - start
    summary = predict_scene(backend, info, scene, Path(out))
    rss_kib, source = peak_rss_kib()
    return {
        "seconds": summary.seconds,
        "setup_seconds": setup,
        "peak_rss_kib": rss_kib,
        "rss_source": source,
        "width": summary.width,
        "height": summary.height,
        "landslides": summary.landslides,
        "backend": summary.backend,
    }


if __name__ == "__main__":
    print(json.dumps(predict_child(sys.argv[1:])))
