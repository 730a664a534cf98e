"""Conditional digits (model.num_classes=10): config, files, sampling with a digit, walks, the tools' errors."""

import numpy as np
import paddle
import pytest
from PIL import Image

import paddle_dcgan
from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
from paddle_dcgan.config import RESUME_KEYS, Config, load_config
from paddle_dcgan.data.sources import AUTO_CLASSES
from paddle_dcgan.sampling.engines import DygraphEngine
from paddle_dcgan.errors import UserError
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.core.models import build_models
from paddle_dcgan.random_streams import (STREAM_BATCHNORM, STREAM_FAKE_LABELS, STREAM_FIXED_NOISE, STREAM_SHUFFLE,
                                STREAM_TRAIN_NOISE, random_labels)
from paddle_dcgan.sampling.sample import generate, labels_for_seed, noise_for_seed, sample

from conftest import ROOT, TINY, assert_one_line_error, run_tool


@pytest.fixture(scope="module")
def conditional():
    paddle.seed(0)
    net, _ = build_models(28, 16, 8, 8, num_classes=10)
    return net


@pytest.fixture(scope="module")
def unconditional():
    paddle.seed(0)
    net, _ = build_models(28, 16, 8, 8)
    return net


def test_cdcgan_config_is_a_small_diff_over_the_defaults():
    cfg = load_config(str(ROOT / "configs" / "cdcgan.yaml"))
    assert cfg.run_name == "cdcgan" and cfg.model.num_classes == AUTO_CLASSES and cfg.train.epochs == 60
    # the paper's learning rates, no weight average, training's BatchNorm statistics
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.train.ema_halflife, cfg.model.sample_bn) == (2e-4, 2e-4, 0, "running")
    assert cfg.data.name == "mnist_subset"  # the 4,000 digits its figures come from
    assert cfg.model.conditioning == "planes"  # the D its shipped generator was trained against
    cfg.run_name, cfg.train.epochs, cfg.data.name = "dcgan", 11, "auto"
    cfg.model.conditioning = "planes+projection"
    cfg.optim.lr_g = cfg.optim.lr_d = 1.2e-3
    cfg.train.ema_halflife = 5000
    assert cfg == load_config(None)  # nothing else differs: the default model is the conditional one
    assert Config().model.num_classes == AUTO_CLASSES and "model.num_classes" in RESUME_KEYS
    plain = load_config(str(ROOT / "configs" / "dcgan_plain.yaml"))
    assert plain.model.num_classes == 0  # the tutorial's unconditional DCGAN stays one file away
    for bad in ("1001", "-2", "ten"):
        with pytest.raises(UserError, match="model.num_classes"):
            load_config(None, [f"model.num_classes={bad}"])
    assert load_config(None, ["model.num_classes=auto"]).model.num_classes == AUTO_CLASSES


def test_fake_labels_have_their_own_stream():
    first = random_labels(3, STREAM_FAKE_LABELS, 7, 500, 10).numpy()
    assert first.dtype == np.int64 and sorted(set(first.tolist())) == list(range(10))
    np.testing.assert_array_equal(random_labels(3, STREAM_FAKE_LABELS, 7, 500, 10).numpy(), first)  # pure
    assert (random_labels(3, STREAM_FAKE_LABELS, 8, 500, 10).numpy() != first).any()  # a new draw every step
    streams = {STREAM_FAKE_LABELS, STREAM_TRAIN_NOISE, STREAM_SHUFFLE, STREAM_FIXED_NOISE, STREAM_BATCHNORM}
    assert len(streams) == 5  # no stream shared


def test_run_files_record_num_classes(tiny_cond_run):
    saved = load_checkpoint(list_checkpoints(tiny_cond_run)[-1])
    assert saved["config"]["model"]["num_classes"] == 10 and saved["step"] == 20
    assert list(saved["discriminator"]["blocks.0.0.weight"].shape) == [8, 1 + 10, 4, 4]  # the image and 10 label planes
    generator, info = load_generator(tiny_cond_run)
    assert generator.num_classes == 10 and info.model["num_classes"] == 10
    from_checkpoint, _ = load_generator(list_checkpoints(tiny_cond_run)[-1])
    z, ids = paddle.to_tensor(noise_for_seed(0, 4, 16)), paddle.to_tensor([1, 5, 5, 9])
    with paddle.no_grad():
        np.testing.assert_array_equal(from_checkpoint(z, ids).numpy(), generator(z, ids).numpy())
    grid = Image.open(tiny_cond_run / "samples" / "epoch_002.png")
    assert grid.size == ((10 * 30 + 2) * 2, (2 * 30 + 2) * 2)  # 16 digits, a column per class, saved at 2x


def test_sample_a_digit(conditional):
    sevens = sample(conditional, 6, seed=4, digit=7)
    np.testing.assert_array_equal(sevens, generate(conditional, noise_for_seed(4, 6, 16), np.full(6, 7)))
    assert np.abs(sample(conditional, 6, seed=4, digit=2) - sevens).max() > 1e-4  # the label is heard
    assert np.abs(sample(conditional, 6, seed=5, digit=7) - sevens).max() > 1e-4


def test_sample_without_a_digit_draws_labels_from_the_seed(conditional):
    drawn = labels_for_seed(4, 200, 10)
    assert drawn.dtype == np.int64 and sorted(set(drawn.tolist())) == list(range(10))
    np.testing.assert_array_equal(labels_for_seed(4, 20, 10), drawn[:20])  # the first k do not depend on n
    images = sample(conditional, 20, seed=4)
    np.testing.assert_array_equal(images, generate(conditional, noise_for_seed(4, 20, 16), drawn[:20]))
    np.testing.assert_array_equal(sample(conditional, 20, seed=4), images)
    assert (labels_for_seed(5, 20, 10) != drawn[:20]).any()


@pytest.mark.parametrize("digit", [-1, 10, True, 3.0, "10"])
def test_bad_digits(conditional, digit):
    with pytest.raises(UserError, match="digit must be an integer from 0 to 9"):
        sample(conditional, 2, digit=digit)


def test_a_digit_by_its_class_name(conditional):
    """The digit models' classes are named "0" .. "9": a name is its index."""
    assert (sample(conditional, 2, digit="7") == sample(conditional, 2, digit=7)).all()
    with pytest.raises(UserError, match="no class named 'seven'; its classes are 0, 1, 2"):
        sample(conditional, 2, digit="seven")


def test_an_unconditional_generator_refuses_a_digit(unconditional):
    with pytest.raises(UserError, match="unconditional .*cannot be asked for a digit"):
        sample(unconditional, 2, digit=7)
    with pytest.raises(UserError, match="unconditional"):
        paddle_dcgan.interpolate(unconditional, 1, 2, steps=3, digits=(1, 2))
    images = sample(unconditional, 3, seed=1)  # the noise of a seed is the same for both kinds
    np.testing.assert_array_equal(images, generate(unconditional, noise_for_seed(1, 3, 16)))


def test_engine_label_checks(conditional, unconditional):
    z = noise_for_seed(0, 3, 16)
    with pytest.raises(UserError, match="unconditional .*takes no labels"):
        DygraphEngine(unconditional)(z, np.array([1, 2, 3]))
    engine = DygraphEngine(conditional)
    assert engine.num_classes == 10
    with pytest.raises(UserError, match="conditional .*pass labels"):
        engine(z)
    with pytest.raises(UserError, match=r"labels of shape \[2\]"):
        engine(z, np.array([1, 2]))
    with pytest.raises(UserError, match=r"labels of shape \[3\] and type float"):
        engine(z, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(UserError, match=r"0\.\.9, got 1\.\.10"):
        engine(z, np.array([1, 2, 10]))
    assert engine(z, np.array([1, 2, 3], np.int32)).shape == (3, 1, 28, 28)


def test_walk_between_digits(conditional):
    walk = paddle_dcgan.interpolate(conditional, 3, 7, steps=5, digits=(1, 4))
    assert walk.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(walk[0], sample(conditional, 1, seed=3, digit=1)[0], atol=1e-6)
    np.testing.assert_allclose(walk[-1], sample(conditional, 1, seed=7, digit=4)[0], atol=1e-6)
    # in the middle the label is half a 1 and half a 4
    z = paddle_dcgan.sampling.sample.slerp(noise_for_seed(3, 1, 16)[0], noise_for_seed(7, 1, 16)[0], np.array([0.5]))
    mix = np.zeros((1, 10), np.float32)
    mix[0, [1, 4]] = 0.5
    np.testing.assert_allclose(walk[2], generate(conditional, z, mix)[0], atol=1e-6)
    # without digits the ends are what the two seeds draw
    default = paddle_dcgan.interpolate(conditional, 3, 7, steps=4)
    np.testing.assert_allclose(default[0], sample(conditional, 1, seed=3)[0], atol=1e-6)
    np.testing.assert_allclose(default[-1], sample(conditional, 1, seed=7)[0], atol=1e-6)
    with pytest.raises(UserError, match="digit must be an integer from 0 to 9"):
        paddle_dcgan.interpolate(conditional, 3, 7, digits=(1, 11))
    with pytest.raises(UserError, match="two classes"):
        paddle_dcgan.interpolate(conditional, 3, 7, digits=(1,))


def test_infer_digit_and_digit_grid(tiny_cond_run, tmp_path):
    result = run_tool("infer.py", "--run", str(tiny_cond_run), "--digit", "7", "-n", "8", "--npy", "--out",
                      str(tmp_path), cwd=tmp_path)
    assert "8 digits" in result.stdout and "grid_seed0_digit7.png" in result.stdout
    generator, _ = load_generator(tiny_cond_run)
    expected = np.clip(np.rint((sample(generator, 8, seed=0, digit=7) + 1) * 127.5), 0, 255)
    assert np.abs(np.load(tmp_path / "samples_seed0_digit7.npy").astype(int) - expected).max() <= 1

    run_tool("infer.py", "--run", str(tiny_cond_run), "--digit-grid", "--seed", "2", "--out", str(tmp_path), cwd=tmp_path)
    grid = np.asarray(Image.open(tmp_path / "digit_grid_seed2.png"))[::3, ::3]
    assert grid.shape == (10 * 30 + 2, 10 * 30 + 2)
    for digit in (0, 6):  # row d: digit d drawn from the noise of sample(G, 10, seed=2)
        row = np.clip(np.rint((sample(generator, 10, seed=2, digit=digit)[:, 0] + 1) * 127.5), 0, 255)
        for column in (0, 9):
            y, x = 2 + 30 * digit, 2 + 30 * column
            assert np.abs(grid[y:y + 28, x:x + 28].astype(int) - row[column]).max() <= 1


def test_infer_walk_between_digits(tiny_cond_run, tmp_path):
    run_tool("infer.py", "--run", str(tiny_cond_run), "--interpolate", "3", "7", "--digits", "1", "4", "--steps", "4",
             "--out", str(tmp_path), cwd=tmp_path)
    assert Image.open(tmp_path / "interpolate_seed3_seed7_digits1_4.gif").n_frames == 6


def test_infer_conditional_errors(tiny_cond_run, tiny_plain_run, tmp_path):
    out = ["--out", str(tmp_path / "o")]
    cond = ["--run", str(tiny_cond_run), *out]
    assert_one_line_error(run_tool("infer.py", *cond, "--digit", "10", cwd=tmp_path, check=False),
                          "digit must be an integer from 0 to 9 (or a class name), got 10")
    assert_one_line_error(run_tool("infer.py", "--run", str(tiny_plain_run), *out, "--digit", "3", cwd=tmp_path,
                                   check=False), "unconditional", "cannot be asked for a digit")
    assert_one_line_error(run_tool("infer.py", "--run", str(tiny_plain_run), *out, "--digit-grid", cwd=tmp_path,
                                   check=False), "needs a conditional generator")
    assert_one_line_error(run_tool("infer.py", *cond, "--digits", "1", "2", cwd=tmp_path, check=False),
                          "--digits A B goes with --interpolate")
    assert_one_line_error(run_tool("infer.py", *cond, "--digit-grid", "--digit", "2", cwd=tmp_path, check=False),
                          "--digit-grid")
    assert not (tmp_path / "o").exists()


def test_paddle_hub_loads_a_conditional_generator(tiny_cond_run):
    generator = paddle.hub.load(str(ROOT), "generator", source="local", run=str(tiny_cond_run))
    assert generator.num_classes == 10 and not generator.training
    z, ids = paddle.to_tensor(noise_for_seed(0, 4, 16)), paddle.full([4], 7, "int64")
    with paddle.no_grad():
        np.testing.assert_array_equal(generator(z, ids).numpy(), sample(generator, 4, seed=0, digit=7))


def test_resume_refuses_another_num_classes(tiny_cond_run, tiny_data, tmp_path):
    result = run_tool("train.py", "-o", *TINY, f"data.dir={tiny_data}", "train.epochs=3", "model.num_classes=0",
                      "--resume", str(tiny_cond_run), cwd=tmp_path, check=False)
    assert_one_line_error(result, "model.num_classes=10", "the config says 0")


def test_recipe_levers_apply_to_a_conditional_run(tiny_data, tmp_path):
    """EMA, recomputed BatchNorm statistics and label smoothing with configs/cdcgan.yaml: the sampling
    generator is the conditional average, and loading the checkpoint rebuilds generator.pdparams."""
    run_tool("train.py", "-c", str(ROOT / "configs/cdcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}",
             "train.epochs=1", "train.ema_decay=0.9", "model.sample_bn=recomputed", "train.real_label=0.9",
             cwd=tmp_path)
    run = tmp_path / "output" / "cdcgan"
    saved = load_checkpoint(list_checkpoints(run)[-1])
    assert saved["ema"]["updates"] == 10 and saved["config"]["model"]["num_classes"] == 10
    from_file, info = load_generator(run)
    from_checkpoint, _ = load_generator(list_checkpoints(run)[-1])
    assert from_file.num_classes == 10 and info.model["sample_bn"] == "recomputed"
    for key, value in from_file.state_dict().items():
        np.testing.assert_array_equal(from_checkpoint.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    sevens = sample(from_file, 4, seed=1, digit=7)
    np.testing.assert_array_equal(sample(from_checkpoint, 4, seed=1, digit=7), sevens)
