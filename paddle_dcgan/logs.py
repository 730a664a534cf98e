"""The package's log lines: one format, on stderr, and into a run's train.log while it trains."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from .errors import UserError, cannot_write
from .parallel.launch import launched_rank

LOGGER = "paddle_dcgan"
FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")


def setup_logging(level: int | None = None) -> None:
    """Plain log lines on stderr for the package's logger (idempotent; other loggers untouched).

    The tools call it first; in a notebook, call ``paddle_dcgan.setup_logging()`` to see a run's progress.
    ``level`` None: INFO, or WARNING in every process but the first of a launched job (one voice per run).
    """
    if level is None:
        level = logging.INFO if launched_rank() == 0 else logging.WARNING
    root = logging.getLogger(LOGGER)
    root.setLevel(level)
    if not any(getattr(h, "_paddle_dcgan", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(FORMAT)
        handler._paddle_dcgan = True
        root.addHandler(handler)
    root.propagate = False


@contextlib.contextmanager
def holding_notices():
    """``with holding_notices() as held:`` the package's log lines inside the block are kept in ``held``, not shown.

    A start that fails its checks should print only its one ``error:`` line, not
    notices (which data, which precision) about a start that did not happen; the
    caller shows them with :func:`show_notices` once the start has succeeded.
    """
    logger, held = logging.getLogger(LOGGER), []

    def hold(record: logging.LogRecord) -> bool:
        if not held or held[-1] is not record:  # each handler sees the record once
            held.append(record)
        return False

    for handler in logger.handlers:
        handler.addFilter(hold)
    try:
        yield held
    finally:
        for handler in logger.handlers:
            handler.removeFilter(hold)


def show_notices(held: list[logging.LogRecord]) -> None:
    """Log the records :func:`holding_notices` kept back, through the handlers in place now."""
    logger = logging.getLogger(LOGGER)
    for record in held:
        logger.handle(record)


class _RunLogFile(logging.FileHandler):
    """train.log; a failed write (disk full) raises the UserError of :func:`cannot_write` from the log call.

    logging's own handling would print a traceback and carry on without the log.
    After the first failure further lines are dropped, so the error is raised once.
    """

    def __init__(self, path: Path):
        self.failed = False
        try:
            super().__init__(path, encoding="utf-8")
        except OSError as exc:
            raise cannot_write(path, exc) from None

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            return super().handleError(record)
        self.failed = True
        raise cannot_write(Path(self.baseFilename), exc) from None

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # flushing what a failed write left in the buffer; that failure was raised already
            if not self.failed:
                raise


@contextlib.contextmanager
def log_to_file(path: Path):
    """Also write the package's log lines to ``path`` inside the block (appending: a resumed run keeps one log).

    A UserError leaving the block is written there too, as the run's last line
    (on stderr it is :func:`paddle_dcgan.cli.run` that prints it).
    """
    handler = _RunLogFile(path)
    handler.setFormatter(FORMAT)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        yield
    except UserError as exc:
        if not handler.failed:
            with contextlib.suppress(UserError):
                handler.handle(logger.makeRecord(LOGGER, logging.ERROR, __file__, 0, "%s", (exc,), None))
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
