"""The DCGAN generator and discriminator, built from stock ``paddle.nn`` layers only.

Both nets are mirror images. Every supported size starts (G) or ends (D) at a
``base`` x ``base`` feature map and doubles/halves it ``n`` times:

============  ======  ===  ============================================
image_size    base    n    generator channels, z -> image
============  ======  ===  ============================================
28 (MNIST)    7       2    nz -> 2ngf@7 -> ngf@14 -> 1@28
32            4       3    nz -> 4ngf@4 -> 2ngf@8 -> ngf@16 -> 1@32
64            4       4    nz -> 8ngf@4 -> 4ngf@8 -> 2ngf@16 -> ngf@32 -> 1@64
============  ======  ===  ============================================

With ``num_classes`` > 0 both nets are told the class (a conditional DCGAN):
G reads the label's one-hot code appended to z. D uses the class as below
(``conditioning``), or as ``planes+projection``, the first two together:

- ``planes``: as constant image planes beside the picture, from its first layer on;
- ``projection``: it reads the picture alone, and its read-out has one more
  logit per class, added to the shared one for the image's class (Miyato &
  Koyama 2018; the class embedding is a full read-out kernel per class);
- ``classifier``: it reads the picture alone and names its class: C class
  logits beside the real-vs-fake logit (AC-GAN, Odena et al. 2017), for a
  class term in the loss (core/steps.py).

With ``num_classes`` = 0 they are the plain DCGAN nets.

A training run may swap some of these layers for faster stand-ins with the same
parameters, from outside; the nets below are complete without them.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ..config import CONDITIONINGS, IMAGE_SIZES


def layout(image_size: int) -> tuple[int, int]:
    """``(base, n)``: side of the smallest feature map and the number of 2x steps."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size}")
    base = 7 if image_size == 28 else 4
    return base, (image_size // base).bit_length() - 1


def label_code(labels: paddle.Tensor, num_classes: int) -> paddle.Tensor:
    """Class ids int [N] (one-hot) or class weights float [N, C] (as they are) -> [N, C, 1, 1] float32."""
    code = F.one_hot(labels, num_classes) if paddle.is_integer(labels) else labels
    return code.astype(paddle.float32).reshape([-1, num_classes, 1, 1])


def _up(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    # no bias before BatchNorm: BN's own shift replaces it
    return nn.Sequential(nn.Conv2DTranspose(in_ch, out_ch, kernel, stride, padding, bias_attr=False),
                         nn.BatchNorm2D(out_ch), nn.ReLU())


def _down(in_ch: int, out_ch: int) -> nn.Sequential:
    # stride 2 halves the map: DCGAN learns its downsampling instead of pooling
    return nn.Sequential(nn.Conv2D(in_ch, out_ch, 4, 2, 1, bias_attr=False), nn.BatchNorm2D(out_ch), nn.LeakyReLU(0.2))


class LabelPlanesBlock(nn.Sequential):
    """A conditional D's first block: Conv2D over the image with C label planes appended, then LeakyReLU.

    The planes are the label's one-hot code as constant images (all 1 for the image's class, all 0
    for the others), so D judges "is this a real image of *this* class" from its first layer on.
    """

    def __init__(self, channels: int, num_classes: int, out_ch: int):
        super().__init__(nn.Conv2D(channels + num_classes, out_ch, 4, 2, 1, bias_attr=False), nn.LeakyReLU(0.2))
        self.num_classes = num_classes

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        planes = label_code(labels, self.num_classes).expand([-1, -1, *images.shape[2:]])  # [N, C, S, S]
        conv, activation = self[0], self[1]
        return activation(conv(paddle.concat([images, planes.astype(images.dtype)], axis=1)))


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
        self.image_size, self.nz, self.ngf, self.channels, self.num_classes = image_size, nz, ngf, channels, num_classes
        width = ngf * 2 ** (n - 1)
        # [N, nz (+ C), 1, 1] -> [N, ngf*2^(n-1), base, base]: a base x base kernel projects z (and the label)
        blocks = [_up(nz + num_classes, width, base, 1, 0)]
        for _ in range(n - 1):
            # [N, w, s, s] -> [N, w/2, 2s, 2s]
            blocks.append(_up(width, width // 2, 4, 2, 1))
            width //= 2
        # [N, ngf, S/2, S/2] -> [N, channels, S, S]; Tanh matches data scaled to [-1, 1]
        blocks.append(nn.Sequential(nn.Conv2DTranspose(ngf, channels, 4, 2, 1, bias_attr=False), nn.Tanh()))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        """
        Args:
            z: [N, nz, 1, 1] float32.
            labels: None for an unconditional generator. A conditional one takes class ids
                int64 [N], or class weights float32 [N, C]: a one-hot row is the same as its
                id, a mix of two rows lies between two classes (latent walks across digits).
        """
        if self.num_classes:
            if labels is None:
                raise ValueError(f"this generator is conditional ({self.num_classes} classes); pass labels [N]")
            z = paddle.concat([z, label_code(labels, self.num_classes)], axis=1)  # [N, nz + C, 1, 1]
        elif labels is not None:
            raise ValueError("this generator is unconditional (num_classes=0); call it without labels")
        return self.blocks(z)


class Discriminator(nn.Layer):
    """Maps images [N, channels, S, S] (and, if conditional, their labels) to one real-vs-fake logit each, [N];
    with ``conditioning="classifier"``, to [N, 1 + C]: that logit in column 0, then C class logits.

    Strided convolutions only (no pooling, no fully connected layer), BatchNorm after
    every block but the first, LeakyReLU(0.2), and no Sigmoid: the loss is
    BCE-with-logits, which is numerically safer.

    Args:
        image_size: S, one of 28, 32, 64.
        ndf: channels of the first block; each block towards the logit doubles it.
        channels: image channels (1 for digits).
        num_classes: 0 for the plain DCGAN; C > 0 makes it judge (image, class) pairs.
        conditioning: how a conditional D uses the class: planes | projection | planes+projection | classifier.
    """

    def __init__(self, image_size: int = 28, ndf: int = 64, channels: int = 1, num_classes: int = 0,
                 conditioning: str = "planes"):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        base, n = layout(image_size)
        self.num_classes, self.conditioning = num_classes, conditioning if num_classes else "planes"
        # [N, channels, S, S] -> [N, ndf, S/2, S/2]; no BatchNorm on the input block (DCGAN)
        self.planes = num_classes > 0 and self.conditioning in ("planes", "planes+projection")
        if self.planes:
            first = LabelPlanesBlock(channels, num_classes, ndf)
        else:
            first = nn.Sequential(nn.Conv2D(channels, ndf, 4, 2, 1, bias_attr=False), nn.LeakyReLU(0.2))
        blocks, width = [first], ndf
        for _ in range(n - 1):
            # [N, w, s, s] -> [N, 2w, s/2, s/2]
            blocks.append(_down(width, width * 2))
            width *= 2
        # [N, ndf*2^(n-1), base, base] -> [N, 1 (+ C), 1, 1]: a base x base kernel gives one logit (and one per class)
        per_class = self.conditioning != "planes"
        blocks.append(nn.Conv2D(width, 1 + num_classes if per_class else 1, base, 1, 0, bias_attr=False))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, images: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        """
        Args:
            images: [N, channels, S, S] in [-1, 1].
            labels: None for an unconditional discriminator; class ids int64 [N] for a conditional one
                (a ``classifier`` D judges without them: they are for the class term).
        """
        if self.num_classes and labels is None:
            raise ValueError(f"this discriminator is conditional ({self.num_classes} classes); pass labels [N]")
        if not self.num_classes and labels is not None:
            raise ValueError("this discriminator is unconditional (num_classes=0); call it without labels")
        x = self.blocks[0](images, labels) if self.planes else self.blocks[0](images)
        out = self.blocks[1:](x).flatten(1)                            # [N, 1 (+ C)]
        if self.conditioning.endswith("projection"):                   # shared logit + the image's class's own
            return out[:, 0] + (out[:, 1:] * label_code(labels, self.num_classes).flatten(1)).sum(axis=1)
        return out if self.conditioning == "classifier" else out.flatten()


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
                 num_classes: int = 0, conditioning: str = "planes") -> tuple[Generator, Discriminator]:
    """A freshly initialised (G, D) pair; seed paddle first for repeatable weights."""
    generator = Generator(image_size, nz, ngf, channels, num_classes)
    discriminator = Discriminator(image_size, ndf, channels, num_classes, conditioning)
    init_dcgan_weights(generator)
    init_dcgan_weights(discriminator)
    return generator, discriminator
