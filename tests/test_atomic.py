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
    OutputKind,
    _host,
    atomic_dir,
    atomic_file,
    check_writable_target,
    write_text_atomic,
)

#: The kind of the directory outputs of these tests: every one holds ``v``.
KIND = OutputKind("a test output", "v")


def test_atomic_dir_appears_complete_with_usual_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_dir(out, KIND) as tmp:
        (tmp / "v").write_text("a")
        assert not out.exists()
    assert (out / "v").read_text() == "a"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_failure_leaves_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "v").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out, KIND, overwrite=True) as tmp:
        (tmp / "v").write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["v"] and (out / "v").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_refuses_existing_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with (
        pytest.raises(SlidemapError, match="already exists; pass --overwrite"),
        atomic_dir(tmp_path / "out", KIND),
    ):
        pass


def test_overwrite_replaces_only_an_output_of_the_same_kind(tmp_path: Path) -> None:
    """--overwrite replaces an earlier output (its marker) or an empty directory, never
    a folder without the marker, a file where a directory goes or the reverse."""
    out = tmp_path / "out"
    out.mkdir()
    check_writable_target(out, True, KIND)  # empty
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SlidemapError, match=r"it is not a test output \(no v\), and --over"):
        check_writable_target(out, True, KIND)
    with pytest.raises(SlidemapError, match="it is a directory, and the output is a file"):
        check_writable_target(out, True)
    (out / "v").write_text("1")
    check_writable_target(out, True, KIND)
    with pytest.raises(SlidemapError, match="it is a file, and the output is a test output"):
        check_writable_target(out / "v", True, KIND)
    check_writable_target(out / "v", True)  # a file replaced by a file
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "v"]


def test_a_readme_marker_needs_its_first_line(tmp_path: Path) -> None:
    kind = OutputKind("a set", "README.txt", "written by slidemap")
    (tmp_path / "README.txt").write_text("my project")
    assert not kind.made(tmp_path)
    (tmp_path / "README.txt").write_text("written by slidemap, 2 areas")
    assert kind.made(tmp_path)


@pytest.mark.parametrize("out", [".", "..", "here"])
def test_overwrite_never_replaces_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    here = tmp_path / "here" / "sub"
    here.mkdir(parents=True)
    (here / "v").write_text("an output, or so it seems")
    monkeypatch.chdir(here)
    target = tmp_path / out if out == "here" else Path(out)
    with pytest.raises(SlidemapError, match="it is or holds the current directory"):
        check_writable_target(target, True, KIND)
    assert (here / "v").is_file()


def test_a_directory_written_without_its_marker_is_not_put_in_place(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="without its v"), atomic_dir(tmp_path / "o", KIND):
        pass
    assert list(tmp_path.iterdir()) == []


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
    with (
        atomic_file(tmp_path / "f.json") as tmp_file,
        atomic_dir(tmp_path / "out", KIND) as tmp_dir,
    ):
        for tmp, name in ((tmp_file, "f.json"), (tmp_dir, "out")):
            assert tmp.name.startswith(f".{name}.{os.getpid()}@")
            tail = TEMPORARY_TAIL.fullmatch(tmp.name[len(name) + 2 :])
            assert tail is not None and tail["host"] == _host()
        (tmp_dir / "v").write_text("")


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
        with atomic_dir(tmp_path / name, KIND) as tmp:
            (tmp / "v").write_text("a")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {name, *(p.name for p in kept)}


def test_overwrite_leaves_no_temporary_and_a_failed_swap_keeps_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    with atomic_dir(out, KIND) as tmp:
        (tmp / "v").write_text("1")
    with atomic_dir(out, KIND, overwrite=True) as tmp:
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
    with pytest.raises(OSError, match="simulated"), atomic_dir(out, KIND, overwrite=True) as tmp:
        (tmp / "v").write_text("3")
    assert (out / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
