"""benchmarks/: the tables come out with their rows, failures are reported, lever variants train alike.

Speed itself is never checked here: the settings are tiny and the machine may be busy.
"""

import json
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import ROOT, assert_one_line_error
from paddle_dcgan.cpu_tuning import bfloat16_isa

TINY_MODEL = ["model.ngf=8", "model.ndf=8", "model.nz=16"]
TINY_RUN = ["--batch-sizes", "8", "--steps", "1", "--warmup", "1", "--repeats", "1", "--gemm", "64",
            "--generate-batch", "16", "--layer-calls", "1", "-o", *TINY_MODEL]


@pytest.fixture
def bench(monkeypatch):
    """The benchmark's modules, imported as benchmark.py imports them (from their own folder)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import levers
    import measure

    return measure, levers


def _kernels_build() -> bool:
    from paddle_dcgan.kernels import build as onednn

    try:
        onednn.load()
        return True
    except onednn.KernelsUnavailable:
        return False


def _benchmark(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "benchmark.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_main_table_has_its_rows(tmp_path):
    result = _benchmark(*TINY_RUN, "--no-torch", "--profile", "--json", "raw.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "python benchmarks/benchmark.py " + " ".join([*TINY_RUN, "--no-torch", "--profile", "--json",
                                                                      "raw.json"])
    assert re.match(r"paddle 3\.\S+ \| torch not measured \| CPU: .+, \d+ usable cores \| load average", lines[1])
    assert lines[2].startswith("CPU flags that set the kernels' speed: ")
    assert "nz 16, ngf 8, ndf 8" in lines[3] and "1 timed steps after 1 warm-up" in lines[3]
    columns = lines[6].split("  ")
    bfloat16 = ["tuned, bfloat16"] if bfloat16_isa() else []  # a column where the CPU has the instructions
    assert [c.strip() for c in columns if c.strip()] == ["paddle as installed", "tuned, stock convs", "paddle tuned",
                                                         *bfloat16]
    labels = [line[:46].strip() for line in lines]
    for row in ("train img/s, batch 8", "step GFLOP/s (% of GEMM limit), batch 8", "generate img/s (batch 16)",
                "float32 GEMM GFLOP/s (64x64)", "data loader img/s (batch 8)"):
        assert row in labels, row
    assert not any("PyTorch" in label for label in labels)
    profile = [line for line in lines if line.startswith(("G: ", "D: "))]
    # the default model is conditional: z and the one-hot digit into G, images and their label planes into D
    assert len(profile) == 6 and "G: GemmConvTranspose2D 26->16 @1x1" in profile[0]
    assert "D: LabelMapsBlock 11->8 @28x28" in profile[3]
    split = [line for line in lines if "with oneDNN's own timing" in line]
    if _kernels_build():  # where they do not, the step runs no oneDNN primitive and the line is left out
        assert len(split) == 1 and re.search(r"of which convolution primitives \d+ ms and layout reorders", split[0])
        assert re.search(r"The convolutions alone run the step's [\d.]+ GFLOP at \d+ % of the GEMM limit",
                         lines[lines.index(split[0]) + 1])
    else:
        assert not split
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.json"]  # nothing else written
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert {name: len(runs) for name, runs in raw["runs"].items()} == {"paddle as installed": 1, "tuned, stock convs": 1,
                                                                       "paddle tuned": 1, **dict.fromkeys(bfloat16, 1)}
    assert raw["medians"]["paddle tuned"]["train"]["8"]["img_s"] > 0


def test_onednn_compiled_step_matches_the_eager_one(bench):
    """The rejected lever's worker (benchmarks/onednn_study) runs, in a child process, and is exact at step 1."""
    measure, _ = bench
    options = {"config": str(ROOT / "configs" / "dcgan.yaml"), "overrides": TINY_MODEL, "batch_sizes": [8],
               "steps": 1, "warmup": 1}
    result = measure.run_worker(measure.Job("onednn", "onednn", options, measure.TUNED), timeout=120)
    assert set(result["train"]) == {"dygraph", "compiled"} and result["train"]["compiled"]["8"]["img_s"] > 0
    assert result["step1_difference"]["statistics"] < 1e-5
    assert result["step1_difference"]["bn_running"] < 1e-5  # workaround w2: running statistics do move


def test_a_bad_override_stops_before_any_worker(tmp_path):
    result = _benchmark("-o", "train.batchsize=8", cwd=tmp_path)
    assert_one_line_error(result, "train.batchsize", "train.batch_size")


def test_worker_failures_are_named(bench, monkeypatch):
    measure, _ = bench
    outcome = {}

    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, outcome["rc"], outcome["stdout"], "Traceback ...\nValueError: boom\n")

    monkeypatch.setattr(measure.subprocess, "run", fake_run)
    job = measure.Job("x", "paddle", {})
    outcome.update(rc=0, stdout='ReduceMeanCheckIfOneDNNSupport\n' + measure.RESULT_TAG + '{"a": 1}\n')
    assert measure.run_worker(job, 10) == {"a": 1}  # paddle's own stdout lines are skipped
    outcome.update(rc=-11, stdout="")
    with pytest.raises(measure.WorkerFailed, match=r"crashed \(SIGSEGV\)"):
        measure.run_worker(job, 10)
    outcome.update(rc=1)
    with pytest.raises(measure.WorkerFailed, match="exit code 1: ValueError: boom"):
        measure.run_worker(job, 10)

    from paddle_dcgan.errors import UserError

    with pytest.raises(UserError, match="'x' exit code 1"):
        measure.run_alternating([job], 1, 10)
    job.may_crash = True
    runs = measure.run_alternating([job], 2, 10)
    assert measure.median_of(runs["x"]) == {"failed": "exit code 1: ValueError: boom"}


def test_medians_leave_failed_runs_out(bench):
    measure, _ = bench
    runs = [{"train": {"8": 3.0}, "env": "a"}, {"failed": "crashed (SIGSEGV)"}, {"train": {"8": 1.0}, "env": "b"},
            {"train": {"8": 10.0}, "env": "c"}]
    assert measure.median_of(runs) == {"train": {"8": 3.0}, "env": "a", "failed_runs": 1}


@pytest.fixture
def two_trainers(bench, tmp_path, restore_package_logger):
    """Two fresh trainers with the same weights (tiny nets, shipped digits, batch 8) and three batches
    (images, labels)."""
    measure, _ = bench
    options = {"config": str(ROOT / "configs" / "dcgan.yaml"), "overrides": TINY_MODEL}
    trainers = [measure.make_trainer(options, 8, str(tmp_path)) for _ in range(2)]
    batches = trainers[0].batches.epoch(0)
    return trainers, [next(batches) for _ in range(3)]


def _trainable(*nets):
    return {f"{i}.{p.name}": p for i, net in enumerate(nets) for p in net.parameters() if not p.stop_gradient}


@pytest.mark.parametrize("lever", ["with_stock_layers", "with_unfrozen_d", "with_nchw_activations",
                                   "with_convolved_label_maps"])
def test_switching_a_kept_lever_off_changes_the_work_not_the_training(bench, two_trainers, lever):
    _, levers = bench
    (reference, changed), reals = two_trainers
    nets = changed.generator, changed.discriminator  # the lever may put a stand-in in front of them
    getattr(levers, lever)(changed)
    params = _trainable(*nets)  # what the nets compute with now
    before = {name: p.numpy().copy() for name, p in params.items()}
    for real, labels in reals:
        stats, changed_stats = reference.train_step(real, labels), changed.train_step(real, labels)
        assert changed_stats == pytest.approx(stats, abs=1e-4)
    # the optimisers update those very parameters
    assert all(not np.array_equal(p.numpy(), before[name]) for name, p in params.items())


def test_stock_layers_replace_the_whole_map_ones(bench, two_trainers):
    _, levers = bench
    (trainer, _), _ = two_trainers
    levers.with_stock_layers(trainer)
    names = {type(m).__name__ for net in (trainer.generator, trainer.discriminator) for m in net.sublayers()}
    assert "Conv2D" in names and not any(n.startswith("Gemm") for n in names)


def _what_the_step_is_handed(trainer, batch, monkeypatch) -> list:
    """What ``Trainer.train_step`` hands the core's step as G and D: each object's class, its forward's class,
    and its layers' classes with whether they hold an operator (the step itself is not run)."""
    from paddle_dcgan.training import run

    def describe(net):
        layers = net.sublayers() if isinstance(net, paddle.nn.Layer) else []
        return (type(net).__name__, type(getattr(net, "forward", None)).__name__,
                [(type(m).__name__, getattr(m, "op", None) is not None, getattr(m, "in_nhwc", None),
                  getattr(m, "out_nhwc", None), "_maps" in vars(m)) for m in layers])

    seen = []

    def spy(generator, discriminator, *args):
        seen.append((describe(generator), describe(discriminator)))
        return {"loss_d": 1.0, "d_real": 0.5, "d_fake": 0.5, "loss_g": 1.0, "d_fake_g": 0.5}

    monkeypatch.setattr(run, "train_step", spy)
    trainer.train_step(*batch)
    return seen


LEVERS = ["with_stock_layers", "with_unfrozen_d", "with_unfused_norms", "with_nchw_activations",
          "with_convolved_label_maps", "with_to_static"]


@pytest.mark.parametrize("lever", LEVERS)
def test_every_lever_changes_what_the_step_runs(bench, two_trainers, lever, monkeypatch):
    """A lever that replaces something the step never calls measures nothing: what the step is handed must
    differ from an untouched trainer's."""
    _, levers = bench
    assert sorted(f.__name__ for f in levers.IN_PROCESS.values() if f) == sorted(LEVERS)  # all of them tested here
    (reference, changed), reals = two_trainers
    if lever in ("with_unfused_norms", "with_nchw_activations") and not _kernels_build():
        pytest.skip("the fused kernels do not build here: nothing to switch off")
    getattr(levers, lever)(changed)
    assert _what_the_step_is_handed(changed, reals[0], monkeypatch) != _what_the_step_is_handed(reference, reals[0],
                                                                                               monkeypatch)

