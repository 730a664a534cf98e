"""Measure training / sampling / loader speed: paddle as installed, paddle tuned, PyTorch twin.

python benchmarks/benchmark.py [--batch-sizes 64 128] [--profile] [--json results.json]
python benchmarks/benchmark.py --levers     # each speed lever of the step on / off (benchmarks/levers.py)
"""

import json
import sys
from pathlib import Path

from measure import SETTINGS, make_parser, run_setting, train_flops_per_image, worker_argv

from paddle_dcgan import cli


def _table(results: dict, batch_sizes: list[int]) -> str:
    first = next(iter(results.values()))
    flops = train_flops_per_image(first["g_macs"], first["d_macs"])
    names = list(results)
    lines = [f"{'':<34}" + "".join(f"{n:>22}" for n in names), "-" * (34 + 22 * len(names))]

    def row(label, fn, fmt="{:.0f}"):
        cells = [fn(r) for r in results.values()]
        lines.append(f"{label:<34}" + "".join(f"{fmt.format(c) if c is not None else '-':>22}" for c in cells))

    for b in batch_sizes:
        row(f"train img/s, batch {b}", lambda r, b=b: r["train"][str(b)])
        row(f"  achieved GFLOP/s, batch {b}", lambda r, b=b: r["train"][str(b)] * flops / 1e9, "{:.1f}")
    row("generate img/s (batch 1000)", lambda r: r["generate"])
    row("data loader img/s", lambda r: r.get("loader"))
    row("GEMM GFLOP/s (machine limit)", lambda r: r["gemm_gflops"], "{:.1f}")
    if "pytorch twin" in results:
        torch = results["pytorch twin"]
        for name in names[:-1]:
            ratios = ", ".join(f"batch {b}: {results[name]['train'][str(b)] / torch['train'][str(b)]:.2f}"
                               for b in batch_sizes)
            lines.append(f"train ratio {name} / pytorch: {ratios}")
    lines.append(f"model: {first['g_macs'] / 1e6:.2f} M multiply-adds in G, {first['d_macs'] / 1e6:.2f} M in D per "
                 f"image; a GAN step costs {flops / 1e6:.1f} MFLOP per real image (conv layers only)")
    for name, r in results.items():
        if "cpu_env" in r:
            lines.append(f"{name}: {r['cpu_env']}")
    return "\n".join(lines)


def _profile(results: dict) -> str:
    paddle_rows = results["paddle tuned"]["profile"]
    torch_rows = results.get("pytorch twin", {}).get("profile")
    lines = [f"{'layer (forward+backward)':<38}{'paddle ms':>11}{'torch ms':>11}{'ratio':>8}"]
    for i, row in enumerate(paddle_rows):
        t = torch_rows[i]["ms"] if torch_rows else None
        lines.append(f"{row['layer']:<38}{row['ms']:>11.2f}" + (f"{t:>11.2f}{row['ms'] / t:>8.2f}" if t else ""))
    return "\n".join(lines)


def main() -> None:
    parser = make_parser()
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twin")
    parser.add_argument("--levers", action="store_true", help="measure each speed lever on its own instead")
    args = parser.parse_args()
    if args.levers:
        import levers

        return levers.run(args.batch_sizes, args.steps, args.repeats)
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("torch is not installed: PyTorch column skipped (pip install torch)", file=sys.stderr)
    results = {}
    for name in SETTINGS:
        if SETTINGS[name][0] == "torch" and not have_torch:
            continue
        print(f"measuring {name} ...", file=sys.stderr)
        results[name] = run_setting(name, worker_argv(args))
    print(_table(results, args.batch_sizes))
    if args.profile:
        print()
        print(_profile(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    cli.run(main)
