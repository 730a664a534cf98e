"""Data-parallel training: two gloo processes under paddle.distributed.launch against one process.

One process with ``train.shards=2`` computes what two processes compute together
(parallel.py): the same losses and weights up to the order of floating-point sums.
Measured on tiny data over the first 20 steps: weights agree to about 2e-7. The
tolerance used here, 1e-5, is far below what one Adam step moves a weight and far
above summation noise. Over longer runs a GAN amplifies such differences (a D that
wins by far turns a 1e-7 difference into 1e-3 within ten steps), so a resumed run is
compared bit for bit with an unbroken run of the same process count.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, assert_one_line_error, run_tool
from paddle_dcgan.config import load_config
from paddle_dcgan.core.models import build_models
from paddle_dcgan.parallel.world import batchnorm_statistics
from paddle_dcgan.core.steps import discriminator_step
from paddle_dcgan.files.checkpoint import load_checkpoint
from paddle_dcgan.parallel.shards import Shards

TOLERANCE = 1e-5


def _launch(*args: str, cwd, log_dir) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(log_dir),
               str(ROOT / "tools" / "train.py"), *args]
    return subprocess.run(command, cwd=cwd, env=dict(os.environ, MPLBACKEND="Agg"), capture_output=True, text=True,
                          timeout=300)


def _tiny(tiny_data, out, *extra):
    return ["-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}", f"output_dir={out}",
            "run_name=tiny", *extra]


def _weights(path):
    saved = load_checkpoint(path)
    return {f"{net}.{k}": np.array(v) for net in ("generator", "discriminator") for k, v in saved[net].items()}, saved


def _assert_same_training(a_path, b_path):
    a, saved_a = _weights(a_path)
    b, saved_b = _weights(b_path)
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < TOLERANCE, worst
    assert saved_a["step"] == saved_b["step"] and saved_a["shards"] == saved_b["shards"] == 2
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g"):
        np.testing.assert_allclose(saved_a["history"][key], saved_b["history"][key], atol=TOLERANCE)


@pytest.fixture(scope="module")
def two_runs(tiny_data, tmp_path_factory):
    """The same 2-epoch run trained by two gloo processes and by one process with two shards."""
    tmp = tmp_path_factory.mktemp("parallel")
    launched = _launch(*_tiny(tiny_data, tmp / "two", "train.epochs=2"), cwd=tmp, log_dir=tmp / "logs")
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    run_tool("train.py", *_tiny(tiny_data, tmp / "one", "train.epochs=2", "train.shards=2"), cwd=tmp)
    return tmp


@pytest.mark.slow
def test_two_processes_train_what_one_process_with_two_shards_trains(two_runs):
    two, one = two_runs / "two" / "tiny", two_runs / "one" / "tiny"
    _assert_same_training(two / "checkpoints" / "step_00000020.pdckpt", one / "checkpoints" / "step_00000020.pdckpt")
    # process 0 wrote one complete run, the same files as the single process; process 1 wrote nothing of its own
    assert sorted(p.relative_to(two) for p in two.rglob("*")) == sorted(p.relative_to(one) for p in one.rglob("*"))
    assert [p.name for p in (two_runs / "two").iterdir()] == ["tiny"]
    log1 = (two_runs / "logs" / "workerlog.1").read_text()
    assert " INFO " not in log1 and "Traceback" not in log1, log1
    log0 = (two / "train.log").read_text()
    assert "data-parallel over 2 processes (gloo)" in log0


@pytest.mark.slow
def test_a_two_process_run_resumes_in_two_processes_or_in_one_with_two_shards(two_runs, tiny_data):
    tmp = two_runs
    resumed = _launch(*_tiny(tiny_data, tmp / "two", "train.epochs=3"), "--resume", "latest", cwd=tmp,
                      log_dir=tmp / "logs_resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    refused = run_tool("train.py", *_tiny(tiny_data, tmp / "two", "train.epochs=3"), "--resume", "latest", cwd=tmp,
                       check=False)
    assert_one_line_error(refused, "2 BatchNorm shard(s)", "-o train.shards=2")
    run_tool("train.py", *_tiny(tiny_data, tmp / "one", "train.epochs=3", "train.shards=2"), "--resume", "latest",
             cwd=tmp)
    unbroken = _launch(*_tiny(tiny_data, tmp / "unbroken", "train.epochs=3"), cwd=tmp, log_dir=tmp / "logs_unbroken")
    assert unbroken.returncode == 0, unbroken.stdout[-3000:] + unbroken.stderr[-3000:]
    for resumed_run, reference in ((tmp / "two", tmp / "unbroken"), (tmp / "one", None)):
        a, saved = _weights(resumed_run / "tiny" / "checkpoints" / "step_00000030.pdckpt")
        assert saved["step"] == 30 and saved["shards"] == 2
        if reference is not None:  # two processes resumed: what two processes trained without a break, bit for bit
            b, _ = _weights(reference / "tiny" / "checkpoints" / "step_00000030.pdckpt")
            assert all(np.array_equal(a[k], b[k]) for k in a)


def test_shards_must_split_the_batch(tmp_path, tiny_data):
    result = run_tool("train.py", *_tiny(tiny_data, tmp_path, "train.shards=3"), cwd=tmp_path, check=False)
    assert_one_line_error(result, "train.shards", "a divisor of train.batch_size=20")
    assert not (tmp_path / "tiny").exists()


def test_each_shard_is_normalised_alone_and_the_running_statistics_are_averaged():
    """Two shards in one step: the gradients are the mean of each shard's gradients computed alone, and every
    BatchNorm running statistic ends at the mean of what each shard alone would have left."""
    cfg = load_config(None, TINY)
    rng = np.random.default_rng(0)
    real = paddle.to_tensor(rng.uniform(-1, 1, (8, 1, 28, 28)).astype("float32"))
    z = paddle.to_tensor(rng.standard_normal((8, cfg.model.nz, 1, 1)).astype("float32"))

    def nets():
        paddle.seed(0)
        g, d = build_models(28, cfg.model.nz, cfg.model.ngf, cfg.model.ndf)
        return g, d, paddle.optimizer.SGD(1.0, parameters=d.parameters())  # lr 1: the update is the gradient

    g, d, opt = nets()
    before = [p.numpy() for p in d.parameters() if not p.stop_gradient]
    discriminator_step(Shards(g, 2), Shards(d, 2), opt, real, z)
    sharded_update = [b - p.numpy() for b, p in zip(before, [p for p in d.parameters() if not p.stop_gradient])]
    sharded_stats = [t.numpy() for t in batchnorm_statistics(g) + batchnorm_statistics(d)]

    alone_updates, alone_stats = [], []
    for half in (slice(0, 4), slice(4, 8)):
        g, d, opt = nets()
        discriminator_step(g, d, opt, real[half], z[half])
        alone_updates.append([b - p.numpy() for b, p in zip(before, [p for p in d.parameters() if not p.stop_gradient])])
        alone_stats.append([t.numpy() for t in batchnorm_statistics(g) + batchnorm_statistics(d)])
    for i, update in enumerate(sharded_update):
        np.testing.assert_allclose(update, (alone_updates[0][i] + alone_updates[1][i]) / 2, atol=1e-6)
    for i, stat in enumerate(sharded_stats):
        np.testing.assert_allclose(stat, (alone_stats[0][i] + alone_stats[1][i]) / 2, atol=1e-6)
    assert len(sharded_stats) >= 4  # G and D both have BatchNorm layers


def test_a_launched_process_takes_the_gpu_it_was_given_not_a_fixed_one():
    from paddle_dcgan.device import resolve_device
    from paddle_dcgan.errors import UserError

    with pytest.raises(UserError, match="each process takes the GPU the launcher gives it"):
        resolve_device("gpu:1", gpu=0, processes=2)
    assert resolve_device("cpu", gpu=1, processes=2)[0] == "cpu"
