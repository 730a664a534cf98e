"""The training loop: epoch after epoch, for every batch a D step and then a G step.

:func:`training_steps` is the whole of it; it yields after every step, and whoever
runs it (``paddle_dcgan.training.run``) does the rest between steps: logs, pictures,
checkpoints, a stop on Ctrl-C. Resuming is starting it at a later step.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .steps import Objective, discriminator_step, generator_step


def train_step(generator, discriminator, opt_g, opt_d, real, real_labels, z, fake_labels,
               objective: Objective = Objective()) -> dict[str, float]:
    """One D step and one G step on the batch ``real``; returns the step's losses and D outputs."""
    fake, stats = discriminator_step(generator, discriminator, opt_d, real, z, real_labels, fake_labels, objective)
    stats.update(generator_step(discriminator, opt_g, fake, fake_labels, objective))
    return stats


def training_steps(generator, discriminator, opt_g, opt_d, batches, epochs: int, step: int,
                   draw: Callable, objective: Objective = Objective()) -> Iterator[tuple[int, int, dict[str, float]]]:
    """Train from ``step`` to the end of epoch ``epochs``, yielding ``(step, epoch, stats)`` after every step.

    Args:
        batches: ``len(batches)`` steps per epoch; ``batches.epoch(e, start)`` yields epoch e's
            ``(real images, their labels or None)`` from its batch ``start`` on.
        step: steps already done (0 for a new run).
        draw: ``draw(step)`` -> ``(z, fake labels or None)``: the noise of that step (a pure function of
            the step, so a resumed run draws what an uninterrupted one would).
    """
    per_epoch = len(batches)
    for epoch in range(step // per_epoch, epochs):
        for real, real_labels in batches.epoch(epoch, start=step % per_epoch):
            z, fake_labels = draw(step)
            stats = train_step(generator, discriminator, opt_g, opt_d, real, real_labels, z, fake_labels, objective)
            step += 1
            yield step, epoch, stats
