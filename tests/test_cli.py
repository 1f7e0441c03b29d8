"""The command line's conventions: help, version, error format, exit codes."""

from __future__ import annotations

import importlib.abc
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

import slidemap
from slidemap import __version__, entry
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


def test_console_script_loads_the_command_line_inside_its_entry() -> None:
    """pyproject's ``slidemap`` script and ``python -m slidemap`` both start in
    :func:`slidemap.entry.main`, which imports the command line itself."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"slidemap": "slidemap.entry:main"}
    main_py = Path(slidemap.__file__).with_name("__main__.py").read_text()
    assert "from slidemap.entry import main" in main_py


class _Interrupting(importlib.abc.MetaPathFinder):
    """Ctrl-C while ``slidemap.cli`` is imported."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "slidemap.cli":
            raise KeyboardInterrupt


def test_ctrl_c_while_the_command_line_loads_is_aborted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "slidemap.cli")
    monkeypatch.setattr(sys, "meta_path", [_Interrupting(), *sys.meta_path])
    assert entry.main() == 130
    assert capsys.readouterr().err == "slidemap: aborted\n"


#: In a child process: the entry point (the console script's, and ``python -m
#: slidemap``'s) about to import the command line; say so, then run it.
STARTING = (
    "import sys; from slidemap.entry import main; sys.stderr.write('started\\n'); "
    "sys.stderr.flush(); sys.argv[1:] = ['prepare', 'x.toml', '--out', 'o']; sys.exit(main())"
)


def test_ctrl_c_at_start_is_aborted_without_a_traceback(tmp_path: Path) -> None:
    """A Ctrl-C in the first tenths of a second, while the command line is imported, ends
    like one during the command: ``slidemap: aborted``, exit code 130, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTING], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "started\n"
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait() == 130, err
    assert err in ("slidemap: aborted\n", "slidemap: interrupted\n"), err
    assert not list(tmp_path.iterdir())
