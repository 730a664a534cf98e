"""The recipe levers on tiny nets: weight averaging, BatchNorm statistics for sampling, label smoothing."""

import copy
import warnings

import numpy as np
import paddle
import pytest

from paddle_dcgan.config import OptimConfig, TrainConfig
from paddle_dcgan.training.ema import WeightAverage, decay_schedule, ramped_decay, warmed_up_decay
from paddle_dcgan.core.models import Discriminator, Generator, build_models
from paddle_dcgan.random_streams import STREAM_BATCHNORM, noise
from paddle_dcgan.sampling.batchnorm import for_sampling, recompute_batchnorm
from paddle_dcgan.core.steps import Objective, discriminator_loss, discriminator_step, generator_loss


def _tiny_generator(seed=0):
    paddle.seed(seed)
    generator, _ = build_models(28, nz=8, ngf=4, ndf=4)
    return generator


def _numpy_state(net):
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def test_warmed_up_decay():
    assert warmed_up_decay(0.999, 0) == pytest.approx(0.1)  # the first update nearly copies the net
    assert warmed_up_decay(0.999, 90) == pytest.approx(0.91)
    assert warmed_up_decay(0.99, 10_000) == 0.99


def test_ramped_decay_halves_an_old_step_after_the_half_life():
    # full half-life: after 10,000 images (156.25 steps of 64) an old step's weight is halved
    decay = ramped_decay(10_000, 0.0, 64, 5)
    assert decay ** (10_000 / 64) == pytest.approx(0.5)
    # ramp-up: after 10 steps (640 images) the half-life is 5 % of them, 32 images
    assert ramped_decay(10_000, 0.05, 64, 9) == pytest.approx(0.5 ** (64 / 32))
    assert ramped_decay(10_000, 0.05, 64, 0) < 1e-5  # the first update copies the net
    # the cap lifts once 5 % of the images seen exceed the half-life: 200,000 images = 3,125 steps
    assert ramped_decay(10_000, 0.05, 64, 3_200) == ramped_decay(10_000, 0.0, 64, 3_200)
    assert ramped_decay(10_000, 0.05, 64, 1_000) < ramped_decay(10_000, 0.05, 64, 2_000) < decay


def test_decay_schedule_follows_the_config():
    assert decay_schedule(TrainConfig(ema_halflife=0)) is None
    assert decay_schedule(TrainConfig())(10**6) == ramped_decay(5000, 0.05, 64, 10**6)  # the default: half-life 5,000
    fixed = decay_schedule(TrainConfig(ema_decay=0.999, ema_halflife=0))
    assert fixed(0) == warmed_up_decay(0.999, 0) and fixed(10**6) == 0.999
    ramped = decay_schedule(TrainConfig(ema_halflife=5000, ema_rampup=0.1, batch_size=32))
    assert ramped(7) == ramped_decay(5000, 0.1, 32, 7)
    generator = _tiny_generator()
    average = WeightAverage(generator, ramped)
    with paddle.no_grad():
        for p in generator.parameters():
            p.set_value(p + 1.0)
    before = _numpy_state(average.average)
    average.update()  # ramped(0): the half-life is 3.2 images, a step of 32 nearly copies the net
    for key, value in _numpy_state(average.average).items():
        d = ramped(0)
        np.testing.assert_allclose(value, d * before[key] + (1 - d) * generator.state_dict()[key].numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_weight_average_trails_the_net():
    generator = _tiny_generator()
    average = WeightAverage(generator, _fixed(0.9))
    start = _numpy_state(generator)
    with paddle.no_grad():
        for p in generator.parameters():
            p.set_value(p + 1.0)
    average.update()  # decay 0.1 at the first update: 90 % of the way to the new weights
    moved = _numpy_state(average.average)
    for key, value in start.items():
        trained = generator.state_dict()[key].numpy()
        np.testing.assert_allclose(moved[key], 0.1 * value + 0.9 * trained, rtol=1e-6, atol=1e-6)
    assert average.updates == 1 and average.average is not generator


def _fixed(decay: float):
    """train.ema_decay's schedule: ``decay``, warmed up."""
    return lambda updates: warmed_up_decay(decay, updates)


def test_weight_average_follows_weights_loaded_and_statistics_moved_in_place():
    """The average keeps trailing the net after its weights are loaded from elsewhere (a resume) and after
    a training forward moves BatchNorm's running statistics."""
    generator = _tiny_generator()
    average = WeightAverage(generator, lambda updates: 0.5)
    generator.set_state_dict(_tiny_generator(seed=9).state_dict())
    generator.train()
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generator(paddle.randn([4, generator.nz, 1, 1]))
    before, trained = _numpy_state(average.average), _numpy_state(generator)
    average.update()
    after = _numpy_state(average.average)
    assert not np.array_equal(trained["blocks.0.1._mean"], before["blocks.0.1._mean"])
    for key, value in after.items():
        np.testing.assert_allclose(value, 0.5 * before[key] + 0.5 * trained[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_weight_average_state_round_trip():
    generator = _tiny_generator()
    average = WeightAverage(generator, _fixed(0.99))
    with paddle.no_grad():
        generator.parameters()[0].set_value(generator.parameters()[0] * 3)
    average.update()
    restored = WeightAverage(_tiny_generator(seed=5), _fixed(0.99))
    restored.set_state_dict(copy.deepcopy(average.state_dict()))
    assert restored.updates == 1
    for key, value in _numpy_state(average.average).items():
        np.testing.assert_array_equal(restored.average.state_dict()[key].numpy(), value)


def test_recomputed_statistics_are_those_of_the_first_layer_input():
    generator = _tiny_generator()
    recompute_batchnorm(generator, seed=3, batches=2, batch_size=32)
    # the first BatchNorm sees G's projection of z, which needs no normalisation upstream
    projection, norm = generator.blocks[0][0], generator.blocks[0][1]
    with paddle.no_grad():
        x = paddle.concat([projection(noise(3, STREAM_BATCHNORM, b, 32, 8)) for b in range(2)]).numpy()
    np.testing.assert_allclose(norm._mean.numpy(), x.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(norm._variance.numpy(), x.var(axis=(0, 2, 3)), rtol=1e-3, atol=1e-6)
    assert generator.training  # the mode it was in


def test_for_sampling_policies():
    generator = _tiny_generator()
    before = _numpy_state(generator)
    assert for_sampling(generator, "running", 0) is generator
    prepared = for_sampling(generator, "recomputed", 0)
    assert prepared is not generator and not prepared.training
    for key, value in _numpy_state(generator).items():
        np.testing.assert_array_equal(value, before[key])  # the trained net is untouched
    after = _numpy_state(prepared)
    assert not np.allclose(after["blocks.0.1._mean"], before["blocks.0.1._mean"])  # fresh statistics
    np.testing.assert_array_equal(after["blocks.0.0.weight"], before["blocks.0.0.weight"])
    again = _numpy_state(for_sampling(generator, "recomputed", 0))
    for key, value in after.items():
        np.testing.assert_array_equal(again[key], value)  # a pure function of the weights and the seed
    with pytest.raises(ValueError):
        for_sampling(generator, "batch", 0)


def test_real_label_smooths_the_real_target():
    paddle.seed(0)
    generator, discriminator = Generator(28, 8, 4), Discriminator(28, 4)
    real = paddle.zeros([4, 1, 28, 28])
    z = noise(0, 0, 0, 4, 8)
    losses = {}
    for label in (1.0, 0.9):
        d = copy.deepcopy(discriminator)
        opt = paddle.optimizer.Adam(1e-4, parameters=d.parameters())
        _, stats = discriminator_step(generator, d, opt, real, z, objective=Objective(real_target=label))
        losses[label] = stats["loss_d"]
    # with logit l for the reals, the target 0.9 adds 0.1 * l to the BCE of each real image
    with paddle.no_grad():
        logit = discriminator(real).numpy()
    assert losses[0.9] - losses[1.0] == pytest.approx(0.1 * logit.mean(), rel=1e-3, abs=1e-5)


def test_hinge_loss():
    real, fake = paddle.to_tensor([2.0, 0.5, -1.0]), paddle.to_tensor([-3.0, 0.0, 0.5])
    # D: mean(max(0, 1 - real)) + mean(max(0, 1 + fake)) = (0 + 0.5 + 2) / 3 + (0 + 1 + 1.5) / 3
    assert float(discriminator_loss(real, fake, loss="hinge")) == pytest.approx(5.0 / 3)
    assert float(generator_loss(fake, loss="hinge")) == pytest.approx(2.5 / 3)
    bce = float(discriminator_loss(real, fake))
    assert bce == pytest.approx(float(np.mean(np.log1p(np.exp(-real.numpy())))
                                      + np.mean(np.log1p(np.exp(fake.numpy())))), rel=1e-5)


def test_hinge_and_halflife_average_resume_exactly(tiny_data, tmp_path, monkeypatch):
    """A run with train.loss=hinge and a half-life average, stopped by Ctrl-C and resumed, ends bit-identical
    to an unbroken one, average included; the hinge run trains other weights than the cross-entropy one."""
    from test_faults import _after_step, _ctrl_c

    from paddle_dcgan.training.interrupt import TrainingStopped
    from paddle_dcgan.training.run import train

    def cfg(name, *extra):
        from conftest import TINY
        from paddle_dcgan.config import load_config

        return load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"run_name={name}",
                                  "train.epochs=3", *extra])

    recipe = ("train.loss=hinge", "train.ema_halflife=200", "model.sample_bn=recomputed")
    whole = train(cfg("whole", *recipe))
    _after_step(monkeypatch, 17, _ctrl_c)
    with pytest.raises(TrainingStopped):
        train(cfg("split", *recipe))
    monkeypatch.undo()
    train(cfg("split", *recipe), resume="latest")
    assert np.array_equal(_generator(tmp_path / "split"), _generator(whole))
    assert (tmp_path / "split" / "history.csv").read_text() == (whole / "history.csv").read_text()
    bce = train(cfg("bce", "train.ema_halflife=200", "model.sample_bn=recomputed"))
    assert not np.array_equal(_generator(whole), _generator(bce))
    plain = train(cfg("plain", "train.loss=hinge"))  # no average: generator.pdparams holds the trained weights
    assert not np.array_equal(_generator(whole), _generator(plain))


def _trainer(tiny_data, out, *extra):
    from conftest import TINY
    from paddle_dcgan.config import load_config
    from paddle_dcgan.training.run import Trainer

    return Trainer(load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={out}", "run_name=lr", *extra]))


def test_learning_rates_fall_to_zero_over_the_last_share_of_the_run(tiny_data, tmp_path):
    trainer = _trainer(tiny_data, tmp_path, "train.epochs=10", "optim.lr_decay=0.5")  # 10 steps an epoch
    assert trainer.total_steps == 100
    factors = [trainer.learning_rate_factor(s) for s in range(100)]
    assert factors[:51] == [1.0] * 51 and factors[75] == 0.5 and factors[99] == pytest.approx(0.02)
    assert all(a > b for a, b in zip(factors[50:], factors[51:]))
    assert _trainer(tiny_data, tmp_path, "train.epochs=10").learning_rate_factor(99) == 1.0  # lr_decay 0: constant


def test_a_decayed_run_stopped_in_its_decay_resumes_exactly(tiny_data, tmp_path, monkeypatch):
    """Stopped by Ctrl-C inside the decay and resumed, a run with optim.lr_decay ends bit-identical to an unbroken
    one; the optimisers end at the schedule's last rate; without the decay the weights end elsewhere."""
    from test_faults import _after_step, _ctrl_c

    from paddle_dcgan.training.interrupt import TrainingStopped
    from paddle_dcgan.training.run import Trainer, train

    def cfg(name, *extra):
        from conftest import TINY
        from paddle_dcgan.config import load_config

        return load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"run_name={name}",
                                  "train.epochs=4", *extra])

    whole = train(cfg("whole", "optim.lr_decay=0.5"))  # 40 steps: constant to step 20, then down to 0
    last = {}
    _after_step(monkeypatch, 27, _ctrl_c)
    with pytest.raises(TrainingStopped):
        train(cfg("split", "optim.lr_decay=0.5"))
    monkeypatch.undo()
    _after_step(monkeypatch, 39, lambda trainer: last.update(lr=trainer.opt_g.get_lr()))
    train(cfg("split", "optim.lr_decay=0.5"), resume="latest")
    assert np.array_equal(_generator(tmp_path / "split"), _generator(whole))
    split_history = (tmp_path / "split" / "history.csv").read_text()
    assert split_history == (whole / "history.csv").read_text() and len(split_history.splitlines()) == 41
    assert last["lr"] == pytest.approx(OptimConfig().lr_g / 20)  # the 40th step (index 39) trains at 1/20 of optim.lr_g
    constant = train(cfg("constant"))
    assert not np.array_equal(_generator(whole), _generator(constant))
    assert "constant to step 20, then falling linearly to 0 at step 40" in (whole / "train.log").read_text()


def _generator(run):
    from paddle_dcgan.sampling.load import load_generator

    return np.concatenate([v.numpy().ravel() for v in load_generator(run)[0].state_dict().values()])
