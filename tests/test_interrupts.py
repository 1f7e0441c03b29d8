"""Ctrl-C during model conversion stops the command instead of being swallowed."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from slidemap.backends import OnnxBackend, OpenVinoBackend
from slidemap.interrupts import interrupt_after
from slidemap.models import build_model


def test_ctrl_c_inside_the_block_is_raised_once_the_block_is_done() -> None:
    handler = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt), interrupt_after():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the rest of the block ran")
    assert done == ["the rest of the block ran"]
    assert signal.getsignal(signal.SIGINT) is handler


def test_without_ctrl_c_the_block_runs_as_it_is() -> None:
    with interrupt_after():
        value = 1 + 1
    assert value == 2


def test_outside_the_main_thread_nothing_is_changed() -> None:
    seen = []

    def work() -> None:
        with interrupt_after():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT)]


def conversion_seconds(backend: type) -> float:
    start = time.perf_counter()
    backend(build_model("unet", 5), 5)
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("backend", [OpenVinoBackend, OnnxBackend], ids=["openvino", "onnx"])
def test_ctrl_c_at_any_moment_of_building_a_backend_stops_it(backend: type) -> None:
    """A Ctrl-C that lands anywhere in the conversion (tracing, the converter's own Python
    callbacks) comes out as KeyboardInterrupt, never as a failed conversion or not at all."""
    seconds = conversion_seconds(backend)
    for share in (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85):
        timer = threading.Timer(share * seconds, os.kill, (os.getpid(), signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            timer.start()
            backend(build_model("unet", 5), 5)
            time.sleep(2 * seconds)  # a Ctrl-C after the conversion lands here
        timer.join()
