"""Building and loading the C++ kernels: oneDNN convolutions, fused BatchNorm + activation.

Paddle 3's dygraph computes Conv2D and Conv2DTranspose on CPU as im2col plus a
GEMM per image, and never reaches the oneDNN library it ships with. The DCGAN's
4x4 stride-2 layers carry most of a training step, and oneDNN runs them 1.6-1.8x
faster (docs/performance.md). ``onednn_conv.cc`` calls oneDNN for them, forward
and backward, as paddle custom operators. ``fused_norm.cc`` does each block's
BatchNorm and ReLU / LeakyReLU (and a conditional D's label maps and LeakyReLU)
in one operator per direction, on every core, where paddle runs several
single-threaded passes. :func:`load` builds both once with
``paddle.utils.cpp_extension`` (about 20 s; cached in ``~/.cache/paddle_dcgan``)
against paddle's own ``libdnnl.so.3``.

Building needs a C++ compiler and oneDNN's headers of the same minor version as
paddle's library: ``pip install --no-deps onednn-devel==2025.0.0`` for paddlepaddle 3.3's
oneDNN 3.6 (:func:`headers_hint` names the release for others). ``--no-deps``: the
package's dependencies are ~560 MB of Intel runtimes (SYCL, OpenCL) the kernels never load.

oneDNN offers several implementations of each convolution and picks the first
that applies, not always the fastest (a one-channel layer's weight gradient runs
~7x faster on its GEMM-based kernel on AVX2). The first process on a machine times
them all for each layer shape and writes the fastest to
``~/.cache/paddle_dcgan/onednn-tuning-<oneDNN version>-<cpu>.tsv``; later runs
read it, so a run and its resume compute alike bit for bit.
``PADDLE_DCGAN_ONEDNN_TUNING`` names another file (its folder must exist), or
``off`` for oneDNN's own choice; :func:`load` hands the choice to the C++ code as an
argument (``paddle_dcgan_set_tuning_file``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

from ..errors import UserError

KERNELS = Path(__file__).parent
SOURCES = (KERNELS / "onednn_conv.cc", KERNELS / "fused_norm.cc")  # and the header they share, tensors.h
# -fno-trapping-math lets the compiler vectorise the loops with a select on a sign (fused_norm.cc); it
# changes no result: nothing here traps. -march=native: the element-wise loops in this CPU's widest vectors
# (AVX-512 or AVX2: 1.3-1.6x over the SSE2 baseline); the build folder is therefore per CPU (_cache_folder).
CXXFLAGS = ("-O3", "-fopenmp", "-fno-trapping-math", "-march=native")
TUNING_VARIABLE = "PADDLE_DCGAN_ONEDNN_TUNING"  # a user's choice of tuning file, or off
# onednn-devel release -> the oneDNN version of its headers (read from each release's dnnl_version.h)
HEADER_RELEASES = {(3, 5): "2024.2.0", (3, 6): "2025.0.0", (3, 7): "2025.1.0", (3, 8): "2025.2.0", (3, 9): "2025.3.0",
                   (3, 11): "2026.0.0", (3, 13): "2026.1.0"}


def headers_hint(version: tuple[int, ...]) -> str:
    """The command that installs oneDNN's headers for paddle's oneDNN ``version`` (headers only: --no-deps, as the
    package's dependencies are ~560 MB of Intel runtimes the kernels never load)."""
    release = HEADER_RELEASES.get(tuple(version[:2]))
    if release is None:
        return f"install the headers of oneDNN {version[0]}.{version[1]} (pip install --no-deps onednn-devel==<release>)"
    return f"pip install --no-deps onednn-devel=={release}"


class KernelsUnavailable(Exception):
    """Why the oneDNN kernels cannot be used here (a sentence)."""


def _paddle_libs() -> Path:
    import paddle

    return Path(paddle.__file__).parent / "libs"


def library_path() -> Path:
    """The oneDNN library paddle ships and loads."""
    return _paddle_libs() / "libdnnl.so.3"


def library_version() -> tuple[int, int, int]:
    """The version of the oneDNN library paddle loaded (``paddle/libs/libdnnl.so.3``)."""

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                    ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint), ("gpu_runtime", ctypes.c_uint)]

    path = library_path()
    if not path.exists():
        raise KernelsUnavailable(f"this paddle build has no oneDNN library ({path} is missing)")
    lib = ctypes.CDLL(str(path))
    lib.dnnl_version.restype = ctypes.POINTER(Version)
    v = lib.dnnl_version().contents
    return v.major, v.minor, v.patch


def header_folder() -> Path | None:
    """The first include folder with oneDNN's C++ headers: $ONEDNN_INCLUDE, then this Python's include folders
    (a virtual environment's, then its base installation's, where pip puts the package's headers)."""
    candidates = [os.environ.get("ONEDNN_INCLUDE", ""), str(Path(sysconfig.get_paths()["data"]) / "include"),
                  str(Path(sys.prefix) / "include"), str(Path(sys.base_prefix) / "include")]
    for folder in filter(None, candidates):
        if (Path(folder) / "oneapi" / "dnnl" / "dnnl.hpp").exists():
            return Path(folder)
    return None


def header_version(folder: Path) -> tuple[int, int]:
    text = (folder / "oneapi" / "dnnl" / "dnnl_version.h").read_text(errors="replace")
    found = {k: int(v) for k, v in re.findall(r"#define DNNL_VERSION_(MAJOR|MINOR) (\d+)", text)}
    return found.get("MAJOR", -1), found.get("MINOR", -1)


def _cache_folder(headers: Path, version: tuple[int, int, int]) -> Path:
    import paddle

    code = b"".join(f.read_bytes() for f in sorted(KERNELS.glob("*.[ch]*")))  # sources and headers
    key = hashlib.sha256(code + f"{paddle.__version__}|{version}|{headers}|{CXXFLAGS}|{cpu_identity()}".encode())
    key = key.hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "paddle_dcgan"
    return root / f"onednn-{key}"


def cpu_identity() -> str:
    """A short hash of this CPU's model and instruction sets (/proc/cpuinfo): which machine a tuning file is for."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    first = [line for line in text.split("\n\n")[0].splitlines() if line.startswith(("model name", "flags"))]
    return hashlib.sha256("\n".join(first).encode()).hexdigest()[:12]


def tuning_file(cache_root: Path, version: tuple[int, int, int]) -> Path:
    """Where the chosen oneDNN implementations are kept: one file per oneDNN version and CPU, shared by every
    build of the kernels (an update of this project keeps the choices, and so a resume's arithmetic)."""
    return cache_root / f"onednn-tuning-{'.'.join(map(str, version))}-{cpu_identity()}.tsv"


_LOADED: dict = {}  # "module": the kernels, once loaded (paddle registers custom operators once per process)


def load():
    """Build (once) and load the kernels; returns the module with ``onednn_conv2d`` and
    ``onednn_conv2d_transpose``. Raises :class:`KernelsUnavailable` saying why not."""
    if "module" in _LOADED:
        return _LOADED["module"]
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        raise KernelsUnavailable("no C++ compiler (c++ / g++) to build them with")
    version = library_version()
    headers = header_folder()
    if headers is None:
        raise KernelsUnavailable(f"oneDNN's headers are not installed; {headers_hint(version)}")
    if header_version(headers) != version[:2]:
        raise KernelsUnavailable(f"the oneDNN headers in {headers} are version "
                                 f"{'.'.join(map(str, header_version(headers)))}, paddle's library is "
                                 f"{'.'.join(map(str, version))}; {headers_hint(version)}")
    folder = _cache_folder(headers, version)
    from ..files.io import native_output_captured

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:  # launched processes build one after the other, then reuse it
            fcntl.flock(lock, fcntl.LOCK_EX)
            with native_output_captured(1, 2) as output, contextlib.redirect_stdout(sys.stderr):
                try:
                    from paddle.utils.cpp_extension import load as build

                    libs = _paddle_libs()
                    module = build(
                        name="paddle_dcgan_onednn", sources=[str(s) for s in SOURCES], extra_cxx_cflags=list(CXXFLAGS),
                        extra_include_paths=[str(headers)], build_directory=str(folder), verbose=False,
                        extra_ldflags=[f"-L{libs}", "-l:libdnnl.so.3", f"-Wl,-rpath,{libs}", "-fopenmp"])
                    _LOADED["folder"] = folder
                    use_tuning_file(tuning_choice(folder.parent, version))
                    _LOADED["module"] = module
                    return module
                except Exception as exc:  # a compiler or linker failure: the reason is in its output
                    failure = exc
            lines = [line for line in output.getvalue().splitlines() if "error" in line.lower()]
            raise KernelsUnavailable(f"building them failed ({(lines or [str(failure)])[0].strip()[:200]})")
    except OSError as exc:
        raise KernelsUnavailable(f"cannot build them in {folder} ({exc.strerror})") from None


def check_tuning_variable(environ=os.environ) -> None:
    """A ``PADDLE_DCGAN_ONEDNN_TUNING`` the kernels could not use (a folder, a file in a missing folder, a file
    that cannot be read) is a :class:`UserError`, said before anything is built or written."""
    value = environ.get(TUNING_VARIABLE, "")
    if value in ("", "off"):
        return
    path = Path(value)
    if path.is_dir():
        why = "is a folder; name a file in it (e.g. onednn-tuning.tsv)"
    elif not path.parent.is_dir():
        why = f"is in a folder that does not exist ({path.parent}); create it or name a file elsewhere"
    elif path.exists() and not os.access(path, os.R_OK):
        why = "cannot be read; fix its permissions or name another file"
    else:
        return
    raise UserError(f"{TUNING_VARIABLE}={value} {why}, or set it to off")


def tuning_choice(cache_root: Path, version: tuple[int, int, int], environ=os.environ) -> str:
    """The tuning file the kernels use: $PADDLE_DCGAN_ONEDNN_TUNING, "" for ``off`` (or empty), else the
    machine's file in the cache."""
    value = environ.get(TUNING_VARIABLE)
    if value is None:
        return str(tuning_file(cache_root, version))
    return "" if value in ("", "off") else value


def use_tuning_file(path: str) -> None:
    """Tell the loaded kernels which tuning file to read and extend from now on ("" = oneDNN's first choice)."""
    library = next(_LOADED["folder"].rglob("paddle_dcgan_onednn.so"))
    ctypes.CDLL(str(library)).paddle_dcgan_set_tuning_file(path.encode())
