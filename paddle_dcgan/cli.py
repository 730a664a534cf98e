"""What the thin scripts in tools/ share: argument conventions, error handling, signals.

A tool's contract: bad input is one ``error:`` line on stderr and exit code 2;
Ctrl-C or SIGTERM at any moment after the tool's code starts exits 130 without a
traceback. Importing this module does not import paddle: :func:`start_paddle`
does, after :func:`paddle_dcgan.tune_cpu`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable

from .cpu_tuning import tune_cpu
from .errors import UserError
from .training.interrupt import TrainingStopped
from .logs import setup_logging


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """PaddleClas/PaddleGAN style ``-c FILE -o a.b=1 -o c=2`` (or ``-o a.b=1 c=2``)."""
    parser.add_argument("-c", "--config", help="YAML config file, e.g. configs/dcgan.yaml "
                                               "(default: the built-in defaults, which that file restates)")
    parser.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. -o train.epochs=5 model.ngf=32 (repeatable)")


def overrides(args: argparse.Namespace) -> list[str]:
    return [item for group in args.override for item in group]


def add_generator_args(parser: argparse.ArgumentParser, device: bool = True) -> None:
    """``--run`` / ``--checkpoint`` (/ ``--device``): which trained generator to use (and where)."""
    parser.add_argument("--run", default="output/dcgan",
                        help="run folder (uses its generator.pdparams, else its newest checkpoint)")
    parser.add_argument("--checkpoint", help="a generator.pdparams or .pdckpt file; overrides --run")
    parser.add_argument("--pretrained", action="store_true",
                        help="the generator that ships in the package (no training needed); overrides --run")
    if device:
        parser.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N")


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
    signals = {signal.SIGINT, signal.SIGTERM}
    handlers = {sig: signal.getsignal(sig) for sig in signals}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        summary = tune_cpu()
        import paddle  # noqa: F401  (already imported by tune_cpu unless PADDLE_DCGAN_CPU_TUNING=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    return summary


def run(main: Callable[[], None]) -> None:
    """Run ``main``; a UserError becomes one line on stderr and exit code 2, Ctrl-C or SIGTERM exit 130."""
    setup_logging()
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C (Python's default turns SIGINT into KeyboardInterrupt)
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except BaseException as exc:
        if not _caused_by_interrupt(exc):
            raise
        if not isinstance(exc, TrainingStopped):
            logging.getLogger("paddle_dcgan").warning("interrupted")
        sys.exit(130)
