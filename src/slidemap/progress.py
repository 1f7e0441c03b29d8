"""Progress bars that follow the command line's ``--quiet`` and the terminal.

A bar is shown only when stderr is a terminal and the ``slidemap`` logger is
enabled for INFO (``--quiet`` raises it to WARNING), so tests, CI logs and
pipes stay clean without every function taking a ``quiet`` argument.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

log = logging.getLogger("slidemap")


def bars_enabled() -> bool:
    """Whether progress bars are shown (stderr is a TTY and not ``--quiet``)."""
    return log.isEnabledFor(logging.INFO) and sys.stderr.isatty()


def bar(
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    unit_scale: bool | float = False,
) -> tqdm:
    """A tqdm bar on stderr, disabled when bars are off; use as a context manager."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        disable=not bars_enabled(),
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )


def track(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (see :func:`bar`)."""
    with bar(total=total, desc=desc, unit=unit) as b:
        for item in items:
            yield item
            b.update(1)
