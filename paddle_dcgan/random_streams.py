"""Every random stream of the package, in one table; each is a pure function of its key.

Training noise, the labels of the fakes (conditional models), the epoch order
of the data and the fixed-noise grid each draw from their own numpy generator
keyed by the run's seed, a stream id and a counter (step or epoch). The noise
of training step ``k`` is therefore the same whether a run was interrupted or
not, on any device, with no RNG state to carry.

Sampling (``sample(G, n, seed)``) and evaluation draw from keys of their own,
below the training streams.
"""

from __future__ import annotations

import numpy as np
import paddle

from .errors import UserError

STREAM_TRAIN_NOISE = 0  # z of training step k (counter = k)
STREAM_SHUFFLE = 1  # data.Batches: the order of epoch e (counter = e)
STREAM_FIXED_NOISE = 2  # the per-epoch sample grid (counter = 0)
STREAM_BATCHNORM = 3  # sample_bn.recompute_batchnorm: its noise batch b (counter = b)
STREAM_FAKE_LABELS = 4  # conditional models: the labels G is asked for at training step k (counter = k)

# outside training, keyed by a user's seed S:
SAMPLE_NOISE = ()  # sample(G, n, seed=S): z from default_rng(S)
SAMPLE_LABELS = (1,)  # sample(G, n, seed=S): a conditional model's labels from default_rng([S, 1])
EVAL_REAL_SUBSET = (7,)  # evaluation: which real images stand for a smaller sample count, default_rng([S, 7])


def keyed(seed: int, key: tuple[int, ...]) -> np.random.Generator:
    """The generator of stream ``key`` (one of the tuples above) for a user's seed."""
    return np.random.default_rng([seed, *key] if key else seed)


def stream(seed: int, stream_id: int, counter: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream_id, counter])


def noise_array(seed: int, stream_id: int, counter: int, n: int, nz: int) -> np.ndarray:
    """Standard normal float32 z [n, nz, 1, 1], a pure function of its arguments."""
    return stream(seed, stream_id, counter).standard_normal((n, nz, 1, 1), dtype=np.float32)


def noise(seed: int, stream_id: int, counter: int, n: int, nz: int) -> paddle.Tensor:
    """:func:`noise_array` as a paddle tensor."""
    return paddle.to_tensor(noise_array(seed, stream_id, counter, n, nz))


def label_array(seed: int, stream_id: int, counter: int, n: int, num_classes: int) -> np.ndarray:
    """Class ids int64 [n], uniform over ``0..num_classes-1``, a pure function of its arguments."""
    return stream(seed, stream_id, counter).integers(0, num_classes, n, dtype=np.int64)


def random_labels(seed: int, stream_id: int, counter: int, n: int, num_classes: int) -> paddle.Tensor:
    """:func:`label_array` as a paddle tensor."""
    return paddle.to_tensor(label_array(seed, stream_id, counter, n, num_classes))


def noise_for_seed(seed: int, n: int, nz: int) -> np.ndarray:
    """The noise ``sample(G, n, seed)`` uses: standard normal float32 [n, nz, 1, 1] from numpy's default_rng."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {seed!r}")
    return keyed(seed, SAMPLE_NOISE).standard_normal((n, nz, 1, 1), dtype=np.float32)


def labels_for_seed(seed: int, n: int, num_classes: int) -> np.ndarray:
    """The labels ``sample(G, n, seed)`` gives a conditional generator: int64 [n], uniform over the classes.

    Drawn from a generator of their own, so that the noise of ``seed`` is the same
    as for an unconditional model, and the first k labels do not depend on n.
    """
    return keyed(seed, SAMPLE_LABELS).integers(0, num_classes, n, dtype=np.int64)
