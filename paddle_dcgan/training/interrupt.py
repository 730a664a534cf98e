"""Ctrl-C and SIGTERM during training: finish the step, save, then stop."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class TrainingStopped(KeyboardInterrupt):
    """Raised after a Ctrl-C/SIGTERM stop has saved its checkpoint."""


class StopRequest:
    """Turns the first Ctrl-C (or SIGTERM) into a request the loop honours after its step.

    Stopping between steps, never inside one, means the checkpoint written on the
    way out holds a consistent state (D and G updated the same number of times).
    A second Ctrl-C aborts at once without saving.
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stop requested: saving a checkpoint after this step (Ctrl-C again to abort without saving)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
