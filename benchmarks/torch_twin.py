"""A PyTorch copy of a paddle-dcgan net, layer for layer, with the same weights.

Used by the benchmark (Paddle vs PyTorch on the same model and machine) and by
tests/test_alignment.py (same weights -> same outputs, losses, gradients), the
usual check for a port in the Paddle community. Requires ``torch``, which is not
a dependency of the package (``pip install torch``); paddle_dcgan never imports it.
"""

from __future__ import annotations

import numpy as np
import paddle
import torch
from torch import nn as tnn


def _param(t: paddle.Tensor) -> tnn.Parameter:
    return tnn.Parameter(torch.from_numpy(np.array(t.numpy())))


def to_torch(layer: paddle.nn.Layer) -> tnn.Module:
    """Convert a paddle layer tree (Sequential, convs, BatchNorm, activations) with its weights."""
    nn = paddle.nn
    if isinstance(layer, nn.Sequential):
        return tnn.Sequential(*[to_torch(child) for child in layer.children()])
    if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose)):
        transpose = isinstance(layer, nn.Conv2DTranspose)
        in_ch = layer.weight.shape[0] if transpose else layer.weight.shape[1]
        out_ch = layer.weight.shape[1] if transpose else layer.weight.shape[0]
        cls = tnn.ConvTranspose2d if transpose else tnn.Conv2d
        out = cls(in_ch, out_ch, layer._kernel_size, layer._stride, layer._padding, bias=layer.bias is not None)
        out.weight = _param(layer.weight)  # same [in, out, k, k] / [out, in, k, k] layout in both
        if layer.bias is not None:
            out.bias = _param(layer.bias)
        return out
    if isinstance(layer, nn.BatchNorm2D):
        out = tnn.BatchNorm2d(layer.weight.shape[0], eps=layer._epsilon, momentum=1 - layer._momentum)
        out.weight, out.bias = _param(layer.weight), _param(layer.bias)
        out.running_mean.copy_(torch.from_numpy(layer._mean.numpy()))
        out.running_var.copy_(torch.from_numpy(layer._variance.numpy()))
        return out
    if isinstance(layer, nn.LeakyReLU):
        return tnn.LeakyReLU(layer._negative_slope)
    simple = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Flatten: tnn.Flatten}
    for kind, twin in simple.items():
        if isinstance(layer, kind):
            return twin()
    raise TypeError(f"no PyTorch twin for {type(layer).__name__}")


class TwinGenerator(tnn.Module):
    def __init__(self, generator):
        super().__init__()
        self.nz = generator.nz
        self.blocks = to_torch(generator.blocks)

    def forward(self, z):
        return self.blocks(z)


class TwinDiscriminator(tnn.Module):
    def __init__(self, discriminator):
        super().__init__()
        self.blocks = to_torch(discriminator.blocks)

    def forward(self, x):
        return self.blocks(x).flatten()


def gan_step(generator, discriminator, opt_g, opt_d, real, z) -> dict[str, float]:
    """The same D step and G step as paddle_dcgan.steps, written in PyTorch."""
    bce = tnn.functional.binary_cross_entropy_with_logits
    fake = generator(z)
    logit_real, logit_fake = discriminator(real), discriminator(fake.detach())
    loss_d = bce(logit_real, torch.ones_like(logit_real)) + bce(logit_fake, torch.zeros_like(logit_fake))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    for p in discriminator.parameters():  # as paddle_dcgan.steps.frozen
        p.requires_grad_(False)
    logit = discriminator(fake)
    loss_g = bce(logit, torch.ones_like(logit))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    for p in discriminator.parameters():
        p.requires_grad_(True)
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
