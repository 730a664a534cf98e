"""DCGAN generator and discriminator as plain ``paddle.nn.Layer`` s.

Both nets are mirror images. Every supported size starts (G) or ends (D) at a
``base`` x ``base`` feature map and doubles/halves it ``n`` times:

============  ======  ===  ============================================
image_size    base    n    generator channels, z -> image
============  ======  ===  ============================================
28 (MNIST)    7       2    nz -> 2ngf@7 -> ngf@14 -> 1@28
32            4       3    nz -> 4ngf@4 -> 2ngf@8 -> ngf@16 -> 1@32
64            4       4    nz -> 8ngf@4 -> 4ngf@8 -> 2ngf@16 -> ngf@32 -> 1@64
============  ======  ===  ============================================

With ``num_classes`` > 0 both nets are told the digit (a conditional DCGAN):
the generator reads the label's one-hot code appended to z, the discriminator
reads it as constant image planes beside the picture. With ``num_classes`` = 0
they are the plain DCGAN nets, parameter for parameter.

The layers whose kernel covers a whole 1x1 or base x base map (G's projection
of z, D's read-out) are computed as one matrix product each
(:class:`WholeMapConvTranspose2D`, :class:`WholeMapConv2D`): stock-layer
subclasses with the same parameters and results, several times faster on CPU.
The 4x4 stride-2 layers (:class:`StridedConv2D`, :class:`StridedConvTranspose2D`)
are stock layers that a training run may hand oneDNN kernels (``train.kernels``,
onednn.py).
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from .config import IMAGE_SIZES


def layout(image_size: int) -> tuple[int, int]:
    """``(base, n)``: side of the smallest feature map and the number of 2x steps."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size}")
    base = 7 if image_size == 28 else 4
    return base, (image_size // base).bit_length() - 1


def _plain(conv) -> bool:
    """No padding, groups or dilation, NCHW: the cases the GEMM forms below handle."""
    padding = conv._padding if isinstance(conv._padding, (list, tuple)) else [conv._padding]
    return (all(p == 0 for p in padding) and conv._groups in (None, 1) and conv._dilation == [1, 1]
            and conv._data_format == "NCHW")


class WholeMapConvTranspose2D(nn.Conv2DTranspose):
    """``nn.Conv2DTranspose`` that computes a 1x1 input (stride 1, no padding) as one GEMM.

    On a 1x1 input every output pixel is ``z @ W[:, :, i, j]``: a matrix product
    [N, in] @ [in, out*k*k]. Paddle's CPU conv-transpose kernel runs it ~5x
    slower than ``paddle.matmul`` (README, Performance). Same parameters, same
    state_dict keys and the same results as the stock layer (tests/test_models.py);
    any other input goes through the stock kernel.
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if tuple(x.shape[2:]) != (1, 1) or not _plain(self) or self._stride != [1, 1] or self.output_padding:
            return super().forward(x)
        in_ch, out_ch, kh, kw = self.weight.shape
        out = paddle.matmul(x.reshape([-1, in_ch]), self.weight.reshape([in_ch, out_ch * kh * kw]))
        out = out.reshape([-1, out_ch, kh, kw])
        return out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])


class WholeMapConv2D(nn.Conv2D):
    """``nn.Conv2D`` whose kernel covers the whole (unpadded) input, computed as one GEMM.

    Such a layer is a fully connected layer in disguise: [N, in*k*k] @ [in*k*k, out].
    Paddle's CPU conv kernel takes ~50x longer for it than ``paddle.matmul``. Same
    parameters, keys and results as the stock layer; any other input goes through
    the stock kernel.
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out_ch, in_ch, kh, kw = self.weight.shape
        if tuple(x.shape[2:]) != (kh, kw) or not _plain(self):
            return super().forward(x)
        out = paddle.matmul(x.reshape([-1, in_ch * kh * kw]), self.weight.reshape([out_ch, -1]), transpose_y=True)
        out = out.reshape([-1, out_ch, 1, 1])
        return out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])


def _cpu_float32(x: paddle.Tensor) -> bool:
    """A float32 tensor on the CPU, computed now (a program being traced by paddle.jit has no place)."""
    return x.place is not None and x.place.is_cpu_place() and x.dtype == paddle.float32


def _strided(conv, x: paddle.Tensor) -> bool:
    """Whether ``conv`` (4x4, stride 2, padding 1) should run ``x`` on its oneDNN kernel."""
    return (conv.onednn_op is not None and _cpu_float32(x)
            and conv._stride == [2, 2] and conv._groups in (None, 1) and conv._dilation == [1, 1]
            and conv._data_format == "NCHW")


class StridedConv2D(nn.Conv2D):
    """``nn.Conv2D`` (4x4, stride 2, padding 1) that runs on oneDNN once given the kernel (onednn.use_kernels).

    Until then, on a GPU, or for anything but float32 NCHW it is the stock layer.
    Same parameters and state_dict keys either way.
    """

    onednn_op = None  # onednn_conv2d of onednn.load(), set per layer by onednn.use_kernels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.convolve(x, self.weight)
        return out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])

    def convolve(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        """This layer's convolution (no bias) of ``x`` with ``weight``: the layer's own or a slice of it."""
        if not _strided(self, x):
            return F.conv2d(x, weight, stride=self._stride, padding=self._padding, dilation=self._dilation,
                            groups=self._groups, data_format=self._data_format)
        return self.onednn_op(x, weight, 2, 1, int(not x.stop_gradient), int(not weight.stop_gradient))


class LabelPlanesConv2D(StridedConv2D):
    """A conditional D's first layer: the convolution of ``concat([images, label planes])``, computed
    without the planes.

    Its weight is [out, channels + C, 4, 4], the label planes' part last. A convolution is linear in
    its input channels, so it splits into the images' part and the planes' part, and the planes are
    the same for every image of a class: their part is one map per class, ``maps[c]`` = the
    convolution of class c's planes alone (zero padding included, so the borders are right). An
    image of class c adds ``maps[c]``, one with class weights w adds ``w @ maps``: C small images
    instead of C extra input channels for every image (with 1 + 10 planes the concatenated layer does
    11x the work of the image's own). Same parameters and function as the concatenated layer; sums
    run in another order, so results agree with it to rounding (tests/test_conditional.py).
    """

    label_act_op = None  # label_add_act of onednn.load(), set by onednn.use_kernels

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor | None = None,
                activation: nn.Layer | None = None) -> paddle.Tensor:
        """images [N, channels, S, S] and labels (class ids int [N], or class weights float [N, C]) ->
        [N, out, S/2, S/2], through ``activation`` if one is given; without labels, images must come with
        their planes, [N, channels + C, S, S]: the stock layer. With the fused kernel (onednn.use_kernels)
        and class ids, the label maps' add and a ReLU / LeakyReLU run as one operator."""
        if labels is None:
            out = super().forward(images)
            return out if activation is None else activation(out)
        c, num_classes = images.shape[1], self.weight.shape[1] - images.shape[1]
        planes = paddle.eye(num_classes, dtype=images.dtype).reshape([num_classes, num_classes, 1, 1])
        maps = self.convolve(planes.expand([-1, -1, *images.shape[2:]]), self.weight[:, c:])  # [C, out, S/2, S/2]
        out = self.convolve(images, self.weight[:, :c])
        if paddle.is_integer(labels):
            slope = activation_slope(activation)
            if self.label_act_op is not None and slope is not None and self.bias is None and _strided(self, images):
                return self.label_act_op(out, maps, labels, slope)
            # a row per image; its gradient adds rows up one by one, so runs repeat bit for bit (a matrix
            # product's sums may be split among threads differently from run to run)
            out = out + paddle.gather(maps, labels)
        else:
            out = out + paddle.matmul(labels.astype(images.dtype), maps.flatten(1)).reshape(out.shape)
        out = out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])
        return out if activation is None else activation(out)


class StridedConvTranspose2D(nn.Conv2DTranspose):
    """``nn.Conv2DTranspose`` (4x4, stride 2, padding 1) that runs on oneDNN once given the kernel."""

    onednn_op = None  # onednn_conv2d_transpose of onednn.load()

    def forward(self, x: paddle.Tensor, output_size=None) -> paddle.Tensor:
        if output_size is not None or self.output_padding or not _strided(self, x):
            return super().forward(x, output_size)
        out = self.onednn_op(x, self.weight, 2, 1, int(not x.stop_gradient), int(not self.weight.stop_gradient))
        return out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])


def activation_slope(activation: nn.Layer) -> float | None:
    """The slope of ``activation`` below 0 (ReLU 0, LeakyReLU its own), or None for any other layer."""
    if type(activation) is nn.ReLU:
        return 0.0
    if type(activation) is nn.LeakyReLU:
        return float(activation._negative_slope)
    return None


class ConvBlock(nn.Sequential):
    """conv -> BatchNorm2D -> ReLU / LeakyReLU: a stock ``nn.Sequential`` (same layers, same state_dict keys)
    whose training forward, once given the fused kernel (onednn.use_kernels), normalises and activates in
    one operator: batch statistics, running statistics updated as paddle's BatchNorm2D does, gradients of
    the input, scale and shift. Results agree with the stock layers to rounding (tests/test_onednn.py);
    in eval mode, on a GPU or for anything but float32 NCHW it is the stock chain.
    """

    norm_act_op = None  # batch_norm_act of onednn.load()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        conv, norm, activation = self[0], self[1], self[2]
        out = conv(x)
        slope = activation_slope(activation)
        if (self.norm_act_op is None or slope is None or not norm.training or norm._use_global_stats
                or norm._data_format != "NCHW" or not _cpu_float32(out)):
            return activation(norm(out))
        out, mean, variance = self.norm_act_op(out, norm.weight, norm.bias, norm._epsilon, slope)
        with paddle.no_grad():  # as paddle's kernel: running = momentum * running + (1 - momentum) * batch
            for running, batch in ((norm._mean, mean), (norm._variance, variance)):
                paddle.assign(running * norm._momentum + batch * (1 - norm._momentum), output=running)
        return out


def _up(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> ConvBlock:
    # Bias is dropped before BatchNorm: BN's own shift replaces it.
    conv = WholeMapConvTranspose2D if stride == 1 and padding == 0 else StridedConvTranspose2D
    return ConvBlock(
        conv(in_ch, out_ch, kernel, stride, padding, bias_attr=False),
        nn.BatchNorm2D(out_ch),
        nn.ReLU(),
    )


def _down(in_ch: int, out_ch: int, batch_norm: bool, conv: type | None = None) -> nn.Sequential:
    conv = (conv or StridedConv2D)(in_ch, out_ch, 4, 2, 1, bias_attr=False)
    if batch_norm:
        return ConvBlock(conv, nn.BatchNorm2D(out_ch), nn.LeakyReLU(0.2))
    return nn.Sequential(conv, nn.LeakyReLU(0.2))


def label_code(labels: paddle.Tensor, num_classes: int) -> paddle.Tensor:
    """Class ids int [N] (one-hot) or class weights float [N, C] (as they are) -> [N, C, 1, 1] float32."""
    code = F.one_hot(labels, num_classes) if paddle.is_integer(labels) else labels
    return code.astype(paddle.float32).reshape([-1, num_classes, 1, 1])


class Generator(nn.Layer):
    """Maps noise ``z`` [N, nz, 1, 1] (and, if conditional, labels) to images [N, channels, S, S] in [-1, 1].

    Args:
        image_size: S, one of 28, 32, 64.
        nz: length of z.
        ngf: channels of the last hidden block; each block towards z doubles it.
        channels: image channels (1 for digits).
        num_classes: 0 for the plain DCGAN; C > 0 makes it conditional on a class in 0..C-1.
    """

    def __init__(self, image_size: int = 28, nz: int = 100, ngf: int = 64, channels: int = 1, num_classes: int = 0):
        super().__init__()
        base, n = layout(image_size)
        self.nz, self.num_classes = nz, num_classes
        width = ngf * 2 ** (n - 1)
        # [N, nz (+ C), 1, 1] -> [N, ngf*2^(n-1), base, base]: a full-size kernel projects z (and the one-hot label)
        blocks = [_up(nz + num_classes, width, base, 1, 0)]
        for _ in range(n - 1):
            # [N, w, s, s] -> [N, w/2, 2s, 2s]
            blocks.append(_up(width, width // 2, 4, 2, 1))
            width //= 2
        # [N, ngf, S/2, S/2] -> [N, channels, S, S]; Tanh matches data scaled to [-1, 1]
        blocks.append(nn.Sequential(StridedConvTranspose2D(ngf, channels, 4, 2, 1, bias_attr=False), nn.Tanh()))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        """
        Args:
            z: [N, nz, 1, 1] float32.
            labels: None for an unconditional generator. A conditional one takes class ids
                int64 [N], or class weights float32 [N, C]: a one-hot row is the same as its
                id, a mix of two rows lies between two digits (latent walks across digits).
        """
        if self.num_classes:
            if labels is None:
                raise ValueError(f"this generator is conditional ({self.num_classes} classes); pass labels [N]")
            z = paddle.concat([z, label_code(labels, self.num_classes)], axis=1)  # [N, nz + C, 1, 1]
        elif labels is not None:
            raise ValueError("this generator is unconditional (num_classes=0); call it without labels")
        return self.blocks(z)


class Discriminator(nn.Layer):
    """Maps images [N, channels, S, S] (and, if conditional, their labels) to one real-vs-fake logit each, [N].

    Strided convolutions only (no pooling, no fully connected layer), BatchNorm
    after every block but the first, LeakyReLU(0.2), and no Sigmoid: the loss is
    BCE-with-logits, which is numerically safer.

    A conditional discriminator reads label planes: the label's one-hot code as
    ``num_classes`` constant planes (all 1 for the image's class, all 0 for the
    others) beside the picture, so its first convolution sees the digit it is
    told from the first layer on. D then judges "is this a real image of *this*
    digit", which is what teaches G to obey the label. (A projection
    discriminator trained worse here: README, Conditional digits.)

    Args:
        image_size: S, one of 28, 32, 64.
        ndf: channels of the first block; each block towards the logit doubles it.
        channels: image channels (1 for digits).
        num_classes: 0 for the plain DCGAN; C > 0 makes it judge (image, class) pairs.
    """

    def __init__(self, image_size: int = 28, ndf: int = 64, channels: int = 1, num_classes: int = 0):
        super().__init__()
        base, n = layout(image_size)
        self.num_classes = num_classes
        # [N, channels (+ C label planes), S, S] -> [N, ndf, S/2, S/2]; no BatchNorm on the input block (DCGAN)
        blocks = [_down(channels + num_classes, ndf, batch_norm=False, conv=LabelPlanesConv2D if num_classes else None)]
        width = ndf
        for _ in range(n - 1):
            # [N, w, s, s] -> [N, 2w, s/2, s/2]
            blocks.append(_down(width, width * 2, batch_norm=True))
            width *= 2
        # [N, ndf*2^(n-1), base, base] -> [N, 1, 1, 1]: a full-size kernel gives one logit
        blocks.append(WholeMapConv2D(width, 1, base, 1, 0, bias_attr=False))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        """
        Args:
            images: [N, channels, S, S] in [-1, 1].
            labels: None for an unconditional discriminator; class ids int64 [N] for a conditional one.
        """
        if self.num_classes:
            if labels is None:
                raise ValueError(f"this discriminator is conditional ({self.num_classes} classes); pass labels [N]")
            (conv, activation), rest = self.blocks[0], self.blocks[1:]
            return rest(conv(images, labels, activation=activation)).flatten()
        if labels is not None:
            raise ValueError("this discriminator is unconditional (num_classes=0); call it without labels")
        return self.blocks(images).flatten()


def init_dcgan_weights(net: nn.Layer) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), BN shift 0."""
    conv_init = nn.initializer.Normal(0.0, 0.02)
    scale_init = nn.initializer.Normal(1.0, 0.02)
    zero = nn.initializer.Constant(0.0)
    for layer in net.sublayers():
        if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose)):
            conv_init(layer.weight)
            if layer.bias is not None:
                zero(layer.bias)
        elif isinstance(layer, nn.BatchNorm2D):
            scale_init(layer.weight)
            zero(layer.bias)


def build_models(image_size: int, nz: int, ngf: int, ndf: int, channels: int = 1,
                 num_classes: int = 0) -> tuple[Generator, Discriminator]:
    """A freshly initialised (G, D) pair; seed paddle first for repeatable weights."""
    generator = Generator(image_size, nz, ngf, channels, num_classes)
    discriminator = Discriminator(image_size, ndf, channels, num_classes)
    init_dcgan_weights(generator)
    init_dcgan_weights(discriminator)
    return generator, discriminator
