"""CPU speed settings that only work if they are made before ``import paddle``.

Paddle reads its threading and MKL settings from the environment once, when it
is first imported, and on its own uses a single thread. :func:`tune_cpu` fills
in better settings and then imports paddle, so that they are in force. It is an
explicit call, never an import side effect: the tools in ``tools/`` make it as
their first statement, and a notebook makes it before anything else::

    import paddle_dcgan
    paddle_dcgan.tune_cpu()   # about 3x faster training on CPU (docs/performance.md)

Called after paddle was imported it changes nothing and says so.
Nothing in this module imports paddle at module level.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import sys
import warnings

log = logging.getLogger(__name__)

# What the last tune_cpu() call decided: variable -> (value, who chose it).
_DECISIONS: dict[str, tuple[str, str]] = {}
_STATE = {"called": False, "too_late": False, "off": False}


def cpu_info(key: str) -> str:
    """The first value of ``key`` in /proc/cpuinfo ("vendor_id", "model name", ...); "" where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def bfloat16_isa(flags: str | None = None) -> str:
    """The CPU's instructions for bfloat16 products ("AMX", "AVX512_BF16"), "" where it has none
    (``flags``: the ``flags`` line of /proc/cpuinfo; read when None)."""
    have = set((cpu_info("flags") if flags is None else flags).split())
    return "AMX" if "amx_bf16" in have else "AVX512_BF16" if "avx512_bf16" in have else ""


def _cpu_vendor() -> str:
    return cpu_info("vendor_id")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def wanted_settings() -> dict[str, str]:
    """The environment :func:`tune_cpu` would set on this machine.

    - ``OMP_NUM_THREADS``: every core this process may run on (paddle forces 1 when unset).
    - ``MKL_DEBUG_CPU_TYPE=5`` on AMD CPUs only: the MKL bundled with paddle takes a
      generic slow path on non-Intel CPUs; 5 selects its AVX2 kernels. On Intel CPUs
      with AVX-512 it would be a slowdown, so it is never set there.
    - ``GOMP_SPINCOUNT=0``: the GNU OpenMP threads of oneDNN and of paddle_dcgan's kernels (paddle_dcgan/kernels)
      go to sleep at the end of a parallel region instead of spinning for a while; a spinning thread
      holds on to a core the next operator's threads (MKL's own OpenMP runtime) are waiting for
      (docs/performance.md).
    - ``GLOG_minloglevel=2``: hide paddle's C++ info and warning log lines.
    """
    wanted = {"OMP_NUM_THREADS": str(usable_cores()), "GOMP_SPINCOUNT": "0", "GLOG_minloglevel": "2"}
    if _cpu_vendor() == "AuthenticAMD":
        wanted["MKL_DEBUG_CPU_TYPE"] = "5"
    return wanted


def tune_cpu(environ=os.environ) -> str:
    """Set the CPU settings of :func:`wanted_settings` the user has not set, then import paddle.

    A variable already in the environment is left alone. ``PADDLE_DCGAN_CPU_TUNING=0``
    turns the call into a no-op (the benchmark uses it to measure paddle as installed).
    Paddle's import-time noise (a ccache warning, a banner about OMP_NUM_THREADS) is
    dropped. Returns :func:`describe`'s one-line summary.
    """
    _STATE["called"] = True
    if environ.get("PADDLE_DCGAN_CPU_TUNING", "1") == "0":
        _STATE["off"] = True
        return describe()
    if "paddle" in sys.modules:
        _STATE["too_late"] = True
        log.warning("tune_cpu() came after paddle was imported: paddle keeps its own thread settings; call "
                    "paddle_dcgan.tune_cpu() first thing (restart the notebook kernel) for ~3x faster training")
        return describe()
    for key, value in wanted_settings().items():
        if key in environ:
            _DECISIONS[key] = (environ[key], "yours")
        else:
            environ[key] = value
            _DECISIONS[key] = (value, "set by paddle_dcgan.tune_cpu")
    if any(key in environ for key in MALLOC_VARIABLES):
        _DECISIONS["malloc"] = ("glibc's settings", "yours")
    elif keep_freed_memory():
        _DECISIONS["malloc"] = ("keeps freed memory", "set by paddle_dcgan.tune_cpu")
    _import_paddle_quietly()
    return describe()


MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for the next allocation, in this process (True if it could).

    By default glibc maps every block over 128 KB afresh from the kernel and unmaps it when freed,
    and gives back freed heap memory over 128 KB: each of the step's activation tensors (6.4 MB at
    batch 128) then costs some 1,600 page faults, and the kernel zeroes every page: most of the time
    of paddle's elementwise operators here (docs/performance.md). Blocks up to 32 MB now come from
    the heap, and up to 1 GB of free heap is kept. Same as setting MALLOC_MMAP_THRESHOLD_ /
    MALLOC_TRIM_THRESHOLD_ before Python starts; where either is set, the user's choice stands.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def _import_paddle_quietly() -> None:
    """Import paddle, dropping its ccache warning and its stderr banner about OMP_NUM_THREADS > 1
    (it warns about data-parallel training); anything else it prints passes through."""
    captured = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(captured):
        warnings.filterwarnings("ignore", message=".*ccache.*")
        import paddle  # noqa: F401
    for line in captured.getvalue().splitlines():
        if "OMP_NUM_THREADS" not in line:
            print(line, file=sys.stderr)


def describe() -> str:
    """One line saying which CPU settings this process uses and who chose them."""
    if _STATE["off"]:
        return "CPU tuning off (PADDLE_DCGAN_CPU_TUNING=0): paddle's own thread and MKL defaults"
    if _STATE["too_late"]:
        return "CPU tuning came too late (paddle was imported first): paddle's own thread and MKL defaults"
    if not _STATE["called"]:
        return "CPU tuning not applied (call paddle_dcgan.tune_cpu() before paddle is imported: ~3x faster)"
    parts = [f"{k}={v} ({who})" for k, (v, who) in _DECISIONS.items() if k != "GLOG_minloglevel"]
    return ", ".join(parts)
