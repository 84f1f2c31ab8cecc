"""Ctrl-C while the model loads: leave at once instead of unwinding through half-done imports.

Loading imports torch/transformers lazily and reads weights for seconds to minutes. A KeyboardInterrupt
raised in the middle of an import leaves that module half-initialised: the unwinding then fails with an
unrelated error (a RecursionError inside numpy, "Could not import module 'LlamaConfig'") or hangs on an
import lock, and the user never sees the one-line "interrupted" message. Nothing is computed while
loading (the journal holds only finished problems, each flushed as it was written), so the safe answer to
Ctrl-C there is: run the caller's clean-up, print the line, and exit with 130 without unwinding.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable

from .errors import UserError, error_line


@contextmanager
def exit_on_ctrl_c(clean_up: Callable[[], UserError]):
    """Within the block, Ctrl-C calls `clean_up` (which returns the error to report) and exits at once."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield
        return

    def leave(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        error = clean_up()
        print(error_line(error), file=sys.stderr, flush=True)
        os._exit(error.exit_code)

    previous = signal.signal(signal.SIGINT, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def sigterm_as_ctrl_c():
    """Within the block, SIGTERM (`kill PID`, a scheduler's time limit) does what Ctrl-C does at that moment:
    while loading, leave at once; while generating, stop, keep every finished problem, say how to go on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job): stop as Ctrl-C would
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
