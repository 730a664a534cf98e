"""Checkpoint files: written atomically, named by step, rotated, validated on load.

A full checkpoint (``<run>/checkpoints/step_00001234.pdckpt``) holds everything
needed to continue exactly: both nets, both optimisers, the step and epoch
counters, the config, the RNG states and the loss history. The small
``<run>/generator.pdparams`` holds only what sampling needs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import paddle

from .errors import UserError

CHECKPOINT_FORMAT = "paddle-dcgan-checkpoint"
GENERATOR_FORMAT = "paddle-dcgan-generator"
VERSION = 1
_NAME = re.compile(r"step_(\d+)\.pdckpt$")


def atomic_save(obj: Any, path: Path) -> None:
    """paddle.save to a temporary file beside ``path``, then rename over it.

    paddle.save alone is not atomic: a process killed mid-write leaves a
    truncated file. A rename within one folder is, so readers see the old file
    or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        paddle.save(obj, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}.pdckpt"


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
    if target.is_file():
        return target
    if target.is_dir():
        run = target.parent if target.name == "checkpoints" else target
        found = list_checkpoints(run)
        if found:
            return found[-1]
        raise UserError(f"no checkpoint in '{run / 'checkpoints'}'; train that run first or pass --resume PATH "
                        "to a .pdckpt file")
    raise UserError(f"checkpoint '{spec}' not found; pass 'latest', a run folder or a .pdckpt file")


def _load(path: Path, expected: tuple[str, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; pass an existing file or run folder")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint '{path}' is empty (a save was interrupted); delete it and use an older one")
    try:
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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A full training checkpoint, validated."""
    return _load(path, (CHECKPOINT_FORMAT,))


def load_generator_file(path: Path) -> dict[str, Any]:
    """Either a generator-only file or a full checkpoint (both carry G's weights and model config)."""
    return _load(path, (GENERATOR_FORMAT, CHECKPOINT_FORMAT))
