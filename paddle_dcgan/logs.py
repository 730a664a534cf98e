"""The package's log lines: one format, on stderr, and into a run's train.log while it trains."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

LOGGER = "paddle_dcgan"
FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")


def setup_logging(level: int = logging.INFO) -> None:
    """Plain log lines on stderr for the package's logger (idempotent; other loggers untouched)."""
    root = logging.getLogger(LOGGER)
    root.setLevel(level)
    if not any(getattr(h, "_paddle_dcgan", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(FORMAT)
        handler._paddle_dcgan = True
        root.addHandler(handler)
    root.propagate = False


@contextlib.contextmanager
def log_to_file(path: Path):
    """Also write the package's log lines to ``path`` inside the block (appending: a resumed run keeps one log)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(FORMAT)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
