"""The two files a run keeps of its nets: full checkpoints and the generator file. One home for both formats.

- ``<run>/checkpoints/step_00001234.pdckpt``: everything needed to continue exactly (both nets,
  both optimisers, the weight average of G when on, the step and epoch counters, the config,
  the RNG states, the loss history, the BatchNorm shards); named by step, rotated.
- ``<run>/generator.pdparams``: the generator alone as the run samples it, with its model
  config, dataset and step.

Both are dicts tagged with a ``format`` and a ``version`` (``io.save_tagged``), stored as
data only with a digest, written atomically; on load the container is checked
(``io.load_tagged``) and then every field this package reads, its type and range,
so that a crafted file is one error line, never a crash deep inside training.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ..config import IMAGE_SIZES, SAMPLE_BN_POLICIES
from ..errors import UserError
from .io import field, float32_tensors, invalid, load_optimizer_state, load_tagged, load_weights, save_tagged

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
                   opt_g, opt_d, epoch_outputs: int, history, ema=None, scaler=None, shards: int = 1,
                   class_names: list[str] | None = None, data_dir: str = "") -> dict:
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
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                "paddle": [list(state.__getstate__()) for state in paddle.get_rng_state()]},
        "scaler": scaler.state_dict() if scaler else None,
        "ema": ema.state_dict() if ema else None,
        "shards": shards,
        "class_names": list(class_names or []),
        "data_dir": data_dir,
    }


def restore_training_state(saved: dict, path: Path, *, generator, discriminator, opt_g, opt_d,
                           ema=None, scaler=None) -> None:
    """Put a checkpoint's weights, optimiser states, weight average and RNG states back in place."""
    load_weights(generator, saved["generator"], path)
    load_weights(discriminator, saved["discriminator"], path)
    load_optimizer_state(opt_g, generator, saved["opt_g"], path)
    load_optimizer_state(opt_d, discriminator, saved["opt_d"], path)
    version, internal, gauss = saved["rng"]["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(saved["rng"]["numpy"]))
    paddle.set_rng_state([_generator_state(state) for state in saved["rng"]["paddle"]])
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
    return check_checkpoint(load_tagged(path, (CHECKPOINT_FORMAT,)), path)


# ---------------------------------------------------------------- the generator file
def save_generator(generator, model: dict, dataset: str, step: int, path: Path, **extra) -> None:
    """Write the generator's weights plus its model config (``num_classes`` included), dataset and step, atomically
    (``extra``: more JSON fields: the class names, the data folder, the shipped generator's scores)."""
    save_tagged({"model": dict(model), "dataset": dataset, "step": step, "generator": generator.state_dict(), **extra},
                GENERATOR_FORMAT, path)


def saved_step(path: Path) -> int | None:
    """The training step of the generator file at ``path``; None when there is no readable one."""
    if not path.is_file():
        return None
    try:
        return field(load_tagged(path, (GENERATOR_FORMAT,)), "step", int, path)
    except UserError:
        return None


def load_generator_state(path: Path) -> dict[str, Any]:
    """The generator in a generator file or a checkpoint, as ``{model, weights, step, dataset, sample_bn, seed}``:
    from a checkpoint, the EMA weights when the run kept an average, and the run's ``model.sample_bn``
    (``None`` for a generator file: its statistics are the ones it was saved with)."""
    obj = load_tagged(path, (GENERATOR_FORMAT, CHECKPOINT_FORMAT))
    if obj["format"] == CHECKPOINT_FORMAT:
        check_checkpoint(obj, path)
    else:
        _check_model(field(obj, "model", dict, path), path)
        field(obj, "dataset", str, path)
        field(obj, "step", int, path)
        float32_tensors(obj.get("generator"), "generator", path)
    if obj["format"] == GENERATOR_FORMAT:
        scores = obj.get("scores", {})
        if not isinstance(scores, dict):
            raise invalid(path, "scores is not a record")
        return {"model": obj["model"], "weights": obj["generator"], "step": int(obj.get("step", 0)),
                "dataset": obj.get("dataset", "auto"), "sample_bn": None, "seed": 0, "scores": scores,
                "class_names": class_names(obj, obj["model"], path), "data_dir": _text(obj, "data_dir", path)}
    model, ema = obj["config"]["model"], obj.get("ema")
    return {"model": model, "weights": ema["weights"] if ema else obj["generator"], "step": int(obj.get("step", 0)),
            "dataset": obj.get("dataset", "auto"), "sample_bn": model.get("sample_bn", "running"),
            "seed": obj["config"]["seed"], "scores": {}, "class_names": class_names(obj, model, path),
            "data_dir": _text(obj, "data_dir", path)}


def _text(obj: dict, key: str, path: Path) -> str:
    """An optional string field ("" when absent)."""
    return field(obj, key, str, path) if key in obj else ""


DIGIT_NAMES = [str(d) for d in range(10)]


def class_names(obj: dict, model: dict, path: Path) -> list[str]:
    """The names of a file's classes, checked: one short string per class; files without them had digits."""
    count = model.get("num_classes", 0)
    names = obj.get("class_names") or (DIGIT_NAMES if count == 10 else [str(i) for i in range(count)])
    if not (isinstance(names, list) and len(names) == count and all(isinstance(n, str) and 0 < len(n) <= 255
                                                                    for n in names)):
        raise invalid(path, "class_names is not one name per class")
    return names


# ---------------------------------------------------------------- what a file may hold
def _check_model(model: dict, path: Path) -> dict:
    if model.get("image_size") not in IMAGE_SIZES:
        raise invalid(path, f"model.image_size is {str(model.get('image_size'))[:20]!r}")
    for key in ("nz", "ngf"):
        field(model, key, int, path, 1, 4096)
    if "ndf" in model:
        field(model, "ndf", int, path, 1, 4096)
    if "num_classes" in model:
        field(model, "num_classes", int, path, 0, 1000)
    if "channels" in model:
        field(model, "channels", int, path, 1, 3)
    if model.get("sample_bn", "running") not in SAMPLE_BN_POLICIES:
        raise invalid(path, "model.sample_bn is unknown")
    return model


def _numbers(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def check_checkpoint(obj: dict, path: Path) -> dict:
    """``obj`` if it holds every field a checkpoint is read for, of the right type; else a UserError."""
    field(obj, "step", int, path, 0)
    field(obj, "epoch", int, path, 0)
    field(obj, "dataset", str, path)
    config = field(obj, "config", dict, path)
    _check_model(field(config, "model", dict, path), path)
    field(config, "seed", int, path, 0, 2**32 - 1)
    for section in ("optim", "train", "data", "eval"):
        if section in config:
            field(config, section, dict, path)
    for net in ("generator", "discriminator"):
        float32_tensors(obj.get(net), net, path)
    for opt in ("opt_g", "opt_d"):
        float32_tensors(obj.get(opt), opt, path)
    if "epoch_outputs" in obj:
        field(obj, "epoch_outputs", int, path, 0)
    if "shards" in obj:
        field(obj, "shards", int, path, 1, 1 << 16)
    if "data_dir" in obj:
        field(obj, "data_dir", str, path)
    if obj.get("class_names"):
        class_names(obj, config["model"], path)
    history = field(obj, "history", dict, path)
    if not all(isinstance(k, str) and _numbers(v) for k, v in history.items()):
        raise invalid(path, "history is not lists of numbers")
    evals = obj.get("evals", [])
    if not isinstance(evals, list) or not all(isinstance(e, dict) for e in evals):
        raise invalid(path, "evals is not a list of records")
    ema = obj.get("ema")
    if ema is not None:
        float32_tensors(field(obj, "ema", dict, path).get("weights"), "ema", path)
        field(ema, "updates", int, path, 0)
    if obj.get("scaler") is not None:
        field(obj, "scaler", dict, path)
    _check_rng(field(obj, "rng", dict, path), path)
    return obj


def _check_rng(rng: dict, path: Path) -> None:
    python, numpy_state, states = rng.get("python"), rng.get("numpy"), rng.get("paddle")
    if not (isinstance(python, list) and len(python) == 3 and isinstance(python[0], int) and _numbers(python[1])
            and len(python[1]) == 625 and (python[2] is None or isinstance(python[2], float))):
        raise invalid(path, "rng.python is not a random state")
    if not (isinstance(numpy_state, list) and len(numpy_state) == 5 and numpy_state[0] == "MT19937"
            and isinstance(numpy_state[1], np.ndarray) and numpy_state[1].dtype == np.uint32
            and numpy_state[1].shape == (624,) and _numbers(numpy_state[2:])):
        raise invalid(path, "rng.numpy is not a random state")
    if not (isinstance(states, list) and states and all(
            isinstance(s, list) and len(s) == 4 and _numbers(s[:3]) and isinstance(s[3], list)
            and all(isinstance(b, int) and 0 <= b < 256 for b in s[3]) for s in states)):
        raise invalid(path, "rng.paddle is not a random state")


def _generator_state(saved: list):
    """A paddle random generator's state from its saved ``[device, seed, offset, state bytes]``."""
    kind = type(paddle.get_rng_state()[0])
    state = kind.__new__(kind)
    state.__setstate__(tuple(saved))
    return state
