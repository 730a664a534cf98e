"""Each speed lever of the training step, measured on its own (before / after).

Run through ``python benchmarks/benchmark.py --levers``. Kept levers are switched
off one at a time in the full GAN step; rejected ones are measured where they
would apply (the full step, or the layer they replace). Thread/MKL settings are
compared by the main table ("paddle as installed" vs "paddle tuned").

The library has no switches for these levers: the stock variants are built here.
"""

from __future__ import annotations

import statistics
import time
import warnings

import paddle_dcgan

paddle_dcgan.tune_cpu()
import paddle  # noqa: E402
import paddle.nn.functional as F  # noqa: E402

from measure import median_rate  # noqa: E402
from paddle_dcgan.models import WholeMapConv2D, WholeMapConvTranspose2D, build_models  # noqa: E402
from paddle_dcgan.steps import discriminator_step, generator_step  # noqa: E402


def with_stock_layers(net: paddle.nn.Layer) -> paddle.nn.Layer:
    """Swap the whole-map GEMM layers of ``net`` for paddle's stock conv layers, weights kept."""
    for block in net.sublayers():
        for name, child in list(block.named_children()):
            if isinstance(child, (WholeMapConv2D, WholeMapConvTranspose2D)):
                stock_cls = paddle.nn.Conv2D if isinstance(child, WholeMapConv2D) else paddle.nn.Conv2DTranspose
                in_ch, out_ch = child._in_channels, child._out_channels
                stock = stock_cls(in_ch, out_ch, child._kernel_size, child._stride, child._padding,
                                  bias_attr=False if child.bias is None else None)
                stock.set_state_dict(child.state_dict())
                setattr(block, name, stock)
    return net


def unfrozen_generator_step(discriminator, opt_g, fake) -> None:
    """The G step without freezing D: D's weight gradients are computed, then discarded."""
    logit = discriminator(fake)
    loss = F.binary_cross_entropy_with_logits(logit, paddle.ones_like(logit))
    opt_g.clear_grad()
    loss.backward()
    opt_g.step()
    discriminator.clear_gradients()


def make_steps(batch: int, steps: int, *, whole_map_gemm=True, freeze=True, to_static=False):
    """A callable running ``steps`` GAN steps of a fresh model built with the given levers."""
    paddle.seed(0)
    g, d = build_models(28, 100, 64, 64)
    if not whole_map_gemm:
        g, d = with_stock_layers(g), with_stock_layers(d)
    if to_static:
        g, d = paddle.jit.to_static(g, full_graph=True), paddle.jit.to_static(d, full_graph=True)
    opt_g = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=g.parameters())
    opt_d = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=d.parameters())
    real = paddle.tanh(paddle.randn([batch, 1, 28, 28]))
    z = paddle.randn([batch, 100, 1, 1])

    def run():
        for _ in range(steps):
            fake, _ = discriminator_step(g, d, opt_d, real, z)
            if freeze:
                generator_step(d, opt_g, fake)
            else:
                unfrozen_generator_step(d, opt_g, fake)

    run()  # warm-up
    return run


def interleaved_rates(runs: list, items: int, repeats: int) -> list[float]:
    """Median items/s of each callable, timing them in turn so that machine noise hits all alike."""
    timings = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            timings[i].append(items / (time.perf_counter() - start))
    return [statistics.median(t) for t in timings]


def layer_ms(fn, repeats: int) -> float:
    return 1000 / median_rate(lambda: fn().sum().backward(), 1, repeats)


def conv_as_unfold_gemm(x, w):
    """Conv2D(k4, s2, p1) as im2col (F.unfold) + one GEMM."""
    n, _, h, _ = x.shape
    cols = F.unfold(x, [4, 4], strides=2, paddings=1)  # [N, C*16, L]
    out = paddle.matmul(w.reshape([w.shape[0], -1]), cols)  # [N, O, L]
    return out.reshape([n, w.shape[0], h // 2, h // 2])


def conv_transpose_as_gemm_fold(x, w):
    """Conv2DTranspose(k4, s2, p1) as one GEMM + col2im (F.fold)."""
    n, c, h, _ = x.shape
    cols = paddle.matmul(w.reshape([c, -1]), x.reshape([n, c, h * h]), transpose_x=True)
    return F.fold(cols, [2 * h, 2 * h], [4, 4], strides=2, paddings=1)


def run(batch_sizes: list[int], steps: int, repeats: int) -> None:
    """Print the lever table: full-step img/s per variant, then single-layer timings."""
    warnings.filterwarnings("ignore", module="paddle.jit")

    print(f"{'full GAN step, img/s':<52}" + "".join(f"{'batch ' + str(b):>12}" for b in batch_sizes))
    variants = [
        ("all kept levers on", {}),
        ("  without whole-map GEMM layers (kept)", {"whole_map_gemm": False}),
        ("  without frozen D weights in the G step (kept)", {"freeze": False}),
        ("  with paddle.jit.to_static on G and D (rejected)", {"to_static": True}),
    ]
    table = {}
    for b in batch_sizes:
        runs = [make_steps(b, steps, **kwargs) for _, kwargs in variants]
        table[b] = interleaved_rates(runs, steps * b, repeats)
    for i, (label, _) in enumerate(variants):
        print(f"{label:<52}" + "".join(f"{table[b][i]:>12.0f}" for b in batch_sizes))

    batch = max(batch_sizes)
    x = paddle.randn([batch, 64, 14, 14])
    w = paddle.randn([128, 64, 4, 4]) * 0.02
    xt = paddle.randn([batch, 128, 7, 7])
    wt = paddle.randn([128, 64, 4, 4]) * 0.02
    x_nhwc = paddle.randn([batch, 14, 14, 64])
    for t in (x, w, xt, wt, x_nhwc):
        t.stop_gradient = False
    rows = [
        ("D conv 64->128 @14x14, paddle kernel", lambda: F.conv2d(x, w, stride=2, padding=1)),
        ("  as F.unfold + GEMM (rejected)", lambda: conv_as_unfold_gemm(x, w)),
        ("  in NHWC layout (rejected)", lambda: F.conv2d(x_nhwc, w, stride=2, padding=1, data_format="NHWC")),
        ("G conv-transpose 128->64 @7x7, paddle kernel", lambda: F.conv2d_transpose(xt, wt, stride=2, padding=1)),
        ("  as GEMM + F.fold (rejected)", lambda: conv_transpose_as_gemm_fold(xt, wt)),
    ]
    print(f"\n{'one layer, forward+backward, batch ' + str(batch):<52}{'ms':>12}")
    for label, fn in rows:
        print(f"{label:<52}{layer_ms(fn, repeats):>12.2f}")
