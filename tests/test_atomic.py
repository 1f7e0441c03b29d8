"""Atomic outputs: complete or absent, never half-written; usual permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from slidemap.errors import SlidemapError
from slidemap.io.atomic import atomic_dir, atomic_file, write_text_atomic


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
