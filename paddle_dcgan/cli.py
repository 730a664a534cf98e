"""What the thin scripts in tools/ share: argument conventions, error handling, signals.

A tool's contract: bad input is one ``error:`` line on stderr and exit code 2;
Ctrl-C or SIGTERM at any moment after the tool's code starts exits 130 without a
traceback; output to a pipe whose reader has gone (``| head -1``) ends quietly
with exit code 141, as if by SIGPIPE. Importing this module does not import
paddle: :func:`start_paddle` does, after :func:`paddle_dcgan.tune_cpu`.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
from typing import Callable

from . import environment
from .config import path_problem, shown
from .cpu_tuning import tune_cpu
from .errors import UserError
from .training.interrupt import TrainingStopped
from .logs import setup_logging


def path(text: str) -> str:
    """An argparse ``type`` for every file or folder argument: one the system cannot name (a NUL byte, a name over
    255 bytes) is argparse's one-line error naming the argument, not an exception where the path is opened."""
    problem = path_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{shown(text)} {problem}")
    return text


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """PaddleClas/PaddleGAN style ``-c FILE -o a.b=1 -o c=2`` (or ``-o a.b=1 c=2``)."""
    parser.add_argument("-c", "--config", type=path, help="YAML config file, e.g. configs/dcgan.yaml "
                                               "(default: the built-in defaults, which that file restates)")
    parser.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. -o train.epochs=5 model.ngf=32 (repeatable)")


def overrides(args: argparse.Namespace) -> list[str]:
    return [item for group in args.override for item in group]


def add_generator_args(parser: argparse.ArgumentParser, device: bool = True) -> None:
    """``--run`` / ``--checkpoint`` (/ ``--device``): which trained generator to use (and where)."""
    parser.add_argument("--run", type=path, default="output/dcgan",
                        help="run folder (uses its generator.pdparams, else its newest checkpoint)")
    parser.add_argument("--checkpoint", type=path, help="a generator.pdparams or .pdckpt file; overrides --run")
    parser.add_argument("--pretrained", action="store_true",
                        help="the generator that ships in the package (no training needed); overrides --run")
    if device:
        parser.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N")


def output_folder(args: argparse.Namespace, name: str) -> str | None:
    """``--out``; for ``--pretrained``, whose file lives inside the package, ``output/pretrained/<name>`` in the
    working folder; else None (the tool's default: a folder of the run)."""
    if getattr(args, "out", None):
        return args.out
    return f"output/pretrained/{name}" if getattr(args, "pretrained", False) else None


def generator_source(args: argparse.Namespace) -> str:
    if getattr(args, "pretrained", False):
        from .sampling.load import PRETRAINED

        return str(PRETRAINED)
    return args.checkpoint or args.run


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[minimum, maximum]``; outside it is argparse's one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum:,}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value:,}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2, like ours
        raise UserError(f"{message} (see --help)")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the docstring's layout; shows a default only where there is one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if not (default is None or default is False or default == [] or default == argparse.SUPPRESS) \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def parser(description: str) -> argparse.ArgumentParser:
    return _Parser(description=description, formatter_class=_Help)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    """True for a KeyboardInterrupt, or an error raised because of one (paddle's core, interrupted
    while it loads, raises ImportError from it)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def start_paddle() -> str:
    """:func:`paddle_dcgan.tune_cpu`, then import paddle with SIGINT and SIGTERM held; every tool calls it first.

    While paddle's C++ core loads, a Ctrl-C turns into an ImportError with a
    traceback, and the core installs a SIGTERM handler of its own that reports a
    crash. Held until paddle is loaded and the tool's handlers are back in place, a
    signal sent meanwhile stops the tool then, with exit code 130. Returns tune_cpu's summary.
    """
    environment.check()  # junk in a variable paddle parses would be a traceback from inside paddle
    signals = {signal.SIGINT, signal.SIGTERM}
    handlers = {sig: signal.getsignal(sig) for sig in signals}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        with environment.paddle_cache_fallback():
            summary = tune_cpu()
            import paddle  # noqa: F401  (already imported by tune_cpu unless PADDLE_DCGAN_CPU_TUNING=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    return summary


def _reader_gone() -> bool:
    """Whether stdout or stderr is a pipe whose reading end was closed (poll reports POLLERR for it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor, or closed
            continue
        poller = select.poll()
        poller.register(fd, 0)  # no events asked for: errors and hang-ups are always reported
        if any(events & select.POLLERR for _, events in poller.poll(0)):
            return True
    return False


def _end_quietly(code: int) -> None:
    """Exit with ``code``, output dropped: Python's flush of stdout at exit would report the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, OSError, ValueError):
            pass
    sys.exit(code)


def _reopen_closed_streams() -> None:
    """Put /dev/null on a standard stream the caller closed (``>&-``), and give Python a stream object for it.

    A closed descriptor 0, 1 or 2 is taken by the next file opened, and whatever
    is printed then, by Python or by paddle's C++ code, lands in that file (a
    checkpoint being written, say); Python itself sets ``sys.stdout`` to None.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: ``fd`` unless a lower one was closed
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))


def _check_working_folder() -> None:
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UserError("the current folder no longer exists (it was deleted or moved away); cd into an existing "
                        "folder and run again") from None


def run(main: Callable[[], None]) -> None:
    """Run ``main``; a UserError becomes one line on stderr and exit code 2, Ctrl-C or SIGTERM exit 130, and a
    closed output pipe exit 141 without a word."""
    _reopen_closed_streams()
    setup_logging()
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C (Python's default turns SIGINT into KeyboardInterrupt)
    try:
        try:
            _check_working_folder()
            main()
            sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
    except BrokenPipeError as exc:
        if not _reader_gone():
            raise
        failed = isinstance(exc.__context__, UserError)  # the error line itself met the closed pipe
        _end_quietly(2 if failed else 128 + signal.SIGPIPE)
    except BaseException as exc:
        if not _caused_by_interrupt(exc):
            raise
        if not isinstance(exc, TrainingStopped):
            logging.getLogger("paddle_dcgan").warning("interrupted")
        sys.exit(130)
