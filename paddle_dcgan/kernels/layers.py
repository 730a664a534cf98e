"""Faster stand-ins for the core's stock layers: same parameters, same state_dict keys, same function.

:func:`paddle_dcgan.kernels.apply` turns a stock layer into one of these in place (its class
changes, its parameters stay). Results agree with the stock layers to rounding
(tests/test_kernels.py); anything a stand-in does not handle goes through the stock code.

- :class:`GemmConvTranspose2D`, :class:`GemmConv2D`: a layer whose kernel covers the whole
  1x1 or base x base map (G's projection of z, D's read-out) is one matrix product; paddle's
  CPU convolution kernels run these shapes 5-50x slower than ``paddle.matmul``.
- :class:`LabelMapsBlock`: a conditional D's first block without the C label planes per image.
- :class:`OneDNNConv2D`, :class:`OneDNNConvTranspose2D`, :class:`FusedConvBlock`: the 4x4
  stride-2 layers on oneDNN, and BatchNorm + ReLU / LeakyReLU as one operator (``build.py``).
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ..core.models import LabelPlanesBlock


def _plain(conv) -> bool:
    """No padding, groups or dilation, NCHW: the cases the GEMM forms handle."""
    padding = conv._padding if isinstance(conv._padding, (list, tuple)) else [conv._padding]
    return (all(p == 0 for p in padding) and conv._groups in (None, 1) and conv._dilation == [1, 1]
            and conv._data_format == "NCHW")


def _add_bias(out: paddle.Tensor, bias) -> paddle.Tensor:
    return out if bias is None else out + bias.reshape([1, -1, 1, 1])


class GemmConvTranspose2D(nn.Conv2DTranspose):
    """A 1x1 input (stride 1, no padding): every output pixel is ``z @ W[:, :, i, j]``, i.e. one
    [N, in] @ [in, out*k*k] product."""

    def forward(self, x: paddle.Tensor, output_size=None) -> paddle.Tensor:
        if (output_size is not None or tuple(x.shape[2:]) != (1, 1) or not _plain(self)
                or self._stride != [1, 1] or self.output_padding):
            return super().forward(x, output_size)
        in_ch, out_ch, kh, kw = self.weight.shape
        out = paddle.matmul(x.reshape([-1, in_ch]), self.weight.reshape([in_ch, out_ch * kh * kw]))
        return _add_bias(out.reshape([-1, out_ch, kh, kw]), self.bias)


class GemmConv2D(nn.Conv2D):
    """A kernel covering the whole unpadded input is a fully connected layer: [N, in*k*k] @ [in*k*k, out]."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out_ch, in_ch, kh, kw = self.weight.shape
        if tuple(x.shape[2:]) != (kh, kw) or not _plain(self):
            return super().forward(x)
        out = paddle.matmul(x.reshape([-1, in_ch * kh * kw]), self.weight.reshape([out_ch, -1]), transpose_y=True)
        return _add_bias(out.reshape([-1, out_ch, 1, 1]), self.bias)


def cpu_float32(x: paddle.Tensor) -> bool:
    """A float32 tensor on the CPU, computed now (a program being traced by paddle.jit has no place)."""
    return x.place is not None and x.place.is_cpu_place() and x.dtype == paddle.float32


def _strided(conv, x: paddle.Tensor) -> bool:
    """Whether ``conv`` (4x4, stride 2, padding 1) runs ``x`` on its oneDNN operator."""
    return (cpu_float32(x) and conv._stride == [2, 2] and conv._groups in (None, 1)
            and conv._dilation == [1, 1] and conv._data_format == "NCHW")


class OneDNNConv2D(nn.Conv2D):
    """A 4x4 stride-2 ``nn.Conv2D`` on oneDNN (``op`` = the kernels' ``onednn_conv2d``)."""

    op = None
    calls = 0  # how many convolutions ran on oneDNN (per class, for tests and benchmarks)
    bf16 = 0  # 1: the convolution reads its inputs rounded to bfloat16 (kernels.apply(..., bf16=True))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return _add_bias(self.convolve(x, self.weight), self.bias)

    def convolve(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        """The convolution (no bias) of ``x`` with ``weight``: the layer's own or a slice of it."""
        if not _strided(self, x):
            return F.conv2d(x, weight, stride=self._stride, padding=self._padding, dilation=self._dilation,
                            groups=self._groups, data_format=self._data_format)
        OneDNNConv2D.calls += 1
        return self.op(x, weight, 2, 1, int(not x.stop_gradient), int(not weight.stop_gradient), self.bf16)


class OneDNNConvTranspose2D(nn.Conv2DTranspose):
    """A 4x4 stride-2 ``nn.Conv2DTranspose`` on oneDNN (``op`` = ``onednn_conv2d_transpose``)."""

    op = None
    calls = 0
    bf16 = 0

    def forward(self, x: paddle.Tensor, output_size=None) -> paddle.Tensor:
        if output_size is not None or self.output_padding or not _strided(self, x):
            return super().forward(x, output_size)
        OneDNNConvTranspose2D.calls += 1
        return _add_bias(self.op(x, self.weight, 2, 1, int(not x.stop_gradient), int(not self.weight.stop_gradient),
                                 self.bf16), self.bias)


def activation_slope(activation: nn.Layer) -> float | None:
    """The slope of ``activation`` below 0 (ReLU 0, LeakyReLU its own), or None for any other layer."""
    if type(activation) is nn.ReLU:
        return 0.0
    if type(activation) is nn.LeakyReLU:
        return float(activation._negative_slope)
    return None


class FusedConvBlock(nn.Sequential):
    """conv -> BatchNorm2D -> ReLU / LeakyReLU whose training forward normalises and activates in one
    operator (``op`` = the kernels' ``batch_norm_act``): batch statistics, the running statistics
    updated as paddle's BatchNorm2D does, gradients of the input, scale and shift. In eval mode and
    for anything but float32 NCHW on the CPU it is the stock chain."""

    op = None
    calls = 0
    bf16 = 0

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        conv, norm, activation = self[0], self[1], self[2]
        out = conv(x)
        slope = activation_slope(activation)
        if (slope is None or not norm.training or norm._use_global_stats or norm._data_format != "NCHW"
                or not cpu_float32(out)):
            return activation(norm(out))
        FusedConvBlock.calls += 1
        out, mean, variance = self.op(out, norm.weight, norm.bias, norm._epsilon, slope)
        with paddle.no_grad():  # as paddle's kernel: running = momentum * running + (1 - momentum) * batch
            for running, batch in ((norm._mean, mean), (norm._variance, variance)):
                paddle.assign(running * norm._momentum + batch * (1 - norm._momentum), output=running)
        return out


class LabelMapsBlock(LabelPlanesBlock):
    """:class:`LabelPlanesBlock` computed without the planes.

    A convolution is linear in its input channels, so it splits into the image's part and the
    planes' part, and the planes are the same for every image of a class: their part is one map
    per class, ``maps[c]`` = the convolution of class c's planes alone (zero padding included, so
    the borders are right). An image of class c adds ``maps[c]``, one with class weights w adds
    ``w @ maps``: C small images instead of C extra input channels for every image (with 1 + 10
    planes the concatenated layer does 11x the work of the image's own). With ``op`` (the kernels'
    ``label_add_act``) and class ids, the add and the LeakyReLU run as one operator.
    """

    op = None

    def _convolve(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        conv = self[0]
        if isinstance(conv, OneDNNConv2D):
            return conv.convolve(x, weight)
        return F.conv2d(x, weight, stride=conv._stride, padding=conv._padding, dilation=conv._dilation,
                        groups=conv._groups, data_format=conv._data_format)

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        conv, activation = self[0], self[1]
        c, num_classes = images.shape[1], self.num_classes
        planes = paddle.eye(num_classes, dtype=images.dtype).reshape([num_classes, num_classes, 1, 1])
        maps = self._convolve(planes.expand([-1, -1, *images.shape[2:]]), conv.weight[:, c:])  # [C, out, S/2, S/2]
        out = self._convolve(images, conv.weight[:, :c])
        if paddle.is_integer(labels):
            slope = activation_slope(activation)
            if self.op is not None and slope is not None and conv.bias is None and _strided(conv, images):
                return self.op(out, maps, labels, slope)
            # a row per image; its gradient adds rows up one by one, so runs repeat bit for bit (a matrix
            # product's sums may be split among threads differently from run to run)
            out = out + paddle.gather(maps, labels)
        else:
            out = out + paddle.matmul(labels.astype(images.dtype), maps.flatten(1)).reshape(out.shape)
        return activation(_add_bias(out, conv.bias))
