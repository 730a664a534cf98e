"""Drawing digits from a trained generator, and writing them as pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
from PIL import Image

from .checkpoint import run_folder_of
from .device import select_device
from .errors import UserError
from .generator_file import GeneratorInfo, load_generator
from .models import Generator
from .visualize import save_grid, to_uint8

MAX_GRID_DIGITS = 256  # a 16 x 16 grid; more digits stay readable only as files (--individual, --npy)


@paddle.no_grad()
def sample(generator: Generator, n: int, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
    """``n`` images [n, C, S, S] float32 in [-1, 1]; the same ``seed`` gives the same images.

    The generator runs in eval mode (BatchNorm uses the statistics it holds: a
    generator file holds those its run's ``model.sample_bn`` chose; see sample_bn.py)
    and is put back in the mode it was in.
    """
    if n < 1:
        raise UserError(f"number of samples must be >= 1, got {n}")
    z = np.random.default_rng(seed).standard_normal((n, generator.nz, 1, 1), dtype=np.float32)
    was_training = generator.training
    generator.eval()
    try:
        out = [generator(paddle.to_tensor(z[i:i + batch_size])).numpy() for i in range(0, n, batch_size)]
    finally:
        generator.train(was_training)
    return np.concatenate(out)


def write_samples(source: str, num: int, seed: int, out: Path | None = None, individual: bool = False,
                  npy: bool = False, device: str = "auto") -> tuple[list[Path], GeneratorInfo, str]:
    """What ``tools/infer.py`` does: draw ``num`` digits and write them as a grid (and PNGs / .npy).

    Args:
        source: a run folder, generator.pdparams or .pdckpt.
        out: output folder; default ``<run>/infer``.
        individual: also write one PNG per digit into ``<out>/seed<SEED>/``.
        npy: also write ``samples_seed<SEED>.npy`` (uint8 [N, C, H, W]).
        device: auto | cpu | gpu | gpu:N, chosen before the generator is loaded.

    Returns:
        The paths written, the generator's info and the device description.
    """
    description = select_device(device)  # before loading, so the weights land on that device
    generator, info = load_generator(source)
    images = to_uint8(sample(generator, num, seed=seed))
    out = out or run_folder_of(Path(source)) / "infer"
    out.mkdir(parents=True, exist_ok=True)
    grid = out / f"grid_seed{seed}.png"
    save_grid(images[:MAX_GRID_DIGITS], grid, scale=3)
    written = [grid]
    if individual:
        folder = out / f"seed{seed}"
        folder.mkdir(exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
        written.append(folder)
    if npy:
        np.save(out / f"samples_seed{seed}.npy", images)
        written.append(out / f"samples_seed{seed}.npy")
    return written, info, description
