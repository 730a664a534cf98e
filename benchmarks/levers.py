"""Each speed lever of the training step, measured on its own (before / after).

python benchmarks/levers.py [--batch-sizes 64 128] [--repeats 5]

Kept levers are switched off one at a time in the full GAN step; rejected ones
are measured where they would apply (the full step, or the layer they replace).
Thread/MKL settings are compared by tools/benchmark.py ("as installed" vs "tuned").
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import paddle_dcgan  # noqa: F401  (CPU settings before paddle is imported)
import paddle
import paddle.nn.functional as F

from paddle_dcgan.benchmark import median_rate
from paddle_dcgan.models import build_models
from paddle_dcgan.train import discriminator_step, generator_step


def make_steps(batch: int, steps: int, *, whole_map_gemm=True, freeze=True, to_static=False):
    """A callable running ``steps`` GAN steps of a fresh model built with the given levers."""
    paddle.seed(0)
    g, d = build_models(28, 100, 64, 64, whole_map_gemm=whole_map_gemm)
    if to_static:
        g, d = paddle.jit.to_static(g, full_graph=True), paddle.jit.to_static(d, full_graph=True)
    opt_g = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=g.parameters())
    opt_d = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=d.parameters())
    real = paddle.tanh(paddle.randn([batch, 1, 28, 28]))
    z = paddle.randn([batch, 100, 1, 1])

    def run():
        for _ in range(steps):
            fake, _ = discriminator_step(g, d, opt_d, real, z)
            generator_step(d, opt_g, fake, freeze_discriminator=freeze)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="paddle.jit")

    print(f"{'full GAN step, img/s':<52}" + "".join(f"{'batch ' + str(b):>12}" for b in args.batch_sizes))
    variants = [
        ("all kept levers on", {}),
        ("  without whole-map GEMM layers (kept)", {"whole_map_gemm": False}),
        ("  without frozen D weights in the G step (kept)", {"freeze": False}),
        ("  with paddle.jit.to_static on G and D (rejected)", {"to_static": True}),
    ]
    table = {}
    for b in args.batch_sizes:
        runs = [make_steps(b, args.steps, **kwargs) for _, kwargs in variants]
        table[b] = interleaved_rates(runs, args.steps * b, args.repeats)
    for i, (label, _) in enumerate(variants):
        print(f"{label:<52}" + "".join(f"{table[b][i]:>12.0f}" for b in args.batch_sizes))

    batch = max(args.batch_sizes)
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
        print(f"{label:<52}{layer_ms(fn, args.repeats):>12.2f}")


if __name__ == "__main__":
    main()
