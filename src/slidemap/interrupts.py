"""Ctrl-C during calls into code that would swallow it.

``openvino.convert_model`` runs Python code of its PyTorch frontend from C++
while it converts a network. A ``KeyboardInterrupt`` raised in there becomes a
C++ error: the converter then reports a failed conversion
(``OpConversionFailure … prim::GetAttr``), or tries another way and carries
on, and the command ends with a traceback or runs to its end instead of
stopping. ``torch.onnx.export`` lets it through, but out of the middle of its
C++ tracer. :func:`interrupt_after`
holds Ctrl-C for the few seconds of such a call and raises it once the call
returns, so the command stops as it does anywhere else (``slidemap: aborted``,
exit code 130, no partial output).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Defer SIGINT until the block ends, then raise ``KeyboardInterrupt`` if one came.

    Outside the main thread (where Python cannot set signal handlers), or where
    SIGINT is ignored (a shell's background job), the block runs as it is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    ):
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt
