"""Reading TOML files written by users, with errors that name the file, line and key.

Shared by the area files (:mod:`slidemap.config`) and the experiment files
(:mod:`slidemap.experiment`)::

    text, data = read_toml(path, "experiment file")
    top = TableReader(path, text, data, "")
    top.check_keys(("name", "train"))
    train = top.sub("train")          # a TableReader for [train], or None
    epochs = train.get("epochs", int, 100)

Errors read ``<file>, line <n>: [<table>] <key>: <what is wrong>``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from slidemap.errors import SlidemapError


def read_toml(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """Read and parse a TOML file (a UTF-8 byte order mark, as some Windows editors write, is
    skipped).

    Args:
        path: the file.
        what: what the file is ("area file"), for the messages.

    Returns:
        ``(text, data)``: the file's text (for line numbers) and its parsed tables.

    Raises:
        SlidemapError: missing file, a directory, not UTF-8, a TOML syntax error, or arrays
            or tables nested too deeply to parse.
    """
    path = Path(path)
    if path.is_dir():
        inside = sorted(path.glob("*.toml"))
        raise SlidemapError(
            f"{what} {path} is a directory, not a file; give the TOML file"
            + (f", e.g. {inside[0]}" if inside else "")
        )
    if not path.is_file():
        raise SlidemapError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
        return text, tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise SlidemapError(f"{path}: not a UTF-8 text file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SlidemapError(f"{path}: invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise SlidemapError(f"{path}: invalid TOML: arrays or tables nested too deeply") from exc


class TableReader:
    """Checks one TOML table against a schema and reports errors with line numbers.

    Args:
        file: the TOML file (relative paths in it are relative to its directory).
        text: the file's text.
        table: the parsed table.
        section: the table's name ("" for the top level).
    """

    def __init__(self, file: Path, text: str, table: dict[str, Any], section: str) -> None:
        self.file, self.text, self.table, self.section = file, text, table, section

    def fail(self, key: str | None, message: str) -> SlidemapError:
        """The error for ``key`` (or the table itself when None), with its line if found."""
        line = line_of(self.text, self.section, key)
        where = f"{self.file}, line {line}" if line else str(self.file)
        table = f"[{self.section}]" if self.section else ""
        what = " ".join(p for p in (table, key) if p)
        return SlidemapError(f"{where}: {what}: {message}" if what else f"{where}: {message}")

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        """Refuse keys not in ``allowed``."""
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown key; expected one of: {', '.join(allowed)}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """The value of ``key`` if it has one of the types ``kind``, ``default`` if absent.

        ``true``/``false`` is never accepted as a number.
        """
        if key not in self.table:
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value = None  # bool is an int subclass; never accept it as a number
        if value is None or not isinstance(value, kinds):
            names = " or ".join(_type_name(k) for k in kinds)
            raise self.fail(key, f"expected {names}, got {self.table[key]!r}")
        return value

    def path(self, key: str) -> Path | None:
        """An optional path, relative to the TOML file's directory."""
        value = self.get(key, str)
        if value is None:
            return None
        if not value.strip():
            raise self.fail(key, "empty path")
        if "\0" in value:
            raise self.fail(key, f"a path cannot contain a NUL character, got {value!r}")
        try:
            p = Path(value).expanduser()
        except RuntimeError as exc:  # ~user of an unknown user, or no home directory
            raise self.fail(key, f"cannot expand '~' in {value!r}: {exc}") from exc
        return p if p.is_absolute() else (self.file.parent / p)

    def required_path(self, key: str) -> Path:
        """Like :meth:`path`, but the key must be present."""
        p = self.path(key)
        if p is None:
            raise self.fail(None, f"missing key '{key}'")
        return p

    def fraction(self, key: str, default: float, low: float, high: float) -> float:
        """A number strictly between ``low`` and ``high``."""
        value = float(self.get(key, (int, float), default))
        if not low < value < high:
            raise self.fail(key, f"must be between {low} and {high} (exclusive), got {value}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        """A string from ``choices``."""
        value = self.get(key, str, default)
        if value is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def sub(self, key: str) -> TableReader | None:
        """A reader for the sub-table ``key``, None when absent."""
        value = self.get(key, dict)
        return None if value is None else TableReader(self.file, self.text, value, key)


def line_of(text: str, section: str, key: str | None) -> int | None:
    """1-based line of ``key`` in ``[section]`` (or of the section header), if found.

    Bare and quoted keys (``name =``, ``"name" =``, ``'name' =``) are found.
    """
    current = ""
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    key_re = _key_re(key) if key else None
    inline_re = _key_re(section) if section else None
    for number, line in enumerate(text.splitlines(), start=1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if key is None and current == section:
                return number
            continue
        if current == section and key_re is not None and key_re.match(line):
            return number
        if current == "" and section and inline_re is not None and inline_re.match(line):
            return number  # e.g. bands = { ... } written inline
    return None


def _key_re(key: str) -> re.Pattern[str]:
    k = re.escape(key)
    return re.compile(rf"""^\s*(?:{k}|"{k}"|'{k}')\s*=""")


def _type_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)
