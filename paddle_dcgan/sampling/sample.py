"""Drawing digits from a trained generator, walking between two of them, and writing them as pictures.

Every function here takes a :class:`~paddle_dcgan.core.models.Generator` or an engine
of ``engines.py`` (the exported program in Paddle Inference or ONNX Runtime):
the same noise gives the same digits with each.

A conditional generator also takes the class to draw, by index or by name:
``sample(G, n, seed, digit=7)``, ``sample(G, n, seed, digit="Sneaker")`` (a model
trained on a folder of pictures names its classes after the sub-folders); without
``digit`` its labels are drawn uniformly, from the seed. An unconditional generator refuses ``digit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..config import MAX_SAMPLES
from ..random_streams import labels_for_seed, noise_for_seed
from .engines import DygraphEngine, Engine
from ..errors import UserError
from ..files.arrays import read_npy
from ..files.io import make_folder, reporting_write_errors
from ..core.models import Generator
from ..visualize import save_grid, save_walk_gif, to_uint8

MAX_GRID_DIGITS = 256  # a 16 x 16 grid; more digits stay readable only as files (--individual, --npy)
MAX_WALK_STEPS = 256  # images in one interpolation strip


def _as_engine(generator: Generator | Engine) -> Engine:
    return generator if isinstance(generator, Engine) else DygraphEngine(generator)


def check_digit(digit, engine: Engine) -> int:
    """The class index ``digit`` names (an index, or one of the generator's class names), after checking that
    the generator is conditional and has that class."""
    num_classes, names = engine.num_classes, engine.class_names
    if not num_classes:
        raise UserError("this generator is unconditional (model.num_classes=0) and cannot be asked for a digit or "
                        "class; drop digit= / --digit / --class, or train a conditional one (the default config, "
                        "configs/dcgan.yaml)")
    if isinstance(digit, str):
        if digit in names:
            return names.index(digit)
        if not digit.strip().isdigit():
            shown = ", ".join(names)
            raise UserError(f"this generator has no class named {digit[:60]!r}; its classes are "
                            f"{shown[:300] + ('...' if len(shown) > 300 else '')} (or their indices 0 to "
                            f"{num_classes - 1})")
        digit = int(digit)
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit < num_classes:
        raise UserError(f"digit must be an integer from 0 to {num_classes - 1} (or a class name), got {digit!r}")
    return int(digit)


def generate(generator: Generator | Engine, z: np.ndarray, labels: np.ndarray | None = None,
             batch_size: int = 1000) -> np.ndarray:
    """Images [N, C, S, S] float32 in [-1, 1] for noise ``z`` [N, nz, 1, 1], ``batch_size`` at a time.

    ``labels``: None for an unconditional generator; for a conditional one, class ids int64 [N]
    (the dygraph engine also takes class weights float32 [N, num_classes]).
    """
    engine = _as_engine(generator)
    z = engine.check_noise(z)
    labels = engine.check_labels(labels, len(z))
    return np.concatenate([engine(z[i:i + batch_size], None if labels is None else labels[i:i + batch_size])
                           for i in range(0, len(z), batch_size)])


def sample(generator: Generator | Engine, n: int, seed: int = 0, digit: int | None = None,
           batch_size: int = 1000) -> np.ndarray:
    """``n`` images [n, C, S, S] float32 in [-1, 1]; the same ``seed`` gives the same images.

    ``digit``: conditional generators only: draw this class (0..9) every time;
    None draws the labels uniformly (:func:`labels_for_seed`). An unconditional
    generator refuses a digit. A Generator runs in eval mode (BatchNorm uses the
    statistics it holds: a generator file holds those its run's ``model.sample_bn``
    chose; see sampling/batchnorm.py) and is put back in the mode it was in.
    """
    _check_count(n)
    engine = _as_engine(generator)
    return generate(engine, noise_for_seed(seed, n, engine.nz), _labels_to_draw(engine, n, seed, digit), batch_size)


def _labels_to_draw(engine: Engine, n: int, seed: int, digit: int | None) -> np.ndarray | None:
    if digit is not None:
        return np.full(n, check_digit(digit, engine), np.int64)
    return labels_for_seed(seed, n, engine.num_classes) if engine.num_classes else None


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


def interpolate(generator: Generator | Engine, seed_a: int, seed_b: int, steps: int = 10,
                digits: tuple[int, int] | None = None) -> np.ndarray:
    """A latent walk: images [steps, C, S, S] in [-1, 1] from seed_a's digit to seed_b's.

    The ends are the digits ``sample(generator, 1, seed=seed_a)`` and ``seed_b``
    draw; the noise in between follows :func:`slerp`.

    ``digits``: conditional generators only: the classes ``(a, b)`` of the two
    ends, instead of the ones the seeds draw. Between two different classes the
    label's one-hot code moves in a straight line while z follows the arc; that
    mix of classes needs the dygraph engine (the export takes class ids).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= MAX_WALK_STEPS:
        raise UserError(f"steps must be an integer from 2 to {MAX_WALK_STEPS}, got {steps!r}")
    engine = _as_engine(generator)
    z_a, z_b = noise_for_seed(seed_a, 1, engine.nz)[0], noise_for_seed(seed_b, 1, engine.nz)[0]
    t = np.linspace(0.0, 1.0, steps)
    return generate(engine, slerp(z_a, z_b, t), _walk_labels(engine, seed_a, seed_b, t, digits))


def _walk_labels(engine: Engine, seed_a: int, seed_b: int, t: np.ndarray,
                 digits: tuple[int, int] | None) -> np.ndarray | None:
    """Class ids [steps] for a walk within one class, class weights [steps, C] across two; None if unconditional."""
    if digits is None:
        if not engine.num_classes:
            return None
        digits = (labels_for_seed(seed_a, 1, engine.num_classes)[0], labels_for_seed(seed_b, 1, engine.num_classes)[0])
    if not isinstance(digits, (tuple, list)) or len(digits) != 2:
        raise UserError(f"digits must be two classes (the walk's ends), got {digits!r}")
    a, b = (check_digit(d, engine) for d in digits)
    if a == b:
        return np.full(len(t), a, np.int64)
    one_hot = np.eye(engine.num_classes, dtype=np.float32)
    return ((1 - t)[:, None] * one_hot[a] + t[:, None] * one_hot[b]).astype(np.float32)


def load_noise(path: Path, nz: int) -> np.ndarray:
    """A noise batch [N, nz, 1, 1] of floats saved with ``np.save``, read into memory as data only
    (``files/arrays.py``): a pickle, an object array, NaN or inf, another shape or type, more than
    MAX_SAMPLES vectors or a damaged file is a UserError. The engine casts it to float32."""
    def problem(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if len(shape) != 4 or shape[1:] != (nz, 1, 1) or not shape[0]:
            return f"has shape {list(shape)}; this generator takes [N, {nz}, 1, 1] float32 (N >= 1)"
        if shape[0] > MAX_SAMPLES:
            return f"holds {shape[0]:,} noise vectors, more than the {MAX_SAMPLES:,} drawn at once; split it"
        if dtype.kind != "f":
            return f"holds {dtype} values; noise must be float (float32 is what the generator takes)"
        return None

    return np.array(read_npy(path, "noise file", problem))  # a copy in memory, the file closed


def write_samples(generator: Generator | Engine, out: Path, num: int = 64, seed: int = 0,
                  z_file: str | Path | None = None, individual: bool = False, npy: bool = False,
                  digit: int | None = None) -> list[Path]:
    """What ``tools/infer.py`` does: draw digits and write them as a grid (and PNGs / .npy).

    Args:
        out: output folder, created if needed.
        num, seed: draw ``num`` digits from ``seed``'s noise, unless ``z_file`` is given.
        z_file: a .npy noise batch [N, nz, 1, 1] to draw from instead.
        individual: also write one PNG per digit into ``<out>/<label>/``.
        npy: also write ``samples_<label>.npy`` (uint8 [N, C, H, W]).
        digit: conditional generators only: the class to draw; None = labels drawn from ``seed``.

    Files are named by a label: ``seed<SEED>``, or the noise file's name without ``.npy``,
    followed by ``_digit<D>`` when a digit is asked for (``grid_<label>.png``). Returns the paths written.
    """
    engine = _as_engine(generator)
    if z_file is None:
        images, label = to_uint8(sample(engine, num, seed, digit)), f"seed{seed}"
    else:
        z = engine.check_noise(load_noise(Path(z_file), engine.nz))
        images, label = to_uint8(generate(engine, z, _labels_to_draw(engine, len(z), seed, digit))), Path(z_file).stem
    if digit is not None:
        index = check_digit(digit, engine)
        label += f"_digit{index}" if engine.class_names[index] == str(index) else f"_class{index}"
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


def write_digit_grid(generator: Generator | Engine, out: Path, seed: int = 0, columns: int = 10) -> list[Path]:
    """A conditional generator's classes as a grid: row d holds digit d, column c the noise
    ``sample(G, columns, seed)`` draws for column c, so each column keeps one style across digits.

    Writes ``digit_grid_seed<SEED>.png``; returns its path.
    """
    engine = _as_engine(generator)
    if not engine.num_classes:
        raise UserError("a digit grid needs a conditional generator (model.num_classes=10); this one is "
                        "unconditional: train one with configs/cdcgan.yaml")
    z = noise_for_seed(seed, columns, engine.nz)
    rows = engine.num_classes
    images = generate(engine, np.tile(z, (rows, 1, 1, 1)), np.repeat(np.arange(rows, dtype=np.int64), columns))
    path = make_folder(out) / f"digit_grid_seed{seed}.png"
    save_grid(to_uint8(images), path, scale=3, ncols=columns)
    return [path]


def write_interpolation(generator: Generator | Engine, out: Path, seed_a: int, seed_b: int,
                        steps: int = 10, digits: tuple[int, int] | None = None) -> list[Path]:
    """:func:`interpolate` written as a one-row strip (PNG) and a back-and-forth animation (GIF).

    Files: ``interpolate_seed<A>_seed<B>`` (+ ``_digits<a>_<b>`` when digits are given) ``.png`` / ``.gif``.
    """
    images = to_uint8(interpolate(generator, seed_a, seed_b, steps, digits))
    if digits:  # files are named by class index: a class name may hold characters a file name cannot
        engine = _as_engine(generator)
        digits = tuple(check_digit(d, engine) for d in digits)
    out = make_folder(out)
    name = f"interpolate_seed{seed_a}_seed{seed_b}" + (f"_digits{digits[0]}_{digits[1]}" if digits else "")
    strip, gif = (out / f"{name}.{ext}" for ext in ("png", "gif"))
    save_grid(images, strip, scale=3, ncols=steps)
    save_walk_gif(images, gif)
    return [strip, gif]
