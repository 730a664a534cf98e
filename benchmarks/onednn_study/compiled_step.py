"""The training step with G and D compiled by ``paddle.jit.to_static`` on Paddle's oneDNN kernels.

A measured and rejected speed lever (README.md in this folder): with Paddle 3.3.1 this path is exact
only with the five workarounds below, each for a bug that otherwise crashes the process or silently
drops gradients, and it saves 3-10 % of the CPU work of a step.

It plugs into the library's own step unchanged: :func:`compile_trainer` replaces a Trainer's G and D
by :class:`CompiledNet` stand-ins, and ``Trainer.train_step`` (``paddle_dcgan.core.steps``) calls them like
the nets. The nets themselves, their parameters and state_dict keys are untouched; BCE, backward and
Adam stay in dygraph.

Workarounds, each marked ``(wN)`` where it is applied:

- (w1) A graph output produced by a oneDNN op (conv, reshape/flatten, scale, add, sum, matmul)
  segfaults, raises "dst_tensor shall be defined", or comes back with ``stop_gradient=True`` so that
  backward silently does nothing. Every output goes through ``paddle.assign``.
- (w2) oneDNN batch_norm in training mode never writes the running mean and variance back. The graph
  returns each BatchNorm's batch mean and variance, and :meth:`CompiledNet.__call__` applies paddle's
  update ``r = m * r + (1 - m) * batch`` in dygraph.
- (w3) Backward through mixed memory layouts (gradient in oneDNN's blocked layout, data in NCHW) makes
  oneDNN fall back to its reference kernels, 10-40x slower. A ``paddle.assign`` in front of each conv
  whose input needs a gradient makes paddle convert that gradient back to NCHW.
- (w4) oneDNN's matmul_grad segfaults when only one of its inputs wants a gradient. G's first layer is
  a GEMM of z (no gradient) and a weight, so z is made to require one.
- (w5) Freezing D's weights in the G step (stop_gradient=True) crashes oneDNN's grad kernels. A
  :class:`CompiledNet` reports no parameters, so ``steps.frozen`` freezes nothing: the G step also
  computes D's weight gradients, which the next D step's ``opt_d.clear_grad()`` discards unused.

oneDNN's conv2d_transpose has no training kernel (and to_static never sets its ``is_test``), so G's
stride-2 transposed convolutions are rebuilt from four 2x2 convolutions and a pixel shuffle
(:func:`conv_transpose_by_phases`), the fastest of the exact forms the study tried.
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn


def enable_onednn() -> None:
    """Let programs traced from now on use oneDNN kernels (works after import; dygraph ops never do)."""
    paddle.set_flags({"FLAGS_use_onednn": True})


# ------------------------------------------------------------ G's transposed convolutions
# A transposed conv (kernel 4, stride 2, padding 1) writes output row 2m + a from input rows
# m - 1 and m (a = 0, kernel rows 3 and 1) or m and m + 1 (a = 1, kernel rows 2 and 0);
# columns alike. Each of the four output phases (a, b) is therefore a 2x2 convolution.
_PHASE_TAPS = {0: (3, 1), 1: (2, 0)}


def _phase_tap_index() -> np.ndarray:
    """Positions in a flattened 4x4 kernel of the 2x2 kernels of phases (0,0), (0,1), (1,0), (1,1)."""
    return np.array([ky * 4 + kx for a in (0, 1) for b in (0, 1)
                     for ky in _PHASE_TAPS[a] for kx in _PHASE_TAPS[b]], dtype="int64")


_TAP_INDEX = _phase_tap_index()


@paddle.jit.not_to_static  # plain Python over shapes; its paddle ops are still recorded in the graph
def conv_transpose_by_phases(x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
    """``F.conv2d_transpose(x, weight, stride=2, padding=1)`` for a [in, out, 4, 4] weight.

    The 2x2 kernels are picked from the stored weight with one ``gather`` (a product with a constant
    0/1 matrix would hit the matmul_grad crash, w4), so the parameter is shared with the stock layer.
    """
    c_in, c_out = weight.shape[0], weight.shape[1]
    taps = paddle.gather(weight.reshape([c_in * c_out, 16]), paddle.to_tensor(_TAP_INDEX), axis=1)
    kernels = taps.reshape([c_in, c_out, 4, 2, 2]).transpose([2, 1, 0, 3, 4])  # [phase, out, in, 2, 2]
    phases = []
    for a in (0, 1):
        for b in (0, 1):
            # pad top, bottom, left, right so that window row 0 sits on input row m - 1 + a
            phases.append(F.conv2d(x, kernels[2 * a + b], padding=[1 - a, a, 1 - b, b]))
    n, _, h, w = phases[0].shape
    # channel 4 * o + phase -> pixel (2h + a, 2w + b) of channel o
    return F.pixel_shuffle(paddle.stack(phases, axis=2).reshape([n, 4 * c_out, h, w]), 2)


def _is_stride2_transpose(layer: nn.Layer) -> bool:
    return (isinstance(layer, nn.Conv2DTranspose) and list(layer._stride) == [2, 2]
            and list(layer.weight.shape[2:]) == [4, 4] and layer._padding in (1, [1, 1], [1, 1, 1, 1])
            and not layer.output_padding and layer.bias is None)


# ------------------------------------------------------------ the traced forward
@paddle.jit.not_to_static
def _forward(layer: nn.Layer, x: paddle.Tensor, batch_stats: list) -> paddle.Tensor:
    """Run ``layer`` on ``x`` as the graph needs it; BatchNorm batch statistics go to ``batch_stats``."""
    if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose)) and not x.stop_gradient:
        x = paddle.assign(x)  # (w3)
    if isinstance(layer, nn.Sequential):
        for child in layer.children():
            x = _forward(child, x, batch_stats)
        return x
    if isinstance(layer, nn.BatchNorm2D) and layer.training:  # (w2)
        detached = x.detach()
        mean = detached.mean(axis=[0, 2, 3])
        batch_stats += [mean, (detached * detached).mean(axis=[0, 2, 3]) - mean * mean]  # biased, as paddle
        channels = x.shape[1]
        # stand-in running tensors: the real ones must never reach the kernel
        return F.batch_norm(x, paddle.zeros([channels]), paddle.ones([channels]), layer.weight, layer.bias,
                            training=True, momentum=layer._momentum, epsilon=layer._epsilon)
    if _is_stride2_transpose(layer):
        return conv_transpose_by_phases(x, layer.weight)
    return layer(x)


class TrainingGraph(nn.Layer):
    """The training-mode forward of a paddle_dcgan net (G or D) in a form that compiles.

    Returns ``[output, mean_1, var_1, mean_2, var_2, ...]``: the net's output and the batch
    statistics of its BatchNorm layers, in order.
    """

    def __init__(self, net: nn.Layer, flatten: bool):
        super().__init__()
        self.net = net
        self.flatten = flatten

    def forward(self, x):
        batch_stats = []
        out = _forward(self.net.blocks, x, batch_stats)
        if self.flatten:
            out = out.flatten()
        return [paddle.assign(t) for t in [out] + batch_stats]  # (w1)


class CompiledNet:
    """Stands in for G or D in ``paddle_dcgan.core.steps``: compiled forward, running statistics kept.

    Owns no parameters (w5): the optimisers hold the real net's, which the graph reads.

    Args:
        net: a Generator or Discriminator of paddle_dcgan.core.models, left as it is.
        flatten: flatten the output, as the Discriminator does ([N, 1, 1, 1] logits -> [N]).
        input_needs_grad: make the input require a gradient (w4; G's z).
    """

    def __init__(self, net: nn.Layer, flatten: bool, input_needs_grad: bool = False):
        self.net = net
        self.input_needs_grad = input_needs_grad
        self.batch_norms = [m for m in net.sublayers() if isinstance(m, nn.BatchNorm2D)]
        self.graph = paddle.jit.to_static(TrainingGraph(net, flatten), full_graph=True)

    def parameters(self) -> list:
        return []

    def __call__(self, x: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        if labels is not None:  # steps.py passes None for unconditional nets
            raise ValueError("CompiledNet compiles unconditional nets only (model.num_classes=0)")
        if self.input_needs_grad and x.stop_gradient:
            x = x.detach()
            x.stop_gradient = False
        out, *batch_stats = self.graph(x)
        with paddle.no_grad():
            for i, bn in enumerate(self.batch_norms):
                m = bn._momentum
                paddle.assign(bn._mean * m + batch_stats[2 * i] * (1.0 - m), output=bn._mean)
                paddle.assign(bn._variance * m + batch_stats[2 * i + 1] * (1.0 - m), output=bn._variance)
        return out


def compile_trainer(trainer) -> None:
    """Make ``trainer.train_step`` run G and D compiled (call :func:`enable_onednn` first).

    Only for measuring: the trainer's ``generator`` / ``discriminator`` become :class:`CompiledNet`
    stand-ins (the nets stay reachable as ``.net``), so it can no longer sample or save.
    """
    trainer.generator = CompiledNet(trainer.generator, flatten=False, input_needs_grad=True)
    trainer.discriminator = CompiledNet(trainer.discriminator, flatten=True)
