"""Writing files atomically and reading paddle-dcgan's own files defensively.

Every file this project writes and reads back (checkpoints, generator files,
classifiers) is a dict tagged with a ``format`` name and a ``version``, stored as
data only with a digest of its content (``container.py``); :func:`load_tagged`
checks all three and turns any damage into one :class:`UserError`.
A write that fails (disk full, read-only, no permission) is a :class:`UserError`
too, naming the folder, and leaves the file it would have replaced untouched.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import paddle

from ..errors import UserError, cannot_write
from . import container

FORMAT_VERSION = 2  # version written into every tagged file; newer files are refused (1: the pickles of 0.1)
MAX_FILE_BYTES = 4 << 30  # larger files are refused before they are read (a 64x64 checkpoint is ~0.1 GB)
CONVERT_COMMAND = "python tools/convert_legacy.py"
_TEMP_NAME = re.compile(r"\..+\.tmp-(?P<pid>\d+)")  # what write_atomically writes first


@contextlib.contextmanager
def reporting_write_errors(path: Path):
    """``with reporting_write_errors(path) as path:``: an OSError inside is the UserError of :func:`cannot_write`."""
    try:
        yield path
    except OSError as exc:
        raise cannot_write(path, exc) from None


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file ``.NAME.tmp-PID`` beside ``path``, then rename it over ``path``.

    Writers such as paddle.save are not atomic: a process killed mid-write leaves
    a truncated file. A rename within one folder is, so readers see the old file
    or the new one, never half of one. A process killed before the rename leaves
    the temporary file behind; :func:`temp_files` finds such leftovers.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with reporting_write_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)`` in UTF-8, atomically."""
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def temp_files(folder: Path) -> list[tuple[Path, int]]:
    """Temporary files of :func:`write_atomically` in ``folder``, each with the id of the process that wrote it."""
    if not folder.is_dir():
        return []
    return [(p, int(m["pid"])) for p in sorted(folder.iterdir()) if (m := _TEMP_NAME.fullmatch(p.name))]


def make_folder(path: Path) -> Path:
    """Create the output folder ``path`` (and its parents); a file in the way or an unwritable place is a UserError."""
    if path.exists() and not path.is_dir():
        raise UserError(f"'{path}' is a file, not a folder; pass a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create folder '{path}' ({exc.strerror}); pass a folder you can write to") from None
    return path


def check_can_write(path: Path) -> Path:
    """Raise now the UserError a later write of the file ``path`` would meet, without writing anything:
    a folder in its place, or a nearest existing parent that is a file or not writable."""
    if path.is_dir():
        raise UserError(f"'{path}' is a folder; pass a file name to write, e.g. '{path / 'out.pdclf'}'")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write '{path}': '{parent}' is a file, not a folder; pass another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write '{path}': no permission to write in '{parent}'; pass a path you can write to")
    return path


def save_tagged(obj: dict[str, Any], file_format: str, path: Path) -> None:
    """Write ``obj`` (JSON-able values, numpy arrays, paddle tensors) with its format tag and version, atomically."""
    data = container.encode({"format": file_format, "version": FORMAT_VERSION, **obj})
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


@contextlib.contextmanager
def native_output_captured(*fds: int):
    """Catch what is written to the file descriptors ``fds`` (default: stderr), C++ code included.

    Yields a ``StringIO`` that holds the text once the block has ended. Paddle's C++
    parser logs protobuf errors for a damaged file before raising, and converters
    print progress: the exception raised (or the caller's own message) says what matters.
    """
    fds = fds or (2,)
    captured = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in fds:
                os.dup2(sink.fileno(), fd)
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.write(sink.read().decode("utf-8", errors="replace"))


def read_file(path: Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``; a missing, special (FIFO, device), unreadable or oversized file
    is a UserError naming it."""
    try:
        if not path.is_file():
            raise UserError(f"{what} '{path}' not found (or not a regular file); pass an existing file")
        size = path.stat().st_size
        if size > limit:
            raise UserError(f"{what} '{path}' is {size / 2**30:.1f} GiB, more than any paddle-dcgan file; "
                            "pass the right file")
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what} '{path}' ({exc.strerror or exc}); check the path and its "
                        "permissions") from None


def load_tagged(path: Path, expected: tuple[str, ...]) -> dict[str, Any]:
    """A paddle-dcgan file whose ``format`` is one of ``expected``, its tensors as numpy arrays; any damage,
    and a file of paddle-dcgan 0.1 (a pickle), is a UserError."""
    data = read_file(path, "checkpoint")
    if not data:
        raise UserError(f"checkpoint '{path}' is empty (a save was interrupted); delete it and use an older one")
    try:
        obj = container.decode(data)
    except container.Damaged as why:
        if str(why) == "legacy":
            raise UserError(f"'{path}' is a paddle-dcgan 0.1 file, a pickle, which can run code when it is opened, "
                            f"so it is not opened; if you trust where it came from, convert it once: "
                            f"{CONVERT_COMMAND} '{path}'") from None
        raise UserError(f"'{path}' is corrupt or not a paddle-dcgan file ({why}); use another file of the run, "
                        "or write it again") from None
    if obj.get("format") not in expected:
        raise UserError(f"'{path}' is not a paddle-dcgan {' or '.join(expected)} file; "
                        "pass a .pdckpt from <run>/checkpoints or <run>/generator.pdparams")
    version = obj.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"'{path}' was written by a newer paddle-dcgan (format version {version!r}); upgrade")
    return obj


def invalid(path: Path, what: str) -> UserError:
    return UserError(f"'{path}' is not a valid paddle-dcgan file ({what}); use another file of the run, "
                     "or write it again")


def field(obj: dict, key: str, kind, path: Path, low: float | None = None, high: float | None = None):
    """``obj[key]`` of a file read from ``path``, checked to be a ``kind`` (a number within [low, high] where
    given); anything else is a UserError."""
    value = obj.get(key) if isinstance(obj, dict) else None
    number = kind in (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) if number else isinstance(value, kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok and number and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        raise invalid(path, f"{key} is {str(value)[:40]!r}")
    return value


def float32_tensors(weights, what: str, path: Path) -> dict:
    """``weights`` if it is a non-empty dict of float32 arrays (a state_dict as read from a file)."""
    if not isinstance(weights, dict) or not weights or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype == np.float32 for k, v in weights.items()):
        raise invalid(path, f"{what} is not a set of float32 tensors")
    return weights


def load_weights(layer: paddle.nn.Layer, state: dict[str, Any], source: Path) -> None:
    """``layer.set_state_dict(state)``, but a missing key or a shape mismatch is a UserError.

    (paddle itself only warns and skips mismatched tensors, leaving random weights.)
    """
    expected = {k: list(v.shape) for k, v in layer.state_dict().items()}
    given = {k: list(v.shape) for k, v in state.items()}
    for key, shape in expected.items():
        if given.get(key) != shape:
            found = f"shape {given[key]}" if key in given else "nothing"
            raise UserError(f"'{source}' does not match the network it describes ({key}: expected shape {shape}, "
                            f"found {found}); use a file written by paddle-dcgan for this config")
    layer.set_state_dict(state)


_ADAM_SLOT = re.compile(r"(?P<param>.+)_(?P<slot>moment1|moment2|beta1_pow_acc|beta2_pow_acc)_0")


def load_optimizer_state(optimizer: paddle.optimizer.Optimizer, layer: paddle.nn.Layer, state: dict[str, Any],
                         source: Path) -> None:
    """``optimizer.set_state_dict(state)`` for Adam over ``layer``'s parameters, checked first.

    Paddle names Adam's slots after parameter names that count up within a process
    (``conv2d_7.w_0_moment1_0``), so a checkpoint written by another process, or
    earlier in this one, names them differently: they are matched to ``layer``'s
    parameters in order. A count or shape that does not fit is a UserError here
    (paddle itself would fail only at the next training step).
    """
    params = [p for p in layer.parameters() if not p.stop_gradient]  # BatchNorm's running statistics have no slots
    saved = [m["param"] for key in state if (m := _ADAM_SLOT.fullmatch(key)) and m["slot"] == "moment1"]
    if len(saved) != len(params):
        raise UserError(f"'{source}' holds optimizer state for {len(saved)} tensors, the network has {len(params)}; "
                        "use a checkpoint written by paddle-dcgan for this config")
    param_of = dict(zip(saved, params))
    renamed = {}
    for key, value in state.items():
        match = _ADAM_SLOT.fullmatch(key)
        if match is None or match["param"] not in param_of:
            renamed[key] = value
            continue
        param = param_of[match["param"]]
        expected = list(param.shape) if match["slot"].startswith("moment") else [1]
        if list(value.shape) != expected:
            raise UserError(f"'{source}' holds optimizer state of shape {list(value.shape)} for a {expected} tensor "
                            f"({key}); use a checkpoint written by paddle-dcgan for this config")
        renamed[f"{param.name}_{match['slot']}_0"] = value
    optimizer.set_state_dict(renamed)
