"""Outputs appear complete or not at all.

Every output is written under a temporary name in the destination's own
directory (same file system) and renamed into place when complete, so an
interrupted command never leaves a half-written file under a final name.
Existing outputs are replaced only when the caller says ``overwrite``, and a
directory only when it is an earlier output of the same kind (its
:class:`OutputKind`'s marker file) or empty: never a folder of inputs, nor
one slidemap did not write.

A write that fails for lack of space (disk full, quota, file size limit)
becomes a :class:`SlidemapError` naming the output; the temporary files are
removed first.

A temporary is named ``.<name>.<pid>@<host>.<random>.partial`` after the
process that writes it. A command killed outright (SIGKILL, power loss)
cannot remove its temporaries; the next write of the same output removes
those whose process is gone (:func:`remove_stale_temporaries`), and leaves
alone the ones of a process still running or of another machine sharing the
directory.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from slidemap.errors import SlidemapError

#: errno values of a write that failed for lack of space.
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
#: What follows ``.<name>.`` in a temporary's name: owner pid, host, random part (tempfile's).
TEMPORARY_TAIL = re.compile(r"(?P<pid>[0-9]+)@(?P<host>[A-Za-z0-9._-]+)\.[a-z0-9_]+\.partial")


class WriteError(OSError):
    """A library writer (GDAL, OGR) failed on an output without an errno.

    Raised inside :func:`atomic_dir` / :func:`atomic_file`, it is reported like a
    write that failed for lack of space, its most common cause.
    """


@dataclass(frozen=True)
class OutputKind:
    """A kind of directory output, told apart from other directories by a marker file.

    Attributes:
        what: the output in words, e.g. "a prediction".
        marker: a file every output of this kind holds, e.g. ``probability.tif``.
        starts: the marker's first characters, where its name alone is common
            (a ``README.txt``); empty: the name is enough.
    """

    what: str
    marker: str
    starts: str = ""

    def made(self, directory: Path) -> bool:
        """Whether ``directory`` holds this kind's marker (with its first characters)."""
        marker = directory / self.marker
        if not marker.is_file():
            return False
        if not self.starts:
            return True
        with open(marker, "rb") as f:
            return f.read(len(self.starts.encode())) == self.starts.encode()


def check_writable_target(path: Path, overwrite: bool, kind: OutputKind | None = None) -> None:
    """Refuse an existing ``path`` without ``overwrite``, one ``overwrite`` may not replace,
    and a parent that cannot be written.

    Args:
        path: the output.
        overwrite: whether an existing output may be replaced.
        kind: what a directory output holds; None: the output is a file.

    Changes nothing on disk: the parent directories are created by
    :func:`atomic_dir` and :func:`atomic_file` when the output is written.

    Raises:
        SlidemapError: the target exists (and ``overwrite`` is false); with
            ``overwrite``, it is the current directory or holds it, it is a
            directory where a file is written, or a file or a non-empty
            directory without ``kind``'s marker where a directory is written;
            a part of its parent path is a file, or the nearest existing parent
            directory is not writable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise SlidemapError(f"{path} already exists; pass --overwrite to replace it")
    if path.exists():
        _check_replaceable(path, kind)
    parent = path.parent
    existing = next(p for p in (parent, *parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise SlidemapError(
            f"cannot create output directory {parent}: {existing} is a file, not a directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SlidemapError(f"output directory {existing} is not writable")


def _check_replaceable(path: Path, kind: OutputKind | None) -> None:
    """Refuse to replace ``path`` unless it is an output of ``kind`` (a file: None)."""
    refuse = f"refusing to replace {path}"
    if Path.cwd().resolve().is_relative_to(path.resolve()):
        raise SlidemapError(f"{refuse}: it is or holds the current directory")
    if kind is None and path.is_dir():
        raise SlidemapError(f"{refuse}: it is a directory, and the output is a file")
    if kind is None:
        return
    if not path.is_dir():
        raise SlidemapError(f"{refuse}: it is a file, and the output is {kind.what} (a directory)")
    if has_outputs(path) and not kind.made(path):
        raise SlidemapError(
            f"{refuse}: it is not {kind.what} (no {kind.marker}), and --overwrite replaces "
            "only an earlier output of the same kind; choose another --out"
        )


def write_failed(path: Path, exc: OSError) -> SlidemapError:
    """The error for output ``path`` whose write failed with ``exc`` for lack of space."""
    return SlidemapError(
        f"cannot write {path}: {exc.strerror or exc} (disk full or file size limit); "
        "free some space and run the command again"
    )


@contextmanager
def atomic_dir(path: Path, kind: OutputKind, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    On any exception the temporary directory is removed and ``path`` is left as
    it was (absent, or the previous complete output). The block writes
    ``kind``'s marker.

    Raises:
        SlidemapError: see :func:`check_writable_target`; a write in the block
            failed for lack of space.
    """
    path = Path(path)
    check_writable_target(path, overwrite, kind)
    _make_parent(path)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".partial", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual mode
    try:
        yield tmp
        if not kind.made(tmp):  # a later --overwrite would refuse it
            raise RuntimeError(f"{kind.what} written to {path} without its {kind.marker}")
        if path.exists():
            old = path.with_name(f"{_prefix(path)}old.partial")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # the previous output back under its name
                raise
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
    remove_stale_temporaries(path)
    fd, name = tempfile.mkstemp(prefix=_prefix(path), suffix=".partial", dir=path.parent)
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


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporaries of output ``path`` left by processes of this machine that are gone.

    A temporary of another machine (a shared file system) or of a process that
    still runs is kept: it may be a write in progress. Only on POSIX systems,
    where a process can be probed without harming it.
    """
    if os.name != "posix":
        return
    prefix = f".{path.name}."
    host = _host()
    for tmp in path.parent.glob(glob.escape(prefix) + "*.partial"):
        owner = TEMPORARY_TAIL.fullmatch(tmp.name[len(prefix) :])
        if owner and owner["host"] == host and not _running(int(owner["pid"])):
            _remove(tmp)


def is_partial(path: Path) -> bool:
    """Whether ``path`` is a temporary output (``.<name>.<pid>@<host>.<random>.partial``)."""
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


def _prefix(path: Path) -> str:
    """The start of a temporary's name for output ``path``: ``.<name>.<pid>@<host>.``."""
    return f".{path.name}.{os.getpid()}@{_host()}."


def _host() -> str:
    """This machine's name, reduced to the characters of :data:`TEMPORARY_TAIL`'s host."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "localhost"


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (True when that cannot be told)."""
    if not 0 < pid < 2**31:
        return True  # not a pid this machine can have: keep the file
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, but belongs to another user
        return True
    return True


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
