"""Ctrl-C during a run: an exception Lightning does not swallow.

Lightning's Trainer catches KeyboardInterrupt itself, tears down and calls `sys.exit(1)`
(lightning/pytorch/trainer/call.py, `_call_and_handle_interrupt`), so the CLI never saw the
interrupt: exit status 1 and no message. While a command trains, SIGINT raises `Interrupted`
instead, which is not a KeyboardInterrupt: Lightning's generic branch tears down and re-raises
it, and `vaebench.cli.main` prints that finished runs are kept and exits 130.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) while a command was running runs."""


@contextmanager
def sigint_raises_interrupted():
    """Within the block, SIGINT raises `Interrupted`; a second Ctrl-C gets the previous handler."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield  # handlers live in the main thread; a job started with SIGINT ignored keeps ignoring it
        return

    def handler(signum, frame):
        signal.signal(signal.SIGINT, previous)
        raise Interrupted()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
