"""An exponential moving average (EMA) of the generator's weights.

After every G step each averaged tensor moves a fraction ``1 - decay`` of the way
to the trained one. Two ways to set the decay:

- ``train.ema_halflife`` (images) with ``train.ema_rampup``: the decay that halves
  an old step's weight after ``halflife`` more training images, where the
  half-life is capped at ``rampup`` times the images seen so far. Early in a run
  the average follows G closely (G changes fast and its first weights are noise);
  later it spans more and more steps, up to the full half-life.
- ``train.ema_decay``: a fixed decay, warmed up as TensorFlow's
  ``ExponentialMovingAverage(num_updates=...)`` does, ``min(decay, (1 + n) / (10 + n))``
  after ``n`` updates: a fixed 0.999 from step 1 would keep e^-2.5 = 8 % of the
  random initial weights in the average after 2,500 steps.

BatchNorm's running statistics are averaged like the weights;
``model.sample_bn=recomputed`` replaces them by statistics measured for the
averaged weights.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import paddle
from paddle import nn


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay used for update number ``updates + 1``."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def ramped_decay(halflife: float, rampup: float, batch_size: int, updates: int) -> float:
    """The decay used for update number ``updates + 1``, after a step on ``batch_size`` images.

    The half-life in images is ``halflife``, or ``rampup`` times the images seen so far
    when that is shorter (``rampup`` 0: no cap).
    """
    seen = (updates + 1) * batch_size
    span = min(halflife, rampup * seen) if rampup else halflife
    return 0.5 ** (batch_size / span)


def decay_schedule(train) -> Callable[[int], float] | None:
    """``updates -> decay`` for a TrainConfig, or None when it asks for no average."""
    if train.ema_halflife:
        return lambda updates: ramped_decay(train.ema_halflife, train.ema_rampup, train.batch_size, updates)
    if train.ema_decay:
        return lambda updates: warmed_up_decay(train.ema_decay, updates)
    return None


class WeightAverage:
    """Holds ``average``, a copy of ``source`` whose tensors trail it exponentially.

    Args:
        source: the net being trained.
        decay_of: the number of updates so far -> the decay of the next one
            (:func:`decay_schedule` makes it from a config).
    """

    def __init__(self, source: nn.Layer, decay_of: Callable[[int], float]):
        self.decay_of = decay_of
        self.average = copy.deepcopy(source)
        self.average.eval()
        self.updates = 0
        # (averaged, trained) tensor pairs, found once: loading a state_dict, BatchNorm and the optimisers
        # all write into these same tensors, so the pairs hold for the whole run
        trained = source.state_dict()
        self._pairs = [(tensor, trained[key]) for key, tensor in self.average.state_dict().items()]

    @paddle.no_grad()
    def update(self) -> None:
        """Move the average towards the source's current weights and BatchNorm statistics."""
        d = self.decay_of(self.updates)
        for averaged, trained in self._pairs:  # in place, one operator each: averaged += (1 - d) (trained - averaged)
            averaged.lerp_(trained, 1.0 - d)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.average.state_dict(), "updates": self.updates}

    def set_state_dict(self, saved: dict[str, Any]) -> None:
        self.average.set_state_dict(saved["weights"])
        self.updates = int(saved["updates"])
