"""Telling a run that has blown up from one that is only struggling.

- Diverged: a loss that is nan, inf or beyond :data:`LOSS_LIMIT`, or a weight
  that is nan or inf. The trainer stops at once with :class:`TrainingDiverged`
  and writes nothing more, so the checkpoints and ``generator.pdparams`` already
  on disk stay the last good ones.
- Discriminator winning outright, D(x) near 1 and D(G(z)) near 0, for
  :data:`COLLAPSE_STEPS` steps in a row: often a collapsed generator, but GANs
  do come back from it, so it is a warning, logged once per process.
"""

from __future__ import annotations

import logging
import math

import paddle

from ..errors import UserError

log = logging.getLogger(__name__)

# A BCE-with-logits loss this large means logits of about 1e4 on the wrong side: the weights have blown up
# (healthy DCGAN losses stay below ~20). Overflow alone is not enough: with optim.lr_d=1e6 the losses jump
# to 1e14 at step 2 and stay finite (~2e15) for as long as the run goes.
LOSS_LIMIT = 1e4
COLLAPSE_STEPS = 200  # steps in a row of D winning outright before the warning
D_SURE = 0.99  # D(x) above this and D(G(z)) below 1 - D_SURE: D tells real from fake every time


class TrainingDiverged(UserError):
    """Losses or weights are no longer usable numbers; the run cannot continue."""


def loss_problem(stats: dict[str, float]) -> str | None:
    """What is wrong with a step's losses (``"loss_d = nan"``), or None when they are usable."""
    for key in ("loss_d", "loss_g"):
        value = stats[key]
        if not math.isfinite(value) or abs(value) > LOSS_LIMIT:
            return f"{key} = {value:.3g} (nan, inf or beyond {LOSS_LIMIT:g})"
    return None


def weight_problem(**nets: paddle.nn.Layer) -> str | None:
    """The first weight or BatchNorm statistic of ``nets`` (name=net) that is nan or inf, or None."""
    for net_name, net in nets.items():
        for name, tensor in net.state_dict().items():
            if not bool(paddle.isfinite(tensor).all()):
                return f"the {net_name}'s {name} holds nan or inf"
    return None


class CollapseWatch:
    """Counts steps in a row in which D wins outright; warns once when they reach ``steps``."""

    def __init__(self, steps: int = COLLAPSE_STEPS):
        self.steps = steps
        self.in_a_row = 0
        self.warned = False

    def update(self, step: int, stats: dict[str, float]) -> None:
        d_wins = stats["d_real"] > D_SURE and stats["d_fake"] < 1 - D_SURE
        self.in_a_row = self.in_a_row + 1 if d_wins else 0
        if self.in_a_row == self.steps and not self.warned:
            self.warned = True
            log.warning("D(x) > %.2f and D(G(z)) < %.2f for %d steps in a row (steps %d-%d): the discriminator "
                        "wins outright, the generator may have collapsed; look at samples/ (a lower optim.lr_d "
                        "often helps in a new run)", D_SURE, 1 - D_SURE, self.steps, step - self.steps + 1, step)
