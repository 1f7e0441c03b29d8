"""Atomic outputs: complete or absent, never half-written; usual permissions."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from slidemap.errors import SlidemapError
from slidemap.io.atomic import (
    TEMPORARY_TAIL,
    _host,
    atomic_dir,
    atomic_file,
    write_text_atomic,
)


def test_atomic_dir_appears_complete_with_usual_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "a"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_failure_leaves_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_refuses_existing_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with (
        pytest.raises(SlidemapError, match="already exists; pass --overwrite"),
        atomic_dir(tmp_path / "out"),
    ):
        pass


def test_atomic_file_and_text(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_text_atomic(target, "{}")
    assert target.read_text() == "{}"
    with pytest.raises(ValueError), atomic_file(target) as tmp:
        tmp.write_text("partial")
        raise ValueError
    assert target.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_unwritable_parent_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SlidemapError, match="cannot create output directory"):
        write_text_atomic(blocker / "sub" / "out.txt", "x")


def _dead_pid() -> int:
    """The pid of a process that has run and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _temporary(folder: Path, name: str, owner: str, directory: bool = False) -> Path:
    """A temporary of output ``name`` as a killed writer ``owner`` ("pid@host") leaves it."""
    path = folder / f".{name}.{owner}.{'d1r' if directory else 'f1le'}.partial"
    if directory:
        path.mkdir()
        (path / "half.tif").write_bytes(b"II*\0")
    else:
        path.write_bytes(b"half")
    return path


def test_temporaries_carry_their_writer(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "f.json") as tmp_file, atomic_dir(tmp_path / "out") as tmp_dir:
        for tmp, name in ((tmp_file, "f.json"), (tmp_dir, "out")):
            assert tmp.name.startswith(f".{name}.{os.getpid()}@")
            tail = TEMPORARY_TAIL.fullmatch(tmp.name[len(name) + 2 :])
            assert tail is not None and tail["host"] == _host()


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_next_write_removes_what_a_killed_writer_left(tmp_path: Path, kind: str) -> None:
    here, dead = _host(), _dead_pid()
    name = "f.json" if kind == "file" else "out"
    stale = [
        _temporary(tmp_path, name, f"{dead}@{here}"),
        _temporary(tmp_path, name, f"{dead}@{here}", directory=True),
    ]
    kept = [
        _temporary(tmp_path, name, f"{os.getpid()}@{here}"),  # a writer still running
        _temporary(tmp_path, name, f"{dead}@other-machine.example"),  # can't be probed
        _temporary(tmp_path, f"{name}.b", f"{dead}@{here}"),  # another output's
        _temporary(tmp_path, f"x{name}", f"{dead}@{here}"),
        _temporary(tmp_path, name, f"0@{here}"),  # not a pid
        tmp_path / f".{name}.k1ll3d.partial",  # no writer in the name
    ]
    kept[-1].write_text("?")
    if kind == "file":
        write_text_atomic(tmp_path / name, "{}")
    else:
        with atomic_dir(tmp_path / name) as tmp:
            (tmp / "a.txt").write_text("a")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {name, *(p.name for p in kept)}


def test_overwrite_leaves_no_temporary_and_a_failed_swap_keeps_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("1")
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "v").write_text("2")
    assert (out / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    real_replace, calls = os.replace, []

    def second_rename_fails(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the new output into place
            raise OSError(errno.EXDEV, "simulated")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="simulated"), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "v").write_text("3")
    assert (out / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
