"""Fault campaign: interrupt tiny training runs in every way we know, then check what they leave behind.

python benchmarks/faults.py [--kills 20] [--signals 5] [--seed 0] [--work DIR]

Every case trains the same tiny run (the shipped subset, ngf = ndf = 8, 2 epochs
of 62 steps) with tools/train.py, interrupts it, and finishes it with
``--resume latest`` (or a plain start when no checkpoint was written). At the
end the run folder is checked against one uninterrupted reference run:

- unreadable: checkpoints that do not load;
- temp left: ``.NAME.tmp-PID`` files still there after the run was finished;
- complete: the same files as the reference (every epoch's grid, the GIF, the
  curves, history.csv, generator.pdparams), the final checkpoint, and no second
  run folder (a Ctrl-C adds a checkpoint of its step: not counted);
- identical: history.csv, the sample grids, the GIF, the final checkpoint's
  losses and generator.pdparams's weights equal the reference's bit for bit;
- clean: every interrupted process exited as it should (kill -9: killed;
  Ctrl-C / SIGTERM: 130 without a traceback; a full disk: 2 with one ``error:``
  line last; a refused second trainer: 2 with exactly one line).

Cases: random kill -9 (``--kills`` in all, in chains resumed until done);
SIGINT and SIGTERM at random moments of start-up (``--signals`` each); SIGINT
and SIGTERM mid-run; SIGINT during an epoch's last step and during the run's
last step; a full disk (a 4 MB tmpfs with a filler file: needs root, skipped
otherwise); two ``--resume latest`` of one run at once. Not part of the test
suite: it takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["model.ngf=8", "model.ndf=8", "data.name=mnist_subset", "train.epochs=2", "train.log_every=1"]
STEPS = 124  # 2 epochs of 4,000 subset digits at batch 64
RUN = "faults"
# Taken before this process imports paddle, which sets OMP_NUM_THREADS=1 when it is unset: children that
# inherited that would train with another thread count than the reference, and sum in another order.
CHILD_ENV = dict(os.environ, MPLBACKEND="Agg")


@dataclass
class Case:
    name: str
    runs: int = 0  # processes started, interrupted ones and the resumes that finished them
    exit_codes: dict = field(default_factory=dict)
    unreadable: int = 0
    temp_left: int = 0
    complete: bool = True
    identical: bool = True
    clean: bool = True
    notes: list = field(default_factory=list)

    def saw(self, code: int) -> None:
        self.runs += 1
        self.exit_codes[code] = self.exit_codes.get(code, 0) + 1


def _as_from_a_terminal() -> None:
    """In the child, before it runs: Ctrl-C does what it does for a command typed at a terminal. A script
    started in the background of a non-interactive shell (``nohup ... &``) ignores SIGINT, its children
    inherit that, and Python keeps ignoring it until the tool installs its own handlers."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Tool:
    """tools/train.py for one output folder, its stderr in a file (in ``log_dir``) watched while it runs."""

    def __init__(self, output_dir: Path, log_dir: Path):
        self.output_dir, self.log_dir = output_dir, log_dir
        self.count = 0

    def start(self, *extra: str) -> tuple[subprocess.Popen, Path]:
        self.count += 1
        log = self.log_dir / f"{self.output_dir.parent.name}-{self.output_dir.name}-stderr-{self.count}.txt"
        resume = ["--resume", "latest"] if (self.output_dir / RUN / "checkpoints").is_dir() and \
            any((self.output_dir / RUN / "checkpoints").glob("step_*.pdckpt")) else []
        cmd = [sys.executable, str(ROOT / "tools/train.py"), "-o", *SETTINGS, f"output_dir={self.output_dir}",
               f"run_name={RUN}", *extra, *resume]
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=CHILD_ENV,
                                    preexec_fn=_as_from_a_terminal)
        return proc, log

    def run(self, *extra: str) -> tuple[int, str]:
        proc, log = self.start(*extra)
        proc.wait()
        return proc.returncode, log.read_text()


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 300) -> bool:
    """Until ``pattern`` (a regex) appears in ``log``; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text()):
            return True
        if proc.poll() is not None:
            return bool(re.search(pattern, log.read_text()))
        time.sleep(0.01)
    return False


def stopped_cleanly(code: int, stderr: str) -> bool:
    return code == 130 and "Traceback" not in stderr and "FatalError" not in stderr


# ------------------------------------------------------------ checking a finished run
def _weights(path: Path) -> dict:
    from paddle_dcgan.sampling.load import load_generator

    return {k: v.numpy() for k, v in load_generator(path)[0].state_dict().items()}


def inspect(case: Case, output_dir: Path, reference: Path) -> None:
    """Fill in ``case``'s columns from the finished run in ``output_dir``."""
    import numpy as np

    from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
    from paddle_dcgan.errors import UserError

    run = output_dir / RUN
    checkpoints = list_checkpoints(run)
    for path in checkpoints:
        try:
            load_checkpoint(path)
        except UserError:
            case.unreadable += 1
    case.temp_left += len(list(run.rglob("*.tmp-*")))
    outputs = lambda folder: sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")  # noqa: E731
                                    if p.is_file() and p.parent.name != "checkpoints")
    final = checkpoints[-1].name if checkpoints else None
    other_runs = [p.name for p in output_dir.iterdir() if p.is_dir() and p.name != RUN]
    if outputs(run) != outputs(reference) or final != f"step_{STEPS:08d}.pdckpt" or other_runs:
        case.complete = False
        case.notes.append(f"differs: {sorted(set(outputs(run)) ^ set(outputs(reference)))}, last checkpoint "
                          f"{final}, other run folders {other_runs}")
        return
    same_bytes = [n for n in outputs(reference) if n.startswith("samples/") or n in ("history.csv", "progress.gif")]
    identical = all((run / n).read_bytes() == (reference / n).read_bytes() for n in same_bytes)
    identical &= load_checkpoint(checkpoints[-1])["history"] == \
        load_checkpoint(list_checkpoints(reference)[-1])["history"]
    ours, theirs = _weights(run / "generator.pdparams"), _weights(reference / "generator.pdparams")
    identical &= all(np.array_equal(ours[k], theirs[k]) for k in theirs)
    case.identical &= identical


def finish(case: Case, tool: Tool) -> None:
    """Resume (or start) the run until it completes."""
    code, stderr = tool.run()
    case.saw(code)
    if code != 0:
        case.clean = False
        case.notes.append(f"finishing run exited {code}: {stderr.strip().splitlines()[-1:]}")


# ------------------------------------------------------------ the cases
def kill_chains(work: Path, reference: Path, kills: int, rng: random.Random) -> Case:
    """kill -9 at random moments; each chain is resumed after every kill until the run completes."""
    case, done, chain, delays = Case(f"kill -9 at random moments ({kills})"), 0, 0, []
    while done < kills:
        chain += 1
        tool, finished = Tool(work / f"kill{chain}", work), False
        while not finished and done < kills:
            proc, log = tool.start()
            delay = rng.uniform(0.2, 12.0)  # start-up takes ~2 s, the whole run ~15 s
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                proc.kill()
                done += 1
                delays.append(delay)
            proc.wait()
            case.saw(proc.returncode)
        finish(case, tool)
        inspect(case, tool.output_dir, reference)
    case.notes.append(f"{chain} chain(s); killed at " + ", ".join(f"{d:.1f}" for d in delays) + " s after launch")
    return case


def start_up_signals(work: Path, reference: Path, sig: signal.Signals, count: int, rng: random.Random) -> Case:
    """``sig`` at a random moment of start-up, then a plain start / resume to the end.

    From 0.15 s after launch: before that Python itself is starting, and its own
    KeyboardInterrupt traceback (or death by SIGTERM) is all there is (README).
    """
    case, delays = Case(f"{sig.name} during start-up ({count})"), []
    for i in range(count):
        tool = Tool(work / f"{sig.name.lower()}-start{i}", work)
        proc, log = tool.start()
        delays.append(rng.uniform(0.15, 2.5))
        time.sleep(delays[-1])
        proc.send_signal(sig)
        proc.wait()
        case.saw(proc.returncode)
        stderr = log.read_text()
        if "step 1/" in stderr:
            case.notes.append(f"at {delays[-1]:.2f} s training had begun")
        if not stopped_cleanly(proc.returncode, stderr) and proc.returncode != 0:
            case.clean = False
            case.notes.append(f"at {delays[-1]:.2f} s: exit {proc.returncode}, {stderr.strip().splitlines()[-1:]}")
        finish(case, tool)
        inspect(case, tool.output_dir, reference)
    case.notes.append("sent at " + ", ".join(f"{d:.2f}" for d in delays) + " s after launch")
    return case


def signal_at_step(work: Path, reference: Path, name: str, sig: signal.Signals, steps: list[int]) -> Case:
    """``sig`` as soon as step ``s`` is logged (so it lands in step s + 1), for each s; then resume."""
    case = Case(name)
    for s in steps:
        tool = Tool(work / f"{sig.name.lower()}-step{s}", work)
        proc, log = tool.start()
        wait_for(log, rf"step {s}/{STEPS} ", proc)
        proc.send_signal(sig)
        proc.wait()
        case.saw(proc.returncode)
        stderr = log.read_text()
        if not (stopped_cleanly(proc.returncode, stderr) or (proc.returncode == 0 and s + 1 == STEPS)):
            case.clean = False
        stop = re.search(r"stopped at step (\d+)", stderr)
        grids = sorted(p.name for p in (tool.output_dir / RUN / "samples").glob("*.png"))
        case.notes.append(f"signal after step {s}: exit {proc.returncode}, "
                          f"{f'stopped at step {stop[1]}' if stop else 'run completed'}, grids then: {grids}")
        finish(case, tool)
        inspect(case, tool.output_dir, reference)
    return case


def disk_full(work: Path, reference: Path) -> Case:
    """A 4 MB tmpfs mostly filled: the run stops with an error line naming the folder; a resume on the nearly
    full disk trains until it fails the same way, one on the completely full disk fails at once with one
    line; after the fillers are deleted a resume finishes the run (the finished run takes ~3 MB, and a
    checkpoint is written beside the older ones before they are deleted)."""
    case = Case("disk full (4 MB tmpfs)")
    disk = work / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        case.notes.append("skipped: cannot mount a tmpfs (needs root)")
        case.complete = case.identical = case.clean = None
        return case
    try:
        (disk / "filler").write_bytes(b"\0" * 2_950_000)  # ~1.2 MB left: the first checkpoint does not fit
        tool = Tool(disk / "out", work)
        for attempt in ("first run", "resume on the nearly full disk"):
            code, stderr = tool.run()
            case.saw(code)
            last = stderr.strip().splitlines()[-1]
            if code != 2 or "Traceback" in stderr or not last.startswith("error: ") or "disk is full" not in last:
                case.clean = False
            case.notes.append(f"{attempt}: exit {code}, {last[:110]}...")
        with open(disk / "filler-2", "wb", buffering=0) as f:  # now completely full
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        code, stderr = tool.run()
        case.saw(code)
        lines = stderr.strip().splitlines()
        if code != 2 or len(lines) != 1 or "disk is full" not in lines[0]:
            case.clean = False
        case.notes.append(f"resume on the completely full disk: exit {code}, {len(lines)} stderr line(s): "
                          f"{lines[-1][:110]}...")
        for filler in ("filler", "filler-2"):
            (disk / filler).unlink()
        finish(case, tool)
        inspect(case, tool.output_dir, reference)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    return case


def concurrent_resume(work: Path, reference: Path, pairs: int) -> Case:
    """Two ``--resume latest`` of one run started together: one trains, the other is refused with one line
    (the run is in use, or, when it took the lock only after the first had trained on, the run has moved on)."""
    case = Case(f"two resumes at once ({pairs})")
    for i in range(pairs):
        tool = Tool(work / f"concurrent{i}", work)
        code, _ = tool.run("train.epochs=1")
        case.saw(code)
        both = [tool.start() for _ in range(2)]
        for proc, _ in both:
            proc.wait()
            case.saw(proc.returncode)
        results = sorted((proc.returncode, log.read_text()) for proc, log in both)
        refused = results[1][1].strip().splitlines()
        reasons = ("is in use by process", "was trained by another process while this one started")
        if [r[0] for r in results] != [0, 2] or len(refused) != 1 or not any(r in refused[0] for r in reasons):
            case.clean = False
            case.notes.append(f"exit codes {[r[0] for r in results]}: {refused[-1:]}")
        log = (tool.output_dir / RUN / "train.log").read_text()
        if log.count("resumed from") != 1:
            case.clean = False
            case.notes.append(f"train.log holds {log.count('resumed from')} resumes")
        inspect(case, tool.output_dir, reference)
    return case


# ------------------------------------------------------------ table
def table(cases: list[Case]) -> str:
    def cell(value):
        return "skipped" if value is None else ("yes" if value else "NO")

    lines = ["| case | processes | exit codes | unreadable checkpoints | temp files left | complete | "
             "bit-identical | clean exits |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in cases:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(c.exit_codes.items()))
        lines.append(f"| {c.name} | {c.runs} | {codes} | {c.unreadable} | {c.temp_left} | {cell(c.complete)} | "
                     f"{cell(c.identical)} | {cell(c.clean)} |")
    notes = [f"- {c.name}: {note}" for c in cases for note in c.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="random kill -9 in all")
    parser.add_argument("--signals", type=int, default=5, help="start-up SIGINTs, and as many SIGTERMs")
    parser.add_argument("--pairs", type=int, default=2, help="concurrent resume attempts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one, deleted at the end)")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="dcgan-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    started = time.monotonic()
    try:
        reference_tool = Tool(work / "reference", work)
        code, stderr = reference_tool.run()
        if code != 0:
            sys.exit(f"the reference run failed:\n{stderr[-2000:]}")
        reference = reference_tool.output_dir / RUN
        half, last = STEPS // 2, STEPS - 1
        cases = [
            kill_chains(work, reference, args.kills, rng),
            start_up_signals(work, reference, signal.SIGINT, args.signals, rng),
            start_up_signals(work, reference, signal.SIGTERM, args.signals, rng),
            signal_at_step(work, reference, "SIGINT mid-run (steps 20, 90)", signal.SIGINT, [20, 90]),
            signal_at_step(work, reference, "SIGTERM mid-run (step 40)", signal.SIGTERM, [40]),
            signal_at_step(work, reference, "SIGINT in an epoch's last step", signal.SIGINT, [half - 1]),
            signal_at_step(work, reference, "SIGINT in the run's last step", signal.SIGINT, [last]),
            disk_full(work, reference),
            concurrent_resume(work, reference, args.pairs),
        ]
        print(table(cases))
        print(f"\n{len(cases)} cases in {(time.monotonic() - started) / 60:.1f} min; runs in {work}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
