"""What a process needs from its surroundings before paddle loads: sane environment variables and a cache folder.

Paddle reads several environment variables with a bare ``int()``, some while it
imports and some at the first optimiser step, and creates
``~/.cache/paddle/dataset`` while it imports. Junk in one of those variables, or a
``~/.cache`` that cannot be written, would end a tool in a traceback from inside
paddle. :func:`check` names the variable instead; :func:`paddle_cache_fallback`
lets paddle load with its cache in a private temporary folder.

Nothing here imports paddle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from typing import Iterator, Mapping

from .config import path_problem, shown
from .cpu_tuning import MALLOC_VARIABLES, usable_cores
from .errors import UserError

log = logging.getLogger(__name__)

# variable -> (smallest value, what it is): whole numbers paddle or this package parse with int()
WHOLE_NUMBERS = {
    "PADDLE_TRAINERS_NUM": (1, "the number of launched processes"),
    "PADDLE_TRAINER_ID": (0, "this process's rank"),
    "PADDLE_PG_TIMEOUT": (1, "paddle's collective timeout in milliseconds"),
    "FLAGS_nccl_nrings": (1, "paddle's number of NCCL rings"),
    **{name: (0, "a number of bytes for glibc's malloc") for name in MALLOC_VARIABLES},
}
LAUNCHER = "paddle.distributed.launch sets it for the processes it starts; unset it otherwise"
CPU_TUNING = "PADDLE_DCGAN_CPU_TUNING"  # 0 = paddle_dcgan.tune_cpu() changes nothing (cpu_tuning.py)
PATHS = ("PADDLE_DCGAN_ONEDNN_TUNING", "ONEDNN_INCLUDE")  # files and folders the kernels look at


def most_threads() -> int:
    """The most OpenMP threads a process may ask for: far beyond any use (threads beyond the cores only wait
    their turn), and far below what makes the OpenMP runtime fail to start them (it aborts at 100,000)."""
    return max(1024, 16 * usable_cores())


def _whole_number(name: str, value: str, smallest: int, what: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) < smallest:  # isdigit: no sign, so negative numbers are refused here
        raise UserError(f"environment variable {name}={shown(value)} is not {what} (a whole number >= {smallest}); "
                        f"fix it or unset it")
    return int(text)


def check(environ: Mapping[str, str] = os.environ) -> None:
    """A UserError naming the first environment variable that paddle or this package could not use.

    Checked: the launch variables (whole numbers, a rank below the process count,
    and, for several processes, a rank and a master address), ``FLAGS_selected_gpus``,
    ``OMP_NUM_THREADS``, glibc's malloc thresholds, ``PADDLE_DCGAN_CPU_TUNING`` and
    the paths the kernels read. Call it before paddle is imported.
    """
    numbers = {name: _whole_number(name, environ[name], *rule) for name, rule in WHOLE_NUMBERS.items()
               if name in environ}
    processes = numbers.get("PADDLE_TRAINERS_NUM", 1)
    if processes > 1 and "PADDLE_TRAINER_ID" not in environ:
        raise UserError(f"environment variable PADDLE_TRAINERS_NUM={processes} but PADDLE_TRAINER_ID is not set; "
                        f"{LAUNCHER}")
    if numbers.get("PADDLE_TRAINER_ID", 0) >= processes:
        count = environ.get("PADDLE_TRAINERS_NUM", "1 (unset)")
        raise UserError(f"environment variable PADDLE_TRAINER_ID={numbers['PADDLE_TRAINER_ID']} is not below "
                        f"PADDLE_TRAINERS_NUM={count}, the number of processes; {LAUNCHER}")
    # where paddle finds the first process: MASTER_ADDR and MASTER_PORT, PADDLE_MASTER, or the endpoint list
    # (in the environment, or in the file PADDLE_BACKUP_ENV_PATH names)
    masters = (environ.get("MASTER_ADDR") and environ.get("MASTER_PORT"), environ.get("PADDLE_MASTER"),
               environ.get("PADDLE_TRAINER_ENDPOINTS"), environ.get("PADDLE_BACKUP_ENV_PATH"))
    if processes > 1 and not any(masters):
        raise UserError(f"environment variable PADDLE_TRAINERS_NUM={processes} but no master address is set "
                        f"(PADDLE_MASTER, PADDLE_TRAINER_ENDPOINTS, or MASTER_ADDR and MASTER_PORT); {LAUNCHER}")
    gpus = environ.get("FLAGS_selected_gpus", "")
    if gpus and not all(part.strip().isdigit() for part in gpus.split(",")):
        raise UserError(f"environment variable FLAGS_selected_gpus={shown(gpus)} is not a list of GPU numbers "
                        "(e.g. 0 or 0,1); fix it or unset it")
    threads = environ.get("OMP_NUM_THREADS")
    if threads is not None:
        most = most_threads()
        if not all(part.strip().isdigit() and 1 <= int(part) <= most for part in threads.split(",")):
            raise UserError(f"environment variable OMP_NUM_THREADS={shown(threads)} is not a number of threads from "
                            f"1 to {most:,}; set it to at most the {usable_cores()} cores here, or unset it "
                            "(paddle_dcgan.tune_cpu then uses every core)")
    if environ.get(CPU_TUNING, "1") not in ("0", "1"):
        raise UserError(f"environment variable {CPU_TUNING}={shown(environ[CPU_TUNING])} is neither 0 (paddle's own "
                        "thread settings) nor 1 (tuned, the default); set one of those or unset it")
    for name in PATHS:
        problem = path_problem(environ.get(name, ""))
        if problem:
            raise UserError(f"environment variable {name}={shown(environ[name])} {problem}")


def _paddle_home() -> str:
    """The folder paddle puts its ``.cache`` in: the home folder, or the temporary folder where that cannot be
    written (paddle's own rule, in paddle/dataset/common.py)."""
    home = os.path.expanduser("~")
    return home if os.access(home, os.W_OK) else tempfile.gettempdir()


def _creatable(folder: str) -> str | None:
    """None when ``folder`` exists or could be created, else why not (the system's words)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


@contextlib.contextmanager
def paddle_cache_fallback() -> Iterator[None]:
    """Around ``import paddle``: where paddle cannot create its cache folder, point it at a private one.

    Paddle creates ``<home>/.cache/paddle/dataset`` while it imports and fails with an
    OSError when it cannot (a read-only ``~/.cache``). The import then runs with
    ``HOME`` set to ``<temp>/paddle_dcgan-<uid>``, a folder this user owns, and a log line
    says so; paddle keeps the folders it computed there for the rest of the process
    (datasets it downloads land in it). ``HOME`` is restored afterwards. Where no
    such folder can be had either, the UserError says how to fix the cache.
    """
    home = _paddle_home()
    cache = os.path.join(home, ".cache", "paddle", "dataset")
    why = _creatable(cache)
    if why is None:
        yield
        return
    try:
        fallback = os.path.join(tempfile.gettempdir(), f"paddle_dcgan-{os.getuid()}")
        os.makedirs(fallback, mode=0o700, exist_ok=True)
        info = os.lstat(fallback)
        owned = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
        fallback_why = None if owned else "it belongs to another user"
    except OSError as exc:  # gettempdir raises FileNotFoundError when no temporary folder is usable
        fallback, fallback_why = "a temporary folder", exc.strerror or str(exc)
    fallback_why = fallback_why or _creatable(os.path.join(fallback, ".cache", "paddle", "dataset"))
    if fallback_why is not None:
        raise UserError(f"paddle creates {cache} when it loads and cannot ({why}), nor in {fallback} "
                        f"({fallback_why}); make {os.path.join(home, '.cache')} writable, or set HOME to a "
                        "writable folder")
    log.warning("paddle cannot create %s (%s): its cache is %s for this process (datasets it downloads go there); "
                "make %s writable to keep them", cache, why, os.path.join(fallback, ".cache", "paddle"),
                os.path.join(home, ".cache"))
    before = os.environ.get("HOME")
    os.environ["HOME"] = fallback
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = before
