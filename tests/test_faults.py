"""Interruptions, damage and bad luck: a stop at any moment, a full disk, two trainers, a diverging run.

In-process runs (``train(cfg)``) for what needs a precise moment; the real tools
for signals, locks and the one-line error contract.
"""

import errno
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
from paddle_dcgan.config import load_config
from paddle_dcgan.training.divergence import CollapseWatch
from paddle_dcgan.errors import UserError
from paddle_dcgan.files.io import save_tagged
from paddle_dcgan.files.checkpoint import saved_step
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.training.interrupt import TrainingStopped
from paddle_dcgan.files.run_folder import RunLock
from paddle_dcgan.training.run import Trainer, train

from conftest import ROOT, TINY, assert_one_line_error, run_tool, train_tool

STEPS_PER_EPOCH = 10  # tiny_data: 200 images, batch 20


def _cfg(tmp_path, data_dir, *extra):
    return load_config(None, [*TINY, f"data.dir={data_dir}", f"output_dir={tmp_path / 'out'}", "run_name=tiny",
                              *extra])


def _files(run_dir):
    """Every file of a run folder with its bytes."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _weights(path):
    return {k: v.numpy() for k, v in load_generator(path)[0].state_dict().items()}


def _after_step(monkeypatch, step, action):
    """Run ``action(trainer)`` right after training step ``step`` (1-based) of every Trainer."""
    original = Trainer._after_step

    def after_step(self, new_step, stats):
        stats = original(self, new_step, stats)
        if self.step == step:
            action(self)
        return stats

    monkeypatch.setattr(Trainer, "_after_step", after_step)


def _ctrl_c(trainer):
    os.kill(os.getpid(), signal.SIGINT)  # StopRequest's handler runs before the loop checks it


@pytest.fixture(scope="module")
def straight(tiny_data, tmp_path_factory):
    """Three epochs in one go: the reference every interrupted run must end up equal to."""
    tmp = tmp_path_factory.mktemp("straight")
    return train(_cfg(tmp, tiny_data, "train.epochs=3"))


def _assert_same_run(run_dir, reference):
    """Complete and bit-identical to ``reference``: losses, final weights and every per-epoch file."""
    ours, theirs = _files(run_dir), _files(reference)
    per_epoch = [name for name in theirs if name.startswith("samples/")] + ["history.csv", "progress.gif"]
    assert sorted(ours) == sorted(theirs)
    for name in per_epoch:
        assert ours[name] == theirs[name], name
    assert load_checkpoint(list_checkpoints(run_dir)[-1])["history"] == \
        load_checkpoint(list_checkpoints(reference)[-1])["history"]
    for key, value in _weights(reference / "generator.pdparams").items():
        np.testing.assert_array_equal(_weights(run_dir / "generator.pdparams")[key], value)


# ------------------------------------------------------------ stops at an epoch's end (#1, #2)
def test_stop_at_an_epochs_last_step_writes_that_epochs_files(straight, tiny_data, tmp_path, monkeypatch):
    _after_step(monkeypatch, STEPS_PER_EPOCH, _ctrl_c)
    with pytest.raises(TrainingStopped):
        train(_cfg(tmp_path, tiny_data, "train.epochs=3"))
    run = tmp_path / "out" / "tiny"
    assert (run / "samples/epoch_001.png").exists() and Image.open(run / "progress.gif").n_frames == 1
    assert len((run / "history.csv").read_text().splitlines()) == STEPS_PER_EPOCH + 1
    assert load_checkpoint(list_checkpoints(run)[-1])["epoch_outputs"] == 1
    monkeypatch.undo()
    train(_cfg(tmp_path, tiny_data, "train.epochs=3"), resume="latest")  # in-process resume: new parameter names
    _assert_same_run(run, straight)


def test_stop_at_the_runs_last_step_completes_the_run(straight, tiny_data, tmp_path, monkeypatch):
    _after_step(monkeypatch, 3 * STEPS_PER_EPOCH, _ctrl_c)
    run = train(_cfg(tmp_path, tiny_data, "train.epochs=3"))  # no TrainingStopped: there was nothing left to stop
    _assert_same_run(run, straight)


def _drop_epoch_files(run):
    for name in ("samples/epoch_003.png", "progress.gif", "loss_curve.png", "history.csv", "generator.pdparams"):
        (run / name).unlink()


def test_resume_writes_what_an_older_checkpoint_left_unwritten(straight, tmp_path, tiny_data):
    """Checkpoints of the previous version were written before the epoch's files: a stop in between left
    a run that '--resume latest' called finished. Now the resume writes them."""
    run = tmp_path / "out" / "tiny"
    shutil.copytree(straight, run)
    last = list_checkpoints(run)[-1]
    old_format = load_checkpoint(last)
    del old_format["epoch_outputs"], old_format["format"], old_format["version"]
    save_tagged(old_format, "paddle-dcgan-checkpoint", last)
    _drop_epoch_files(run)
    train(_cfg(tmp_path, tiny_data, "train.epochs=3"), resume="latest")
    _assert_same_run(run, straight)
    assert load_checkpoint(last)["epoch_outputs"] == 3
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.name != "train.log"}
    train(_cfg(tmp_path, tiny_data, "train.epochs=3"), resume="latest")  # complete now: writes nothing
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.name != "train.log"}


def test_resume_writes_a_generator_file_the_stop_left_missing(straight, tmp_path, tiny_data):
    run = tmp_path / "out" / "tiny"
    shutil.copytree(straight, run)
    (run / "generator.pdparams").unlink()  # killed between the last checkpoint and the generator file
    train(_cfg(tmp_path, tiny_data, "train.epochs=3"), resume="latest")
    assert saved_step(run / "generator.pdparams") == 3 * STEPS_PER_EPOCH
    _assert_same_run(run, straight)


# ------------------------------------------------------------ leftovers of killed processes (#3, #4)
def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_are_removed_at_start(tiny_data, tmp_path):
    run = train(_cfg(tmp_path, tiny_data, "train.epochs=1"))
    dead, alive = _dead_pid(), subprocess.Popen(["sleep", "60"])
    try:
        stale = [run / f".history.csv.tmp-{dead}", run / f"checkpoints/.step_00000020.pdckpt.tmp-{dead}",
                 run / f"samples/.epoch_002.png.tmp-{dead}"]
        busy = run / f"samples/.epoch_009.png.tmp-{alive.pid}"  # its writer still runs: not ours to delete
        for path in [*stale, busy]:
            path.write_bytes(b"half a file")
        train(_cfg(tmp_path, tiny_data, "train.epochs=2"), resume="latest")
        assert busy.exists() and not any(p.exists() for p in stale)
        assert f"checkpoints/.step_00000020.pdckpt.tmp-{dead}" in (run / "train.log").read_text()
    finally:
        alive.kill()
        alive.wait()


def test_a_folder_without_checkpoint_is_not_a_run(tiny_data, tmp_path):
    run = tmp_path / "out" / "tiny"
    (run / "samples").mkdir(parents=True)
    (run / "train.log").write_text("a start killed before its first checkpoint\n")
    for name in ("samples/epoch_001.png", "samples/epoch_007.png", "history.csv", "progress.gif"):
        (run / name).write_bytes(b"from the killed start")
    (run / "notes.txt").write_text("not ours")
    assert train(_cfg(tmp_path, tiny_data, "train.epochs=1")) == run  # taken over, not tiny-2
    assert not (run / "samples/epoch_007.png").exists() and (run / "notes.txt").exists()
    assert Image.open(run / "progress.gif").n_frames == 1
    log = (run / "train.log").read_text()
    assert log.startswith("a start killed before") and "samples/epoch_007.png" in log
    # a folder with a checkpoint, or with a trained generator.pdparams, is a run: the next one goes elsewhere
    assert train(_cfg(tmp_path, tiny_data, "train.epochs=1")) == run.with_name("tiny-2")
    shutil.rmtree(run.with_name("tiny-2") / "checkpoints")
    assert train(_cfg(tmp_path, tiny_data, "train.epochs=1")) == run.with_name("tiny-3")


_train_tool = train_tool


def _ctrl_c_as_from_a_terminal():
    # pytest started in the background of a non-interactive shell ignores SIGINT, and so would its children
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_tool(cwd, data_dir, *extra):
    """tools/train.py as a user starts it at a terminal (Ctrl-C delivered), its stderr piped."""
    cmd = [sys.executable, str(ROOT / "tools/train.py"), "-o", *TINY, f"data.dir={data_dir}", "run_name=tiny",
           "train.log_every=1", *extra]
    return subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, MPLBACKEND="Agg"), preexec_fn=_ctrl_c_as_from_a_terminal)


def _wait_for(proc, fragment):
    for line in proc.stderr:
        if fragment in line:
            return
    raise AssertionError(f"the process ended without printing {fragment!r}")


def test_kill_before_the_first_checkpoint_then_start_again(tiny_data, tmp_path):
    proc = _start_tool(tmp_path, tiny_data, "train.epochs=2")
    _wait_for(proc, "step 3/")
    proc.kill()
    proc.wait()
    run = tmp_path / "output" / "tiny"
    assert run.is_dir() and not list_checkpoints(run)
    resumed = _train_tool(tmp_path, tiny_data, "train.epochs=2", "--resume", "latest", check=False)
    assert_one_line_error(resumed, "no checkpoint", "without --resume")
    _train_tool(tmp_path, tiny_data, "train.epochs=2")
    assert [p.name for p in tmp_path.joinpath("output").iterdir()] == ["tiny"]
    assert list_checkpoints(run)[-1].name == "step_00000020.pdckpt" and not (run / ".lock").exists()


# ------------------------------------------------------------ a failed start changes nothing (#5)
def _break_config(path):
    saved = load_checkpoint(path)
    saved["config"]["model"]["ngf"] = 16  # the weights are ngf=8
    save_tagged(saved, "paddle-dcgan-checkpoint", path)


def _break_optimizer(path):
    saved = load_checkpoint(path)
    key = next(k for k in saved["opt_g"] if k.endswith("_moment1_0"))
    saved["opt_g"][key] = paddle.zeros([3])
    save_tagged(saved, "paddle-dcgan-checkpoint", path)


@pytest.mark.parametrize("damage, overrides, fragment", [
    (_break_config, ["model.ngf=16"], "does not match the network"),
    (_break_optimizer, [], "optimizer state of shape [3]"),
])
def test_a_refused_resume_fails_in_the_constructor_and_writes_nothing(tiny_data, tmp_path, damage, overrides,
                                                                      fragment):
    run = train(_cfg(tmp_path, tiny_data, "train.epochs=1"))
    damage(list_checkpoints(run)[-1])
    before = _files(run)
    with pytest.raises(UserError) as info:
        Trainer(_cfg(tmp_path, tiny_data, "train.epochs=2", *overrides), resume="latest")
    assert fragment in str(info.value)
    assert _files(run) == before
    tool = _train_tool(tmp_path, tiny_data, f"output_dir={tmp_path / 'out'}", "train.epochs=2", *overrides,
                       "--resume", "latest", check=False)
    assert_one_line_error(tool, fragment)
    assert _files(run) == before


# ------------------------------------------------------------ two trainers, one folder (#9)
_HOLD_LOCK = "import sys, time; from pathlib import Path; from paddle_dcgan.files.run_folder import RunLock\n" \
             "with RunLock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)"


def test_a_run_in_use_is_refused_and_a_dead_holders_lock_is_taken_over(tiny_data, tmp_path):
    run = train(_cfg(tmp_path, tiny_data, "train.epochs=1"))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    before = _files(run)
    with pytest.raises(UserError, match=f"is in use by process {holder.pid}"):
        Trainer(_cfg(tmp_path, tiny_data, "train.epochs=2"), resume="latest")
    with pytest.raises(UserError, match=f"is in use by process {holder.pid}"):
        with RunLock(run):
            pass
    fresh = Trainer(_cfg(tmp_path, tiny_data, "train.epochs=1"))  # a new run does not go into a folder in use
    assert fresh.run_dir == run.with_name("tiny-2") and f"is in use by process {holder.pid}" in fresh.folder_note
    assert _files(run) == before
    holder.kill()  # kill -9: the lock file stays, with a dead PID in it
    holder.wait()
    assert (run / ".lock").read_text().strip() == str(holder.pid)
    train(_cfg(tmp_path, tiny_data, "train.epochs=2"), resume="latest")
    assert list_checkpoints(run)[-1].name == "step_00000020.pdckpt" and not (run / ".lock").exists()


def test_concurrent_resume_of_one_run_is_refused(tiny_data, tmp_path):
    _train_tool(tmp_path, tiny_data, "train.epochs=1")
    first = _start_tool(tmp_path, tiny_data, "train.epochs=500", "--resume", "latest")
    try:
        _wait_for(first, "step 12/")
        second = _train_tool(tmp_path, tiny_data, "train.epochs=500", "--resume", "latest", check=False)
        assert_one_line_error(second, f"in use by process {first.pid}")
        first.send_signal(signal.SIGINT)
        _, rest = first.communicate(timeout=120)
        assert first.returncode == 130, rest
    finally:
        first.kill()
    assert (tmp_path / "output/tiny/train.log").read_text().count("resumed from") == 1


def test_a_resume_that_was_overtaken_while_starting_is_refused(tiny_data, tmp_path):
    """Two resumes started together: the second passes its in-use check, loads the checkpoint, and gets the
    lock only once the first has trained on. It must not train again from its stale checkpoint."""
    run = train(_cfg(tmp_path, tiny_data, "train.epochs=1"))
    late = Trainer(_cfg(tmp_path, tiny_data, "train.epochs=2"), resume="latest")  # has read step 10
    train(_cfg(tmp_path, tiny_data, "train.epochs=2"), resume="latest")  # the other one: trains to step 20
    before = _files(run)
    log = (run / "train.log").read_text()
    with pytest.raises(UserError, match="was trained by another process while this one started .*step_00000020"):
        late.fit()
    assert _files(run) == before and (run / "train.log").read_text() == log
    assert not (run / ".lock").exists()


# ------------------------------------------------------------ signals at start-up (#9)
def _wait_until_paddle_loads(proc):
    """Until paddle's C++ core is being mapped into ``proc``: the moment a signal used to give a traceback."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if "libpaddle" in open(f"/proc/{proc.pid}/maps").read():
                return
        except FileNotFoundError:
            break
        time.sleep(0.005)
    raise AssertionError("paddle was never loaded")


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="watches /proc/PID/maps")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_paddle_loads_exits_130_quietly(tiny_data, tmp_path, sig):
    proc = _start_tool(tmp_path, tiny_data, "train.epochs=1")
    _wait_until_paddle_loads(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "FatalError" not in err and len(err.strip().splitlines()) <= 1


def test_sigterm_in_training_saves_and_exits_130(tiny_data, tmp_path):
    proc = _start_tool(tmp_path, tiny_data, "train.epochs=500")
    _wait_for(proc, "step 3/")
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "stopped at step" in rest and "Traceback" not in rest


def test_notices_are_not_printed_before_an_error(tiny_data, tmp_path):
    # data.name=auto without full MNIST in data.dir: the error line comes alone, without the fallback notice before it
    result = _train_tool(tmp_path, tiny_data, "data.name=auto", f"data.dir={tmp_path}", "train.batch_size=20000",
                         check=False)
    assert_one_line_error(result, "train.batch_size=20000")
    assert not (tmp_path / "output").exists()


# ------------------------------------------------------------ disk full (#8)
def _fail_nth_write(monkeypatch, module, name, n):
    """Make the n-th call of module.name (and later ones) fail as a full disk does."""
    original, calls = getattr(module, name), []

    def writer(*args, **kwargs):
        calls.append(1)
        if len(calls) >= n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, writer)


@pytest.mark.parametrize("module, name, nth, folder", [
    (Path, "write_bytes", 3, "checkpoints"),  # 1st: checkpoint of step 10, 2nd: its generator file, 3rd: step 20
    (Image.Image, "save", 4, "samples"),  # grid, GIF, loss curve (matplotlib uses Pillow) of epoch 1, grid of 2
])
def test_a_full_disk_is_one_error_naming_the_folder(tiny_data, tmp_path, monkeypatch, module, name, nth, folder):
    _fail_nth_write(monkeypatch, module, name, nth)
    with pytest.raises(UserError) as info:
        train(_cfg(tmp_path, tiny_data, "train.epochs=2"))
    run = tmp_path / "out" / "tiny"
    assert f"in '{run / folder}': the disk is full" in str(info.value) and "--resume latest" in str(info.value)
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(run)] == ["step_00000010.pdckpt"]
    assert load_checkpoint(list_checkpoints(run)[0])["step"] == 10 and saved_step(run / "generator.pdparams") == 10
    assert not [p for p in run.rglob("*.tmp-*")] and not (run / ".lock").exists()
    assert "the disk is full" in (run / "train.log").read_text().splitlines()[-1]


def _mount_tmpfs(folder, size):
    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")


def _fill(folder):
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:  # no space left
            pass


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_real_full_disk(tiny_data, tmp_path):
    # the reference is made by the tool too: an in-process run can differ in the last bits once an earlier
    # test has changed the process's math-library threads (Paddle Inference sets them)
    (tmp_path / "ref").mkdir()
    _train_tool(tmp_path / "ref", tiny_data, "train.epochs=3")
    straight = tmp_path / "ref" / "output" / "tiny"
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "4m")
    try:
        out = f"output_dir={disk}"
        _train_tool(tmp_path, tiny_data, out, "train.epochs=1")
        _fill(disk)
        resumed = _train_tool(tmp_path, tiny_data, out, "train.epochs=3", "--resume", "latest", check=False)
        assert_one_line_error(resumed, f"'{disk / 'tiny'}': the disk is full")  # still full: fails at the start
        run = disk / "tiny"
        assert [p.name for p in list_checkpoints(run)] == ["step_00000010.pdckpt"]
        (disk / "filler").unlink()
        _train_tool(tmp_path, tiny_data, out, "train.epochs=3", "train.log_every=1", "--resume", "latest")
        _assert_same_run(run, straight)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# ------------------------------------------------------------ divergence (#10)
def test_exploding_losses_stop_the_run_with_one_line(tiny_data, tmp_path):
    result = _train_tool(tmp_path, tiny_data, "optim.lr_d=1e6", "optim.lr_g=1e6", "train.epochs=2", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(r"error: training diverged at step [12]: loss_[dg] = ", last) and "lower optim.lr_d" in last
    run = tmp_path / "output" / "tiny"
    assert not list_checkpoints(run) and not (run / "generator.pdparams").exists()


def _poison(net_name):
    def action(trainer):
        weight = getattr(trainer, net_name).parameters()[0]
        weight.set_value(paddle.full(weight.shape, float("nan")))
    return action


@pytest.mark.parametrize("net, poisoned_after, stopped_at, problem", [
    ("discriminator", 15, 16, "loss_d = nan"),  # the next step's losses show it
    ("generator", 15, 20, "the generator's .* holds nan"),  # G's ReLUs turn nan into 0: losses look fine, the
    ("generator", 20, 20, "the generator's .* holds nan"),  # weights are checked before anything is written
])
def test_nan_weights_never_reach_a_file(tiny_data, tmp_path, monkeypatch, net, poisoned_after, stopped_at, problem):
    _after_step(monkeypatch, poisoned_after, _poison(net))
    with pytest.raises(UserError, match=f"diverged at step {stopped_at}: {problem}") as info:
        train(_cfg(tmp_path, tiny_data, "train.epochs=3", "train.keep_checkpoints=1"))
    assert "step_00000010.pdckpt are kept" in str(info.value)
    run = tmp_path / "out" / "tiny"
    assert [p.name for p in list_checkpoints(run)] == ["step_00000010.pdckpt"]  # not rotated out
    assert saved_step(run / "generator.pdparams") == 10 and not (run / "samples/epoch_002.png").exists()
    assert all(np.isfinite(w).all() for w in _weights(run / "generator.pdparams").values())


def test_collapse_is_a_warning_once():
    watch, warnings = CollapseWatch(steps=3), []
    listener = logging.Handler(logging.WARNING)
    listener.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("paddle_dcgan.training.divergence").addHandler(listener)
    d_wins, even = {"d_real": 0.999, "d_fake": 0.001}, {"d_real": 0.6, "d_fake": 0.4}
    try:
        for step, stats in enumerate([d_wins, d_wins, even, d_wins, d_wins, d_wins, d_wins, d_wins], 1):
            watch.update(step, stats)
    finally:
        logging.getLogger("paddle_dcgan.training.divergence").removeHandler(listener)
    assert len(warnings) == 1 and "wins outright" in warnings[0] and "(steps 4-6)" in warnings[0]
