"""Parity and speed of the three engines on one exported run (README, Export).

python benchmarks/engines.py [--run output/dcgan] [-n 64 1000] [--repeats 7]

Needs the run's export with ONNX (python tools/export.py --run RUN --onnx). Prints, for each
sample count, the largest absolute difference between each pair of engines on the same noise
(seed 0; for a conditional run also the same labels, drawn from that seed), then img/s of each engine generating 1,000 images, the engines taking turns.
"""

import time

import numpy as np

import paddle_dcgan
from paddle_dcgan import cli

ENGINES = ("dygraph", "inference", "onnx")


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--run", default="output/dcgan", help="run folder holding export/")
    parser.add_argument("-n", "--num", type=int, nargs="+", default=[64, 1000], help="sample counts for parity")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per engine (median)")
    args = parser.parse_args()
    paddle_dcgan.tune_cpu()

    from paddle_dcgan.sampling.sample import sample

    engines = {name: paddle_dcgan.open_engine(name, args.run, device="cpu") for name in ENGINES}
    print(f"{args.run}, step {engines['dygraph'].step}")
    for n in args.num:
        out = {name: sample(engine, n, seed=0) for name, engine in engines.items()}
        pairs = [(a, b) for i, a in enumerate(ENGINES) for b in ENGINES[i + 1:]]
        print(f"{n} samples (values {out['dygraph'].min():.3f} .. {out['dygraph'].max():.3f}), max abs difference: "
              + ", ".join(f"{a} vs {b} {np.abs(out[a] - out[b]).max():.1e}" for a, b in pairs))
    seconds = {name: [] for name in engines}
    for name, engine in engines.items():
        sample(engine, 1000, seed=0)  # warm-up
    for _ in range(args.repeats):
        for name, engine in engines.items():
            started = time.perf_counter()
            sample(engine, 1000, seed=0)
            seconds[name].append(time.perf_counter() - started)
    for name, engine in engines.items():
        print(f"{1000 / np.median(seconds[name]):>7.0f} img/s  {engine.description}")


if __name__ == "__main__":
    cli.run(main)
