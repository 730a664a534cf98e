"""The kernels (train.kernels): the stand-in layers swapped in by kernels.apply, built for real and checked
against the core's stock layers, with a count of the operator calls that shows they ran.

Where the oneDNN operators cannot be built (no compiler, no oneDNN headers), the tests that need
them are skipped and the fallback is tested instead.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, assert_one_line_error, run_tool
from paddle_dcgan import kernels as kernel_layers
from paddle_dcgan.config import load_config
from paddle_dcgan.core.models import LabelPlanesBlock, build_models
from paddle_dcgan.errors import UserError
from paddle_dcgan.kernels import build as onednn
from paddle_dcgan.kernels.layers import (FusedConvBlock, LabelMapsBlock, OneDNNConv2D, OneDNNConvTranspose2D, to_nchw,
                                         to_nhwc)
from paddle_dcgan.training.run import Trainer

Conv2D, ConvTranspose2D = paddle.nn.Conv2D, paddle.nn.Conv2DTranspose


def _kernels():
    try:
        return onednn.load()
    except onednn.KernelsUnavailable as why:
        pytest.skip(f"oneDNN kernels unavailable here: {why}")


def _on_both(make, x, kernels, forward=lambda layer, x: layer(x), loss=lambda y: (y * y).sum()) -> list[list]:
    """[output, input gradient, weight gradient] of the layer ``make()`` builds, on ``x``: the stock layer, then the
    same weights after ``kernels.apply`` with ``kernels``."""
    stock = make()
    results = []
    for use in (None, kernels):
        layer = stock if use is None else _applied(stock, use)
        xi = x.clone()
        xi.stop_gradient = False
        layer.clear_gradients()
        y = forward(layer, xi)
        loss(y).backward()
        weight = layer.weight if hasattr(layer, "weight") else layer[0].weight
        results.append([y.numpy(), xi.grad.numpy(), weight.grad.numpy()])
    return results


def _applied(stock, kernels):
    """A copy of the stock layer ``stock`` (same weights) with the kernels applied."""
    import copy

    fast = copy.deepcopy(stock)
    kernel_layers.apply(fast, kernels)
    return fast


def _calls() -> int:
    return OneDNNConv2D.calls + OneDNNConvTranspose2D.calls


@pytest.mark.parametrize("layer_type, in_ch, out_ch, side", [
    (Conv2D, 64, 128, 14),            # D's second layer
    (Conv2D, 11, 16, 28),             # a conditional D's first layer (label planes), odd channel count
    (ConvTranspose2D, 128, 64, 7),    # G's middle layer
    (ConvTranspose2D, 16, 1, 14),     # G's last layer
])
def test_kernels_agree_with_paddles_forward_and_backward(layer_type, in_ch, out_ch, side):
    kernels = _kernels()
    paddle.seed(0)
    before = _calls()
    results = _on_both(lambda: layer_type(in_ch, out_ch, 4, 2, 1, bias_attr=False),
                       paddle.randn([6, in_ch, side, side]), kernels)
    for ours, theirs in zip(results[1], results[0]):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * scale, rtol=0)
    assert _calls() == before + 1  # the second pass really ran on oneDNN, once


def test_a_slice_of_a_batch_is_read_correctly():
    """Inputs that are views (a shard of a batch) are copied to plain memory before oneDNN reads them."""
    kernels = _kernels()
    paddle.seed(0)
    layer = Conv2D(3, 4, 4, 2, 1, bias_attr=False)
    kernel_layers.apply(layer, kernels)
    batch = paddle.randn([8, 3, 14, 14])
    part, copy = batch[4:8], paddle.to_tensor(batch.numpy()[4:8])
    np.testing.assert_allclose(layer(part).numpy(), layer(copy).numpy(), atol=1e-6)


def _three_steps(tiny_data, tmp_path, kernels: str):
    cfg = load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"train.kernels={kernels}"])
    trainer = Trainer(cfg)
    stats = [trainer.train_step(real, labels) for (real, labels), _ in zip(trainer.batches.epoch(0), range(3))]
    return trainer, stats


def test_a_training_step_on_onednn_matches_paddles_and_repeats_exactly(tiny_data, tmp_path):
    _kernels()
    ours, ours_stats = _three_steps(tiny_data, tmp_path / "a", "onednn")
    again, again_stats = _three_steps(tiny_data, tmp_path / "b", "onednn")
    theirs, theirs_stats = _three_steps(tiny_data, tmp_path / "c", "paddle")
    assert ours_stats == again_stats  # bit for bit within a mode: resume stays exact
    for a, b in zip(ours_stats, theirs_stats):
        for key in a:
            assert abs(a[key] - b[key]) < 1e-4, (key, a[key], b[key])
    assert ours.generator.state_dict().keys() == theirs.generator.state_dict().keys()
    # conditional D: label maps (fused), a fused middle block, the GEMM read-out; G: all of its blocks
    assert kernel_layers.applied(ours.discriminator) == ["LabelMapsBlock", "OneDNNConv2D", "FusedConvBlock",
                                                         "OneDNNConv2D", "GemmConv2D"]
    assert kernel_layers.applied(theirs.discriminator) == ["LabelMapsBlock", "GemmConv2D"]


def test_operators_run_in_a_training_step_and_not_with_stock_layers(tiny_data, tmp_path):
    """Counted, not assumed: a step on onednn calls the oneDNN and fused operators; train.kernels=stock calls none
    and leaves the core's stock layers in place."""
    _kernels()
    trainer, _ = _three_steps(tiny_data, tmp_path / "a", "onednn")
    before = (_calls(), FusedConvBlock.calls)
    trainer.train_step(*next(iter(trainer.batches.epoch(1))))
    # per step: G 2 strided layers x 2 forwards (D step, G step ... G runs once), D 2 strided layers x 3 calls
    assert _calls() > before[0] and FusedConvBlock.calls > before[1]
    off, _ = _three_steps(tiny_data, tmp_path / "b", "stock")
    before = (_calls(), FusedConvBlock.calls)
    off.train_step(*next(iter(off.batches.epoch(1))))
    assert (_calls(), FusedConvBlock.calls) == before
    assert kernel_layers.applied(off.generator) == kernel_layers.applied(off.discriminator) == []
    assert type(off.discriminator.blocks[0]) is LabelPlanesBlock


def test_without_headers_auto_falls_back_and_onednn_is_refused(monkeypatch):
    monkeypatch.setattr(onednn, "header_folder", lambda: None)
    monkeypatch.setattr(onednn, "_LOADED", {})  # as in a process that has not loaded them
    kernels, note = kernel_layers.choose("auto", "cpu")
    assert kernels is None and "onednn-devel" in note
    with pytest.raises(UserError, match="train.kernels=onednn: the oneDNN kernels cannot be used"):
        kernel_layers.choose("onednn", "cpu")
    with pytest.raises(UserError, match="for CPU training"):
        kernel_layers.choose("onednn", "gpu:0")
    assert kernel_layers.choose("paddle", "cpu")[0] is None


@pytest.mark.parametrize("where, fragment", [
    ("missing/tuning.tsv", "is in a folder that does not exist"),
    (".", "is a folder"),
])
def test_an_unusable_tuning_file_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, where, fragment):
    monkeypatch.setenv(onednn.TUNING_VARIABLE, str(tmp_path / where))
    result = run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", f"output_dir={tmp_path / 'out'}",
                      cwd=tmp_path, check=False)
    assert_one_line_error(result, onednn.TUNING_VARIABLE, fragment, "or set it to off")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setenv(onednn.TUNING_VARIABLE, "off")
    onednn.check_tuning_variable()  # off (or unset) is always fine
    assert kernel_layers.choose("paddle", "cpu")[0] is None  # and paddle's kernels never read it


def test_a_bad_kernels_value_is_one_line(tmp_path):
    result = run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", "train.kernels=mkl",
                      f"output_dir={tmp_path}", cwd=tmp_path, check=False)
    assert_one_line_error(result, "train.kernels", "auto | onednn | paddle | stock")


def test_built_and_loaded_generators_are_the_stock_nets(tiny_run):
    """Only a training run applies the kernels: a net built or loaded anywhere else is the core's stock net."""
    from paddle_dcgan.sampling.load import load_generator

    g, d = build_models(28, 16, 8, 8, num_classes=10)
    loaded, _ = load_generator(tiny_run)
    assert [kernel_layers.applied(net) for net in (g, d, loaded)] == [[], [], []]


def test_gradients_nobody_needs_are_skipped_and_the_others_stay_right():
    """D's weights are frozen in the G step: backward then computes the input's gradient only."""
    kernels = _kernels()
    paddle.seed(0)
    stock = Conv2D(8, 16, 4, 2, 1, bias_attr=False)
    x = paddle.randn([4, 8, 14, 14])
    grads = []
    for use in (None, kernels):
        layer = stock if use is None else _applied(stock, use)
        layer.weight.stop_gradient = True
        xi = x.clone()
        xi.stop_gradient = False
        layer(xi).sum().backward()
        assert layer.weight.grad is None
        grads.append(xi.grad.numpy())
    layer.weight.stop_gradient = False
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-5 * np.abs(grads[0]).max())


@pytest.mark.parametrize("activation, channels, side", [
    (paddle.nn.ReLU(), 64, 14),            # G's middle block
    (paddle.nn.LeakyReLU(0.2), 128, 7),    # D's middle block
    (paddle.nn.LeakyReLU(0.2), 5, 3),      # odd sizes
])
def test_fused_batchnorm_and_activation_agree_with_paddles_layers(activation, channels, side):
    """Output, the gradients of the input, the conv weight and BN's scale and shift, and the running
    statistics after two steps: the fused kernel against paddle's BatchNorm2D + activation."""
    kernels = _kernels()
    paddle.seed(0)
    stock = paddle.nn.Sequential(Conv2D(channels // 2 + 1, channels, 4, 2, 1, bias_attr=False),
                                 paddle.nn.BatchNorm2D(channels), activation)
    stock[1].weight.set_value(paddle.rand([channels]) + 0.5)
    stock[1].bias.set_value(paddle.randn([channels]))
    x = paddle.randn([6, channels // 2 + 1, 2 * side, 2 * side]) * 3 + 1
    results = []
    fused_before = FusedConvBlock.calls
    for use in (None, kernels):
        block = _applied(stock, None) if use is None else _applied(stock, use)
        for _ in range(2):
            xi = x.clone()
            xi.stop_gradient = False
            block.clear_gradients()
            y = block(xi)
            (y * y.detach().flip(0)).sum().backward()
        params = [p.grad.numpy() for p in (block[0].weight, block[1].weight, block[1].bias)]
        results.append([y.numpy(), xi.grad.numpy(), *params, block[1]._mean.numpy(), block[1]._variance.numpy()])
    assert type(block) is FusedConvBlock and FusedConvBlock.calls == fused_before + 2
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=0)
    block.eval()  # running statistics: the stock layers, whatever the kernels
    np.testing.assert_array_equal(block(x).numpy(), block[2](block[1](block[0](x))).numpy())


def test_fused_label_maps_and_activation_agree_with_paddles_ops():
    """A conditional D's first layer: convolution, label maps added per image, LeakyReLU."""
    kernels = _kernels()
    paddle.seed(0)
    images, labels = paddle.randn([7, 1, 28, 28]), paddle.to_tensor([3, 3, 0, 9, 5, 3, 1])
    before = OneDNNConv2D.calls
    results = _on_both(lambda: LabelPlanesBlock(1, 10, 16), images, kernels,
                       forward=lambda layer, x: layer(x, labels), loss=lambda y: (y * y.detach().flip(0)).sum())
    assert OneDNNConv2D.calls == before + 1  # the image's part on oneDNN; the label maps are one small product
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=0)


# (conv, conv-transpose, input side) pairs that are one convolution problem each, met in all three
# directions (forward, backward_data, backward_weights): D's middle layer / G's middle layer, and D's
# first / G's last (one image channel: the shapes where the GEMM-based kernels win), small.
PROBLEMS = [((8, 16), 14, "conv 5,8,14,14|16,8,4,4|5,16,7,7|s2p1|"),
            ((1, 8), 28, "conv 5,1,28,28|8,1,4,4|5,8,14,14|s2p1|")]


def _conv_and_transpose(kernels) -> list[np.ndarray]:
    """Outputs and all gradients of a Conv2D and a Conv2DTranspose of each of PROBLEMS."""
    paddle.seed(1)
    out = []
    for (small, big), side, _ in PROBLEMS:
        for layer, x in ((Conv2D(small, big, 4, 2, 1, bias_attr=False), paddle.randn([5, small, side, side])),
                         (ConvTranspose2D(big, small, 4, 2, 1, bias_attr=False),
                          paddle.randn([5, big, side // 2, side // 2]))):
            if kernels is not None:
                kernel_layers.apply(layer, kernels)
            x.stop_gradient = False
            y = layer(x)
            (y * y).sum().backward()
            out += [y.numpy(), x.grad.numpy(), layer.weight.grad.numpy()]
    return out


def test_every_implementation_oneDNN_offers_agrees_and_a_tuned_choice_is_kept(tmp_path, monkeypatch):
    """The first process to meet a layer shape times oneDNN's implementations and writes the fastest to the
    tuning file; a file that names one makes every process use it, so runs repeat bit for bit. Each
    implementation listed there, forced in turn, agrees with paddle's own kernels."""
    kernels = _kernels()
    theirs = _conv_and_transpose(None)

    def agree(file):
        onednn.use_tuning_file("" if file == "off" else str(file))
        ours = _conv_and_transpose(kernels)
        for a, ref in zip(ours, theirs):
            np.testing.assert_allclose(a, ref, atol=1e-5 * np.abs(ref).max(), rtol=0)
        return ours

    tuned = tmp_path / "tuning.tsv"
    first = agree(tuned)
    text = tuned.read_text()
    lines = text.splitlines()
    timed = {line.split("\t")[0]: [c.rsplit("=", 1)[0] for c in line.split("\t")[2].split()] for line in lines}
    for _, _, problem in PROBLEMS:
        keys = [key for key in timed if key.startswith(problem)]
        assert sorted(k.split("|")[4] for k in keys) == ["backward_data", "backward_weights", "forward"]
    for line in lines:
        key, chosen, _ = line.split("\t")
        assert chosen in timed[key] and not any(name.split(":")[1] == "ref" for name in timed[key])
    reread = tmp_path / "copy.tsv"  # another process reading the file: the very same arithmetic
    reread.write_text(text)
    assert all(np.array_equal(a, b) for a, b in zip(agree(reread), first))
    assert reread.read_text() == text
    for i in range(max(len(names) for names in timed.values())):
        forced = tmp_path / f"forced-{i}.tsv"
        forced_text = "".join(f"{key}\t{names[i % len(names)]}\t-\n" for key, names in timed.items())
        forced.write_text(forced_text)
        agree(forced)
        assert forced.read_text() == forced_text  # each named implementation was found and used: nothing re-timed
    agree("off")  # oneDNN's own first choice
    onednn.use_tuning_file(onednn.tuning_choice(onednn._LOADED["folder"].parent, onednn.library_version()))


def test_a_shape_no_kernel_takes_stays_on_paddles_layer_and_is_named(tmp_path):
    """The 64x64 colour nets run entirely on the kernels; a layer of another shape keeps paddle's own layer, and
    that layer is the one the training log names."""
    kernels = _kernels()
    g, d = build_models(64, 16, 8, 8, channels=3, num_classes=10)
    for net in (g, d):
        kernel_layers.apply(net, kernels)
        assert kernel_layers.left_stock(net) == []
    odd = paddle.nn.Sequential(Conv2D(3, 8, 4, 2, 1), Conv2D(8, 8, 3, 2, 1))  # a 3x3 stride-2 layer
    kernel_layers.apply(odd, kernels)
    assert type(odd[0]) is OneDNNConv2D and kernel_layers.left_stock(odd) == ["1"]
    x = paddle.randn([2, 3, 16, 16])
    assert odd(x).shape == [2, 8, 4, 4]


# ------------------------------------------------------------------ channels-last chains


@pytest.mark.parametrize("make, side, marks", [
    (lambda: Conv2D(8, 16, 4, 2, 1, bias_attr=False), 14, (True, True)),            # D's middle layer, inside a chain
    (lambda: Conv2D(8, 16, 4, 2, 1), 14, (False, True)),                            # a chain's first link, with a bias
    (lambda: ConvTranspose2D(16, 8, 4, 2, 1, bias_attr=False), 7, (True, True)),    # G's middle layer
    (lambda: ConvTranspose2D(16, 3, 4, 2, 1, bias_attr=False), 7, (True, False)),   # G's last layer, colour
    (lambda: ConvTranspose2D(12, 16, 7, 1, 0, bias_attr=False), 1, (False, True)),  # G's z projection (GEMM)
    (lambda: Conv2D(16, 11, 7, 1, 0, bias_attr=False), 7, (True, False)),           # D's read-out (GEMM)
])
def test_a_channels_last_link_computes_what_the_stock_layer_does(make, side, marks):
    """Each stand-in marked to read (in) and write (out) channels-last tensors: the same output and gradients as
    the stock layer on NCHW tensors, and the tensors it hands on really are [N, H, W, C]."""
    kernels = _kernels()
    paddle.seed(0)
    stock = make()
    in_ch = stock.weight.shape[0 if isinstance(stock, ConvTranspose2D) else 1]
    x = paddle.randn([5, in_ch, side, side])
    results = []
    for use in (None, kernels):
        layer = stock if use is None else _applied(stock, use)
        if use is not None:
            layer.in_nhwc, layer.out_nhwc = marks
        xi = (to_nhwc(x) if use is not None and marks[0] else x).clone()
        xi.stop_gradient = False
        y = layer(xi)
        if use is not None and marks[1]:
            assert y.shape[3] == results[0][0].shape[1]  # channels last
            y = to_nchw(y)
        (y * y.detach().flip(0)).sum().backward()
        dx = xi.grad.numpy().transpose(0, 3, 1, 2) if use is not None and marks[0] else xi.grad.numpy()
        results.append([y.numpy(), dx, layer.weight.grad.numpy()])
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=0)


def test_fused_blocks_and_label_maps_work_channels_last():
    """A fused conv -> BatchNorm -> activation block and a conditional D's first block writing channels-last:
    outputs, gradients and running statistics as the stock layers'; in eval mode too."""
    kernels = _kernels()
    paddle.seed(0)
    stock = paddle.nn.Sequential(Conv2D(8, 16, 4, 2, 1, bias_attr=False), paddle.nn.BatchNorm2D(16),
                                 paddle.nn.LeakyReLU(0.2))
    stock[1].bias.set_value(paddle.randn([16]))
    fused = _applied(stock, kernels)
    fused[0].in_nhwc, fused[0].out_nhwc = True, True
    x = paddle.randn([6, 8, 14, 14]) * 2 + 1
    out = []
    for block, xi in ((stock, x), (fused, to_nhwc(x))):
        xi = xi.clone()
        xi.stop_gradient = False
        y = block(xi)
        y = to_nchw(y) if block is fused else y
        (y * y.detach().flip(0)).sum().backward()
        dx = xi.grad.numpy().transpose(0, 3, 1, 2) if block is fused else xi.grad.numpy()
        out.append([y.numpy(), dx, block[1].weight.grad.numpy(), block[1]._mean.numpy(), block[1]._variance.numpy()])
    assert type(fused) is FusedConvBlock
    for ours, theirs in zip(out[1], out[0]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=0)
    stock.eval(), fused.eval()
    np.testing.assert_allclose(to_nchw(fused(to_nhwc(x))).numpy(), stock(x).numpy(), atol=1e-5)

    images, labels = paddle.randn([7, 1, 28, 28]), paddle.to_tensor([3, 3, 0, 9, 5, 3, 1])
    planes = LabelPlanesBlock(1, 10, 16)
    maps = _applied(planes, kernels)
    maps.out_nhwc = maps[0].out_nhwc = True
    y_stock, y_fast = planes(images, labels), maps(images, labels)
    assert y_fast.shape == [7, 14, 14, 16]
    np.testing.assert_allclose(to_nchw(y_fast).numpy(), y_stock.numpy(), atol=1e-5 * float(y_stock.abs().max()))
    weights = paddle.nn.functional.one_hot(labels, 10).astype("float32") * 0.5 + 0.05  # class weights, not ids
    np.testing.assert_allclose(to_nchw(maps(images, weights)).numpy(), planes(images, weights).numpy(), atol=1e-5)


@pytest.mark.parametrize("conditional", [True, False])
def test_the_nets_pass_channels_last_tensors_inside_and_train_as_nchw_does(conditional):
    """kernels.apply marks the nets' block chains: every tensor between two blocks is [N, H, W, C], the nets'
    own inputs and outputs stay NCHW, and a D and G update computes what the same nets unmarked compute."""
    kernels = _kernels()
    classes = 10 if conditional else 0
    paddle.seed(3)
    g, d = build_models(28, 16, 8, 8, num_classes=classes, conditioning="planes+projection")
    nets = {}
    for layout in ("nhwc", "nchw"):
        pair = [_applied(g, kernels), _applied(d, kernels)]
        marked = [kernel_layers.channels_last(net, layout == "nhwc") for net in pair]
        assert marked == ([3, 3] if layout == "nhwc" else [0, 0])
        nets[layout] = pair
    z = paddle.randn([6, 16, 1, 1])
    labels = [paddle.to_tensor([0, 1, 2, 3, 4, 5])] if conditional else []
    seen = {}
    for layout, (gen, disc) in nets.items():
        shapes = []
        hooks = [b.register_forward_post_hook(lambda _, __, out: shapes.append(out.shape)) for b in gen.blocks]
        fake = gen(z, *labels)
        logits = disc(fake, *labels)
        (logits * logits).mean().backward()
        for h in hooks:
            h.remove()
        seen[layout] = (shapes, fake.numpy(), logits.numpy(),
                        *([p.grad.numpy() for p in net.parameters() if not p.stop_gradient] for net in (gen, disc)))
    assert seen["nhwc"][0] == [[6, 7, 7, 16], [6, 14, 14, 8], [6, 1, 28, 28]]
    assert seen["nchw"][0] == [[6, 16, 7, 7], [6, 8, 14, 14], [6, 1, 28, 28]]
    for ours, theirs in zip(seen["nhwc"][1:3], seen["nchw"][1:3]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=0)
    for ours, theirs in zip(seen["nhwc"][3] + seen["nhwc"][4], seen["nchw"][3] + seen["nchw"][4]):
        np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max(), rtol=0)


def test_channels_last_problems_have_their_own_tuning_lines(tmp_path):
    """A layer met channels-last is another problem for the tuning (its reorders differ): its key says so."""
    kernels = _kernels()
    tuned = tmp_path / "tuning.tsv"
    onednn.use_tuning_file(str(tuned))
    try:
        layer = _applied(Conv2D(4, 8, 4, 2, 1, bias_attr=False), kernels)
        layer(paddle.randn([3, 4, 10, 10]))
        layer.in_nhwc = layer.out_nhwc = True
        layer(paddle.randn([3, 10, 10, 4]))
    finally:
        onednn.use_tuning_file(onednn.tuning_choice(onednn._LOADED["folder"].parent, onednn.library_version()))
    keys = [line.split("\t")[0] for line in tuned.read_text().splitlines()]
    assert len(keys) == 2 and keys[0].startswith("conv 3,4,10,10|8,4,4,4|3,8,5,5|s2p1|forward|")
    assert keys[1] == keys[0] + "|src_nhwc_dst_nhwc"
