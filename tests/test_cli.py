"""The command line's conventions: help, version, error format, exit codes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from slidemap import __version__
from slidemap.errors import SlidemapError


def test_help_lists_commands(run_cli: Callable) -> None:
    result = run_cli("--help")
    assert result.code == 0
    assert "prepare" in result.out and "slidemap demo --quick" in result.out


def test_prepare_help_documents_the_area_file(run_cli: Callable) -> None:
    result = run_cli("prepare", "--help")
    assert result.code == 0
    for key in ("[bands]", "[dem]", "[inventory]", "[split]", "fraction", "resampling"):
        assert key in result.out


def test_version(run_cli: Callable) -> None:
    result = run_cli("--version")
    assert result.code == 0 and __version__ in result.out


def test_usage_error_is_exit_2(run_cli: Callable) -> None:
    result = run_cli("prepare")
    assert result.code == 2
    assert "slidemap: error: Missing argument 'AREA_FILE'" in result.err
    result = run_cli("no-such-command")
    assert result.code == 2 and "slidemap: error: No such command" in result.err


def test_user_error_has_no_traceback(tmp_path: Path, run_cli: Callable) -> None:
    result = run_cli("prepare", tmp_path / "missing.toml", "--out", tmp_path / "o")
    assert result.code == 2
    assert result.err == f"slidemap: error: area file not found: {tmp_path / 'missing.toml'}\n"


def test_debug_shows_the_traceback(tmp_path: Path, run_cli: Callable) -> None:
    with pytest.raises(SlidemapError, match="area file not found"):
        run_cli("--debug", "prepare", tmp_path / "missing.toml", "--out", tmp_path / "o")


def test_console_script_runs_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "slidemap",
            "prepare",
            str(tmp_path / "x.toml"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"slidemap: error: area file not found: {tmp_path / 'x.toml'}"
