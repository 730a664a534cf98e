"""How a conditional D uses the class (model.conditioning): planes, projection, classifier and its class term."""

import copy

import numpy as np
import paddle
import pytest

from paddle_dcgan import kernels as kernel_layers
from paddle_dcgan.config import RESUME_KEYS, load_config
from paddle_dcgan.core.models import Discriminator, build_models
from paddle_dcgan.core.steps import Objective, discriminator_step, generator_step, split_output
from paddle_dcgan.data.mnist import SUBSET_DIR, load_folder
from paddle_dcgan.errors import UserError
from paddle_dcgan.random_streams import noise

from conftest import TINY


def _digits(n: int = 64):
    x, y = load_folder(SUBSET_DIR, "train")
    return paddle.to_tensor(x[:n, None].astype("float32") / 127.5 - 1), paddle.to_tensor(y[:n].astype("int64"))


def test_what_each_discriminator_gives():
    paddle.seed(0)
    images, labels = paddle.randn([3, 1, 28, 28]), paddle.to_tensor([1, 2, 3])
    assert Discriminator(28, 8, num_classes=10)(images, labels).shape == [3]
    classifier = Discriminator(28, 8, num_classes=10, conditioning="classifier")
    out = classifier(images, labels)
    logit, classes = split_output(out)
    assert out.shape == [3, 11] and logit.shape == [3] and classes.shape == [3, 10]
    np.testing.assert_array_equal(classifier(images, paddle.to_tensor([7, 7, 7])).numpy(), out.numpy())  # label-blind
    # projection: the shared logit plus the image's class's own, i.e. a classifier read-out's column 0 + column 1 + y
    projection = Discriminator(28, 8, num_classes=10, conditioning="projection")
    classifier.set_state_dict(projection.state_dict())
    both = classifier(images, labels).numpy()
    expected = both[:, 0] + both[np.arange(3), 1 + labels.numpy()]
    np.testing.assert_allclose(projection(images, labels).numpy(), expected, rtol=1e-6, atol=1e-6)
    weights = paddle.nn.functional.one_hot(labels, 10)  # class weights: the same as the ids they spell
    np.testing.assert_allclose(projection(images, weights).numpy(), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="conditioning"):
        Discriminator(28, 8, num_classes=10, conditioning="concat")


def _accuracy(class_logits, labels) -> float:
    return float((class_logits.argmax(axis=1) == labels).astype("float32").mean())


def test_the_class_term_teaches_d_the_digits_and_pulls_g_towards_the_digit_asked_for():
    """With the class term a classifier D learns to name real digits it is not told (without the term it stays near
    chance); then G steps with the term make D read G's fakes as the digits asked for far more often."""
    real, real_labels = _digits()
    fake_labels = paddle.arange(64, dtype="int64") % 10
    z = noise(0, 0, 0, 64, 16)
    accuracy, discriminators = {}, {}
    for weight in (0.0, 1.0):
        paddle.seed(0)
        g, d = build_models(28, 16, 8, 16, num_classes=10, conditioning="classifier")
        opt_d = paddle.optimizer.Adam(2e-3, parameters=d.parameters())
        for _ in range(40):
            discriminator_step(g, d, opt_d, real, z, real_labels, fake_labels, Objective(class_weight=weight))
        d.eval()
        with paddle.no_grad():
            accuracy[weight] = _accuracy(split_output(d(real, real_labels))[1], real_labels)
        discriminators[weight] = d
    assert accuracy[1.0] > 0.9 and accuracy[0.0] < 0.4, accuracy

    d = discriminators[1.0]
    read_as_asked = {}
    for weight in (0.0, 1.0):
        paddle.seed(1)
        g, _ = build_models(28, 16, 8, 16, num_classes=10)
        opt_g = paddle.optimizer.Adam(2e-3, parameters=g.parameters())
        for _ in range(30):
            generator_step(d, opt_g, g(z, fake_labels), fake_labels, Objective(class_weight=weight))
        with paddle.no_grad():
            read_as_asked[weight] = _accuracy(split_output(d(g(z, fake_labels), fake_labels))[1], fake_labels)
    assert read_as_asked[1.0] > read_as_asked[0.0] + 0.3, read_as_asked


@pytest.mark.parametrize("conditioning", ["projection", "classifier"])
def test_the_faster_layers_give_what_the_stock_discriminator_gives(conditioning):
    try:
        operators = kernel_layers.load()
    except kernel_layers.KernelsUnavailable as why:
        pytest.skip(f"oneDNN kernels unavailable here: {why}")
    paddle.seed(0)
    stock = Discriminator(28, 16, num_classes=10, conditioning=conditioning)
    fast = copy.deepcopy(stock)
    kernel_layers.apply(fast, operators)
    assert kernel_layers.applied(fast)[-1] == "GemmConv2D"
    real, labels = _digits(16)
    outputs, grads = [], []
    for net in (stock, fast):
        x = real.clone()
        x.stop_gradient = False
        out = net(x, labels)
        (out * out).sum().backward()
        outputs.append(out.numpy())
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5 * np.abs(outputs[0]).max())
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-5 * np.abs(grads[0]).max())


@pytest.mark.parametrize("overrides, fragment", [
    (["model.conditioning=concat"], "planes | projection | planes\\+projection | classifier"),
    (["train.class_loss=0"], "above 0"),
    (["train.class_loss=11"], "at most 10"),
])
def test_conditioning_config_checks(overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        load_config(None, overrides)


def test_a_classifier_run_resumes_exactly_and_its_keys_bind_the_resume(tiny_data, tmp_path, monkeypatch):
    """Stopped by Ctrl-C and resumed, a run with a classifier D ends bit-identical to an unbroken one; a projection
    D trains other weights; a resume with another class weight or another conditioning is refused."""
    from test_faults import _after_step, _ctrl_c
    from test_recipe import _generator

    from paddle_dcgan.training.interrupt import TrainingStopped
    from paddle_dcgan.training.run import train

    assert {"model.conditioning", "train.class_loss"} <= set(RESUME_KEYS)

    def cfg(name, *extra):
        return load_config(None, [*TINY, f"data.dir={tiny_data}", f"output_dir={tmp_path}", f"run_name={name}",
                                  "train.epochs=3", "model.num_classes=10", *extra])

    recipe = ("model.conditioning=classifier", "train.class_loss=0.5")
    whole = train(cfg("whole", *recipe))
    _after_step(monkeypatch, 17, _ctrl_c)
    with pytest.raises(TrainingStopped):
        train(cfg("split", *recipe))
    monkeypatch.undo()
    for other in (("model.conditioning=classifier", "train.class_loss=0.2"), ("model.conditioning=projection",)):
        with pytest.raises(UserError, match=other[-1].split("=")[0]):
            train(cfg("split", *other), resume="latest")
    train(cfg("split", *recipe), resume="latest")
    assert np.array_equal(_generator(tmp_path / "split"), _generator(whole))
    assert (tmp_path / "split" / "history.csv").read_text() == (whole / "history.csv").read_text()
    projection = train(cfg("projection", "model.conditioning=projection"))
    assert not np.array_equal(_generator(whole), _generator(projection))
    # the class weight is unused without a classifier D: another one does not stop a projection run's resume
    longer = train(cfg("projection", "model.conditioning=projection", "train.class_loss=0.2", "train.epochs=4"),
                   resume="latest")
    assert len((longer / "history.csv").read_text().splitlines()) > len((whole / "history.csv").read_text().splitlines())
