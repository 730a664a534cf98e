"""The port against a PyTorch twin with the same weights (skipped when torch is absent)."""

import itertools

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

torch = pytest.importorskip("torch")

from benchmarks.torch_twin import (TwinDiscriminator, TwinGenerator, TwinTrainer, gan_step,  # noqa: E402
                                   to_torch_input)
from paddle_dcgan.config import load_config  # noqa: E402
from paddle_dcgan.core.models import build_models  # noqa: E402
from paddle_dcgan.core.steps import discriminator_step, generator_step  # noqa: E402
from paddle_dcgan.training.run import Trainer  # noqa: E402

from conftest import TINY  # noqa: E402

TOL = dict(rtol=1e-4, atol=1e-5)


def labels_for(num_classes: int, n: int, seed: int) -> tuple:
    """(paddle, torch) class ids [n] for a conditional model, (None, None) for a plain one."""
    if not num_classes:
        return None, None
    y = np.random.default_rng(seed).integers(0, num_classes, n)
    return paddle.to_tensor(y), torch.from_numpy(y)


@pytest.mark.parametrize("size,num_classes", [(28, 0), (32, 0), (64, 0), (28, 10), (32, 10)])
def test_forward_losses_and_gradients_agree(size, num_classes):
    """A conditional D computes its label planes' part per class (models.LabelPlanesConv2D), the twin
    concatenates the planes: the same function."""
    paddle.seed(0)
    g, d = build_models(size, nz=16, ngf=8, ndf=8, num_classes=num_classes)
    tg, td = TwinGenerator(g), TwinDiscriminator(d)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 16, 1, 1), dtype=np.float32)
    real = np.tanh(rng.standard_normal((6, 1, size, size), dtype=np.float32))
    (y_real, t_y_real), (y_fake, t_y_fake) = labels_for(num_classes, 6, 1), labels_for(num_classes, 6, 2)

    fake = g(paddle.to_tensor(z), y_fake)
    t_fake = tg(torch.from_numpy(z), t_y_fake)
    np.testing.assert_allclose(fake.numpy(), t_fake.detach().numpy(), **TOL)

    both = (paddle.concat([y_real, y_fake]), torch.cat([t_y_real, t_y_fake])) if num_classes else (None, None)
    logits = d(paddle.concat([paddle.to_tensor(real), fake]), both[0])
    t_logits = td(torch.cat([torch.from_numpy(real), t_fake]), both[1])
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), **TOL)

    target = np.r_[np.ones(6), np.zeros(6)].astype(np.float32)
    loss = F.binary_cross_entropy_with_logits(logits, paddle.to_tensor(target))
    t_loss = torch.nn.functional.binary_cross_entropy_with_logits(t_logits, torch.from_numpy(target))
    np.testing.assert_allclose(float(loss), t_loss.item(), **TOL)

    loss.backward()
    t_loss.backward()
    for net, twin in ((g, tg), (d, td)):
        t_params = dict(twin.named_parameters())
        for name, p in net.named_parameters():
            if p.stop_gradient:  # BatchNorm running statistics
                continue
            t_grad = t_params[name].grad.numpy()
            scale = max(np.abs(t_grad).max(), 1e-3)  # compare relative to the gradient's size
            np.testing.assert_allclose(p.grad.numpy() / scale, t_grad / scale, rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_training_steps_agree(num_classes):
    """Three full D+G steps with Adam: the losses and D's outputs stay together."""
    paddle.seed(1)
    g, d = build_models(28, nz=16, ngf=8, ndf=8, num_classes=num_classes)
    tg, td = TwinGenerator(g), TwinDiscriminator(d)
    opt_g = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=g.parameters())
    opt_d = paddle.optimizer.Adam(2e-4, beta1=0.5, parameters=d.parameters())
    t_opt_g = torch.optim.Adam(tg.parameters(), 2e-4, betas=(0.5, 0.999))
    t_opt_d = torch.optim.Adam(td.parameters(), 2e-4, betas=(0.5, 0.999))
    rng = np.random.default_rng(1)
    for step in range(3):
        z = rng.standard_normal((8, 16, 1, 1), dtype=np.float32)
        real = np.tanh(rng.standard_normal((8, 1, 28, 28), dtype=np.float32))
        (y_real, t_y_real), (y_fake, t_y_fake) = labels_for(num_classes, 8, 2 * step), labels_for(num_classes, 8, 2 * step + 1)
        fakes, stats = discriminator_step(g, d, opt_d, paddle.to_tensor(real), paddle.to_tensor(z), y_real, y_fake)
        stats.update(generator_step(d, opt_g, fakes, y_fake))
        t_stats = gan_step(tg, td, t_opt_g, t_opt_d, torch.from_numpy(real), torch.from_numpy(z), t_y_real, t_y_fake)
        assert t_stats.keys() == stats.keys()
        for key in stats:
            np.testing.assert_allclose(stats[key], t_stats[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("num_classes", [10, 0])
def test_twin_trainer_runs_the_trainers_loop(tiny_data, tmp_path, restore_package_logger, num_classes):
    """The benchmark's PyTorch column: same weights, batches, noise, fake labels and statistics as
    Trainer.train_step, for the default (conditional) model and the plain one."""
    cfg = load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"model.num_classes={num_classes}"])
    trainer = Trainer(cfg)
    twin = TwinTrainer(trainer)
    pairs = zip(trainer.batches.epoch(0), twin.batches.epoch(0, convert=to_torch_input))
    for (real, labels), (t_real, t_labels) in itertools.islice(pairs, 3):
        np.testing.assert_array_equal(real.numpy(), t_real.numpy())
        stats, t_stats = trainer.train_step(real, labels), twin.train_step(t_real, t_labels)
        assert t_stats == pytest.approx(stats, rel=1e-4, abs=1e-5)
    assert twin.step == trainer.step == 3
    for key, values in trainer.history.steps.items():
        np.testing.assert_allclose(twin.history.steps[key], values, rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("mode", ["channels_last", pytest.param("compile", marks=pytest.mark.slow)])
def test_the_twins_faster_modes_train_as_eager(tiny_data, tmp_path, restore_package_logger, mode):
    """The benchmark's other PyTorch columns: channels_last stores the convolutions' weights and inputs
    channels-last, torch.compile runs compiled nets; both train like the eager twin."""
    cfg = load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", "model.num_classes=10"])
    trainer = Trainer(cfg)
    eager, other = TwinTrainer(trainer), TwinTrainer(trainer, mode)
    if mode == "channels_last":
        convs = [m for m in other.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
        assert not all(m.weight.is_contiguous() for m in convs)
    else:
        assert other.step_nets[0] is not other.generator
    batches = eager.batches.epoch(0, convert=to_torch_input)
    for real, labels in itertools.islice(batches, 3):
        assert other.train_step(real, labels) == pytest.approx(eager.train_step(real, labels), rel=1e-4, abs=1e-5)
    with pytest.raises(ValueError, match="mode must be one of"):
        TwinTrainer(trainer, "jit")
