"""The machinery of the bad-input matrix: a case, the call it makes, and the checks.

A :class:`Case` builds its inputs in an empty folder (the *workspace*) and
returns a :class:`Call`: the command line, the output it names, and what must
happen. :func:`snapshot` records every path under the workspace with the
sha256 of every file, so comparing the snapshots before and after the
command proves at once that the inputs are unchanged and that no output,
partial output or temporary file was left.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import CliResult


@dataclass(frozen=True)
class Call:
    """One command line of a case and its expected outcome.

    Attributes:
        args: arguments after ``slidemap``.
        message: for an error, a substring of the ``slidemap: error:`` line
            (exact text, paths included); for a tolerated input, of stdout.
        file_size_limit: run in a child process whose files may not grow beyond
            this many bytes (``RLIMIT_FSIZE``: a full disk, simulated).
        may_write: the only path the command may create or change: a tolerated
            input's output, or the resumable state (never a ``*.partial`` file) an
            interrupted ``train`` or ``experiment`` keeps; None = nothing may change.
        check: checks run after the command (raise on failure): of a tolerated
            input's outputs, or that the state a failed command left can be resumed.
    """

    args: tuple[object, ...]
    message: str
    file_size_limit: int | None = None
    may_write: Path | None = None
    check: Callable[[], None] | None = None


@dataclass(frozen=True)
class Case:
    """A named input and the call that feeds it to slidemap."""

    name: str
    build: Callable[[Workspace], Call]
    xfail: str | None = None

    def param(self) -> object:
        """This case as a ``pytest.param`` (with its strict xfail mark, if any)."""
        marks = [pytest.mark.xfail(strict=True, reason=self.xfail)] if self.xfail else []
        return pytest.param(self, id=self.name, marks=marks)


@dataclass
class Workspace:
    """The empty folder of one case, and the real data folder.

    Attributes:
        root: the case's folder; every input and output lives under it.
        shared: ``../shared/data``.
        made: names of inputs built so far (so builders can share them).
    """

    root: Path
    shared: Path
    made: dict[str, Path] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def marker(self) -> Path:
        """The file hostile pickles create when unpickled: it must never appear."""
        return self.root / "MARKER"

    def blocker(self) -> Path:
        """A regular file; outputs below it cannot be created, even by root."""
        path = self.root / "file.txt"
        path.write_text("not a directory\n", encoding="utf-8")
        return path


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` → the sha256 of its bytes, or "dir" for a directory."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_limited(args: tuple[object, ...], limit: int, cwd: Path) -> CliResult:
    """Run ``slidemap ARGS`` in a child process that cannot write more than ``limit`` bytes
    to any file (``RLIMIT_FSIZE``; Python ignores SIGXFSZ, so writes fail with EFBIG).

    The limit is lifted again once the command has returned, so that the coverage
    measurement of the child can still be saved at exit."""
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))\n"
        "from slidemap.cli import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "finally:\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def leftovers(folder: Path) -> list[str]:
    """Temporary files (``*.partial``) anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*.partial*"))
