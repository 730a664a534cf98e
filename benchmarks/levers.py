"""Each speed lever of the training step, on and off, in the full step of tools/train.py.

Run through ``python benchmarks/benchmark.py --levers``. Every training row times
``Trainer.train_step`` on the trainer's own batches (measure.TrainingLoop), the trainer changed
in one way:

- kept levers are switched off one at a time: the thread/MKL/malloc settings of ``tune_cpu()`` and
  the per-machine choice of oneDNN convolution kernels (workers of their own, since they act at
  import or when a layer shape is first met), the whole-map GEMM layers, the frozen D of the
  G step, the fused BatchNorm + activation kernels, the channels-last activations between blocks
  and the label maps as one small product (one worker, the variants timed in turn);
- rejected levers are switched on: ``paddle.jit.to_static``, and the oneDNN compiled step of
  benchmarks/onednn_study, which runs in a worker of its own because it can crash the process
  (a crash is reported in the table) and is also timed on one thread by CPU time, the measure of
  work that a busy machine disturbs least;
- single layers rebuilt from other paddle ops (rejected) are timed against paddle's kernel.

The library has no switches for these levers: the variants are made here.
"""

from __future__ import annotations

from measure import AS_INSTALLED, TUNED, Job, layer_ms, make_trainer, scratch_folder, start_paddle, time_variants

ONEDNN_JOB, ONEDNN_CPU_JOB = "oneDNN compiled step", "oneDNN compiled step, 1 thread"
# glibc's malloc as it is without tune_cpu()'s keep_freed_memory(): blocks over 128 KB mapped afresh and unmapped
GLIBC_DEFAULTS = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


# ------------------------------------------------------------------ variants of a trainer
def with_nchw_activations(trainer):
    """Every activation NCHW, as paddle stores it: each oneDNN convolution reorders its activations to and from
    the layout its kernel wants, instead of the blocks passing each other channels-last tensors."""
    from paddle_dcgan import kernels

    for net in (trainer.generator, trainer.discriminator):
        kernels.channels_last(net, False)
    return trainer


def with_convolved_label_maps(trainer):
    """A conditional D's label maps as the convolution of the C label planes (an image of C channels per class)
    instead of one small product of the planes' kernel taps."""
    from paddle_dcgan.kernels.layers import LabelMapsBlock

    for layer in trainer.discriminator.sublayers():
        if type(layer) is LabelMapsBlock:
            layer._maps = layer.convolved_maps
    return trainer


def with_stock_layers(trainer):
    """G's z projection and D's read-out through paddle's stock conv kernels instead of one GEMM each."""
    from paddle import nn

    from paddle_dcgan.kernels.layers import GemmConv2D, GemmConvTranspose2D

    with_nchw_activations(trainer)  # stock layers read and write NCHW only
    for net in (trainer.generator, trainer.discriminator):
        for layer in net.sublayers():
            # the stand-ins only override forward(): giving them back the stock class keeps the very
            # parameters the optimisers hold
            if type(layer) is GemmConvTranspose2D:
                layer.__class__ = nn.Conv2DTranspose
            elif type(layer) is GemmConv2D:
                layer.__class__ = nn.Conv2D
    return trainer


class Unfrozen:
    """D behind a stand-in that owns no parameters, so ``core.steps.frozen`` has nothing to freeze.

    The G step then also computes D's weight gradients; the next D step's ``opt_d.clear_grad()``
    discards them, so training is unchanged and only the work differs.
    """

    def __init__(self, net):
        self.net = net

    def parameters(self) -> list:
        return []

    def __call__(self, x, labels=None):
        return self.net(x, labels)


def with_unfrozen_d(trainer):
    trainer.step_discriminator = Unfrozen(trainer.step_discriminator)  # what the steps call
    return trainer


def with_unfused_norms(trainer):
    """BatchNorm, activation and a conditional D's label maps through paddle's separate operators
    instead of the fused kernels of paddle_dcgan/kernels/fused_norm.cc (the convolutions stay on oneDNN)."""
    from paddle import nn

    from paddle_dcgan.kernels.layers import FusedConvBlock, LabelMapsBlock

    with_nchw_activations(trainer)  # paddle's BatchNorm2D reads NCHW
    for net in (trainer.generator, trainer.discriminator):
        for layer in net.sublayers():
            if type(layer) is FusedConvBlock:
                layer.__class__ = nn.Sequential
            elif type(layer) is LabelMapsBlock:
                layer.op = None
    return trainer


def with_to_static(trainer):
    import paddle

    # what the steps call; the nets behind them (and their state_dict keys) stay
    trainer.step_generator = paddle.jit.to_static(trainer.step_generator, full_graph=True)
    trainer.step_discriminator = paddle.jit.to_static(trainer.step_discriminator, full_graph=True)
    return trainer


IN_PROCESS = {
    "all kept levers on": None,
    "  without whole-map GEMM layers (kept)": with_stock_layers,
    "  without frozen D weights in the G step (kept)": with_unfrozen_d,
    "  without the fused BatchNorm + activation kernels (kept)": with_unfused_norms,
    "  without channels-last activations between blocks (kept)": with_nchw_activations,
    "  label maps by convolving the label planes, not one small product (kept)": with_convolved_label_maps,
    "  with paddle.jit.to_static on G and D (rejected)": with_to_static,
}


# ------------------------------------------------------------------ single layers
def conv_as_unfold_gemm(x, w):
    """Conv2D(k4, s2, p1) as im2col (F.unfold) + one GEMM."""
    import paddle
    import paddle.nn.functional as F

    n, _, h, _ = x.shape
    cols = F.unfold(x, [4, 4], strides=2, paddings=1)  # [N, C*16, L]
    out = paddle.matmul(w.reshape([w.shape[0], -1]), cols)  # [N, O, L]
    return out.reshape([n, w.shape[0], h // 2, h // 2])


def conv_transpose_as_gemm_fold(x, w):
    """Conv2DTranspose(k4, s2, p1) as one GEMM + col2im (F.fold)."""
    import paddle
    import paddle.nn.functional as F

    n, c, h, _ = x.shape
    cols = paddle.matmul(w.reshape([c, -1]), x.reshape([n, c, h * h]), transpose_x=True)
    return F.fold(cols, [2 * h, 2 * h], [4, 4], strides=2, paddings=1)


def single_layers(batch: int, calls: int) -> dict[str, float]:
    """Forward+backward ms of D's and G's middle layers: paddle's kernel and rebuilt forms."""
    import paddle
    import paddle.nn.functional as F

    x, w = paddle.randn([batch, 64, 14, 14]), paddle.randn([128, 64, 4, 4]) * 0.02
    xt, wt = paddle.randn([batch, 128, 7, 7]), paddle.randn([128, 64, 4, 4]) * 0.02
    x_nhwc = paddle.randn([batch, 14, 14, 64])
    for t in (x, w, xt, wt, x_nhwc):
        t.stop_gradient = False
    forms = {
        "D conv 64->128 @14x14, paddle kernel": lambda: F.conv2d(x, w, stride=2, padding=1),
        "  as F.unfold + GEMM (rejected)": lambda: conv_as_unfold_gemm(x, w),
        "  in NHWC layout (rejected)": lambda: F.conv2d(x_nhwc, w, stride=2, padding=1, data_format="NHWC"),
        "G conv-transpose 128->64 @7x7, paddle kernel": lambda: F.conv2d_transpose(xt, wt, stride=2, padding=1),
        "  as GEMM + F.fold (rejected)": lambda: conv_transpose_as_gemm_fold(xt, wt),
    }
    return {name: layer_ms(lambda f=f: f().sum().backward(), calls) for name, f in forms.items()}


# ------------------------------------------------------------------ workers
def levers_worker(options: dict) -> dict:
    """The in-process variants, timed in turn, and the single layers (tuned threads)."""
    import warnings

    out = start_paddle()
    warnings.filterwarnings("ignore", module="paddle.jit")
    out["train"], _ = time_variants(options, IN_PROCESS)
    out["layers"] = single_layers(max(options["batch_sizes"]), options["layer_calls"])
    return out


def onednn_worker(options: dict) -> dict:
    """The dygraph step and the oneDNN compiled step, timed in turn in this process.

    Also the differences after step 1 between two fresh trainers, one of each kind: the step's
    statistics (losses, D outputs) and the BatchNorm running statistics (workaround w2).
    """
    out = start_paddle()  # tune_cpu() keeps the OMP_NUM_THREADS=1 of the single-thread run
    from onednn_study.compiled_step import compile_trainer, enable_onednn

    enable_onednn()

    def compiled(trainer):
        compile_trainer(trainer)
        return trainer

    out["train"], _ = time_variants(options, {"dygraph": None, "compiled": compiled})
    out["step1_difference"] = _step_one_difference(options, compiled)
    return out


def _step_one_difference(options: dict, compiled) -> dict[str, float]:
    import numpy as np

    batch = min(options["batch_sizes"])
    with scratch_folder() as folder:
        reference, other = make_trainer(options, batch, folder), compiled(make_trainer(options, batch, folder))
        real, labels = next(reference.batches.epoch(0))
        stats, other_stats = reference.train_step(real, labels), other.train_step(real, labels)
    running = []
    for net, stand_in in ((reference.generator, other.generator), (reference.discriminator, other.discriminator)):
        theirs = stand_in.net.state_dict()
        running += [float(np.abs(value.numpy() - theirs[key].numpy()).max())
                    for key, value in net.state_dict().items() if key.endswith(("_mean", "_variance"))]
    return {"statistics": max(abs(stats[k] - other_stats[k]) for k in stats), "bn_running": max(running)}


# ------------------------------------------------------------------ parent side
def jobs(options: dict) -> list[Job]:
    from paddle_dcgan.cpu_tuning import usable_cores

    threads_only = {"PADDLE_DCGAN_CPU_TUNING": "0", "OMP_NUM_THREADS": str(usable_cores()), "MKL_DEBUG_CPU_TYPE": None}
    train_only = {**options, "train_only": True}
    return [
        Job("in-process levers", "levers", options, TUNED),
        Job("as installed", "paddle", train_only, AS_INSTALLED),
        Job("threads only", "paddle", train_only, threads_only),
        Job("malloc defaults", "paddle", train_only, {**TUNED, **GLIBC_DEFAULTS}),
        Job("spinning threads", "paddle", train_only, {**TUNED, "GOMP_SPINCOUNT": "300000"}),
        Job("first-choice convolutions", "paddle", train_only, {**TUNED, "PADDLE_DCGAN_ONEDNN_TUNING": "off"}),
        Job(ONEDNN_JOB, "onednn", options, TUNED, may_crash=True),
        Job(ONEDNN_CPU_JOB, "onednn", options, {**TUNED, "OMP_NUM_THREADS": "1"}, may_crash=True),
    ]


def table(results: dict, batch_sizes: list[int]) -> str:
    """The lever table from the medians of :func:`jobs`' workers."""
    from paddle_dcgan.cpu_tuning import usable_cores

    width = 70
    head = "".join(f"{'batch ' + str(b):>11}" for b in batch_sizes)
    lines = [f"{'full training step (Trainer.train_step), img/s':<{width}}{head}"]

    def row(label, per_batch, key="img_s"):
        lines.append(f"{label:<{width}}" + "".join(f"{per_batch[str(b)][key]:>11.0f}" for b in batch_sizes))

    def failed_row(label, result):
        lines.append(f"{label:<{width}}{result['failed']:>{11 * len(batch_sizes)}}")

    levers_train = results["in-process levers"]["train"]
    row("all kept levers on", levers_train["all kept levers on"])
    row("  without tune_cpu(): paddle's 1 thread, MKL's generic path (kept)", results["as installed"]["train"])
    row(f"  OMP_NUM_THREADS={usable_cores()} without MKL_DEBUG_CPU_TYPE=5 (kept)",
        results["threads only"]["train"])
    row("  without keeping freed memory: glibc's 128 KB thresholds (kept)", results["malloc defaults"]["train"])
    row("  GOMP_SPINCOUNT=300000 (libgomp's default) instead of 0 (kept)", results["spinning threads"]["train"])
    row("  oneDNN's first-choice convolution kernels, not the tuned ones (kept)",
        results["first-choice convolutions"]["train"])
    for label, per_batch in levers_train.items():
        if label != "all kept levers on":
            row(label, per_batch)
    onednn, onednn_cpu = results[ONEDNN_JOB], results[ONEDNN_CPU_JOB]
    label = "  oneDNN compiled step, benchmarks/onednn_study (rejected)"
    if "failed" in onednn:
        failed_row(label, onednn)
    else:
        row(label, onednn["train"]["compiled"])
        row("    the dygraph step, timed in turn with it", onednn["train"]["dygraph"])

    lines += ["", f"{'CPU time per step, 1 thread (OMP_NUM_THREADS=1), ms':<{width}}{head}"]
    if "failed" in onednn_cpu:
        failed_row("  oneDNN compiled step", onednn_cpu)
    else:
        row("  dygraph step", onednn_cpu["train"]["dygraph"], "cpu_ms")
        row("  oneDNN compiled step", onednn_cpu["train"]["compiled"], "cpu_ms")
    for result in (onednn, onednn_cpu):
        if "failed_runs" in result:
            lines.append(f"  ({result['failed_runs']} run(s) of the oneDNN worker failed and are left out)")
    if "step1_difference" in onednn:
        diff = onednn["step1_difference"]
        lines.append(f"oneDNN compiled vs dygraph after step 1 (batch {min(batch_sizes)}): step statistics differ by "
                     f"at most {diff['statistics']:.1e}, BatchNorm running statistics by {diff['bn_running']:.1e}")

    layers = results["in-process levers"]["layers"]
    lines += ["", f"{'one layer, forward+backward, batch ' + str(max(batch_sizes)):<{width}}{'ms':>11}"]
    lines += [f"{name:<{width}}{ms:>11.2f}" for name, ms in layers.items()]
    return "\n".join(lines)
