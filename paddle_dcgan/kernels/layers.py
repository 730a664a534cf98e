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

Channels-last: every stand-in reads and writes NCHW tensors, unless
:func:`paddle_dcgan.kernels.channels_last` has marked it (``in_nhwc`` / ``out_nhwc``) as an inner
link of a chain of stand-ins: then the tensors it passes to the next link are stored
[N, H, W, C], the layout oneDNN's fastest convolutions read and write, and no layer between
two convolutions reorders them. A chain's own input and output stay NCHW.
"""

from __future__ import annotations

import functools

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..core.models import LabelPlanesBlock


def _plain(conv) -> bool:
    """No padding, groups or dilation, NCHW: the cases the GEMM forms handle."""
    padding = conv._padding if isinstance(conv._padding, (list, tuple)) else [conv._padding]
    return (all(p == 0 for p in padding) and conv._groups in (None, 1) and conv._dilation == [1, 1]
            and conv._data_format == "NCHW")


def _add_bias(out: paddle.Tensor, bias, nhwc: bool = False) -> paddle.Tensor:
    return out if bias is None else out + bias.reshape([1, 1, 1, -1] if nhwc else [1, -1, 1, 1])


def to_nchw(x: paddle.Tensor) -> paddle.Tensor:
    """A channels-last [N, H, W, C] tensor as NCHW."""
    return x.transpose([0, 3, 1, 2])


def to_nhwc(x: paddle.Tensor) -> paddle.Tensor:
    """An NCHW tensor as channels-last [N, H, W, C]."""
    return x.transpose([0, 2, 3, 1])


class Layouts:
    """How a stand-in stores the tensors it reads (``in_nhwc``) and writes (``out_nhwc``): NCHW unless
    :func:`paddle_dcgan.kernels.channels_last` marked it."""

    in_nhwc = False
    out_nhwc = False

    def as_stock(self, x: paddle.Tensor, stock) -> paddle.Tensor:
        """``stock(x)`` on NCHW tensors, ``x`` and the result in this layer's layouts."""
        out = stock(to_nchw(x) if self.in_nhwc else x)
        return to_nhwc(out) if self.out_nhwc else out


def _side(x: paddle.Tensor, nhwc: bool) -> tuple[int, int]:
    return tuple(x.shape[1:3] if nhwc else x.shape[2:])


class GemmConvTranspose2D(Layouts, nn.Conv2DTranspose):
    """A 1x1 input (stride 1, no padding): every output pixel is ``z @ W[:, :, i, j]``, i.e. one
    [N, in] @ [in, out*k*k] product (channels-last: the product's columns then reordered to k*k*out)."""

    def forward(self, x: paddle.Tensor, output_size=None) -> paddle.Tensor:
        if (output_size is not None or _side(x, self.in_nhwc) != (1, 1) or not _plain(self)
                or self._stride != [1, 1] or self.output_padding):
            return self.as_stock(x, lambda v: super(GemmConvTranspose2D, self).forward(v, output_size))
        in_ch, out_ch, kh, kw = self.weight.shape
        z = x.reshape([-1, in_ch])  # a 1x1 map: the same numbers in either layout
        out = paddle.matmul(z, self.weight.reshape([in_ch, out_ch * kh * kw]))
        # channels-last: the product's columns reordered, not the weight (paddle.DataParallel was seen not to
        # average the gradient of this weight when it reached the loss through a transpose)
        if self.out_nhwc:
            out = out.reshape([-1, out_ch, kh * kw]).transpose([0, 2, 1])
            return _add_bias(out.reshape([-1, kh, kw, out_ch]), self.bias, nhwc=True)
        return _add_bias(out.reshape([-1, out_ch, kh, kw]), self.bias)


class GemmConv2D(Layouts, nn.Conv2D):
    """A kernel covering the whole unpadded input is a fully connected layer: [N, in*k*k] @ [in*k*k, out]
    (channels-last: [N, k*k*in] @ [k*k*in, out])."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out_ch, in_ch, kh, kw = self.weight.shape
        if _side(x, self.in_nhwc) != (kh, kw) or not _plain(self):
            return self.as_stock(x, lambda v: super(GemmConv2D, self).forward(v))
        weight = self.weight.transpose([0, 2, 3, 1]) if self.in_nhwc else self.weight
        out = paddle.matmul(x.reshape([-1, in_ch * kh * kw]), weight.reshape([out_ch, -1]), transpose_y=True)
        # a 1x1 map: the same numbers in either layout
        return _add_bias(out.reshape([-1, 1, 1, out_ch] if self.out_nhwc else [-1, out_ch, 1, 1]), self.bias,
                         self.out_nhwc)


def cpu_float32(x: paddle.Tensor) -> bool:
    """A float32 tensor on the CPU, computed now (a program being traced by paddle.jit has no place)."""
    return x.place is not None and x.place.is_cpu_place() and x.dtype == paddle.float32


def _strided(conv, x: paddle.Tensor) -> bool:
    """Whether ``conv`` (4x4, stride 2, padding 1) runs ``x`` on its oneDNN operator."""
    return (cpu_float32(x) and conv._stride == [2, 2] and conv._groups in (None, 1)
            and conv._dilation == [1, 1] and conv._data_format == "NCHW")


class OneDNNConv2D(Layouts, nn.Conv2D):
    """A 4x4 stride-2 ``nn.Conv2D`` on oneDNN (``op`` = the kernels' ``onednn_conv2d``)."""

    op = None
    calls = 0  # how many convolutions ran on oneDNN (per class, for tests and benchmarks)
    bf16 = 0  # 1: the convolution reads its inputs rounded to bfloat16 (kernels.apply(..., bf16=True))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return _add_bias(self.convolve(x, self.weight), self.bias, self.out_nhwc)

    def convolve(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        """The convolution (no bias) of ``x`` with ``weight``: the layer's own or a slice of it."""
        if not _strided(self, x):
            return self.as_stock(x, lambda v: F.conv2d(v, weight, stride=self._stride, padding=self._padding,
                                                       dilation=self._dilation, groups=self._groups,
                                                       data_format=self._data_format))
        OneDNNConv2D.calls += 1
        return self.op(x, weight, 2, 1, int(not x.stop_gradient), int(not weight.stop_gradient), self.bf16,
                       int(self.in_nhwc), int(self.out_nhwc))


class OneDNNConvTranspose2D(Layouts, nn.Conv2DTranspose):
    """A 4x4 stride-2 ``nn.Conv2DTranspose`` on oneDNN (``op`` = ``onednn_conv2d_transpose``)."""

    op = None
    calls = 0
    bf16 = 0

    def forward(self, x: paddle.Tensor, output_size=None) -> paddle.Tensor:
        if output_size is not None or self.output_padding or not _strided(self, x):
            return self.as_stock(x, lambda v: super(OneDNNConvTranspose2D, self).forward(v, output_size))
        OneDNNConvTranspose2D.calls += 1
        return _add_bias(self.op(x, self.weight, 2, 1, int(not x.stop_gradient), int(not self.weight.stop_gradient),
                                 self.bf16, int(self.in_nhwc), int(self.out_nhwc)), self.bias, self.out_nhwc)


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
    for anything but float32 on the CPU it is the stock chain. The conv's layouts are the block's
    (``out_nhwc``: its output, normalised where it lies, is channels-last)."""

    op = None
    calls = 0
    bf16 = 0

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        conv, norm, activation = self[0], self[1], self[2]
        out = conv(x)
        nhwc = bool(getattr(conv, "out_nhwc", False))
        slope = activation_slope(activation)
        if (slope is None or not norm.training or norm._use_global_stats or norm._data_format != "NCHW"
                or not cpu_float32(out)):
            if not nhwc:
                return activation(norm(out))
            return activation(F.batch_norm(out, norm._mean, norm._variance, norm.weight, norm.bias,
                                           training=norm.training, momentum=norm._momentum, epsilon=norm._epsilon,
                                           data_format="NHWC", use_global_stats=norm._use_global_stats))
        FusedConvBlock.calls += 1
        out, mean, variance = self.op(out, norm.weight, norm.bias, norm._epsilon, slope, int(nhwc))
        with paddle.no_grad():  # as paddle's kernel: running = momentum * running + (1 - momentum) * batch, in place
            for running, batch in ((norm._mean, mean), (norm._variance, variance)):
                running.lerp_(batch, 1 - norm._momentum)
        return out


class LabelMapsBlock(Layouts, LabelPlanesBlock):
    """:class:`LabelPlanesBlock` computed without the planes.

    A convolution is linear in its input channels, so it splits into the image's part and the
    planes' part, and the planes are the same for every image of a class: their part is one map
    per class, ``maps[c]`` = the convolution of class c's planes alone (zero padding included, so
    the borders are right). An image of class c adds ``maps[c]``, one with class weights w adds
    ``w @ maps``: C small images instead of C extra input channels for every image (with 1 + 10
    planes the concatenated layer does 11x the work of the image's own). A plane is all ones, so
    ``maps[c]`` at an output pixel is the sum of class c's kernel taps that fall inside the image:
    all maps are one small product, [C, out, taps] @ [taps, pixels]. With ``op`` (the kernels'
    ``label_add_act``) and class ids, the add and the LeakyReLU run as one operator.
    ``out_nhwc``: the block's output and its maps are channels-last (its input is the images, NCHW).
    """

    op = None

    def _convolve(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        conv = self[0]
        if isinstance(conv, OneDNNConv2D):
            return conv.convolve(x, weight)
        out = F.conv2d(x, weight, stride=conv._stride, padding=conv._padding, dilation=conv._dilation,
                       groups=conv._groups, data_format=conv._data_format)
        return to_nhwc(out) if self.out_nhwc else out

    def _maps(self, weight: paddle.Tensor, side: tuple[int, int]) -> paddle.Tensor:
        """The label maps [C, out, H', W'] (channels-last: [C, H', W', out]) of the planes' kernel ``weight``
        [out, C, k, k] on images of ``side``: one product where the convolution's padding is plain, else
        :meth:`convolved_maps`."""
        conv = self[0]
        padding = _padding(conv)
        if padding is None:
            return self.convolved_maps(weight, side)
        out_ch, classes, kh, kw = weight.shape
        stride = tuple(conv._stride)
        taps = paddle.to_tensor(inside_taps(side, (kh, kw), stride, padding))  # [k*k, H'*W'], on the current device
        rows, cols = _map_side(side, (kh, kw), stride, padding)
        per_class = weight.transpose([1, 0, 2, 3]).reshape([classes, out_ch, kh * kw])  # [C, out, k*k]
        if self.out_nhwc:  # [H'*W', k*k] @ [C, k*k, out]
            maps = paddle.matmul(taps, per_class, transpose_x=True, transpose_y=True)
            return maps.reshape([classes, rows, cols, out_ch])
        return paddle.matmul(per_class, taps).reshape([classes, out_ch, rows, cols])

    def convolved_maps(self, weight: paddle.Tensor, side: tuple[int, int]) -> paddle.Tensor:
        """The label maps as the convolution of the C label planes (an image of C channels per class)."""
        classes = weight.shape[1]
        planes = paddle.eye(classes, dtype=weight.dtype).reshape([classes, classes, 1, 1])
        return self._convolve(planes.expand([-1, -1, *side]), weight)

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        conv, activation = self[0], self[1]
        c, num_classes = images.shape[1], self.num_classes
        maps = self._maps(conv.weight[:, c:], tuple(images.shape[2:]))
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
        return activation(_add_bias(out, conv.bias, self.out_nhwc))


def _padding(conv) -> tuple[int, int] | None:
    """The (rows, columns) zero padding of a convolution that :func:`inside_taps` describes (integer padding the
    same on both sides, no dilation or groups, NCHW), else None."""
    padding = conv._padding if isinstance(conv._padding, (list, tuple)) else [conv._padding]
    if (conv._padding_mode != "zeros" or conv._dilation != [1, 1] or conv._groups not in (None, 1)
            or conv._data_format != "NCHW" or len(padding) not in (1, 2) or not all(isinstance(p, int) for p in padding)):
        return None
    return int(padding[0]), int(padding[-1])


def _map_side(side, kernel, stride, padding) -> tuple[int, int]:
    return tuple((s + 2 * p - k) // st + 1 for s, k, st, p in zip(side, kernel, stride, padding))


@functools.lru_cache(maxsize=16)
def inside_taps(side, kernel, stride, padding) -> np.ndarray:
    """float32 [kh*kw, H'*W'], made once per shape: 1 where kernel tap (i, j) of output pixel (y, x) reads a pixel
    inside an image of ``side``, 0 where it reads the zero padding."""
    rows, cols = _map_side(side, kernel, stride, padding)

    def inside(length, k, st, p, out):  # [k, out]
        source = np.arange(out)[None, :] * st - p + np.arange(k)[:, None]
        return (source >= 0) & (source < length)

    r = inside(side[0], kernel[0], stride[0], padding[0], rows)
    c = inside(side[1], kernel[1], stride[1], padding[1], cols)
    return (r[:, None, :, None] & c[None, :, None, :]).reshape(kernel[0] * kernel[1], rows * cols).astype(np.float32)
