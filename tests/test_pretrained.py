"""The generator that ships in the package: digits right after install, offline, from every entry point."""

from __future__ import annotations

import numpy as np
import paddle

import paddle_dcgan
from conftest import ROOT, run_tool
from paddle_dcgan.evaluation.classifier import default_classifier_path, load_classifier
from paddle_dcgan.evaluation.evaluate import to_classifier_input
from paddle_dcgan.visualize import to_uint8


def test_the_shipped_generator_draws_the_digit_asked_for():
    """100 samples of each digit, read by the shipped MNIST classifier: at least 95 % as asked."""
    generator, info = paddle_dcgan.load_pretrained()
    assert info.model["num_classes"] == 10 and info.scores["conditional_accuracy"] >= 0.95
    classifier = load_classifier(default_classifier_path("mnist"))
    images = np.concatenate([paddle_dcgan.sample(generator, 100, seed=1, digit=d) for d in range(10)])
    _, probs = classifier.run(to_classifier_input(images))
    read = probs.argmax(1)
    asked = np.repeat(np.arange(10), 100)
    assert (read == asked).mean() >= 0.95, (read == asked).mean()


def test_infer_and_paddle_hub_give_the_shipped_generator(tmp_path):
    result = run_tool("infer.py", "--pretrained", "--digit", "7", "-n", "16", "--npy", "--out", str(tmp_path / "out"),
                      cwd=tmp_path)
    samples = np.load(next((tmp_path / "out").glob("*.npy")))
    generator, _ = paddle_dcgan.load_pretrained()
    np.testing.assert_array_equal(samples, to_uint8(paddle_dcgan.sample(generator, 16, seed=0, digit=7)))
    assert "Traceback" not in result.stderr
    hub = paddle.hub.load(str(ROOT), "generator", source="local", pretrained=True)
    z = paddle.randn([4, hub.nz, 1, 1])
    labels = paddle.full([4], 3, "int64")
    with paddle.no_grad():
        np.testing.assert_array_equal(hub(z, labels).numpy(), generator(z, labels).numpy())
