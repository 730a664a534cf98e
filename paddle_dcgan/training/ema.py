"""An exponential moving average (EMA) of the generator's weights (``train.ema_decay``).

After every G step each averaged tensor moves a fraction ``1 - decay`` of the way
to the trained one. The decay is warmed up as TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` does, ``min(decay, (1 + n) / (10 + n))``
after ``n`` updates: a fixed 0.999 from step 1 would keep e^-2.5 = 8 % of the
random initial weights in the average after 2,500 steps. BatchNorm's running
statistics are averaged like the weights; ``model.sample_bn=recomputed``
replaces them by statistics measured for the averaged weights.
"""

from __future__ import annotations

import copy
from typing import Any

import paddle
from paddle import nn


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay used for update number ``updates + 1``."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """Holds ``average``, a copy of ``source`` whose tensors trail it exponentially.

    Args:
        source: the net being trained (its state_dict is read after each step).
        decay: the long-run decay, 0 < decay < 1.
    """

    def __init__(self, source: nn.Layer, decay: float):
        self.source, self.decay = source, decay
        self.average = copy.deepcopy(source)
        self.average.eval()
        self.updates = 0

    @paddle.no_grad()
    def update(self) -> None:
        """Move the average towards the source's current weights and BatchNorm statistics."""
        d = warmed_up_decay(self.decay, self.updates)
        trained = self.source.state_dict()
        for key, tensor in self.average.state_dict().items():
            tensor.set_value(tensor * d + trained[key] * (1.0 - d))
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.average.state_dict(), "updates": self.updates}

    def set_state_dict(self, saved: dict[str, Any]) -> None:
        self.average.set_state_dict(saved["weights"])
        self.updates = int(saved["updates"])
