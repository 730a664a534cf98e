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

With a classifier D (``model.conditioning=classifier``: it judges without the
label and names the class; AC-GAN, Odena et al. 2017) and ``class_weight`` > 0
(``train.class_loss``), D also learns to name each real image's class, and G is also rewarded when D names the
class it was asked for: both add ``class_weight`` x the cross-entropy of D's
class logits. D learns classes from real images only, so it cannot settle for
calling a poor fake "a 7" because G was asked for one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Objective:
    """What the two steps minimise: ``loss`` (``train.loss``), D's ``real_target`` (``train.real_label``) and
    the weight of the class term (``train.class_loss`` with a classifier D, else 0: off)."""

    loss: str = "bce"
    real_target: float = 1.0
    class_weight: float = 0.0


def split_output(out: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor | None]:
    """D's output -> (real-vs-fake logits [B], class logits [B, C] of a classifier D, else None)."""
    return (out, None) if out.ndim == 1 else (out[:, 0], out[:, 1:])


def class_term(class_logits, labels, weight: float):
    """``weight`` x the cross-entropy of ``class_logits`` [B, C] against class ids ``labels`` [B]; 0 when off."""
    if class_logits is None or not weight:
        return 0.0
    return weight * F.cross_entropy(class_logits, labels)


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
                       objective: Objective = Objective()) -> tuple[paddle.Tensor, dict[str, float]]:
    """D step: push D(x) towards the real target (1, or less for one-sided label smoothing) and D(G(z)) towards 0
    (and, with a class term, D's class logits for x towards x's class).

    Args:
        real: images [B, C, S, S] in [-1, 1].
        z: noise [B, nz, 1, 1].
        real_labels: conditional nets: the real images' class ids int64 [B]; else None.
        fake_labels: conditional nets: the class ids int64 [B] G draws; else None.
        objective: the loss, D's target for real images (fakes always aim at 0) and the class term's weight.

    Returns:
        The fake batch G(z), still attached to G's graph for the G step, and ``loss_d``,
        ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) before the update.
    """
    fake = generator(z, fake_labels)                                   # [B, C, S, S]
    logit_real, class_real = split_output(discriminator(real, real_labels))    # [B], [B, C] or None
    logit_fake, _ = split_output(discriminator(fake.detach(), fake_labels))    # no gradient into G here
    loss_d = (discriminator_loss(logit_real, logit_fake, objective.real_target, objective.loss)
              + class_term(class_real, real_labels, objective.class_weight))
    d_real, d_fake = F.sigmoid(logit_real).mean(), F.sigmoid(logit_fake).mean()
    _update(opt_d, loss_d)
    return fake, {"loss_d": float(loss_d), "d_real": float(d_real), "d_fake": float(d_fake)}


def generator_step(discriminator, opt_g, fake: paddle.Tensor, fake_labels=None,
                   objective: Objective = Objective()) -> dict[str, float]:
    """G step: push the freshly updated D's verdict on the fakes towards 1 (non-saturating loss), and, with a
    class term, D's class logits for them towards the class they were drawn for.

    D's weights are frozen meanwhile: their gradients would be discarded by the next D step.
    ``fake``: the batch :func:`discriminator_step` returned; ``fake_labels``: the class ids it
    was drawn for (conditional nets), else None.

    Returns ``loss_g`` and ``d_fake_g`` = mean D(G(z)) after the D step.
    """
    with frozen(discriminator):
        logit, class_fake = split_output(discriminator(fake, fake_labels))     # [B], [B, C] or None
        loss_g = generator_loss(logit, objective.loss) + class_term(class_fake, fake_labels, objective.class_weight)
        d_fake = F.sigmoid(logit).mean()
        _update(opt_g, loss_g)
    return {"loss_g": float(loss_g), "d_fake_g": float(d_fake)}
