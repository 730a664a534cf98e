"""The GAN step: a D step and a G step, tensors in, floats out.

Per batch (Goodfellow et al. 2014; Radford et al. 2016):

1. D step: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) over D's weights.
2. G step: minimise BCE(D(G(z)), 1) over G's weights, the non-saturating
   form of "maximise log D(G(z))", which keeps G's gradients alive early on.

With ``loss="hinge"`` (``train.loss``; Lim & Ye 2017, Miyato et al. 2018) D
minimises max(0, 1 - D(x)) + max(0, 1 + D(G(z))) instead, and G minimises -D(G(z)).

A conditional GAN (Mirza & Osindero 2014) runs the same two steps with labels:
D sees each real image with its own label and each fake with the label G was
asked for, D(x, y) and D(G(z, y'), y'). Unconditional nets get ``None``.
"""

from __future__ import annotations

import contextlib

import paddle
import paddle.nn.functional as F


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


def discriminator_loss(logit_real, logit_fake, real_target: float = 1.0, loss: str = "bce") -> paddle.Tensor:
    """D's loss on its logits for real images and for fakes."""
    if loss == "hinge":
        return F.relu(1.0 - logit_real).mean() + F.relu(1.0 + logit_fake).mean()
    return (F.binary_cross_entropy_with_logits(logit_real, paddle.full_like(logit_real, real_target))
            + F.binary_cross_entropy_with_logits(logit_fake, paddle.zeros_like(logit_fake)))


def generator_loss(logit_fake, loss: str = "bce") -> paddle.Tensor:
    """G's loss on D's logits for its fakes."""
    if loss == "hinge":
        return -logit_fake.mean()
    return F.binary_cross_entropy_with_logits(logit_fake, paddle.ones_like(logit_fake))


def _update(optimizer, loss: paddle.Tensor) -> None:
    optimizer.clear_grad()
    loss.backward()
    optimizer.step()


def discriminator_step(generator, discriminator, opt_d, real, z, real_labels=None, fake_labels=None,
                       real_target: float = 1.0, loss: str = "bce") -> tuple[paddle.Tensor, dict[str, float]]:
    """D step: push D(x) towards ``real_target`` (1, or less for one-sided label smoothing) and D(G(z)) towards 0.

    Args:
        real: images [B, C, S, S] in [-1, 1].
        z: noise [B, nz, 1, 1].
        real_labels: conditional nets: the real images' class ids int64 [B]; else None.
        fake_labels: conditional nets: the class ids int64 [B] G draws; else None.
        real_target: D's target for real images (``train.real_label``); fakes always aim at 0.
        loss: ``bce`` or ``hinge`` (``train.loss``).

    Returns:
        The fake batch G(z), still attached to G's graph for the G step, and ``loss_d``,
        ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) before the update.
    """
    fake = generator(z, fake_labels)                                   # [B, C, S, S]
    logit_real = discriminator(real, real_labels)                      # [B]
    logit_fake = discriminator(fake.detach(), fake_labels)             # [B]; no gradient into G here
    loss_d = discriminator_loss(logit_real, logit_fake, real_target, loss)
    d_real, d_fake = F.sigmoid(logit_real).mean(), F.sigmoid(logit_fake).mean()
    _update(opt_d, loss_d)
    return fake, {"loss_d": float(loss_d), "d_real": float(d_real), "d_fake": float(d_fake)}


def generator_step(discriminator, opt_g, fake: paddle.Tensor, fake_labels=None, loss: str = "bce") -> dict[str, float]:
    """G step: push the freshly updated D's verdict on the fakes towards 1 (non-saturating loss).

    D's weights are frozen meanwhile: their gradients would be discarded by the next D step.
    ``fake``: the batch :func:`discriminator_step` returned; ``fake_labels``: the class ids it
    was drawn for (conditional nets), else None.

    Returns ``loss_g`` and ``d_fake_g`` = mean D(G(z)) after the D step.
    """
    with frozen(discriminator):
        logit = discriminator(fake, fake_labels)                       # [B]
        loss_g = generator_loss(logit, loss)
        d_fake = F.sigmoid(logit).mean()
        _update(opt_g, loss_g)
    return {"loss_g": float(loss_g), "d_fake_g": float(d_fake)}
