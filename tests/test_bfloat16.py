"""bfloat16 convolutions on CPU (train.conv_precision): the oneDNN kernels read their inputs rounded to
bfloat16 and sum in float32. Checked against float32 convolutions of the rounded inputs (what bfloat16
products with float32 sums are), on this CPU where it has the instructions; the choice and its refusals
everywhere."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, assert_one_line_error, run_tool
from paddle_dcgan import kernels as kernel_layers
from paddle_dcgan.config import load_config
from paddle_dcgan.errors import UserError
from paddle_dcgan.kernels import build as onednn
from paddle_dcgan.kernels.layers import OneDNNConv2D, OneDNNConvTranspose2D
from paddle_dcgan.training.run import Trainer

WITH, WITHOUT = "fpu sse2 avx2 avx512f avx512_bf16", "fpu sse2 avx2 avx512f"


def _bfloat16_kernels():
    try:
        ops = onednn.load()
    except onednn.KernelsUnavailable as why:
        pytest.skip(f"oneDNN kernels unavailable here: {why}")
    if not kernel_layers.bfloat16_isa():
        pytest.skip("this CPU has no bfloat16 instructions (AVX512_BF16 or AMX)")
    return ops


def _rounded(a: np.ndarray) -> np.ndarray:
    """float32 -> the nearest bfloat16 (ties to even), as float32."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def test_the_choice_and_its_refusals():
    ops = object()  # any operators: the choice only asks whether there are some
    assert kernel_layers.conv_precision("float32", ops, WITHOUT) == (False, "float32")
    assert kernel_layers.conv_precision("float32", None, WITH) == (False, "float32")
    on, note = kernel_layers.conv_precision("bfloat16", ops, WITH)
    assert on and note.startswith("bfloat16 products") and "(AVX512_BF16;" in note and "float32 sums" in note
    assert "(AMX;" in kernel_layers.conv_precision("bfloat16", ops, "amx_bf16 " + WITH)[1]
    with pytest.raises(UserError, match="neither AVX512_BF16 nor AMX.*conv_precision=float32"):
        kernel_layers.conv_precision("bfloat16", ops, WITHOUT)
    with pytest.raises(UserError, match="oneDNN kernels are not in use"):
        kernel_layers.conv_precision("bfloat16", None, WITH)


def test_a_bad_value_and_a_refused_bfloat16_are_one_line_and_write_nothing(tmp_path):
    result = run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", "train.conv_precision=bf16",
                      f"output_dir={tmp_path}", cwd=tmp_path, check=False)
    assert_one_line_error(result, "train.conv_precision", "float32 | bfloat16")
    result = run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", "train.conv_precision=bfloat16",
                      "train.kernels=paddle", f"output_dir={tmp_path}", cwd=tmp_path, check=False)
    assert_one_line_error(result, "train.conv_precision=bfloat16", "use -o train.conv_precision=float32")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("layer_type,in_ch,out_ch,side", [(paddle.nn.Conv2D, 32, 64, 14),
                                                          (paddle.nn.Conv2DTranspose, 64, 32, 7),
                                                          (paddle.nn.Conv2D, 1, 16, 28)])
def test_bfloat16_products_with_float32_sums(layer_type, in_ch, out_ch, side):
    """Output and both gradients equal float32 convolutions of the bfloat16-rounded operands (to float32
    summation order), and differ from the unrounded float32 convolution by bfloat16's rounding."""
    ops = _bfloat16_kernels()
    onednn.use_tuning_file("")  # oneDNN's first choice: a bfloat16 implementation (the tuning may keep float32)
    try:
        _check_products(ops, layer_type, in_ch, out_ch, side)
    finally:
        onednn.use_tuning_file(onednn.tuning_choice(onednn._LOADED["folder"].parent, onednn.library_version()))


def _check_products(ops, layer_type, in_ch, out_ch, side):
    paddle.seed(1)
    stock = layer_type(in_ch, out_ch, 4, 2, 1, bias_attr=False)
    fast = layer_type(in_ch, out_ch, 4, 2, 1, bias_attr=False)
    fast.weight.set_value(stock.weight)
    kernel_layers.apply(fast, ops, bfloat16=True)
    assert type(fast) in (OneDNNConv2D, OneDNNConvTranspose2D) and fast.bf16 == 1
    x = np.random.default_rng(0).standard_normal((6, in_ch, side, side)).astype(np.float32)
    w = stock.weight.numpy()
    y_fast = fast(paddle.to_tensor(x)).numpy()
    stock.weight.set_value(_rounded(w))
    y_rounded = stock(paddle.to_tensor(_rounded(x))).numpy()
    stock.weight.set_value(w)
    y_float32 = stock(paddle.to_tensor(x)).numpy()
    scale = np.abs(y_float32).max()
    assert np.abs(y_fast - y_rounded).max() < 2e-5 * scale
    assert 1e-4 * scale < np.abs(y_fast - y_float32).max() < 2e-2 * scale

    # the gradients: of the input through the rounded weight, of the weight through the rounded input
    # (and the arriving gradient rounded too); the weight gradient stays float32
    dy = np.random.default_rng(1).standard_normal(y_fast.shape).astype(np.float32)
    grads = []
    for layer, xs, ws, dys in ((fast, x, w, dy), (stock, _rounded(x), _rounded(w), _rounded(dy))):
        layer.weight.set_value(ws)
        xt = paddle.to_tensor(xs, stop_gradient=False)
        (layer(xt) * paddle.to_tensor(dys)).sum().backward()
        grads.append((xt.grad.numpy(), layer.weight.grad.numpy()))
        layer.clear_gradients()
    for fast_grad, rounded_grad in zip(*grads):
        assert fast_grad.dtype == np.float32
        assert np.abs(fast_grad - rounded_grad).max() < 2e-5 * np.abs(rounded_grad).max()


def test_a_bfloat16_run_trains_and_repeats_exactly(tiny_data, tmp_path):
    """Through the Trainer: the oneDNN layers compute in bfloat16, the log says so, two runs agree bit for bit
    and differ from float32's."""
    _bfloat16_kernels()

    def three_steps(name, precision):
        cfg = load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"run_name={name}",
                                 "model.num_classes=10", "train.kernels=onednn", f"train.conv_precision={precision}"])
        trainer = Trainer(cfg)
        trainer.generator.train()
        trainer.discriminator.train()
        return trainer, [trainer.train_step(*batch) for batch, _ in zip(trainer.batches.epoch(0), range(3))]

    ours, ours_stats = three_steps("a", "bfloat16")
    again, again_stats = three_steps("b", "bfloat16")
    _, float32_stats = three_steps("c", "float32")
    assert "bfloat16 products" in ours.kernels_note
    layers = [layer for net in (ours.generator, ours.discriminator) for layer in net.sublayers()
              if isinstance(layer, (OneDNNConv2D, OneDNNConvTranspose2D))]
    assert layers and all(layer.bf16 == 1 for layer in layers)
    assert ours_stats == again_stats
    assert ours_stats != float32_stats
    for a, b in zip(ours_stats, float32_stats):
        assert abs(a["loss_d"] - b["loss_d"]) < 0.05 * abs(b["loss_d"])


def test_the_tuning_times_bfloat16_and_float32_and_keeps_the_faster(tmp_path):
    """A bfloat16 layer's tuning line times its bfloat16 and its float32 implementations, and the layer then
    computes as the one it keeps."""
    ops = _bfloat16_kernels()
    tuned = tmp_path / "tuning.tsv"
    onednn.use_tuning_file(str(tuned))
    try:
        paddle.seed(2)
        stock = paddle.nn.Conv2D(1, 8, 4, 2, 1, bias_attr=False)
        fast = paddle.nn.Conv2D(1, 8, 4, 2, 1, bias_attr=False)
        fast.weight.set_value(stock.weight)
        kernel_layers.apply(fast, ops, bfloat16=True)
        x = paddle.to_tensor(np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32))
        y = fast(x).numpy()
    finally:
        onednn.use_tuning_file(onednn.tuning_choice(onednn._LOADED["folder"].parent, onednn.library_version()))
    (line,) = tuned.read_text().splitlines()
    key, chosen, timings = line.split("\t")
    assert key.split("|")[4:6] == ["bf16", "forward"]
    names = [t.rsplit("=", 1)[0] for t in timings.split()]
    assert any(n.startswith("bf16/") for n in names) and any(n.startswith("f32/") for n in names)
    y_float32 = stock(x).numpy()
    if chosen.startswith("f32/"):
        np.testing.assert_allclose(y, y_float32, atol=1e-5 * np.abs(y_float32).max(), rtol=0)
    else:
        assert chosen.startswith("bf16/") and np.abs(y - y_float32).max() > 1e-4 * np.abs(y_float32).max()
