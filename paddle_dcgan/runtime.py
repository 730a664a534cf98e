"""Process set-up that must happen before ``import paddle``, and device selection.

Paddle reads its threading and MKL settings from the environment once, when it
is first imported. :func:`configure_cpu_env` therefore runs from
``paddle_dcgan/__init__.py`` before any module of the package imports paddle.
Nothing in this module imports paddle at module level.
"""

from __future__ import annotations

import os
import sys
import warnings

from .errors import UserError

# What configure_cpu_env decided, for the start-of-run log line and the benchmark.
APPLIED: dict[str, str] = {}
SKIPPED: dict[str, str] = {}


def _cpu_vendor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_cpu_env(environ=os.environ) -> None:
    """Fill in CPU speed settings the user has not chosen, and quiet paddle's import.

    - ``OMP_NUM_THREADS``: paddle runs on one thread unless told otherwise; use
      every core this process may run on.
    - ``MKL_DEBUG_CPU_TYPE=5`` on AMD CPUs only: the MKL bundled with paddle takes
      a generic slow path on non-Intel CPUs; 5 selects its AVX2 kernels. On Intel
      CPUs with AVX-512 it would be a slowdown, so it is never set there.
    - ``GLOG_minloglevel=2``: hide paddle's C++ info/warning log lines.

    A variable already present in the environment is left alone, and
    ``PADDLE_DCGAN_CPU_TUNING=0`` turns the thread/MKL choices off altogether
    (the benchmark uses it to measure paddle as installed).
    """
    warnings.filterwarnings("ignore", message=".*ccache.*")
    # BatchNorm warns on every training forward that it tracks running stats: that is intended here.
    warnings.filterwarnings("ignore", message="When training, we now always track")
    if environ.get("PADDLE_DCGAN_CPU_TUNING", "1") == "0":
        environ.setdefault("GLOG_minloglevel", "2")
        SKIPPED["PADDLE_DCGAN_CPU_TUNING"] = "0"
        return
    wanted = {
        "OMP_NUM_THREADS": str(usable_cores()),
        "GLOG_minloglevel": "2",
    }
    if _cpu_vendor() == "AuthenticAMD":
        wanted["MKL_DEBUG_CPU_TYPE"] = "5"
    for key, value in wanted.items():
        if key in environ:
            SKIPPED[key] = environ[key]
        elif "paddle" in sys.modules:
            SKIPPED[key] = "paddle was imported first"
        else:
            environ[key] = value
            APPLIED[key] = value


def import_paddle_quietly() -> None:
    """Import paddle once, dropping the stderr banner it prints when OMP_NUM_THREADS > 1.

    The banner warns about data-parallel training, which this project does not do;
    anything else paddle prints during import is passed through.
    """
    if "paddle" in sys.modules:
        return
    import contextlib
    import io

    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        import paddle  # noqa: F401
    for line in captured.getvalue().splitlines():
        if "OMP_NUM_THREADS" not in line:
            print(line, file=sys.stderr)


def describe_cpu_env() -> str:
    """One line saying which CPU settings this process uses and who chose them."""
    if "PADDLE_DCGAN_CPU_TUNING" in SKIPPED:
        return "CPU tuning off (PADDLE_DCGAN_CPU_TUNING=0): paddle's own thread and MKL defaults"
    parts = [f"{k}={v} (set by paddle_dcgan)" for k, v in APPLIED.items() if k != "GLOG_minloglevel"]
    parts += [f"{k}={v} (yours)" for k, v in SKIPPED.items() if k != "GLOG_minloglevel"]
    return ", ".join(parts) or "no CPU settings applied"


def select_device(request: str) -> str:
    """Apply ``request`` (auto | cpu | gpu | gpu:N) with paddle.set_device.

    Returns a description of the device now in use, e.g. ``"cpu (auto: this
    paddle build has no CUDA support)"``, for the caller's start-up line. An
    explicit GPU request that cannot be met is a :class:`UserError`.
    """
    import paddle

    has_cuda = paddle.device.is_compiled_with_cuda()
    count = paddle.device.cuda.device_count() if has_cuda else 0
    if request == "auto":
        if count > 0:
            paddle.set_device("gpu:0")
            return "gpu:0 (auto)"
        why = "this paddle build has no CUDA support" if not has_cuda else "no GPU is visible"
        paddle.set_device("cpu")
        return f"cpu (auto: {why})"
    if request == "cpu":
        paddle.set_device("cpu")
        return "cpu"
    index = 0 if request == "gpu" else int(request.split(":", 1)[1])
    if not has_cuda:
        raise UserError(
            f"device={request}: the installed paddlepaddle is a CPU-only build; "
            "install a CUDA build (paddlepaddle-gpu) or use -o device=cpu (or auto)"
        )
    if index >= count:
        raise UserError(
            f"device={request}: only {count} GPU(s) visible; use gpu:0..gpu:{count - 1}, cpu or auto"
        )
    paddle.set_device(f"gpu:{index}")
    return f"gpu:{index}"
