"""The two files a run keeps of its nets: full checkpoints and the generator file. One home for both formats.

- ``<run>/checkpoints/step_00001234.pdckpt``: everything needed to continue exactly (both nets,
  both optimisers, the weight average of G when on, the step and epoch counters, the config,
  the RNG states, the loss history, the BatchNorm shards); named by step, rotated.
- ``<run>/generator.pdparams``: the generator alone as the run samples it, with its model
  config, dataset and step.

Both are dicts tagged with a ``format`` and a ``version`` (``io.save_tagged``), written
atomically and validated on load (``io.load_tagged``).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ..errors import UserError
from .io import load_optimizer_state, load_tagged, load_weights, save_tagged

CHECKPOINT_FORMAT = "paddle-dcgan-checkpoint"
GENERATOR_FORMAT = "paddle-dcgan-generator"
_NAME = re.compile(r"step_(\d+)\.pdckpt$")


# ---------------------------------------------------------------- full checkpoints
def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}.pdckpt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Full checkpoints of a run, oldest step first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.search(p.name))]
    return [p for _, p in sorted(found)]


def training_state(*, step: int, steps_per_epoch: int, config: dict, dataset: str, generator, discriminator,
                   opt_g, opt_d, epoch_outputs: int, history, ema=None, scaler=None, shards: int = 1) -> dict:
    """The dict a checkpoint holds; the process's RNG states are taken here."""
    return {
        "step": step,
        "epoch": step // steps_per_epoch,  # completed epochs
        "config": config,
        "dataset": dataset,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "epoch_outputs": epoch_outputs,
        "history": history.steps,
        "evals": history.evals,
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "paddle": paddle.get_rng_state()},
        "scaler": scaler.state_dict() if scaler else None,
        "ema": ema.state_dict() if ema else None,
        "shards": shards,
    }


def restore_training_state(saved: dict, path: Path, *, generator, discriminator, opt_g, opt_d,
                           ema=None, scaler=None) -> None:
    """Put a checkpoint's weights, optimiser states, weight average and RNG states back in place."""
    load_weights(generator, saved["generator"], path)
    load_weights(discriminator, saved["discriminator"], path)
    load_optimizer_state(opt_g, generator, saved["opt_g"], path)
    load_optimizer_state(opt_d, discriminator, saved["opt_d"], path)
    random.setstate(saved["rng"]["python"])
    np.random.set_state(saved["rng"]["numpy"])
    paddle.set_rng_state(saved["rng"]["paddle"])
    if scaler and saved.get("scaler"):
        scaler.load_state_dict(saved["scaler"])
    if ema:
        ema.set_state_dict(saved["ema"])  # present: train.ema_decay is a resume key


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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A full training checkpoint, validated."""
    return load_tagged(path, (CHECKPOINT_FORMAT,))


# ---------------------------------------------------------------- the generator file
def save_generator(generator, model: dict, dataset: str, step: int, path: Path) -> None:
    """Write the generator's weights plus its model config (``num_classes`` included), dataset and step, atomically."""
    save_tagged({"model": dict(model), "dataset": dataset, "step": step, "generator": generator.state_dict()},
                GENERATOR_FORMAT, path)


def saved_step(path: Path) -> int | None:
    """The training step of the generator file at ``path``; None when there is no readable one."""
    if not path.is_file():
        return None
    try:
        return int(load_tagged(path, (GENERATOR_FORMAT,))["step"])
    except UserError:
        return None


def load_generator_state(path: Path) -> dict[str, Any]:
    """The generator in a generator file or a checkpoint, as ``{model, weights, step, dataset, sample_bn, seed}``:
    from a checkpoint, the EMA weights when the run kept an average, and the run's ``model.sample_bn``
    (``None`` for a generator file: its statistics are the ones it was saved with)."""
    obj = load_tagged(path, (GENERATOR_FORMAT, CHECKPOINT_FORMAT))
    if obj["format"] == GENERATOR_FORMAT:
        return {"model": obj["model"], "weights": obj["generator"], "step": int(obj.get("step", 0)),
                "dataset": obj.get("dataset", "auto"), "sample_bn": None, "seed": 0}
    model, ema = obj["config"]["model"], obj.get("ema")
    return {"model": model, "weights": ema["weights"] if ema else obj["generator"], "step": int(obj.get("step", 0)),
            "dataset": obj.get("dataset", "auto"), "sample_bn": model.get("sample_bn", "running"),
            "seed": obj["config"]["seed"]}
