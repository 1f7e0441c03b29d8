"""Ways to break a valid input file: random bytes, truncation, hostile pickles, lies."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import torch


def random_bytes(path: Path, n: int = 4096) -> Path:
    """Overwrite (or create) ``path`` with ``n`` deterministic random bytes."""
    path.write_bytes(np.random.default_rng(7).bytes(n))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to the first ``keep`` share of its bytes (an interrupted copy)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def cut(path: Path, keep_bytes: int) -> Path:
    """Cut ``path`` to its first ``keep_bytes`` bytes (a copy stopped inside the header)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])
    return path


class MarkerPayload:
    """A pickled object whose unpickling creates ``marker``: stands for arbitrary code.

    ``__reduce__`` makes the unpickler call ``open(marker, "w")``, which creates
    the file; a loader that runs pickled code leaves the marker behind.
    """

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def code_checkpoint(path: Path, marker: Path, torch_zip: bool = True) -> Path:
    """A checkpoint with slidemap's header whose unpickling would create ``marker``.

    ``torch_zip``: written by ``torch.save`` (zip container), else a plain pickle
    (the legacy format ``torch.load`` also accepts).
    """
    payload = {"format": "slidemap-checkpoint", "model": {}, "hook": MarkerPayload(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if torch_zip:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


def relabel_model(path: Path, name: str) -> Path:
    """Rewrite the checkpoint at ``path`` claiming its weights belong to model ``name``."""
    payload = torch.load(path, weights_only=True)
    payload["model_config"] = {**payload["model_config"], "name": name}
    torch.save(payload, path)
    return path


def edit_h5(path: Path, dataset: str, index: tuple[object, ...], value: float) -> Path:
    """Set ``dataset[index] = value`` in an HDF5 file (one damaged value)."""
    with h5py.File(path, "r+") as f:
        data = f[dataset][()]
        data[index] = value
        f[dataset][...] = data
    return path


def drop_last_channel(path: Path) -> Path:
    """Rewrite an L4S image with 13 instead of 14 channels (a wrong band count)."""
    with h5py.File(path, "r+") as f:
        data = f["img"][()]
        del f["img"]
        f["img"] = data[:, :, :-1]
    return path
