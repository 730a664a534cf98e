"""Drawing digits from a trained generator, walking between two of them, and writing them as pictures.

Every function here takes a :class:`~paddle_dcgan.models.Generator` or an engine
of ``engines.py`` (the exported program in Paddle Inference or ONNX Runtime):
the same noise gives the same digits with each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .config import MAX_SAMPLES
from .engines import DygraphEngine, Engine
from .errors import UserError
from .files import make_folder, reporting_write_errors
from .models import Generator
from .visualize import save_grid, save_walk_gif, to_uint8

MAX_GRID_DIGITS = 256  # a 16 x 16 grid; more digits stay readable only as files (--individual, --npy)
MAX_WALK_STEPS = 256  # images in one interpolation strip


def _as_engine(generator: Generator | Engine) -> Engine:
    return generator if isinstance(generator, Engine) else DygraphEngine(generator)


def noise_for_seed(seed: int, n: int, nz: int) -> np.ndarray:
    """The noise ``sample(G, n, seed)`` uses: standard normal float32 [n, nz, 1, 1] from numpy's default_rng."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng(seed).standard_normal((n, nz, 1, 1), dtype=np.float32)


def generate(generator: Generator | Engine, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Images [N, C, S, S] float32 in [-1, 1] for noise ``z`` [N, nz, 1, 1], ``batch_size`` at a time."""
    engine = _as_engine(generator)
    z = engine.check_noise(z)
    return np.concatenate([engine(z[i:i + batch_size]) for i in range(0, len(z), batch_size)])


def sample(generator: Generator | Engine, n: int, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
    """``n`` images [n, C, S, S] float32 in [-1, 1]; the same ``seed`` gives the same images.

    A Generator runs in eval mode (BatchNorm uses the statistics it holds: a
    generator file holds those its run's ``model.sample_bn`` chose; see sample_bn.py)
    and is put back in the mode it was in.
    """
    _check_count(n)
    return generate(generator, noise_for_seed(seed, n, _as_engine(generator).nz), batch_size)


def _check_count(n: int) -> None:
    if not 1 <= n <= MAX_SAMPLES:
        raise UserError(f"number of samples must be from 1 to {MAX_SAMPLES:,} (all are held in memory), got {n:,}; "
                        "draw more in several calls with different seeds")


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between the vectors ``a`` and ``b`` (any shape) at fractions ``t``.

    Returns [len(t), *a.shape] float32; t = 0 gives ``a`` and t = 1 gives ``b`` exactly.
    ``sin((1-t)w)/sin(w) a + sin(tw)/sin(w) b``, w the angle between them (White, "Sampling
    Generative Networks", 2016): for vectors of equal length the path is the arc between
    them at constant speed. Gaussian noise in many dimensions has nearly constant length,
    so the path stays where the generator was trained, where a straight line would cut
    through the short vectors in the middle. Nearly parallel vectors take the straight line.
    """
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        path = (1 - t) * a64 + t * b64
    else:
        path = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return path.reshape((len(t), *np.shape(a))).astype(np.float32)


def interpolate(generator: Generator | Engine, seed_a: int, seed_b: int, steps: int = 10) -> np.ndarray:
    """A latent walk: images [steps, C, S, S] in [-1, 1] from seed_a's digit to seed_b's.

    The ends are the digits ``sample(generator, 1, seed=seed_a)`` and ``seed_b``
    draw; the noise in between follows :func:`slerp`.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= MAX_WALK_STEPS:
        raise UserError(f"steps must be an integer from 2 to {MAX_WALK_STEPS}, got {steps!r}")
    nz = _as_engine(generator).nz
    z_a, z_b = noise_for_seed(seed_a, 1, nz)[0], noise_for_seed(seed_b, 1, nz)[0]
    return generate(generator, slerp(z_a, z_b, np.linspace(0.0, 1.0, steps)))


def load_noise(path: Path) -> np.ndarray:
    """A noise batch saved with ``np.save``; its shape is checked by the engine that runs it."""
    if not path.is_file():
        raise UserError(f"noise file '{path}' not found; pass a .npy of shape [N, nz, 1, 1]")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise UserError(f"noise file '{path}' is not a numpy .npy array; save one with np.save") from None


def write_samples(generator: Generator | Engine, out: Path, num: int = 64, seed: int = 0,
                  z_file: str | Path | None = None, individual: bool = False, npy: bool = False) -> list[Path]:
    """What ``tools/infer.py`` does: draw digits and write them as a grid (and PNGs / .npy).

    Args:
        out: output folder, created if needed.
        num, seed: draw ``num`` digits from ``seed``'s noise, unless ``z_file`` is given.
        z_file: a .npy noise batch [N, nz, 1, 1] to draw from instead.
        individual: also write one PNG per digit into ``<out>/<label>/``.
        npy: also write ``samples_<label>.npy`` (uint8 [N, C, H, W]).

    Files are named by a label: ``seed<SEED>``, or the noise file's name without ``.npy``
    (``grid_<label>.png``). Returns the paths written.
    """
    if z_file is None:
        images, label = to_uint8(sample(generator, num, seed)), f"seed{seed}"
    else:
        images, label = to_uint8(generate(generator, load_noise(Path(z_file)))), Path(z_file).stem
    out = make_folder(out)
    grid = out / f"grid_{label}.png"
    save_grid(images[:MAX_GRID_DIGITS], grid, scale=3)
    written = [grid]
    if individual:
        folder = make_folder(out / label)
        for i, image in enumerate(images):
            with reporting_write_errors(folder / f"{i:05d}.png") as path:
                Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(path)
        written.append(folder)
    if npy:
        with reporting_write_errors(out / f"samples_{label}.npy") as path:
            np.save(path, images)
        written.append(path)
    return written


def write_interpolation(generator: Generator | Engine, out: Path, seed_a: int, seed_b: int,
                        steps: int = 10) -> list[Path]:
    """:func:`interpolate` written as a one-row strip (PNG) and a back-and-forth animation (GIF)."""
    images = to_uint8(interpolate(generator, seed_a, seed_b, steps))
    out = make_folder(out)
    strip, gif = (out / f"interpolate_seed{seed_a}_seed{seed_b}.{ext}" for ext in ("png", "gif"))
    save_grid(images, strip, scale=3, ncols=steps)
    save_walk_gif(images, gif)
    return [strip, gif]
