"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain types only (tensors, dicts, lists, str, int,
float, bool, None), so loading one never runs pickled code::

    format            "slidemap-checkpoint"
    slidemap_version  version that wrote it
    model             state_dict of the network
    model_config      {"name": "unet", "in_channels": 5, …}; build_model(**model_config)
    band_names        input bands, in channel order
    mean, std         per-band normalisation: x' = (x - mean) / std
    patch_px          training window side
    threshold         decision threshold on the probability (picked on validation)
    epoch             last completed epoch (1-based)
    …                 training state (optimizer, early stopping, RNG states) in
                      the files train.py writes

Prediction and evaluation use :func:`load_model` and :class:`ModelInfo`.
"""

from __future__ import annotations

import io
import pickle
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from slidemap import __version__
from slidemap.errors import SlidemapError
from slidemap.io.atomic import atomic_file, write_bytes_durably
from slidemap.models import build_model

FORMAT = "slidemap-checkpoint"
MODEL_KEYS = ("model", "model_config", "band_names", "mean", "std", "patch_px", "threshold")


@dataclass(frozen=True)
class ModelInfo:
    """What a trained model expects and how to turn its output into a map.

    Attributes:
        model_name: "unet" or "resunet".
        model_config: ``build_model(**model_config)`` rebuilds the network.
        band_names: input bands in channel order.
        mean, std: per-band normalisation statistics, one per band.
        patch_px: side of the training windows in pixels.
        threshold: probability at or above which a pixel is a landslide.
    """

    model_name: str
    model_config: dict[str, Any]
    band_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    patch_px: int
    threshold: float


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file in the same directory, rename).

    ``format`` and ``slidemap_version`` are added. An interrupted or failed
    write leaves the previous file at ``path`` untouched.

    Raises:
        SlidemapError: the write failed for lack of space (disk full, file size limit).
    """
    buffer = io.BytesIO()  # torch's zip writer can fail on a full disk without an errno
    torch.save({"format": FORMAT, "slidemap_version": __version__, **payload}, buffer)
    with atomic_file(Path(path)) as tmp:
        write_bytes_durably(tmp, [buffer.getvalue()])


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``.

    Raises:
        SlidemapError: the file is missing, truncated, corrupt, holds pickled
            objects other than plain types, or is not a slidemap checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise SlidemapError(
            f"checkpoint not found: {path}; give a run directory written by 'slidemap train' "
            "or one of its .pt files"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        code = re.search(r"GLOBAL (\S+)", str(exc))
        if code is None:
            raise SlidemapError(
                f"{path} is corrupt or not a slidemap checkpoint (not a torch checkpoint "
                "file); train again or use another checkpoint"
            ) from exc
        raise SlidemapError(
            f"{path} is corrupt or not a slidemap checkpoint: it holds pickled objects other "
            f"than tensors and plain values (it would load {code.group(1)}), refused for "
            "safety; use a best.pt or last.pt written by 'slidemap train'"
        ) from exc
    except (RuntimeError, EOFError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise SlidemapError(
            f"{path} is corrupt or not a slidemap checkpoint (truncated or not a torch file: "
            f"{type(exc).__name__}); train again or use another checkpoint"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SlidemapError(
            f"{path} is corrupt or not a slidemap checkpoint (no slidemap header); "
            "use a best.pt or last.pt written by 'slidemap train'"
        )
    return payload


def resolve_checkpoint(run_dir_or_ckpt: Path, which: str = "best") -> Path:
    """``RUN/<which>.pt`` for a run directory, the path itself for a file.

    Raises:
        SlidemapError: ``which`` is not "best" or "last".
    """
    if which not in ("best", "last"):
        raise SlidemapError(f"checkpoint must be 'best' or 'last', got {which!r}")
    path = Path(run_dir_or_ckpt)
    return path / f"{which}.pt" if path.is_dir() else path


def model_info(payload: dict[str, Any], path: Path) -> ModelInfo:
    """The :class:`ModelInfo` of a loaded checkpoint (``path`` only names it in errors).

    Raises:
        SlidemapError: an entry is missing or malformed.
    """
    missing = [k for k in MODEL_KEYS if k not in payload]
    if missing:
        raise SlidemapError(
            f"{path} is corrupt or not a slidemap checkpoint (missing {', '.join(missing)})"
        )
    try:
        config = dict(payload["model_config"])
        info = ModelInfo(
            model_name=str(config["name"]),
            model_config=config,
            band_names=tuple(str(b) for b in payload["band_names"]),
            mean=tuple(float(m) for m in payload["mean"]),
            std=tuple(float(s) for s in payload["std"]),
            patch_px=int(payload["patch_px"]),
            threshold=float(payload["threshold"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SlidemapError(f"{path} is corrupt or not a slidemap checkpoint ({exc})") from exc
    if not len(info.band_names) == len(info.mean) == len(info.std):
        raise SlidemapError(
            f"{path} is corrupt or not a slidemap checkpoint (band names and statistics disagree)"
        )
    return info


def load_model(
    run_dir_or_ckpt: Path, which: str = "best", device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelInfo]:
    """Load a trained network, in eval mode on ``device``, and what it expects.

    Args:
        run_dir_or_ckpt: a run directory (then ``<which>.pt`` in it) or a checkpoint file.
        which: "best" (the weights kept by early stopping) or "last".
        device: torch device for the model.

    Returns:
        ``(model, info)``; the model maps (N, C, H, W) float32 normalised
        inputs, H and W multiples of 16, to (N, 1, H, W) logits.

    Raises:
        SlidemapError: missing or corrupt checkpoint, unknown model, or weights
            that do not fit the model configuration.
    """
    path = resolve_checkpoint(run_dir_or_ckpt, which)
    payload = load_checkpoint(path)
    info = model_info(payload, path)
    try:
        model = build_model(**info.model_config)
    except (SlidemapError, TypeError) as exc:
        raise SlidemapError(
            f"{path}: its model configuration {info.model_config} is not valid ({exc}); the "
            "checkpoint is corrupt or from an incompatible slidemap version"
        ) from exc
    try:
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise SlidemapError(
            f"{path}: the weights do not fit model {info.model_name!r} ({reason}); "
            "the checkpoint is corrupt or from an incompatible slidemap version"
        ) from exc
    return model.to(device).eval(), info


def check_bands(info: ModelInfo, band_names: tuple[str, ...] | list[str], source: str) -> None:
    """Refuse inputs whose bands differ from the model's (names and order).

    Args:
        info: the model's :class:`ModelInfo`.
        band_names: bands of the input, in channel order.
        source: what the input is (e.g. an area directory), for the message.

    Raises:
        SlidemapError: the band names or their order differ.
    """
    given, expected = tuple(band_names), info.band_names
    if given == expected:
        return
    if sorted(given) == sorted(expected):
        raise SlidemapError(
            f"{source} has bands {','.join(given)} but the {info.model_name} model expects "
            f"them in the order {','.join(expected)}; reorder the input bands"
        )
    raise SlidemapError(
        f"{source} has bands {','.join(given)} but the {info.model_name} model was trained on "
        f"{','.join(expected)}; use inputs with those bands or a model trained on these"
    )


def rng_state() -> dict[str, Any]:
    """The torch, CUDA, numpy (global) and Python ``random`` RNG states as plain types."""
    np_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "state": list(py_state), "gauss_next": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
