"""A PyTorch copy of a paddle-dcgan net, layer for layer, with the same weights.

Used by the benchmark (Paddle vs PyTorch on the same model, training loop and
machine: :class:`TwinTrainer`) and by tests/test_alignment.py (same weights ->
same outputs, losses, gradients), the usual check for a port in the Paddle community. Requires ``torch``, which is not
a dependency of the package (``pip install -e ".[twin]"``); paddle_dcgan never imports it.
"""

from __future__ import annotations

import numpy as np
import paddle
import torch
from torch import nn as tnn

from paddle_dcgan.training.history import History
from paddle_dcgan.random_streams import STREAM_FAKE_LABELS, STREAM_TRAIN_NOISE, label_array, noise_array


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


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return tnn.functional.one_hot(labels, num_classes).to(torch.float32)[:, :, None, None]  # [N, C, 1, 1]


class TwinGenerator(tnn.Module):
    """G; a conditional one reads the label's one-hot code beside z, as paddle_dcgan's."""

    def __init__(self, generator):
        super().__init__()
        self.nz, self.num_classes = generator.nz, generator.num_classes
        self.blocks = to_torch(generator.blocks)

    def forward(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, _one_hot(labels, self.num_classes)], dim=1)
        return self.blocks(z)


class TwinDiscriminator(tnn.Module):
    """D; a conditional one reads the label as constant planes beside the image, concatenated as
    PyTorch's conditional DCGAN tutorials do (paddle_dcgan computes the same function without them),
    and with a projection adds the read-out's logit of the image's class to the shared one."""

    def __init__(self, discriminator):
        super().__init__()
        self.num_classes, self.conditioning = discriminator.num_classes, discriminator.conditioning
        if self.conditioning == "classifier":
            raise ValueError("the PyTorch twin has no class term: use a planes or projection discriminator")
        self.planes = discriminator.planes
        self.blocks = to_torch(discriminator.blocks)

    def forward(self, x, labels=None):
        if self.planes:
            planes = _one_hot(labels, self.num_classes).expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, planes], dim=1)
        out = self.blocks(x).flatten(1)
        if self.conditioning.endswith("projection"):
            return out[:, 0] + (out[:, 1:] * _one_hot(labels, self.num_classes).flatten(1)).sum(dim=1)
        return out.flatten()


def gan_step(generator, discriminator, opt_g, opt_d, real, z, real_labels=None, fake_labels=None) -> dict[str, float]:
    """The same D step and G step as paddle_dcgan.core.steps, written in PyTorch, with the same statistics.
    Conditional nets take the real images' labels and those G is asked for; unconditional ones None."""
    bce = tnn.functional.binary_cross_entropy_with_logits
    # D step: D(x) -> 1, D(G(z)) -> 0
    fake = generator(z, fake_labels)
    logit_real, logit_fake = discriminator(real, real_labels), discriminator(fake.detach(), fake_labels)
    loss_d = bce(logit_real, torch.ones_like(logit_real)) + bce(logit_fake, torch.zeros_like(logit_fake))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # G step: the updated D's verdict on the same fakes -> 1, D's weights frozen (as paddle_dcgan.core.steps.frozen)
    for p in discriminator.parameters():
        p.requires_grad_(False)
    logit = discriminator(fake, fake_labels)
    loss_g = bce(logit, torch.ones_like(logit))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    for p in discriminator.parameters():
        p.requires_grad_(True)
    stats = {"loss_d": loss_d, "d_real": torch.sigmoid(logit_real).mean(), "d_fake": torch.sigmoid(logit_fake).mean(),
             "loss_g": loss_g, "d_fake_g": torch.sigmoid(logit).mean()}
    return {k: v.item() for k, v in stats.items()}


def to_torch_input(batch_uint8: np.ndarray) -> torch.Tensor:
    """uint8 pixels -> float32 torch tensor in [-1, 1], as paddle_dcgan.data.mnist.to_unit_range."""
    return torch.from_numpy(batch_uint8).to(torch.float32) * (2.0 / 255.0) - 1.0


# How PyTorch runs the twin: as written (NCHW, eager), with the channels_last memory format
# (one line for a user, and PyTorch's faster CPU convolutions), or through torch.compile (inductor)
MODES = ("eager", "channels_last", "compile")


class TwinTrainer:
    """The training loop of a paddle_dcgan Trainer, run by PyTorch in one of :data:`MODES`.

    Takes the trainer's weights (as they are now), its batches (``Batches.epoch(..., convert=to_torch_input)``),
    its noise stream and step counter, and keeps a History like it, so that ``train_step`` does the
    work ``Trainer.train_step`` does. The paddle trainer is not used afterwards.
    """

    def __init__(self, trainer, mode: str = "eager"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        cfg = trainer.cfg
        self.cfg, self.batches, self.step, self.mode = cfg, trainer.batches, trainer.step, mode
        self.generator = TwinGenerator(trainer.generator)
        self.discriminator = TwinDiscriminator(trainer.discriminator)
        if mode == "channels_last":
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.generator.parameters(), o.lr_g, betas=(o.beta1, o.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), o.lr_d, betas=(o.beta1, o.beta2))
        # what the step calls: the nets, or their compiled forms (same parameters; compiled on the first steps)
        self.step_nets = ((torch.compile(self.generator), torch.compile(self.discriminator)) if mode == "compile"
                          else (self.generator, self.discriminator))
        self.history = History()

    def train_step(self, real: torch.Tensor, real_labels=None) -> dict[str, float]:
        """One D step and one G step on the batch ``real`` with step ``self.step``'s noise and, for a
        conditional model, the batch's labels ``real_labels`` [B] and step ``self.step``'s fake labels."""
        seed, batch_size, m = self.cfg.seed, self.cfg.train.batch_size, self.cfg.model
        z = noise_array(seed, STREAM_TRAIN_NOISE, self.step, batch_size, m.nz)
        real_y = fake_y = None
        if m.num_classes:
            real_y = torch.as_tensor(np.asarray(real_labels), dtype=torch.int64)
            fake_y = torch.from_numpy(label_array(seed, STREAM_FAKE_LABELS, self.step, batch_size, m.num_classes))
        if self.mode == "channels_last":
            real = real.contiguous(memory_format=torch.channels_last)
        stats = gan_step(*self.step_nets, self.opt_g, self.opt_d, real, torch.from_numpy(z), real_y, fake_y)
        self.step += 1
        self.history.append(stats)
        return stats
