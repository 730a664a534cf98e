"""The measuring half of benchmarks/benchmark.py: worker processes and what they time.

Every setting is measured in a process of its own, ``python benchmarks/measure.py --worker KIND
--options JSON``: paddle and MKL read their thread settings once, at import, and torch and paddle
computing in one process run two OpenMP runtimes against each other. A worker prints one line,
:data:`RESULT_TAG` + JSON (paddle's C++ code prints to stdout too). The parent runs every setting's
worker ``repeats`` times in alternation (A B C A B C ...) and keeps the medians, so that the load
of a shared machine falls on all settings alike.

What a training rate means here: ``Trainer.train_step`` of tools/train.py, fed by the trainer's own
``Batches`` (real shipped digits, uint8 -> float32 per batch), with its own noise stream, D step,
G step and history, after warm-up steps; no per-epoch work (grids, curves, checkpoints). The
PyTorch columns run the same loop (torch_twin.TwinTrainer) as written (NCHW, eager), in the
channels_last memory format, and through torch.compile. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT_TAG = "benchmark-result: "

# Environment changes per setting (None removes a variable), so that each worker starts from a
# plain environment whatever the parent process has set.
PLAIN = {key: None for key in ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE", "GOMP_SPINCOUNT", "MALLOC_MMAP_THRESHOLD_",
                                "MALLOC_TRIM_THRESHOLD_", "PADDLE_DCGAN_ONEDNN_TUNING")}
AS_INSTALLED = {**PLAIN, "PADDLE_DCGAN_CPU_TUNING": "0"}
TUNED = {**PLAIN, "PADDLE_DCGAN_CPU_TUNING": None}
TORCH_DEFAULTS = PLAIN

# Config keys the benchmark sets before the user's -o overrides (which may change them) ...
BENCHMARK_DEFAULTS = ["device=cpu", "data.name=mnist_subset", "eval.every_epochs=0", "run_name=benchmark"]


def benchmark_config(config: str, overrides: list[str], batch_size: int, output_dir: str = "output"):
    """The training config a measurement uses: ``config`` <- benchmark defaults <- ``overrides``,
    with this batch size and output folder (raises UserError on a bad key)."""
    from paddle_dcgan.config import load_config

    # ... and these after them: the batch size is what is measured, and nothing may land in a real run folder
    return load_config(config, [*BENCHMARK_DEFAULTS, *overrides, f"train.batch_size={batch_size}",
                                f"output_dir={output_dir}"])


# ------------------------------------------------------------------ parent side
class WorkerFailed(Exception):
    """A worker exited with an error, was killed by a signal or ran out of time."""


@dataclass
class Job:
    """One setting: a worker kind, its options and the environment it runs in."""
    name: str
    kind: str
    options: dict
    env: dict = field(default_factory=dict)
    may_crash: bool = False  # report a failure in the table instead of stopping


def run_worker(job: Job, timeout: float) -> dict:
    """Run ``job`` once in a child process; its result dict, or WorkerFailed."""
    env = dict(os.environ)
    for key, value in job.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [sys.executable, __file__, "--worker", job.kind, "--options", json.dumps(job.options)]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"timed out after {timeout:.0f} s") from None
    if done.returncode < 0:
        raise WorkerFailed(f"crashed ({signal.Signals(-done.returncode).name})")
    lines = [line[len(RESULT_TAG):] for line in done.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if done.returncode != 0 or not lines:
        last = ([line for line in done.stderr.splitlines() if line.strip()] or ["no output"])[-1]
        raise WorkerFailed(f"exit code {done.returncode}: {last.strip()[:300]}")
    return json.loads(lines[-1])


def run_alternating(jobs: list[Job], repeats: int, timeout: float) -> dict[str, list[dict]]:
    """Each job's results over ``repeats`` rounds, the jobs taking turns within a round.

    A failed run of a ``may_crash`` job is recorded as ``{"failed": reason}``; any other failure
    raises UserError.
    """
    from paddle_dcgan.errors import UserError

    runs: dict[str, list[dict]] = {job.name: [] for job in jobs}
    for round_ in range(1, repeats + 1):
        for job in jobs:
            print(f"run {round_}/{repeats}: {job.name} ...", file=sys.stderr, flush=True)
            try:
                runs[job.name].append(run_worker(job, timeout))
            except WorkerFailed as exc:
                if not job.may_crash:
                    raise UserError(f"benchmark worker '{job.name}' {exc}") from None
                print(f"  {job.name}: {exc}", file=sys.stderr)
                runs[job.name].append({"failed": str(exc)})
    return runs


def median_of(results: list[dict]) -> dict:
    """Leaf-wise median of several results of one worker; other leaves come from the first.

    Failed runs (``{"failed": reason}``) are left out; if every run failed, the first reason is
    returned as ``{"failed": reason}``. ``failed_runs`` counts the left-out ones.
    """
    good = [r for r in results if "failed" not in r]
    if not good:
        return {"failed": results[0]["failed"]}
    merged = _merge(good)
    if len(good) < len(results):
        merged["failed_runs"] = len(results) - len(good)
    return merged


def _merge(results: list[dict]) -> dict:
    out = {}
    for key, value in results[0].items():
        if isinstance(value, dict):
            out[key] = _merge([r[key] for r in results])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in results)
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------ timing
def median_rate(run: Callable[[], object], items: int, repeats: int) -> float:
    """Median items/s over ``repeats`` timed calls of ``run`` (after one warm-up call)."""
    run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


class TrainingLoop:
    """A trainer's ``train_step`` fed with its own batches, epoch after epoch, as ``Trainer.fit`` does.

    Args:
        trainer: a paddle_dcgan Trainer, or anything with ``batches`` and ``train_step(real, real_labels)``
            (the labels matter to conditional models only).
        convert: how ``Batches.epoch`` turns a uint8 batch into the model's input (None: paddle's).
    """

    def __init__(self, trainer, convert: Callable | None = None):
        self.trainer = trainer
        self.first_step: dict[str, float] | None = None  # the statistics of the first step run
        kwargs = {} if convert is None else {"convert": convert}
        self._batches = (batch for epoch in itertools.count() for batch in trainer.batches.epoch(epoch, **kwargs))

    def run(self, steps: int) -> tuple[float, float]:
        """Run ``steps`` steps; returns (images/s, CPU seconds per step of this process, all threads)."""
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            stats = self.trainer.train_step(*next(self._batches))  # fetching the batch is part of the step
            if self.first_step is None:
                self.first_step = stats
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return steps * self.trainer.batches.batch_size / wall, cpu / steps


@contextlib.contextmanager
def scratch_folder():
    """A temporary output_dir that must still be empty at the end: timed steps write nothing."""
    with tempfile.TemporaryDirectory(prefix="dcgan-benchmark-") as folder:
        yield folder
        written = sorted(str(p) for p in Path(folder).rglob("*"))
        if written:
            raise RuntimeError(f"the timed training steps wrote {written[:3]}; time train_step only")


def make_trainer(options: dict, batch_size: int, output_dir: str):
    """A fresh Trainer (weights from the config's seed) for this batch size, in training mode."""
    from paddle_dcgan.training.run import Trainer

    trainer = Trainer(benchmark_config(options["config"], options["overrides"], batch_size, output_dir))
    trainer.generator.train()  # as Trainer.fit
    trainer.discriminator.train()
    return trainer


def time_variants(options: dict, variants: dict[str, Callable | None], convert: Callable | None = None):
    """Training speed of each variant of a trainer, per batch size.

    For each batch size, every variant gets a fresh trainer (``prepare(trainer)`` may change or
    replace it; None keeps it) and its warm-up steps; then the variants run their timed steps in
    turn, so that the machine's load falls on all of them alike.

    Returns ``{variant: {batch: {"img_s", "cpu_ms" (per step, all threads), "first_step": stats}}}``
    and the variants' trainers of the last batch size.
    """
    results: dict[str, dict] = {name: {} for name in variants}
    with scratch_folder() as folder:
        for batch in options["batch_sizes"]:
            loops = {}
            for name, prepare in variants.items():
                trainer = make_trainer(options, batch, folder)
                loops[name] = TrainingLoop(prepare(trainer) if prepare else trainer, convert)
                loops[name].run(options["warmup"])
            for name, loop in loops.items():
                img_s, cpu_s = loop.run(options["steps"])
                results[name][str(batch)] = {"img_s": img_s, "cpu_ms": 1000 * cpu_s, "first_step": loop.first_step}
    return results, {name: loop.trainer for name, loop in loops.items()}


# ------------------------------------------------------------------ FLOPs
def conv_macs(net, input_shape: list[int]) -> int:
    """Multiply-adds per image of the conv layers of a paddle ``net`` for one input of ``input_shape``
    (and, for a conditional net, a label), as computed: a conditional D's first layer
    (core.models.LabelPlanesBlock, computed as kernels.layers.LabelMapsBlock) counts its image channels, not the
    label planes it does without."""
    import paddle

    total = [0]

    def hook(block, inputs, output):
        layer = _conv(block)
        k = int(np.prod(layer._kernel_size))
        # element counts do not depend on the layout (NCHW or channels-last); channel counts come from the weights,
        # but for a conditional D's first block, which reads the images' channels (NCHW) and not its label planes
        if isinstance(layer, paddle.nn.Conv2DTranspose):  # every input pixel meets out_ch x k x k weights
            total[0] += int(np.prod(inputs[0].shape[1:])) * layer.weight.shape[1] * k
        else:  # every output pixel meets in_ch x k x k weights
            in_ch = inputs[0].shape[1] if block is not layer else layer.weight.shape[1]
            total[0] += int(np.prod(output.shape[1:])) * in_ch * k

    handles = [m.register_forward_post_hook(hook) for m in _convs(net)]
    was_training = net.training
    net.eval()
    with paddle.no_grad():
        net(paddle.zeros(input_shape), *_labels(net, input_shape[0]))
    net.train(was_training)
    for h in handles:
        h.remove()
    return total[0] // input_shape[0]


def train_flops_per_image(g_macs: int, d_macs: int) -> int:
    """FLOPs (2 per multiply-add) of one GAN step per real image, conv layers only.

    G: forward, then backward (input and weight gradients: 2x) = 3 G.
    D: D step = forward on real and on fake (2 D) + backward of both (4 D);
    G step = forward (1 D) + input-gradient backward only, D's weights being
    frozen (1 D); 8 D, less the input gradient of D's first layer on real data,
    which nobody needs: about 7 D.
    """
    return 2 * (3 * g_macs + 7 * d_macs)


def _convs(net) -> list:
    """The conv layers of ``net``, a conditional D's first block standing for the conv inside it (the block
    computes that conv's function without calling it)."""
    import paddle

    from paddle_dcgan.core.models import LabelPlanesBlock

    blocks = [m for m in net.sublayers() if isinstance(m, LabelPlanesBlock)]
    inside = {id(b[0]) for b in blocks}
    return blocks + [m for m in net.sublayers() if isinstance(m, (paddle.nn.Conv2D, paddle.nn.Conv2DTranspose))
                     and id(m) not in inside]


def _conv(layer):
    """The conv of a :func:`_convs` entry."""
    from paddle_dcgan.core.models import LabelPlanesBlock

    return layer[0] if isinstance(layer, LabelPlanesBlock) else layer


def _labels(net, n: int) -> list:
    """``[class ids [n]]`` for a conditional paddle net (all digit 0: shapes and work do not depend on them), else []."""
    import paddle

    return [paddle.zeros([n], dtype="int64")] if net.num_classes else []


# ------------------------------------------------------------------ per-layer profile
def conv_inputs(generator, discriminator, batch: int, nz: int) -> list[tuple[str, object, list]]:
    """``(name, paddle conv layer, its inputs)`` of every conv of G then D, at ``batch`` images: the
    tensors each layer was called with (a conditional D's first layer takes the images and their
    label code)."""
    import paddle

    seen = []
    handles = [m.register_forward_post_hook(lambda layer, inputs, _: seen.append((layer, list(inputs))))
               for net in (generator, discriminator) for m in _convs(net)]
    with paddle.no_grad():
        labels = _labels(generator, batch)
        discriminator(generator(paddle.zeros([batch, nz, 1, 1]), *labels), *labels)
    for h in handles:
        h.remove()
    g_convs = set(map(id, _convs(generator)))
    rows = []
    for layer, inputs in seen:
        transpose = isinstance(layer, paddle.nn.Conv2DTranspose)
        weight = _conv(layer).weight
        in_ch, out_ch = weight.shape[0 if transpose else 1], weight.shape[1 if transpose else 0]
        net = "G" if id(layer) in g_convs else "D"
        rows.append((f"{net}: {type(layer).__name__} {in_ch}->{out_ch} @{'x'.join(map(str, _side(layer, inputs[0])))}",
                     layer, inputs))
    return rows


def _side(layer, x) -> list[int]:
    """[H, W] of the tensor ``x`` that ``layer`` reads (channels-last where the kernels marked it so)."""
    return list(x.shape[1:3] if getattr(_conv(layer), "in_nhwc", False) else x.shape[2:4])


def layer_ms(forward_backward: Callable[[], None], calls: int) -> float:
    """Median milliseconds of one call (after a warm-up call)."""
    return 1000 / median_rate(forward_backward, 1, calls)


def profile_paddle(generator, discriminator, batch: int, nz: int, calls: int) -> dict[str, float]:
    """Forward+backward ms of each conv layer alone (input gradient included)."""
    import paddle

    out = {}
    for name, layer, inputs in conv_inputs(generator, discriminator, batch, nz):
        x = paddle.randn(inputs[0].shape)
        x.stop_gradient = False
        out[name] = layer_ms(lambda: layer(x, *inputs[1:]).sum().backward(), calls)
    return out


def profile_torch(generator, discriminator, batch: int, nz: int, calls: int) -> dict[str, float]:
    """As :func:`profile_paddle`, for PyTorch copies of the same layers."""
    import torch

    from torch_twin import to_torch

    out = {}
    for name, layer, inputs in conv_inputs(generator, discriminator, batch, nz):
        twin = to_torch(_conv(layer))  # what the model defines: a conditional D's first layer, images + label planes
        x = torch.randn([inputs[0].shape[0], twin.in_channels, *_side(layer, inputs[0])], requires_grad=True)
        out[name] = layer_ms(lambda: twin(x).sum().backward(), calls)
    return out


# ------------------------------------------------------------------ where a step's time goes
def onednn_split(trainer, steps: int) -> dict[str, float] | None:
    """Per training step, ms: the wall time, the time inside oneDNN's convolution primitives and inside its
    layout reorders (oneDNN's own timing: its verbose mode 2, ``profile_exec``), and the page faults of
    the process (``ru_minflt``), over ``steps`` steps of ``trainer``. None where no oneDNN primitive ran
    (paddle's own kernels)."""
    import ctypes
    import resource

    from paddle_dcgan.files.io import native_output_captured
    from paddle_dcgan.kernels.build import library_path

    dnnl = ctypes.CDLL(str(library_path()))
    loop = TrainingLoop(trainer)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with native_output_captured(1) as log:
        dnnl.dnnl_set_verbose(2)
        try:
            start = time.perf_counter()
            loop.run(steps)
            wall = time.perf_counter() - start
        finally:
            dnnl.dnnl_set_verbose(0)
            ctypes.CDLL(None).fflush(None)  # oneDNN prints through C's stdout buffer
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    # onednn_verbose,v1,primitive,exec,cpu,<kind>,<implementation>,...,<ms>
    ms = {"convolution": 0.0, "reorder": 0.0}
    for line in log.getvalue().splitlines():
        fields = line.split(",")
        if line.startswith("onednn_verbose") and len(fields) > 6 and fields[3] == "exec":
            kind = "reorder" if fields[5] == "reorder" else "convolution" if "convolution" in fields[5] else None
            if kind:
                ms[kind] += float(fields[-1])
    if not ms["convolution"]:
        return None
    return {"wall_ms": 1000 * wall / steps, "conv_ms": ms["convolution"] / steps, "reorder_ms": ms["reorder"] / steps,
            "faults": faults / steps}


# ------------------------------------------------------------------ workers
def start_paddle() -> dict[str, str]:
    """First thing in a paddle worker: ``tune_cpu()`` (a no-op with PADDLE_DCGAN_CPU_TUNING=0), then
    paddle; returns paddle's version and the CPU settings in force."""
    import paddle_dcgan

    cpu_env = paddle_dcgan.tune_cpu()
    import paddle

    return {"paddle_version": paddle.__version__, "cpu_env": cpu_env}


def paddle_worker(options: dict) -> dict:
    """Training rates; unless ``train_only``: GEMM rate, FLOPs, generation, loader (and profile)."""
    out = start_paddle()
    import paddle

    from paddle_dcgan.random_streams import STREAM_FIXED_NOISE, noise_array

    train, trainers = time_variants(options, {"paddle": None})
    out["train"] = train["paddle"]
    if options.get("train_only"):
        return out
    trainer = trainers["paddle"]
    g, d = trainer.generator, trainer.discriminator
    size, nz, channels = trainer.cfg.model.image_size, trainer.cfg.model.nz, trainer.cfg.model.channels
    out["g_macs"], out["d_macs"] = conv_macs(g, [1, nz, 1, 1]), conv_macs(d, [1, channels, size, size])

    n = options["gemm"]
    a = paddle.randn([n, n])
    out["gemm_gflops"] = median_rate(lambda: paddle.matmul(a, a).numpy(), 2 * n ** 3, 3) / 1e9

    z = paddle.to_tensor(noise_array(0, STREAM_FIXED_NOISE, 0, options["generate_batch"], nz))
    g.eval()
    with paddle.no_grad():
        labels = _labels(g, options["generate_batch"])
        out["generate"] = median_rate(lambda: g(z, *labels).numpy(), options["generate_batch"], 3)
    g.train()

    batches = trainer.batches
    out["loader"] = median_rate(lambda: [b for b, _ in batches.epoch(0)], len(batches) * batches.batch_size, 3)
    if options.get("profile"):
        out["profile"] = profile_paddle(g, d, max(options["batch_sizes"]), nz, options["layer_calls"])
        with scratch_folder():
            out["onednn_split"] = onednn_split(trainer, options["steps"])
    return out


def torch_worker(options: dict) -> dict:
    """The same measurements with PyTorch, on twins of the trainer's nets."""
    import torch  # first: paddle's import (in torch_twin) sets OMP_NUM_THREADS=1 in the environment

    from torch_twin import TwinTrainer, to_torch_input

    mode = options.get("torch_mode", "eager")
    out = {"torch_version": torch.__version__,
           "cpu_env": f"{torch.get_num_threads()} threads (PyTorch's default), {mode}"}
    train, trainers = time_variants(options, {"torch": lambda trainer: TwinTrainer(trainer, mode)},
                                    convert=to_torch_input)
    out["train"] = train["torch"]
    twin = trainers["torch"]

    n = options["gemm"]
    a = torch.randn(n, n)
    out["gemm_gflops"] = median_rate(lambda: torch.matmul(a, a), 2 * n ** 3, 3) / 1e9

    from paddle_dcgan.random_streams import STREAM_FIXED_NOISE, noise_array

    nz = twin.cfg.model.nz
    z = torch.from_numpy(noise_array(0, STREAM_FIXED_NOISE, 0, options["generate_batch"], nz))
    generator = twin.step_nets[0]  # compiled once more for eval mode without gradients under torch.compile
    twin.generator.eval()
    if mode == "channels_last":
        z = z.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        labels = torch.zeros(options["generate_batch"], dtype=torch.int64) if twin.generator.num_classes else None
        out["generate"] = median_rate(lambda: generator(z, labels).numpy(), options["generate_batch"], 3)
    twin.generator.train()
    if options.get("profile") and mode == "eager":
        # shapes and layers from fresh paddle nets (one no-grad forward), timed as torch copies
        from paddle_dcgan.core.models import build_models

        m = twin.cfg.model
        g, d = build_models(m.image_size, m.nz, m.ngf, m.ndf, num_classes=m.num_classes, channels=m.channels)
        out["profile"] = profile_torch(g, d, max(options["batch_sizes"]), nz, options["layer_calls"])
    return out


def _worker_functions() -> dict[str, Callable[[dict], dict]]:
    import levers

    return {"paddle": paddle_worker, "torch": torch_worker, "levers": levers.levers_worker,
            "onednn": levers.onednn_worker}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one benchmark worker (started by benchmarks/benchmark.py)")
    parser.add_argument("--worker", required=True)
    parser.add_argument("--options", required=True, help="JSON")
    ns = parser.parse_args()
    result = _worker_functions()[ns.worker](json.loads(ns.options))
    print(RESULT_TAG + json.dumps(result), flush=True)
