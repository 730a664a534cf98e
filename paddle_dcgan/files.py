"""Writing files atomically and reading paddle-dcgan's own files defensively.

Every file this project writes with ``paddle.save`` (checkpoints, generator
files, classifiers) is a dict tagged with a ``format`` name and a ``version``;
:func:`load_tagged` checks both and turns any damage into one :class:`UserError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import paddle

from .errors import UserError

FORMAT_VERSION = 1  # version written into every tagged file; newer files are refused


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``.

    Writers such as paddle.save are not atomic: a process killed mid-write leaves
    a truncated file. A rename within one folder is, so readers see the old file
    or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_tagged(obj: dict[str, Any], file_format: str, path: Path) -> None:
    """paddle.save ``obj`` with its format tag and version, atomically."""
    tagged = {"format": file_format, "version": FORMAT_VERSION, **obj}
    write_atomically(path, lambda tmp: paddle.save(tagged, str(tmp)))


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


def load_tagged(path: Path, expected: tuple[str, ...]) -> dict[str, Any]:
    """paddle.load a paddle-dcgan file whose ``format`` is one of ``expected``; any damage is a UserError."""
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; pass an existing file or run folder")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint '{path}' is empty (a save was interrupted); delete it and use an older one")
    try:
        with native_output_captured():
            obj = paddle.load(str(path))
    except Exception as exc:  # paddle raises many types for a damaged file
        raise UserError(f"checkpoint '{path}' is corrupt or not a paddle file ({type(exc).__name__}); "
                        "use another checkpoint of the run") from None
    if not isinstance(obj, dict) or obj.get("format") not in expected:
        raise UserError(f"'{path}' is not a paddle-dcgan {' or '.join(expected)} file; "
                        "pass a .pdckpt from <run>/checkpoints or <run>/generator.pdparams")
    if obj.get("version", 0) > FORMAT_VERSION:
        raise UserError(f"'{path}' was written by a newer paddle-dcgan (format version {obj['version']}); upgrade")
    return obj


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
