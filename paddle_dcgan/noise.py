"""Random streams of a run, each a pure function of ``(seed, stream, counter)``.

Training noise, the labels of the fakes (conditional models), the epoch order
of the data and the fixed-noise grid each draw from their own numpy generator
keyed by the run's seed, a stream id and a counter (step or epoch). The noise
of training step ``k`` is therefore the same whether a run was interrupted or
not, on any device, with no RNG state to carry.
"""

from __future__ import annotations

import numpy as np
import paddle

STREAM_TRAIN_NOISE = 0  # z of training step k (counter = k)
STREAM_SHUFFLE = 1  # data.Batches: the order of epoch e (counter = e)
STREAM_FIXED_NOISE = 2  # the per-epoch sample grid (counter = 0)
STREAM_BATCHNORM = 3  # sample_bn.recompute_batchnorm: its noise batch b (counter = b)
STREAM_FAKE_LABELS = 4  # conditional models: the labels G is asked for at training step k (counter = k)


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
