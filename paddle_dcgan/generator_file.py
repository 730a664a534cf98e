"""``<run>/generator.pdparams``: the generator alone, with what is needed to rebuild it.

This module owns the file: :func:`save_generator` writes it, :func:`load_generator`
reads it (or the generator inside a full checkpoint) and returns the net with its
metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CHECKPOINT_FORMAT, find_checkpoint
from .config import BEFORE_THE_KEY
from .errors import UserError
from .files import load_tagged, load_weights, save_tagged
from .models import Generator
from .sample_bn import for_sampling

GENERATOR_FORMAT = "paddle-dcgan-generator"


@dataclass(frozen=True)
class GeneratorInfo:
    """Where a loaded generator came from."""

    source: Path  # the file its weights were read from
    step: int  # training step at which they were saved
    dataset: str  # the dataset it was trained on (mnist, mnist_subset, ...)
    model: dict  # the model section of its config (image_size, nz, ngf, ndf and, since conditional models, num_classes)


def save_generator(generator: Generator, model: dict, dataset: str, step: int, path: Path) -> None:
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


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"'{path}' not found; train first (python tools/train.py -c configs/dcgan.yaml) or pass "
                        "a run folder, a generator.pdparams or a .pdckpt file")
    if path.is_dir():
        weights = path / "generator.pdparams"
        return weights if weights.is_file() else find_checkpoint(str(path), path)
    return path


def load_generator(path: str | Path) -> tuple[Generator, GeneratorInfo]:
    """A generator in eval mode, and its :class:`GeneratorInfo`.

    A generator file holds the net as the run sampled it. From a full checkpoint
    the same net is rebuilt: the EMA weights when the run kept an average, with the
    run's ``model.sample_bn`` policy applied.

    Args:
        path: a run folder (its generator.pdparams, else its newest checkpoint),
            a ``generator.pdparams`` or a ``.pdckpt`` file.

    Example::

        G, info = paddle_dcgan.load_generator("output/dcgan")
        images = paddle_dcgan.sample(G, 64, seed=0)
    """
    file = _resolve(path)
    obj = load_tagged(file, (GENERATOR_FORMAT, CHECKPOINT_FORMAT))
    from_checkpoint = obj["format"] == CHECKPOINT_FORMAT
    model = obj["config"]["model"] if from_checkpoint else obj["model"]
    # files written before conditional models existed lack num_classes: they are unconditional
    generator = Generator(model["image_size"], model["nz"], model["ngf"],
                          num_classes=model.get("num_classes", BEFORE_THE_KEY["model.num_classes"]))
    ema = obj.get("ema") if from_checkpoint else None
    load_weights(generator, ema["weights"] if ema else obj["generator"], file)
    if from_checkpoint:
        generator = for_sampling(generator, model.get("sample_bn", "running"), obj["config"]["seed"])
    generator.eval()
    return generator, GeneratorInfo(file, int(obj.get("step", 0)), obj.get("dataset", "auto"), dict(model))
