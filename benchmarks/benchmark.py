"""Training and sampling speed of paddle-dcgan: paddle as installed, paddle tuned, a PyTorch twin.

Columns: paddle as installed (no tune_cpu(), paddle's own conv kernels); tuned with paddle's own
conv kernels (train.kernels=paddle); paddle tuned (the defaults of tools/train.py: tune_cpu() and
train.kernels=auto, i.e. the oneDNN kernels of paddle_dcgan/kernels where they build); the PyTorch
twin as written (NCHW, eager), in the channels_last memory format, and through torch.compile;
where the CPU has bfloat16 instructions, paddle tuned with train.conv_precision=bfloat16 too.
The speed ratios are to the fastest PyTorch column.

    python benchmarks/benchmark.py --profile   # the README's tables (the PyTorch columns: pip install -e ".[twin]")
    python benchmarks/benchmark.py --quick     # a smoke run: few steps, two rounds
    python benchmarks/benchmark.py --levers    # each speed lever on / off (benchmarks/levers.py)
    python benchmarks/benchmark.py --tuned-only --repeats 3 -o data.name=folder data.dir=data/coloured \
        model.image_size=64                    # the 64x64 colour model against its PyTorch twin

The training rate is that of ``Trainer.train_step``, the step of tools/train.py, on the shipped
digits (measure.py says exactly what is inside). Each setting runs in processes of its own,
``--repeats`` times, the settings taking turns; the tables give medians.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import levers
from measure import (AS_INSTALLED, ROOT, TORCH_DEFAULTS, TUNED, Job, benchmark_config, median_of,
                     run_alternating, train_flops_per_image)

from paddle_dcgan import cli
from paddle_dcgan.cpu_tuning import bfloat16_isa, cpu_info, usable_cores

PADDLE_AS_INSTALLED, PADDLE_TUNED, TORCH_TWIN = "paddle as installed", "paddle tuned", "pytorch twin"
# the twin in each of torch_twin.MODES: a column each; the speed ratios are to the fastest of them
TORCH_COLUMNS = {"eager": TORCH_TWIN, "channels_last": "pytorch channels_last", "compile": "pytorch compile"}
PADDLE_BFLOAT16 = "tuned, bfloat16"  # train.conv_precision=bfloat16: a column where the CPU has the instructions
PADDLE_KERNELS = "tuned, stock convs"  # tune_cpu() but train.kernels=paddle: what the oneDNN kernels add

SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names

# (full run, --quick); a flag given explicitly wins over both
AMOUNTS = {
    "repeats": (5, 2),
    "steps": (20, 3),
    "warmup": (3, 1),
    "gemm": (2048, 512),
    "generate_batch": (1000, 100),
    "layer_calls": (5, 2),
}


def make_parser():
    parser = cli.parser(__doc__)
    cli.add_config_args(parser)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, help="runs of each setting, taking turns; medians are reported "
                                                    "(default 5; --quick 2)")
    parser.add_argument("--steps", type=int, help="timed training steps per run and batch size (default 20; --quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed training steps before them (default 3; --quick 1)")
    parser.add_argument("--gemm", type=int, help="side of the square float32 GEMM that measures the machine's "
                                                 "limit (default 2048; --quick 512)")
    parser.add_argument("--generate-batch", type=int, help="images per generation call (default 1000; --quick 100)")
    parser.add_argument("--layer-calls", type=int, help="timed calls per layer with --profile (default 5; --quick 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: the --quick amounts above")
    parser.add_argument("--profile", action="store_true", help="also time every conv layer alone (forward+backward)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch twin")
    parser.add_argument("--torch-modes", nargs="+", choices=list(TORCH_COLUMNS), default=list(TORCH_COLUMNS),
                        help="how PyTorch runs the twin, a column each (default: all three)")
    parser.add_argument("--tuned-only", action="store_true",
                        help="measure paddle tuned (and the twin) only, without the as-installed and stock-conv columns")
    parser.add_argument("--levers", action="store_true", help="measure each speed lever on / off instead")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one worker run may take")
    parser.add_argument("--json", help="also write every run's raw results to this file")
    return parser


def worker_options(args) -> dict:
    options = {key: getattr(args, key) if getattr(args, key) is not None else amounts[int(args.quick)]
               for key, amounts in AMOUNTS.items() if key != "repeats"}
    return {**options, "config": args.config, "overrides": cli.overrides(args), "batch_sizes": args.batch_sizes}


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None  # imported by the twin's own processes only


# ------------------------------------------------------------------ output
def header(results: dict, args, options: dict, loads: tuple[float, float]) -> str:
    paddle_version = next((r["paddle_version"] for r in results.values() if "paddle_version" in r), "?")
    torch_version = next((r["torch_version"] for r in results.values() if "torch_version" in r), "not measured")
    cfg = benchmark_config(options["config"], options["overrides"], args.batch_sizes[0])
    m = cfg.model
    return "\n".join([
        "python benchmarks/benchmark.py " + " ".join(sys.argv[1:]),
        f"paddle {paddle_version} | torch {torch_version} | CPU: {cpu_info('model name') or 'unknown'}, "
        f"{usable_cores()} usable cores | load average {loads[0]:.1f} at start, {loads[1]:.1f} at end",
        "CPU flags that set the kernels' speed: " + (" ".join(f for f in SPEED_FLAGS if f in cpu_info("flags").split())
                                                      or "none of " + " ".join(SPEED_FLAGS)),
        f"training step: Trainer.train_step of tools/train.py ({Path(options['config']).name}, {cfg.data.name}, "
        f"{m.image_size}x{m.image_size}, nz {m.nz}, ngf {m.ngf}, ndf {m.ndf}): batches, noise, D step, G step, "
        f"history; {options['steps']} timed steps after {options['warmup']} warm-up steps per run",
        f"medians of {args.repeats} runs per setting, each in a fresh process, settings taking turns",
    ])


def _cells(label: str, values: list[str], width: int = 46) -> str:
    return f"{label:<{width}}" + "".join(f"{v:>22}" for v in values)


def main_table(results: dict, options: dict) -> str:
    names = list(results)
    tuned = results[PADDLE_TUNED]
    flops = train_flops_per_image(tuned["g_macs"], tuned["d_macs"])
    gemm_limit = max(r["gemm_gflops"] for r in results.values())
    lines = [_cells("", names), "-" * (46 + 22 * len(names))]
    for b in options["batch_sizes"]:
        lines.append(_cells(f"train img/s, batch {b}",
                            [f"{r['train'][str(b)]['img_s']:.0f}" for r in results.values()]))
    for b in options["batch_sizes"]:
        cells = []
        for r in results.values():
            gflops = r["train"][str(b)]["img_s"] * flops / 1e9
            cells.append(f"{gflops:.1f} ({100 * gflops / gemm_limit:.0f} %)")
        lines.append(_cells(f"  step GFLOP/s (% of GEMM limit), batch {b}", cells))
    twins = [name for name in TORCH_COLUMNS.values() if name in results]
    if twins:
        for b in options["batch_sizes"]:
            best = max(results[name]["train"][str(b)]["img_s"] for name in twins)
            lines.append(_cells(f"  speed / fastest PyTorch, batch {b}", [
                f"{r['train'][str(b)]['img_s'] / best:.2f}" for r in results.values()]))
    lines.append(_cells(f"generate img/s (batch {options['generate_batch']})",
                        [f"{r['generate']:.0f}" for r in results.values()]))
    lines.append(_cells(f"float32 GEMM GFLOP/s ({options['gemm']}x{options['gemm']})",
                        [f"{r['gemm_gflops']:.1f}" for r in results.values()]))
    lines.append(_cells(f"data loader img/s (batch {max(options['batch_sizes'])})",
                        [f"{r['loader'] / 1e6:.2f} M" if "loader" in r else "-" for r in results.values()]))
    lines += [
        "",
        f"GEMM limit: {gemm_limit:.1f} GFLOP/s, the fastest float32 GEMM measured above.",
        f"FLOPs: {tuned['g_macs'] / 1e6:.2f} M multiply-adds in G and {tuned['d_macs'] / 1e6:.2f} M in D per image; "
        f"a GAN step costs {flops / 1e6:.1f} MFLOP per real image (conv layers only).",
    ]
    b = str(options["batch_sizes"][0])
    firsts = [f"{name} {r['train'][b]['first_step']['loss_d']:.5f} / {r['train'][b]['first_step']['loss_g']:.5f}"
              for name, r in results.items() if r["train"][b].get("first_step")]
    lines.append(f"step 1 loss_d / loss_g, batch {b}: " + ", ".join(firsts))
    lines += [f"{name}: {r['cpu_env']}" for name, r in results.items()]
    return "\n".join(lines)


def profile_table(results: dict, options: dict) -> str:
    tuned = results[PADDLE_TUNED]
    theirs = results.get(TORCH_TWIN, {}).get("profile", {})
    lines = [f"{'conv layer alone, forward+backward':<46}{'paddle tuned ms':>16}{'pytorch ms':>12}{'ratio':>8}"]
    for name, ms in tuned["profile"].items():
        twin = theirs.get(name)
        lines.append(f"{name:<46}{ms:>16.2f}" + (f"{twin:>12.2f}{ms / twin:>8.2f}" if twin else ""))
    split = tuned.get("onednn_split")
    if split:
        batch = max(options["batch_sizes"])
        gemm_limit = max(r["gemm_gflops"] for r in results.values())
        step_gflop = batch * train_flops_per_image(tuned["g_macs"], tuned["d_macs"]) / 1e9
        conv_share = 100 * step_gflop / (split["conv_ms"] / 1000) / gemm_limit
        lines += ["", f"paddle tuned, batch {batch}, {options['steps']} steps with oneDNN's own timing (ONEDNN_VERBOSE="
                  f"profile_exec): {split['wall_ms']:.0f} ms per step, of which convolution primitives "
                  f"{split['conv_ms']:.0f} ms and layout reorders {split['reorder_ms']:.1f} ms; "
                  f"{split['faults']:.0f} page faults per step.",
                  f"The convolutions alone run the step's {step_gflop:.1f} GFLOP at {conv_share:.0f} % of the "
                  f"GEMM limit: no saving around them takes the whole step past that."]
    return "\n".join(lines)


# ------------------------------------------------------------------ main
def main() -> None:
    args = make_parser().parse_args()
    args.config = args.config or str(ROOT / "configs" / "dcgan.yaml")
    args.repeats = args.repeats if args.repeats is not None else AMOUNTS["repeats"][int(args.quick)]
    options = worker_options(args)
    benchmark_config(options["config"], options["overrides"], args.batch_sizes[0])  # a bad -o fails here, at once
    if args.levers:
        jobs = levers.jobs(options)
    else:
        stock = {**options, "overrides": [*options["overrides"], "train.kernels=paddle"]}
        jobs = [] if args.tuned_only else [Job(PADDLE_AS_INSTALLED, "paddle", stock, AS_INSTALLED),
                                           Job(PADDLE_KERNELS, "paddle", stock, TUNED)]
        jobs.append(Job(PADDLE_TUNED, "paddle", {**options, "profile": args.profile}, TUNED))
        if bfloat16_isa() and not any(o.startswith("train.conv_precision=") for o in options["overrides"]):
            bfloat16 = {**options, "overrides": [*options["overrides"], "train.conv_precision=bfloat16"]}
            jobs.append(Job(PADDLE_BFLOAT16, "paddle", bfloat16, TUNED))
        if not args.no_torch and torch_installed():
            for mode in args.torch_modes:  # torch.compile needs a C++ compiler and may fail: say so in the table
                jobs.append(Job(TORCH_COLUMNS[mode], "torch", {**options, "profile": args.profile, "torch_mode": mode},
                                TORCH_DEFAULTS, may_crash=mode == "compile"))
        elif not args.no_torch:
            print("torch is not installed: PyTorch columns skipped (pip install -e \".[twin]\")", file=sys.stderr)
    load_at_start = os.getloadavg()[0]
    runs = run_alternating(jobs, args.repeats, args.timeout)
    results = {name: median_of(result) for name, result in runs.items()}
    failed = {name: results.pop(name)["failed"] for name in list(results) if "failed" in results[name]}
    print(header(results, args, options, (load_at_start, os.getloadavg()[0])))
    print()
    if args.levers:
        print(levers.table(results, args.batch_sizes))
    else:
        print(main_table(results, options))
        for name, reason in failed.items():
            print(f"{name}: no column, every run failed: {reason}")
        if args.profile:
            print()
            print(profile_table(results, options))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "medians": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    cli.run(main)
