"""Optional CPU speed: faster layers swapped into the core's nets from outside.

    kernels, note = choose(cfg.train.kernels, device)   # the C++ operators, or None, and a log line
    apply(net, kernels)                                  # in place; same parameters and state_dict keys

:func:`apply` turns stock layers into the stand-ins of ``layers.py``: the GEMM forms
of the whole-map layers and the label-maps form of a conditional D's first block
(pure paddle, on any device), and, given the operators built by ``build.py``, the
4x4 stride-2 convolutions on oneDNN and BatchNorm + activation fused, with the activations
between them stored channels-last (:func:`channels_last`). The core
(``paddle_dcgan/core``) never imports this package; without it (``train.kernels=stock``)
the nets train as written, only slower.
"""

from __future__ import annotations

from paddle import nn

from ..core.models import LabelPlanesBlock
from ..cpu_tuning import bfloat16_isa
from ..errors import UserError
from .build import KernelsUnavailable, check_tuning_variable, load
from .layers import (FusedConvBlock, GemmConv2D, GemmConvTranspose2D, LabelMapsBlock, Layouts, OneDNNConv2D,
                     OneDNNConvTranspose2D, activation_slope)


def choose(request: str, device: str):
    """What ``train.kernels`` = ``request`` gives on ``device``: ``(operators or None, one-line description)``.

    ``stock``: the core's layers as written, nothing applied (:func:`apply` is not to be called). ``paddle``: the pure-paddle
    forms only. ``onednn`` where the operators cannot be had is a :class:`UserError`; ``auto`` falls back to
    ``paddle`` with the reason in the description.
    """
    if request == "stock":
        return None, "the core's stock layers (train.kernels=stock)"
    if request == "paddle":
        return None, "paddle's own kernels (train.kernels=paddle)"
    if not device.startswith("cpu"):
        if request == "onednn":
            raise UserError(f"train.kernels=onednn: the oneDNN kernels are for CPU training, this run is on "
                            f"{device}; use -o train.kernels=auto (or paddle)")
        return None, "paddle's own kernels (GPU)"
    check_tuning_variable()
    try:
        return load(), ("this project's kernels: oneDNN for the 4x4 stride-2 layers, fused BatchNorm + activation, "
                        "channels-last activations between blocks (train.kernels)")
    except KernelsUnavailable as why:
        if request == "onednn":
            raise UserError(f"train.kernels=onednn: the oneDNN kernels cannot be used: {why}; "
                            "fix that or use -o train.kernels=auto (or paddle)") from None
        return None, f"paddle's own kernels (train.kernels=auto: no oneDNN kernels: {why})"


def conv_precision(request: str, operators, flags: str | None = None) -> tuple[bool, str]:
    """What ``train.conv_precision`` = ``request`` gives with the operators of :func:`choose` (None: no oneDNN
    kernels): ``(bfloat16 or not, one-line description)``. ``bfloat16`` where it cannot run is a :class:`UserError`."""
    if request == "float32":
        return False, "float32"
    if operators is None:
        why_not = "the oneDNN kernels are not in use (they run on CPU, with train.kernels=auto or onednn)"
    else:
        why_not = "" if bfloat16_isa(flags) else "this CPU has neither AVX512_BF16 nor AMX"
    if why_not:
        raise UserError(f"train.conv_precision=bfloat16: {why_not}; use -o train.conv_precision=float32")
    return True, (f"bfloat16 products, float32 sums ({bfloat16_isa(flags)}; train.conv_precision=bfloat16); "
                  "weights, gradients and Adam in float32")


def _is_block(layer: nn.Layer) -> bool:
    """A stock conv -> BatchNorm2D -> ReLU / LeakyReLU chain."""
    return (type(layer) is nn.Sequential and len(layer) == 3 and isinstance(layer[0], (nn.Conv2D, nn.Conv2DTranspose))
            and type(layer[1]) is nn.BatchNorm2D and activation_slope(layer[2]) is not None)


def _strided(conv: nn.Layer) -> bool:
    return list(conv.weight.shape[2:]) == [4, 4] and conv._stride == [2, 2]


def apply(net: nn.Layer, kernels=None, bfloat16: bool = False) -> int:
    """Swap ``net``'s stock layers for faster ones in place; ``kernels`` = the operators of :func:`choose`
    (None: the pure-paddle forms only); ``bfloat16``: the oneDNN convolutions read their inputs rounded to
    bfloat16 (:func:`conv_precision`). With the operators, chains of stand-ins pass their activations
    channels-last (:func:`channels_last`). Returns how many layers changed class."""
    count = 0
    for layer in net.sublayers(include_self=True):
        swap = None
        if type(layer) is nn.Conv2DTranspose:
            if layer._stride == [1, 1]:
                swap = GemmConvTranspose2D
            elif kernels is not None and _strided(layer):
                swap, layer.op = OneDNNConvTranspose2D, kernels.onednn_conv2d_transpose
        elif type(layer) is nn.Conv2D:
            if layer._stride == [1, 1]:
                swap = GemmConv2D
            elif kernels is not None and _strided(layer):
                swap, layer.op = OneDNNConv2D, kernels.onednn_conv2d
        elif type(layer) is LabelPlanesBlock:
            swap = LabelMapsBlock
            if kernels is not None:
                layer.op = kernels.label_add_act
        elif kernels is not None and _is_block(layer):
            swap, layer.op = FusedConvBlock, kernels.batch_norm_act
        if swap is not None:
            layer.__class__ = swap
            count += 1
        if swap in (OneDNNConv2D, OneDNNConvTranspose2D):
            layer.bf16 = int(bfloat16)
    if kernels is not None:
        channels_last(net)
    return count


def _conv_of(block: nn.Layer) -> nn.Layer | None:
    """The stand-in convolution a link of a chain starts with: the link itself or its first layer."""
    if isinstance(block, nn.Sequential):
        return block[0] if len(block) and isinstance(block[0], Layouts) else None
    return block if isinstance(block, Layouts) else None


def _chain(layer: nn.Layer) -> bool:
    """A stock ``nn.Sequential`` of two or more links, each a stand-in convolution, a fused block or a
    stand-in convolution followed by element-wise activations only (the nets' ``blocks``)."""
    if type(layer) is not nn.Sequential or len(layer) < 2:
        return False
    for block in layer:
        if _conv_of(block) is None:
            return False
        if type(block) is nn.Sequential and not all(activation_slope(a) is not None or type(a) is nn.Tanh
                                                    for a in block[1:]):
            return False
    return True


def channels_last(net: nn.Layer, on: bool = True) -> int:
    """Mark (``on``) or unmark every chain of stand-ins in ``net`` (:func:`_chain`) so that its links pass each
    other channels-last tensors, [N, H, W, C]: a link reads channels-last unless it is the first, writes it unless
    it is the last; the chain's own input and output stay NCHW. oneDNN's convolutions then read and write
    their activations as they lie, BatchNorm and the label maps work in the same layout, and nothing between
    two convolutions reorders memory. The numbers are the same as NCHW's to rounding. Returns the links marked."""
    marked = 0
    for chain in filter(_chain, net.sublayers(include_self=True)):
        for k, block in enumerate(chain):
            for part in {block, _conv_of(block)}:  # a fused block and its conv, or one layer
                if isinstance(part, Layouts):
                    part.in_nhwc, part.out_nhwc = on and k > 0, on and k < len(chain) - 1
        marked += len(chain) if on else 0
    return marked


def left_stock(net: nn.Layer) -> list[str]:
    """Names of ``net``'s convolutions that :func:`apply` left as stock layers (no stand-in fits their shape)."""
    return [name for name, layer in net.named_sublayers() if type(layer) in (nn.Conv2D, nn.Conv2DTranspose)]


def applied(net: nn.Layer) -> list[str]:
    """The class names of ``net``'s layers that :func:`apply` swapped in (for logs and tests)."""
    stand_ins = (GemmConvTranspose2D, GemmConv2D, LabelMapsBlock, OneDNNConv2D, OneDNNConvTranspose2D, FusedConvBlock)
    return [type(layer).__name__ for layer in net.sublayers(include_self=True) if isinstance(layer, stand_ins)]
