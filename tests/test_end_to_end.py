"""The real tools on tiny data: train, files, determinism, exact resume, Ctrl-C, sampling."""

import os
import signal
import subprocess
import sys

import numpy as np
import paddle
import pytest
from PIL import Image

from paddle_dcgan.files.checkpoint import CHECKPOINT_FORMAT, list_checkpoints, load_checkpoint
from paddle_dcgan.files.io import save_tagged
from paddle_dcgan.sampling.load import load_generator

from conftest import ROOT, TINY, assert_one_line_error, run_tool, train_tool


def _train(cwd, data_dir, *extra, check=True):
    return train_tool(cwd, data_dir, *extra, config=ROOT / "configs/dcgan.yaml", run_name=None, check=check)


def _history(run_dir):
    return load_checkpoint(list_checkpoints(run_dir)[-1])["history"]


@pytest.fixture(scope="module")
def straight_run(tiny_data, tmp_path_factory):
    """Two epochs in one go: 200 images / batch 20 = 10 steps per epoch."""
    cwd = tmp_path_factory.mktemp("straight")
    _train(cwd, tiny_data, "-o", "train.epochs=2", "run_name=tiny")
    return cwd / "output" / "tiny"


def test_files_of_a_run(straight_run):
    names = sorted(p.relative_to(straight_run).as_posix() for p in straight_run.rglob("*") if p.is_file())
    assert names == ["checkpoints/step_00000010.pdckpt", "checkpoints/step_00000020.pdckpt", "config.yaml",
                     "generator.pdparams", "history.csv", "loss_curve.png", "progress.gif",
                     "samples/epoch_001.png", "samples/epoch_002.png", "train.log"]
    saved = load_checkpoint(straight_run / "checkpoints/step_00000020.pdckpt")
    assert saved["step"] == 20 and saved["epoch"] == 2 and saved["dataset"] == "mnist"
    assert saved["config"]["model"]["ngf"] == 8 and len(saved["history"]["loss_d"]) == 20
    assert set(saved) >= {"generator", "discriminator", "opt_g", "opt_d", "rng"}
    assert "ngf: 8" in (straight_run / "config.yaml").read_text()
    assert Image.open(straight_run / "progress.gif").n_frames == 2
    rows = (straight_run / "history.csv").read_text().splitlines()
    assert rows[0] == "step,loss_d,loss_g,d_real,d_fake,d_fake_g" and len(rows) == 21
    log = (straight_run / "train.log").read_text()
    assert "step 20/20" in log and "img/s" in log and "eta" in log and "D(x)" in log


def test_same_seed_same_losses(straight_run, tiny_data, tmp_path):
    _train(tmp_path, tiny_data, "-o", "train.epochs=2", "run_name=tiny")
    assert _history(tmp_path / "output" / "tiny") == _history(straight_run)
    _train(tmp_path, tiny_data, "-o", "train.epochs=1", "run_name=other", "seed=1")
    assert _history(tmp_path / "output" / "other")["loss_d"] != _history(straight_run)["loss_d"][:10]


@pytest.mark.skipif(paddle.device.is_compiled_with_cuda(), reason="checks what a CPU-only build does")
def test_amp_is_skipped_on_cpu(straight_run, tiny_data, tmp_path):
    result = _train(tmp_path, tiny_data, "-o", "train.epochs=2", "run_name=tiny", "train.amp=float16")
    assert "train.amp=float16 needs a GPU; training in float32 on cpu" in result.stderr
    assert _history(tmp_path / "output" / "tiny") == _history(straight_run)  # plain float32, bit for bit
    assert_one_line_error(_train(tmp_path, tiny_data, "-o", "train.amp=fp8", check=False), "off | float16 | bfloat16")


def test_resume_continues_exactly(straight_run, tiny_data, tmp_path):
    # stop mid-epoch: checkpoint every 5 steps, train 1 epoch, then drop the step-10 checkpoint
    _train(tmp_path, tiny_data, "-o", "train.epochs=1", "run_name=tiny", "train.checkpoint_every=5")
    run = tmp_path / "output" / "tiny"
    (run / "checkpoints/step_00000010.pdckpt").unlink()
    result = _train(tmp_path, tiny_data, "-o", "train.epochs=2", "run_name=tiny", "train.checkpoint_every=5",
                    "--resume", "latest")
    assert "resumed from" in result.stderr and "at step 5 (epoch 0)" in result.stderr
    assert _history(run) == _history(straight_run)  # bit-identical losses after resuming
    assert [p.name for p in list_checkpoints(run)] == [f"step_{s:08d}.pdckpt" for s in (10, 15, 20)]
    # a second fresh run with the same name goes to a new folder, leaving this one intact
    _train(tmp_path, tiny_data, "-o", "train.epochs=1", "run_name=tiny")
    assert (tmp_path / "output" / "tiny-2" / "checkpoints/step_00000010.pdckpt").exists()
    assert len(list_checkpoints(run)) == 3


RECIPE = ["train.ema_decay=0.9", "model.sample_bn=recomputed", "train.real_label=0.9"]


def _weights(net):
    return {k: v.numpy() for k, v in net.state_dict().items()}


@pytest.mark.slow
def test_resume_with_ema_continues_exactly(straight_run, tiny_data, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _train(tmp_path / "a", tiny_data, "-o", "train.epochs=2", "run_name=tiny", *RECIPE)
    straight = tmp_path / "a" / "output" / "tiny"
    _train(tmp_path / "b", tiny_data, "-o", "train.epochs=1", "run_name=tiny", "train.checkpoint_every=5", *RECIPE)
    run = tmp_path / "b" / "output" / "tiny"
    (run / "checkpoints/step_00000010.pdckpt").unlink()
    _train(tmp_path / "b", tiny_data, "-o", "train.epochs=2", "run_name=tiny", "train.checkpoint_every=5", *RECIPE,
           "--resume", "latest")
    assert _history(run) == _history(straight)
    assert _history(run)["loss_d"] != _history(straight_run)["loss_d"]  # label smoothing changed D's loss
    ema, ema_straight = load_checkpoint(list_checkpoints(run)[-1])["ema"], load_checkpoint(
        list_checkpoints(straight)[-1])["ema"]
    assert ema["updates"] == ema_straight["updates"] == 20
    for key, value in ema_straight["weights"].items():
        np.testing.assert_array_equal(np.asarray(ema["weights"][key]), np.asarray(value))
    # generator.pdparams is the average with recomputed statistics: what loading the checkpoint rebuilds
    from_file, from_checkpoint = _weights(load_generator(run)[0]), _weights(load_generator(list_checkpoints(run)[-1])[0])
    for key, value in from_file.items():
        np.testing.assert_array_equal(from_checkpoint[key], value)
    trained = load_checkpoint(list_checkpoints(run)[-1])["generator"]
    assert not np.array_equal(from_file["blocks.0.0.weight"], np.asarray(trained["blocks.0.0.weight"]))
    assert not np.array_equal(from_file["blocks.0.1._mean"], np.asarray(ema["weights"]["blocks.0.1._mean"]))
    refused = _train(tmp_path / "b", tiny_data, "-o", "train.epochs=3", "run_name=tiny", "train.ema_decay=0.5",
                     "--resume", "latest", check=False)
    assert_one_line_error(refused, "train.ema_decay=0.9")


def test_conditional_resume_continues_exactly(tiny_cond_run, tiny_data, tmp_path):
    """As above for configs/cdcgan.yaml: real labels, fake labels from their own stream, label planes in D."""
    def train(*extra):
        return run_tool("train.py", "-c", str(ROOT / "configs/cdcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}",
                        "train.checkpoint_every=5", *extra, cwd=tmp_path)

    train("train.epochs=1")
    run = tmp_path / "output" / "cdcgan"
    (run / "checkpoints/step_00000010.pdckpt").unlink()
    assert "at step 5 (epoch 0)" in train("train.epochs=2", "--resume", "latest").stderr
    assert _history(run) == _history(tiny_cond_run)  # bit-identical losses after resuming
    assert len(_history(run)["loss_d"]) == 20
    final = load_checkpoint(list_checkpoints(run)[-1])
    for net in ("generator", "discriminator"):
        for key, value in load_checkpoint(list_checkpoints(tiny_cond_run)[-1])[net].items():
            np.testing.assert_array_equal(final[net][key], value, err_msg=key)


def test_a_checkpoint_from_before_num_classes_resumes(tiny_data, tmp_path):
    """Checkpoints written before model.num_classes existed lack the key: they are unconditional runs,
    which the default (conditional) config now names with -o model.num_classes=0."""
    plain = ["model.num_classes=0", "run_name=tiny"]
    (tmp_path / "ref").mkdir()
    _train(tmp_path / "ref", tiny_data, "-o", *plain, "train.epochs=2")
    reference = tmp_path / "ref" / "output" / "tiny"
    old = load_checkpoint(list_checkpoints(reference)[0])
    del old["config"]["model"]["num_classes"]
    save_tagged({k: v for k, v in old.items() if k not in ("format", "version")}, CHECKPOINT_FORMAT,
                tmp_path / "old.pdckpt")
    assert_one_line_error(_train(tmp_path, tiny_data, "--resume", str(tmp_path / "old.pdckpt"), check=False),
                          "trained with model.num_classes=0, the config says 10", "-o model.num_classes=0")
    result = _train(tmp_path, tiny_data, "-o", *plain, "train.epochs=2", "--resume", str(tmp_path / "old.pdckpt"))
    assert "at step 10 (epoch 1)" in result.stderr
    assert _history(tmp_path) == _history(reference)


def test_resume_errors(straight_run, tiny_data, tmp_path):
    result = _train(tmp_path, tiny_data, "-o", "train.epochs=3", "model.ngf=16", "--resume", str(straight_run),
                    check=False)
    assert_one_line_error(result, "model.ngf=8", "start a new run")
    assert_one_line_error(_train(tmp_path, tiny_data, "--resume", "latest", check=False), "to resume")
    bad = tmp_path / "bad.pdckpt"
    bad.write_bytes(b"\x00" * 100)
    assert_one_line_error(_train(tmp_path, tiny_data, "--resume", str(bad), check=False), "corrupt")
    assert_one_line_error(_train(tmp_path, tiny_data, "-o", "device=gpu", check=False), "CPU-only build")


def test_ctrl_c_saves_and_resumes(tiny_data, tmp_path):
    cmd = [sys.executable, str(ROOT / "tools/train.py"), "-o", *TINY, f"data.dir={tiny_data}",
           "train.epochs=500", "train.log_every=1", "run_name=tiny"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=dict(os.environ, MPLBACKEND="Agg"))
    for line in proc.stderr:  # wait until training is under way
        if "step 3/" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert "stopped at step" in rest and "Traceback" not in rest
    run = tmp_path / "output" / "tiny"
    step = load_checkpoint(list_checkpoints(run)[-1])["step"]
    assert step >= 3 and (run / "generator.pdparams").exists()
    # wherever the stop landed, resume to the end of the epoch after it (10 steps per epoch)
    epochs = step // 10 + 1
    result = _train(tmp_path, tiny_data, "-o", f"train.epochs={epochs}", "run_name=tiny", "--resume", "latest")
    assert f"at step {step}" in result.stderr
    assert list_checkpoints(run)[-1].name == f"step_{epochs * 10:08d}.pdckpt"


def test_infer_writes_grid_and_npy(straight_run, tmp_path):
    result = run_tool("infer.py", "--run", str(straight_run), "-n", "10", "--seed", "3", "--npy", "--individual",
                      "--out", str(tmp_path), cwd=tmp_path)
    assert "10 digits" in result.stdout and "step 20" in result.stdout
    samples = np.load(tmp_path / "samples_seed3.npy")
    assert samples.shape == (10, 1, 28, 28) and samples.dtype == np.uint8
    assert Image.open(tmp_path / "grid_seed3.png").size[0] > 28 * 3
    assert len(list((tmp_path / "seed3").glob("*.png"))) == 10
    again = run_tool("infer.py", "--checkpoint", str(list_checkpoints(straight_run)[-1]), "-n", "10", "--seed", "3",
                     "--npy", "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert "step 20" in again.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "samples_seed3.npy"), samples)


def test_infer_errors(tmp_path):
    assert_one_line_error(run_tool("infer.py", "--run", str(tmp_path / "none"), cwd=tmp_path, check=False),
                          "not found", "train first")
    broken = tmp_path / "generator.pdparams"
    broken.touch()
    assert_one_line_error(run_tool("infer.py", "--checkpoint", str(broken), cwd=tmp_path, check=False), "is empty")
    assert_one_line_error(run_tool("infer.py", "-n", "0", cwd=tmp_path, check=False), "--num")


def test_infer_and_eval_input_errors(straight_run, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for tool, args, fragment in [
        ("infer.py", ["--device", "tpu"], "not one of auto, cpu, gpu, gpu:N"),
        ("infer.py", ["--device", "gpu:x"], "not one of auto, cpu, gpu, gpu:N"),
        ("infer.py", ["--out", str(a_file)], "is a file, not a folder"),
        ("infer.py", ["--out", str(a_file / "sub")], "cannot create folder"),
        ("infer.py", ["--seed", "-1"], "--seed: must be >= 0"),
        ("infer.py", ["-n", "1000000000000"], "must be from 1 to 100,000"),
        ("eval.py", ["--device", "tpu"], "not one of auto, cpu, gpu, gpu:N"),
        ("eval.py", ["--out", str(a_file)], "is a file, not a folder"),
        ("eval.py", ["--seed", "-1"], "--seed: must be >= 0"),
    ]:
        result = run_tool(tool, "--run", str(straight_run), *args, cwd=tmp_path, check=False)
        assert_one_line_error(result, fragment)
    assert sorted(p.name for p in straight_run.iterdir()) == sorted(
        ["checkpoints", "config.yaml", "generator.pdparams", "history.csv", "loss_curve.png", "progress.gif",
         "samples", "train.log"])  # no infer/ or eval/ folder made on the way to an error


@pytest.mark.parametrize("every,drawn", [(1e9, [1, 3]), (0.0, [1, 2, 3])])
def test_slow_pictures_are_redrawn_at_most_every_so_often(tiny_data, tmp_path, monkeypatch, restore_package_logger,
                                                          every, drawn):
    """progress.gif and loss_curve.png: after the first epoch, then when PICTURES_EVERY_S have passed, and after the
    last epoch; the grid and history.csv after every epoch."""
    from paddle_dcgan.training import run as trainer_module
    from paddle_dcgan.config import load_config

    monkeypatch.setattr(trainer_module, "PICTURES_EVERY_S", every)
    trainer = trainer_module.Trainer(load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}",
                                                        "train.epochs=3", "run_name=p"]))
    calls = []
    draw = trainer.draw_pictures
    monkeypatch.setattr(trainer, "draw_pictures", lambda epoch: (calls.append(epoch), draw(epoch)))
    run = trainer.fit()
    assert calls == drawn
    assert Image.open(run / "progress.gif").n_frames == 3 and len((run / "history.csv").read_text().splitlines()) == 31
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
