"""Which BatchNorm statistics a generator samples with (``model.sample_bn``).

Sampling runs the generator in eval mode, so every BatchNorm normalises with the
statistics it holds:

- ``running``: the running averages kept during training (momentum 0.9). They
  trail the weights, and for an EMA generator they are an average of statistics
  that belonged to other weights.
- ``recomputed``: measured afresh for the weights being sampled: the generator
  runs in train mode on ``RECOMPUTE_BATCHES`` noise batches and every BatchNorm
  gets the plain (momentum-free) mean and variance of its inputs over all of them.

Every place that samples a trained generator (the per-epoch grid, in-training
evaluation, ``generator.pdparams``, loading from a checkpoint) goes through
:func:`for_sampling`, so they all use the run's policy. The noise is a fixed
stream of the run's seed, so the result is a pure function of the weights.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import paddle
from paddle import nn

from ..core.models import Generator
from ..random_streams import STREAM_BATCHNORM, noise

RECOMPUTE_BATCHES = 8  # noise batches the statistics are averaged over
RECOMPUTE_BATCH_SIZE = 256  # images per batch: 2,048 in all, under a second on 2 CPU cores


@contextlib.contextmanager
def quiet_batchnorm():
    """paddle's BatchNorm2D warns on every training forward that it tracks running statistics: intended here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When training, we now always track")
        yield


@paddle.no_grad()
def recompute_batchnorm(generator: nn.Layer, seed: int, batches: int = RECOMPUTE_BATCHES,
                        batch_size: int = RECOMPUTE_BATCH_SIZE) -> None:
    """Set every BatchNorm's running mean and variance to those of its inputs under the current weights.

    Each layer sees what it sees in training (inputs normalised upstream with batch
    statistics); its per-channel mean and variance are pooled over all
    ``batches x batch_size`` samples. Changes ``generator`` in place, leaves its mode as it was.
    """
    norms = [layer for layer in generator.sublayers() if isinstance(layer, nn.BatchNorm2D)]
    moments = {id(layer): [0.0, 0.0] for layer in norms}  # sums over batches of E[x] and E[x^2] per channel

    def record(layer, inputs):
        x = inputs[0]
        moments[id(layer)][0] += x.mean(axis=[0, 2, 3])
        moments[id(layer)][1] += (x * x).mean(axis=[0, 2, 3])

    num_classes = getattr(generator, "num_classes", 0)
    # a conditional generator sees every class equally often, as over training's uniform fake labels
    labels = paddle.to_tensor(np.arange(batch_size) % num_classes, dtype="int64") if num_classes else None
    handles = [layer.register_forward_pre_hook(record) for layer in norms]
    was_training = generator.training
    generator.train()
    try:
        with quiet_batchnorm():
            for b in range(batches):
                generator(noise(seed, STREAM_BATCHNORM, b, batch_size, generator.nz), labels)
    finally:
        for handle in handles:
            handle.remove()
        generator.train(was_training)
    for layer in norms:  # train mode moved the running statistics: replace them
        first, second = moments[id(layer)]
        mean = first / batches
        layer._mean.set_value(mean)
        layer._variance.set_value(paddle.clip(second / batches - mean * mean, min=0.0))


def stock_copy(generator: nn.Layer) -> Generator:
    """A new core :class:`Generator` with ``generator``'s weights and statistics: stock layers, whatever
    ``generator`` was trained with (kernel stand-ins, wrappers), so every path samples alike bit for bit."""
    copy = Generator(generator.image_size, generator.nz, generator.ngf, generator.channels, generator.num_classes)
    copy.set_state_dict(generator.state_dict())
    copy.train(generator.training)
    return copy


def for_sampling(generator: nn.Layer, policy: str, seed: int) -> nn.Layer:
    """The net to sample ``generator`` with under ``policy``: itself (running) or a stock copy with
    recomputed statistics."""
    if policy == "running":
        return generator
    if policy != "recomputed":
        raise ValueError(f"unknown BatchNorm sampling policy {policy!r}")
    prepared = stock_copy(generator)
    recompute_batchnorm(prepared, seed)
    prepared.eval()
    return prepared
