"""Ctrl-C and SIGTERM: stopping a command cleanly, also during calls that would swallow them.

A command stops on Ctrl-C (SIGINT: ``KeyboardInterrupt``) and, while
:func:`terminate_as_interrupt` is in effect (the whole command line), on SIGTERM
(``kill``, ``timeout``, a batch scheduler's time limit: :class:`Terminated`) the
same way: temporaries removed, no partial output, ``slidemap: interrupted`` or
``aborted`` (exit 130) or ``slidemap: terminated`` (exit 143). Without it,
SIGTERM ends Python at once and leaves its temporaries behind.

``openvino.convert_model`` runs Python code of its PyTorch frontend from C++
while it converts a network. An exception raised in there becomes a C++ error:
the converter then reports a failed conversion (``OpConversionFailure …
prim::GetAttr``), or tries another way and carries on, and the command ends
with a traceback or runs to its end instead of stopping. ``torch.onnx.export``
lets it through, but out of the middle of its C++ tracer.
:func:`interrupt_after` holds both signals for the few seconds of such a call
and acts on them once the call returns.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: The signals that stop a command and that :func:`interrupt_after` holds.
STOPPING = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that everything Ctrl-C cleans up is cleaned up."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def in_main_thread() -> bool:
    """Whether this is the main thread, the only one where Python sets signal handlers."""
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM while the block runs.

    Only in the main thread (where Python handles signals) and where SIGTERM has
    its default action; an ignored SIGTERM stays ignored. The previous handler is
    back after the block.
    """
    if not in_main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Defer SIGINT and SIGTERM until the block ends, then call their handlers.

    A signal is held only where Python handles it (Ctrl-C's ``KeyboardInterrupt``,
    :func:`terminate_as_interrupt`'s :class:`Terminated`); an ignored one (a
    shell's background job ignores SIGINT) stays ignored, and one with its default
    action keeps it. The held signals' handlers are called in the order the signals
    came, each once (the first that raises ends the block with its exception).
    Outside the main thread (where Python cannot set signal handlers) the block
    runs as it is.
    """
    if not in_main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
    for sig in STOPPING:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, hold)
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
        for signum in dict.fromkeys(received):
            previous[signum](signum, None)
