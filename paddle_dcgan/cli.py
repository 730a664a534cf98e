"""What the thin scripts in tools/ share: argument conventions and error handling.

Importing this module does not import paddle, so a tool can import it before
calling :func:`paddle_dcgan.tune_cpu`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from .errors import UserError
from .interrupt import TrainingStopped
from .logs import setup_logging


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """PaddleClas/PaddleGAN style ``-c FILE -o a.b=1 -o c=2`` (or ``-o a.b=1 c=2``)."""
    parser.add_argument("-c", "--config", help="YAML config file, e.g. configs/dcgan.yaml "
                                               "(default: the built-in defaults, which that file restates)")
    parser.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. -o train.epochs=5 model.ngf=32 (repeatable)")


def overrides(args: argparse.Namespace) -> list[str]:
    return [item for group in args.override for item in group]


def add_generator_args(parser: argparse.ArgumentParser) -> None:
    """``--run`` / ``--checkpoint`` / ``--device``: which trained generator to use, and where."""
    parser.add_argument("--run", default="output/dcgan",
                        help="run folder (uses its generator.pdparams, else its newest checkpoint)")
    parser.add_argument("--checkpoint", help="a generator.pdparams or .pdckpt file; overrides --run")
    parser.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N")


def generator_source(args: argparse.Namespace) -> str:
    return args.checkpoint or args.run


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


def run(main: Callable[[], None]) -> None:
    """Run ``main``; a UserError becomes one line on stderr and exit code 2, Ctrl-C exit 130."""
    setup_logging()
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        if not isinstance(exc, TrainingStopped):
            logging.getLogger("paddle_dcgan").warning("interrupted")
        sys.exit(130)
