"""Outputs appear complete or not at all.

Every output is written under a temporary name in the destination's own
directory (same file system) and renamed into place when complete, so an
interrupted command never leaves a half-written file under a final name.
Existing outputs are replaced only when the caller says ``overwrite``.

A write that fails for lack of space (disk full, quota, file size limit)
becomes a :class:`SlidemapError` naming the output; the temporary files are
removed first.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from slidemap.errors import SlidemapError

#: errno values of a write that failed for lack of space.
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class WriteError(OSError):
    """A library writer (GDAL, OGR) failed on an output without an errno.

    Raised inside :func:`atomic_dir` / :func:`atomic_file`, it is reported like a
    write that failed for lack of space, its most common cause.
    """


def check_writable_target(path: Path, overwrite: bool) -> None:
    """Refuse an existing ``path`` without ``overwrite`` and a parent that cannot be written.

    Changes nothing on disk: the parent directories are created by
    :func:`atomic_dir` and :func:`atomic_file` when the output is written.

    Raises:
        SlidemapError: the target exists (and ``overwrite`` is false), a part of
            its parent path is a file, or the nearest existing parent directory
            is not writable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise SlidemapError(f"{path} already exists; pass --overwrite to replace it")
    parent = path.parent
    existing = next(p for p in (parent, *parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise SlidemapError(
            f"cannot create output directory {parent}: {existing} is a file, not a directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SlidemapError(f"output directory {existing} is not writable")


def write_failed(path: Path, exc: OSError) -> SlidemapError:
    """The error for output ``path`` whose write failed with ``exc`` for lack of space."""
    return SlidemapError(
        f"cannot write {path}: {exc.strerror or exc} (disk full or file size limit); "
        "free some space and run the command again"
    )


@contextmanager
def atomic_dir(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    On any exception the temporary directory is removed and ``path`` is left as
    it was (absent, or the previous complete output).

    Raises:
        SlidemapError: see :func:`check_writable_target`; a write in the block
            failed for lack of space.
    """
    path = Path(path)
    check_writable_target(path, overwrite)
    _make_parent(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual mode
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in NO_SPACE or isinstance(exc, WriteError):
            raise write_failed(path, exc) from exc
        raise
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_file(path: Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary file path that is renamed to ``path`` when the block succeeds.

    Raises:
        SlidemapError: see :func:`check_writable_target`; a write in the block
            failed for lack of space.
    """
    path = Path(path)
    check_writable_target(path, overwrite)
    _make_parent(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in NO_SPACE or isinstance(exc, WriteError):
            raise write_failed(path, exc) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_partial(path: Path) -> bool:
    """Whether ``path`` is a temporary output (``.<name>.<random>.partial``) left by a kill."""
    return path.name.startswith(".") and path.name.endswith(".partial")


def has_outputs(directory: Path) -> bool:
    """Whether ``directory`` holds anything but temporary outputs left by a kill."""
    return directory.is_dir() and any(not is_partial(p) for p in directory.iterdir())


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_bytes_durably(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` (created or truncated), flushed and fsynced.

    Unlike GDAL's or a library's own writer, a failed write here always raises
    an :class:`OSError` with its errno (``ENOSPC``, ``EFBIG``…), so a full disk
    is never mistaken for success.
    """
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SlidemapError(
            f"cannot create output directory {path.parent}: {exc.strerror}"
        ) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
