"""Mixed precision for GPU runs (``train.amp``), or plain float32."""

from __future__ import annotations

import contextlib
import logging

import paddle

log = logging.getLogger(__name__)


class Precision:
    """paddle.amp O1 autocast in ``dtype``, or plain float32 when ``dtype`` is None.

    float16 needs loss scaling (GradScaler) so small gradients do not flush to
    zero; bfloat16 has float32's range and does not.
    """

    def __init__(self, dtype: str | None = None):
        self.dtype = dtype
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if dtype == "float16" else None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level="O1", dtype=self.dtype)

    def backward_and_step(self, optimizer, loss: paddle.Tensor) -> None:
        optimizer.clear_grad()
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaled = self.scaler.scale(loss)
            scaled.backward()
            self.scaler.minimize(optimizer, scaled)  # unscale, skip the step on inf/nan, adapt the scale


FLOAT32 = Precision()


def choose_precision(amp: str, device: str) -> Precision:
    """``train.amp`` on a GPU; on CPU mixed precision is skipped with a notice (paddle's CPU AMP
    kernels are slower than float32 and would change the results the tests pin down)."""
    if amp == "off":
        return FLOAT32
    if not device.startswith("gpu"):
        log.info("train.amp=%s needs a GPU; training in float32 on %s", amp, device.split()[0])
        return FLOAT32
    return Precision(amp)
