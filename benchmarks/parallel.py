"""Throughput of the real training tool in one process and data-parallel under paddle.distributed.launch.

python benchmarks/parallel.py                         # 1 vs 2 processes, 3 alternating rounds, 2 epochs each
python benchmarks/parallel.py --processes 1 2 4 --rounds 5 --epochs 1 -o train.batch_size=128

Each run is ``tools/train.py -c configs/dcgan.yaml`` on the shipped subset
(in-training evaluation off, a fresh run folder each time); the figure is the
images/s of its closing "done:" line (the whole training loop of rank 0, epoch
files and checkpoints included). One process uses every core (tune_cpu); the
launcher gives each of N processes OMP_NUM_THREADS=1. Runs alternate between
the settings so that drift on a busy machine hits all of them alike; the table
shows median, min and max per setting, and the ratio of medians to one process.
Never run it beside another timing or training job.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"done: (\d+) steps in \S+ \(([\d.]+) img/s\)")


def run_once(processes: int, epochs: int, overrides: list[str], work: Path) -> float:
    """images/s of one training run with ``processes`` processes."""
    out = Path(tempfile.mkdtemp(dir=work))
    train = [str(ROOT / "tools" / "train.py"), "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o",
             f"train.epochs={epochs}", "data.name=mnist_subset", "eval.every_epochs=0", f"output_dir={out}", *overrides]
    if processes == 1:
        command = [sys.executable, *train]
    else:
        command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(processes),
                   "--log_dir", str(out / "launch_logs"), *train]
    result = subprocess.run(command, capture_output=True, text=True, cwd=work)
    text = result.stdout + result.stderr
    if processes > 1 and (out / "launch_logs" / "workerlog.0").exists():
        text += (out / "launch_logs" / "workerlog.0").read_text()
    found = DONE.search(text)
    if result.returncode != 0 or not found:
        raise SystemExit(f"run with {processes} process(es) failed (exit {result.returncode}):\n{text[-2000:]}")
    return float(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per setting")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (62 steps each at batch 64)")
    parser.add_argument("-o", "--override", nargs="*", default=[], help="extra config overrides, key=value")
    args = parser.parse_args()
    results: dict[int, list[float]] = {n: [] for n in args.processes}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for n in args.processes:
                results[n].append(run_once(n, args.epochs, args.override, Path(tmp)))
                print(f"round {r + 1}: {n} process(es): {results[n][-1]:.0f} img/s", flush=True)
    base = statistics.median(results[args.processes[0]])
    print(f"\n| processes | img/s median | min | max | vs {args.processes[0]} |\n| --- | --- | --- | --- | --- |")
    for n, values in results.items():
        median = statistics.median(values)
        print(f"| {n} | {median:.0f} | {min(values):.0f} | {max(values):.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
