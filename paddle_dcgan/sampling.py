"""Noise, loading a trained generator, and drawing samples from it.

All noise comes from numpy generators keyed by ``(seed, stream, counter)``:
the noise of training step ``k`` is the same whether a run was interrupted or
not, on any device, with no RNG state to carry around.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle

from .checkpoint import GENERATOR_FORMAT, VERSION, find_checkpoint, load_generator_file, load_weights
from .errors import UserError
from .models import Generator

# Independent random streams derived from one seed.
STREAM_TRAIN_NOISE = 0
STREAM_SHUFFLE = 1  # data.Batches: the order of each epoch
STREAM_FIXED_NOISE = 2


def noise(seed: int, stream: int, counter: int, n: int, nz: int) -> paddle.Tensor:
    """Standard normal z [n, nz, 1, 1], a pure function of its arguments."""
    rng = np.random.default_rng([seed, stream, counter])
    return paddle.to_tensor(rng.standard_normal((n, nz, 1, 1), dtype=np.float32))


def generator_file_contents(generator: Generator, model: dict, dataset: str, step: int) -> dict:
    """What ``<run>/generator.pdparams`` holds: weights plus what is needed to rebuild the net."""
    return {"format": GENERATOR_FORMAT, "version": VERSION, "model": model, "dataset": dataset,
            "step": step, "generator": generator.state_dict()}


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"'{path}' not found; train first (python tools/train.py -c configs/dcgan.yaml) or pass "
                        "a run folder, a generator.pdparams or a .pdckpt file")
    if path.is_dir():
        weights = path / "generator.pdparams"
        return weights if weights.is_file() else find_checkpoint(str(path), path)
    return path


def load_generator(path: str | Path) -> Generator:
    """A generator in eval mode from a run folder, ``generator.pdparams`` or a ``.pdckpt``.

    Example::

        G = paddle_dcgan.load_generator("output/dcgan")
        images = paddle_dcgan.sample(G, 64, seed=0)
    """
    file = _resolve(path)
    obj = load_generator_file(file)
    model = obj["model"] if "model" in obj else obj["config"]["model"]
    generator = Generator(model["image_size"], model["nz"], model["ngf"], channels=model.get("channels", 1))
    load_weights(generator, obj["generator"], file)
    generator.eval()
    generator.source = str(file)
    generator.step = int(obj.get("step", 0))
    generator.dataset = obj.get("dataset", "auto")
    return generator


@paddle.no_grad()
def sample(generator: Generator, n: int, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
    """``n`` images [n, C, S, S] float32 in [-1, 1]; the same ``seed`` gives the same images."""
    if n < 1:
        raise UserError(f"number of samples must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, generator.nz, 1, 1), dtype=np.float32)
    was_training = generator.training
    generator.eval()
    try:
        out = [generator(paddle.to_tensor(z[i:i + batch_size])).numpy() for i in range(0, n, batch_size)]
    finally:
        generator.train(was_training)
    return np.concatenate(out)
