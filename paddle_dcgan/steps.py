"""The GAN step: a D step and a G step, tensors in, floats out.

Per batch (Goodfellow et al. 2014; Radford et al. 2016):

1. D step: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) over D's weights.
2. G step: minimise BCE(D(G(z)), 1) over G's weights, the non-saturating
   form of "maximise log D(G(z))", which keeps G's gradients alive early on.

A conditional GAN (Mirza & Osindero 2014) runs the same two steps with labels:
D sees each real image with its own label and each fake with the label G was
asked for, D(x, y) and D(G(z, y'), y'). Unconditional nets get ``None``.

``shards`` cuts the batch into equal parts that BatchNorm normalises separately,
with the losses averaged over the parts: one process computes exactly what that
many data-parallel processes compute together (parallel.py, ``train.shards``).
"""

from __future__ import annotations

import contextlib
import warnings

import paddle
import paddle.nn.functional as F

from .amp import FLOAT32, Precision
from .parallel import batchnorm_statistics, shard_of


@contextlib.contextmanager
def frozen(layer: paddle.nn.Layer):
    """Skip weight gradients of ``layer`` (gradients still flow through it to its input)."""
    params = [p for p in layer.parameters() if not p.stop_gradient]
    for p in params:
        p.stop_gradient = True
    try:
        yield
    finally:
        for p in params:
            p.stop_gradient = False


@contextlib.contextmanager
def quiet_batchnorm():
    # paddle's BatchNorm2D warns on every training forward that it tracks running statistics: intended here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When training, we now always track")
        yield


def shard_runs(nets, shards: int):
    """Yield ``0 .. shards-1``; around each, BatchNorm running statistics of ``nets`` behave as if the shard
    ran alone: every shard starts from the statistics the step started with, and the step ends with their
    mean over the shards (what parallel.World.average_batchnorm does across processes)."""
    if shards == 1:
        yield 0
        return
    stats = [t for net in nets for t in batchnorm_statistics(net)]
    start = [t.clone() for t in stats]
    total = [paddle.zeros_like(t) for t in stats]
    for i in range(shards):
        for t, s in zip(stats, start):
            t.set_value(s)
        yield i
        for t, s in zip(total, stats):
            t.add_(s)
    for t, s in zip(stats, total):
        t.set_value(s / shards)


def _mean(values: list) -> paddle.Tensor:
    return values[0] if len(values) == 1 else paddle.add_n(values) / len(values)


def discriminator_step(generator, discriminator, opt_d, real, z, real_labels=None, fake_labels=None,
                       precision: Precision = FLOAT32,
                       real_label: float = 1.0, shards: int = 1) -> tuple[list[paddle.Tensor], dict[str, float]]:
    """D step: push D(x) towards ``real_label`` (1, or less for one-sided label smoothing) and D(G(z)) towards 0.

    Args:
        real: images [B, C, S, S] in [-1, 1].
        z: noise [B, nz, 1, 1].
        real_labels: conditional nets: the real images' class ids int64 [B]; else None.
        fake_labels: conditional nets: the class ids int64 [B] G draws; else None.
        precision: float32, or mixed precision on a GPU.
        real_label: D's target for real images (``train.real_label``); fakes always aim at 0.
        shards: equal parts of the batch normalised separately (``train.shards``; 1 = the whole batch).

    Returns:
        The fake batch G(z) as a list of its shards, still attached to G's graph for the G step, and
        ``loss_d``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) before the update.
    """
    fakes, losses, d_real, d_fake = [], [], [], []
    for i in shard_runs((generator, discriminator), shards):
        labels = shard_of(fake_labels, i, shards)
        with quiet_batchnorm(), precision.autocast():
            fake = generator(shard_of(z, i, shards), labels)
            logit_real = discriminator(shard_of(real, i, shards), shard_of(real_labels, i, shards))
            logit_fake = discriminator(fake.detach(), labels)  # no gradient into G here
            losses.append(F.binary_cross_entropy_with_logits(logit_real, paddle.full_like(logit_real, real_label))
                          + F.binary_cross_entropy_with_logits(logit_fake, paddle.zeros_like(logit_fake)))
        fakes.append(fake)
        d_real.append(F.sigmoid(logit_real).mean())
        d_fake.append(F.sigmoid(logit_fake).mean())
    loss = _mean(losses)
    precision.backward_and_step(opt_d, loss)
    stats = {"loss_d": loss, "d_real": _mean(d_real), "d_fake": _mean(d_fake)}
    return fakes, {k: float(v) for k, v in stats.items()}


def generator_step(discriminator, opt_g, fakes: list[paddle.Tensor], fake_labels=None,
                   precision: Precision = FLOAT32) -> dict[str, float]:
    """G step: push the freshly updated D's verdict on the fakes towards 1 (non-saturating loss).

    D's weights are frozen meanwhile: their gradients would be discarded by the next D step.
    ``fakes``: the shards :func:`discriminator_step` returned; ``fake_labels``: the class ids
    the whole fake batch was drawn for (conditional nets), else None.

    Returns ``loss_g`` and ``d_fake_g`` = mean D(G(z)) after the D step.
    """
    shards = len(fakes)
    losses, d_fake = [], []
    with frozen(discriminator), quiet_batchnorm():
        for i in shard_runs((discriminator,), shards):
            with precision.autocast():
                logit = discriminator(fakes[i], shard_of(fake_labels, i, shards))
                losses.append(F.binary_cross_entropy_with_logits(logit, paddle.ones_like(logit)))
            d_fake.append(F.sigmoid(logit).mean())
        loss = _mean(losses)
        precision.backward_and_step(opt_g, loss)
    return {"loss_g": float(loss), "d_fake_g": float(_mean(d_fake))}
