"""Full training checkpoints: named by step, rotated, validated on load.

A checkpoint (``<run>/checkpoints/step_00001234.pdckpt``) holds everything
needed to continue exactly: both nets, both optimisers, the weight average of G
(when on), the step and epoch counters, the config, the RNG states and the loss
history. It is written
atomically (``files.write_atomically``). The small generator-only file for
sampling is ``generator_file.py``'s business.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import load_tagged, save_tagged

CHECKPOINT_FORMAT = "paddle-dcgan-checkpoint"
_NAME = re.compile(r"step_(\d+)\.pdckpt$")


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
    """Write ``state`` as the checkpoint of ``state['step']``, then delete all but the newest ``keep``.

    Older checkpoints go only after the new one is safely written, so a failed
    write (disk full) leaves every earlier checkpoint in place.
    """
    path = checkpoint_path(run_dir, state["step"])
    save_tagged(state, CHECKPOINT_FORMAT, path)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def resume_target(spec: str, run_dir: Path) -> Path:
    """What ``--resume spec`` points at: ``run_dir`` for ``latest``, else the folder or file given."""
    return run_dir if spec == "latest" else Path(spec)


def find_checkpoint(spec: str, run_dir: Path) -> Path:
    """``latest`` -> newest checkpoint of ``run_dir``; a folder -> its newest; a file -> itself."""
    target = resume_target(spec, run_dir)
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
        raise UserError(f"no checkpoint in '{run / 'checkpoints'}' (a run stopped before its first checkpoint "
                        "has nothing to resume); start it again without --resume, or pass --resume PATH to a .pdckpt")
    raise UserError(f"checkpoint '{spec}' not found; pass 'latest', a run folder or a .pdckpt file")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A full training checkpoint, validated."""
    return load_tagged(path, (CHECKPOINT_FORMAT,))
