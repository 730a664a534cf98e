"""Mixed precision for GPU runs (``train.amp``), wrapped around the core's nets and optimisers.

The D and G steps stay plain float32 code: :meth:`Precision.net` runs a net under
paddle.amp O1 autocast and hands its output back in float32, and with float16
the gradient arriving at D's logits (where every loss of the GAN step starts) is
multiplied by the loss scale, so small gradients do not flush to zero;
:meth:`Precision.optimizer` divides it out again and skips a step whose
gradients overflowed (paddle's GradScaler). bfloat16 has float32's range and
needs no scaling.
"""

from __future__ import annotations

import logging

import paddle

log = logging.getLogger(__name__)


class _Autocast(paddle.nn.Layer):
    def __init__(self, net: paddle.nn.Layer, precision: "Precision", scales_gradient: bool):
        super().__init__()
        self.net, self.precision, self.scales_gradient = net, precision, scales_gradient

    def forward(self, *inputs):
        with paddle.amp.auto_cast(level="O1", dtype=self.precision.dtype):
            out = self.net(*inputs)
        out = out.astype("float32")
        scaler = self.precision.scaler
        if self.scales_gradient and scaler is not None and not out.stop_gradient:
            out.register_hook(scaler.scale)
        return out


class _Scaled:
    """An optimiser whose ``step`` unscales the gradients, skips the step on inf / nan and adapts the scale."""

    def __init__(self, optimizer, scaler):
        self.optimizer, self.scaler = optimizer, scaler

    def clear_grad(self):
        self.optimizer.clear_grad()

    def step(self):
        self.scaler.step(self.optimizer)
        self.scaler.update()


class Precision:
    """paddle.amp O1 autocast in ``dtype``, or plain float32 when ``dtype`` is None."""

    def __init__(self, dtype: str | None = None):
        self.dtype = dtype
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if dtype == "float16" else None

    def net(self, net: paddle.nn.Layer, logits: bool = False) -> paddle.nn.Layer:
        """``net`` for the training steps; ``logits``: it is D, whose output every loss starts from."""
        return net if self.dtype is None else _Autocast(net, self, scales_gradient=logits)

    def optimizer(self, optimizer):
        return optimizer if self.scaler is None else _Scaled(optimizer, self.scaler)


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
