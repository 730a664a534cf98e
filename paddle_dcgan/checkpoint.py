"""Checkpoint files: written atomically, named by step, rotated, validated on load.

A full checkpoint (``<run>/checkpoints/step_00001234.pdckpt``) holds everything
needed to continue exactly: both nets, both optimisers, the step and epoch
counters, the config, the RNG states and the loss history. The small
``<run>/generator.pdparams`` holds only what sampling needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import paddle

from .errors import UserError

CHECKPOINT_FORMAT = "paddle-dcgan-checkpoint"
GENERATOR_FORMAT = "paddle-dcgan-generator"
VERSION = 1
_NAME = re.compile(r"step_(\d+)\.pdckpt$")


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


def atomic_save(obj: Any, path: Path) -> None:
    """paddle.save, atomically."""
    write_atomically(path, lambda tmp: paddle.save(obj, str(tmp)))


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}.pdckpt"


def run_folder_of(path: Path) -> Path:
    """The run a path belongs to: a run folder itself, or the run holding a checkpoints/ folder or file."""
    folder = path if path.is_dir() else path.parent
    return folder.parent if folder.name == "checkpoints" else folder


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Full checkpoints of a run, oldest step first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.search(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: Path, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``state['step']`` and keep the newest ``keep``."""
    path = checkpoint_path(run_dir, state["step"])
    atomic_save({"format": CHECKPOINT_FORMAT, "version": VERSION, **state}, path)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink()
    return path


def find_checkpoint(spec: str, run_dir: Path) -> Path:
    """``latest`` -> newest checkpoint of ``run_dir``; a folder -> its newest; a file -> itself."""
    target = run_dir if spec == "latest" else Path(spec)
    if spec == "latest" and not target.is_dir():
        raise UserError(f"no run folder '{target}' to resume; train it first, or pick the run with "
                        "-o run_name=NAME or --resume PATH")
    if target.is_file():
        return target
    if target.is_dir():
        run = run_folder_of(target)
        found = list_checkpoints(run)
        if found:
            return found[-1]
        raise UserError(f"no checkpoint in '{run / 'checkpoints'}'; train that run first or pass --resume PATH "
                        "to a .pdckpt file")
    raise UserError(f"checkpoint '{spec}' not found; pass 'latest', a run folder or a .pdckpt file")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence file descriptor 2: paddle's C++ parser logs protobuf errors for a damaged file
    before raising, and the exception we raise in its place already says what is wrong."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_file(path: Path, expected: tuple[str, ...]) -> dict[str, Any]:
    """paddle.load a paddle-dcgan file whose ``format`` is one of ``expected``; any damage is a UserError."""
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; pass an existing file or run folder")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint '{path}' is empty (a save was interrupted); delete it and use an older one")
    try:
        with _quiet_native_stderr():
            obj = paddle.load(str(path))
    except Exception as exc:  # paddle raises many types for a damaged file
        raise UserError(f"checkpoint '{path}' is corrupt or not a paddle file ({type(exc).__name__}); "
                        "use another checkpoint of the run") from None
    if not isinstance(obj, dict) or obj.get("format") not in expected:
        raise UserError(f"'{path}' is not a paddle-dcgan {' or '.join(expected)} file; "
                        "pass a .pdckpt from <run>/checkpoints or <run>/generator.pdparams")
    if obj.get("version", 0) > VERSION:
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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A full training checkpoint, validated."""
    return load_file(path, (CHECKPOINT_FORMAT,))


def load_generator_file(path: Path) -> dict[str, Any]:
    """Either a generator-only file or a full checkpoint (both carry G's weights and model config)."""
    return load_file(path, (GENERATOR_FORMAT, CHECKPOINT_FORMAT))
