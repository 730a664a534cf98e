"""Log set-up, a terminal progress bar, and the Ctrl-C flag of the training loop."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATEFMT = "%H:%M:%S"


def setup_logging(level: int = logging.INFO) -> None:
    """Plain log lines on stderr for the package (idempotent)."""
    root = logging.getLogger("paddle_dcgan")
    root.setLevel(level)
    if not any(getattr(h, "_paddle_dcgan", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        handler._paddle_dcgan = True
        root.addHandler(handler)
    root.propagate = False


def add_log_file(path: Path) -> logging.Handler:
    """Also write the package's log lines to ``path`` (appending, so resumed runs keep one log)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.getLogger("paddle_dcgan").addHandler(handler)
    return handler


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressBar:
    """One self-rewriting line on a terminal; silent when stdout is a file or pipe."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stdout
        self.enabled = self.stream.isatty()
        self.width = width

    def update(self, done: int, total: int, text: str) -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {text}\033[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


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
        logging.getLogger("paddle_dcgan").warning(
            "stop requested: saving a checkpoint after this step (Ctrl-C again to abort without saving)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
