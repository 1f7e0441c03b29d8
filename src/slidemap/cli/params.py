"""Parameter types shared by the commands.

:class:`UTF8Path` is the type of the files and directories on the command line
whose names reach GDAL as they are given: rasterio and pyogrio take names as
UTF-8, and a name that is not valid UTF-8 (a Latin-1 ``é``, which Python keeps
as the surrogate ``'\\udce9'``) would fail deep inside them with a
``UnicodeEncodeError``. That is every input GDAL reads (the bands, DEM and AOI
of ``predict``, the prepared areas of ``train`` and ``evaluate``, and the area
and experiment files, whose relative paths start in their directory), the
outputs of ``predict`` and ``demo`` (its experiment file lists the areas'
paths), and the experiment of ``report`` (its name is the title). It is
refused as the command line is parsed instead, naming the option. The other
paths keep ``click.Path``: any name works there (run directories, L4S patches,
the outputs written through temporary names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


class UTF8Path(click.Path):
    """``click.Path`` that gives a :class:`~pathlib.Path` and refuses a name that is not
    valid UTF-8 (a usage error, exit code 2)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = os.fspath(value)
        if isinstance(name, str) and not _is_utf8(name):
            shown = os.fsencode(name).decode("utf-8", "backslashreplace")
            self.fail(
                f"the name '{shown}' is not valid UTF-8; rename it, or choose a UTF-8 name "
                "(GDAL reads and writes UTF-8 names only)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def _is_utf8(name: str) -> bool:
    """Whether ``name`` (as Python decoded it from the command line) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
