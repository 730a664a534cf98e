"""Speed measurements behind benchmarks/benchmark.py.

Each framework/setting runs in a child process of its own (this file run as a
script with ``--worker``), because paddle and MKL read their thread settings
once, at import. A child prints one JSON line; the parent collects them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np

SETTINGS = {
    # name: (framework, environment changes); None removes a variable, so that each child starts
    # from a user's plain environment rather than the one this process set up
    "paddle as installed": ("paddle", {"PADDLE_DCGAN_CPU_TUNING": "0", "OMP_NUM_THREADS": None,
                                       "MKL_DEBUG_CPU_TYPE": None}),
    "paddle tuned": ("paddle", {"PADDLE_DCGAN_CPU_TUNING": None, "OMP_NUM_THREADS": None,
                                "MKL_DEBUG_CPU_TYPE": None}),  # paddle_dcgan.tune_cpu() in the worker
    "pytorch twin": ("torch", {}),
}


def median_rate(run: Callable[[], None], items: int, repeats: int) -> float:
    """Median items/s over ``repeats`` timed calls of ``run`` (after one warm-up call)."""
    run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


# ------------------------------------------------------------------ FLOPs
def conv_macs(net, example) -> int:
    """Multiply-adds per image of the conv layers of a paddle ``net`` for input ``example``."""
    import paddle

    total = [0]

    def hook(layer, inputs, output):
        k = int(np.prod(layer._kernel_size))
        if isinstance(layer, paddle.nn.Conv2DTranspose):  # every input pixel meets out_ch x k x k weights
            total[0] += int(np.prod(inputs[0].shape[1:])) * layer.weight.shape[1] * k
        else:  # every output pixel meets in_ch x k x k weights
            total[0] += int(np.prod(output.shape[1:])) * layer.weight.shape[1] * k

    handles = [m.register_forward_post_hook(hook) for m in net.sublayers()
               if isinstance(m, (paddle.nn.Conv2D, paddle.nn.Conv2DTranspose))]
    with paddle.no_grad():
        net(example)
    for h in handles:
        h.remove()
    return total[0] // example.shape[0]


def train_flops_per_image(g_macs: int, d_macs: int) -> int:
    """FLOPs (2 per multiply-add) of one GAN step per real image, conv layers only.

    G: forward, then backward (input and weight gradients: 2x) = 3 G.
    D: D step = forward on real and on fake (2 D) + backward of both (4 D);
    G step = forward (1 D) + input-gradient backward only, D's weights being
    frozen (1 D); 8 D, less the input gradient of D's first layer on real data,
    which nobody needs: about 7 D.
    """
    return 2 * (3 * g_macs + 7 * d_macs)


# ------------------------------------------------------------------ paddle worker
def paddle_worker(args) -> dict:
    import paddle_dcgan

    cpu_env = paddle_dcgan.tune_cpu()
    import paddle

    from paddle_dcgan import data
    from paddle_dcgan.models import build_models
    from paddle_dcgan.steps import discriminator_step, generator_step

    paddle.set_device("cpu")
    out = {"cpu_env": cpu_env, "paddle": paddle.__version__}
    a = paddle.randn([args.gemm, args.gemm])
    out["gemm_gflops"] = median_rate(lambda: paddle.matmul(a, a).numpy(), 2 * args.gemm ** 3, 5) / 1e9

    paddle.seed(0)
    g, d = build_models(args.image_size, args.nz, args.ngf, args.ndf)
    out["g_macs"] = conv_macs(g, paddle.randn([1, args.nz, 1, 1]))
    out["d_macs"] = conv_macs(d, paddle.randn([1, 1, args.image_size, args.image_size]))
    opt_g = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=g.parameters())
    opt_d = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=d.parameters())
    out["train"] = {}
    for batch in args.batch_sizes:
        real = paddle.tanh(paddle.randn([batch, 1, args.image_size, args.image_size]))
        z = paddle.randn([batch, args.nz, 1, 1])

        def steps():
            for _ in range(args.steps):
                fake, _ = discriminator_step(g, d, opt_d, real, z)
                generator_step(d, opt_g, fake)

        out["train"][str(batch)] = median_rate(steps, args.steps * batch, args.repeats)

    g.eval()
    z = paddle.randn([1000, args.nz, 1, 1])

    def generate():
        with paddle.no_grad():
            g(z).numpy()

    out["generate"] = median_rate(generate, 1000, args.repeats)

    images, labels = data.load_split("mnist_subset", data.SUBSET_DIR, "train")
    batches = data.Batches(data.fit_to_size(images, args.image_size), labels, max(args.batch_sizes), 0)
    out["loader"] = median_rate(lambda: [b for b, _ in batches.epoch(0)], len(batches) * batches.batch_size,
                                args.repeats)
    if args.profile:
        out["profile"] = profile_layers(g, d, args, "paddle")
    return out


# ------------------------------------------------------------------ torch worker
def torch_worker(args) -> dict:
    import paddle
    import torch

    from paddle_dcgan.models import build_models
    from torch_twin import TwinDiscriminator, TwinGenerator, gan_step

    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    a = torch.randn(args.gemm, args.gemm)
    out["gemm_gflops"] = median_rate(lambda: torch.matmul(a, a), 2 * args.gemm ** 3, 5) / 1e9
    paddle.seed(0)
    pg, pd = build_models(args.image_size, args.nz, args.ngf, args.ndf)
    g, d = TwinGenerator(pg), TwinDiscriminator(pd)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    out["train"] = {}
    for batch in args.batch_sizes:
        real = torch.tanh(torch.randn(batch, 1, args.image_size, args.image_size))
        z = torch.randn(batch, args.nz, 1, 1)

        def steps():
            for _ in range(args.steps):
                gan_step(g, d, opt_g, opt_d, real, z)

        out["train"][str(batch)] = median_rate(steps, args.steps * batch, args.repeats)
    g.eval()
    z = torch.randn(1000, args.nz, 1, 1)

    def generate():
        with torch.no_grad():
            g(z)

    out["generate"] = median_rate(generate, 1000, args.repeats)
    if args.profile:
        out["profile"] = profile_layers(pg, pd, args, "torch")
    return out


# ------------------------------------------------------------------ per-layer profile
def profile_layers(g, d, args, framework: str) -> list[dict]:
    """Forward+backward milliseconds of each conv layer at the largest batch size."""
    import paddle

    batch = max(args.batch_sizes)
    shapes = []

    def hook(layer, inputs, output):
        shapes.append((layer, list(inputs[0].shape)))

    convs = [m for net in (g, d) for m in net.sublayers() if isinstance(m, (paddle.nn.Conv2D, paddle.nn.Conv2DTranspose))]
    handles = [m.register_forward_post_hook(hook) for m in convs]
    with paddle.no_grad():
        d(g(paddle.randn([batch, args.nz, 1, 1])))
    for h in handles:
        h.remove()
    rows = []
    for layer, shape in shapes:
        name = f"{type(layer).__name__} {shape[1]}->{layer.weight.shape[1 if isinstance(layer, paddle.nn.Conv2DTranspose) else 0]} @{shape[2]}x{shape[3]}"
        if framework == "paddle":
            x = paddle.randn(shape)
            x.stop_gradient = False

            def run():
                for _ in range(5):
                    layer(x).sum().backward()
        else:
            import torch

            from torch_twin import to_torch

            twin = to_torch(layer)
            x = torch.randn(shape, requires_grad=True)

            def run():
                for _ in range(5):
                    twin(x).sum().backward()
        rows.append({"layer": name, "ms": 1000 / median_rate(run, 5, args.repeats)})
    return rows


# ------------------------------------------------------------------ parent
def run_setting(name: str, argv: list[str]) -> dict:
    framework, changes = SETTINGS[name]
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [sys.executable, __file__, "--worker", framework, *argv]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_parser():
    from paddle_dcgan import cli

    parser = cli.parser("Training and sampling speed of paddle-dcgan, against a PyTorch twin of the same model "
                        "when torch is installed.")
    parser.add_argument("--image-size", type=int, default=28, choices=(28, 32, 64))
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=10, help="GAN steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    parser.add_argument("--gemm", type=int, default=2048, help="side of the square float32 GEMM (machine limit)")
    parser.add_argument("--profile", action="store_true", help="also time every conv layer (forward+backward)")
    return parser


def worker_argv(ns) -> list[str]:
    argv = ["--image-size", str(ns.image_size), "--nz", str(ns.nz), "--ngf", str(ns.ngf), "--ndf", str(ns.ndf),
            "--steps", str(ns.steps), "--repeats", str(ns.repeats), "--gemm", str(ns.gemm),
            "--batch-sizes", *map(str, ns.batch_sizes)]
    return argv + (["--profile"] if ns.profile else [])


if __name__ == "__main__":
    parser = make_parser()
    parser.add_argument("--worker", choices=("paddle", "torch"), required=True)
    ns = parser.parse_args()
    print(json.dumps((paddle_worker if ns.worker == "paddle" else torch_worker)(ns)))
