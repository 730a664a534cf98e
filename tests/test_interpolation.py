"""Latent walks: slerp, interpolate() and tools/infer.py --interpolate."""

import numpy as np
import paddle
import pytest
from PIL import Image

import paddle_dcgan
from paddle_dcgan.errors import UserError
from paddle_dcgan.core.models import build_models
from paddle_dcgan.sampling.sample import noise_for_seed, sample, slerp

from conftest import assert_one_line_error, run_tool


def _angle(u, v):
    return np.arccos(np.clip(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), -1, 1))


def test_slerp_follows_the_arc():
    a, b = noise_for_seed(3, 1, 100)[0], noise_for_seed(7, 1, 100)[0]
    t = np.linspace(0, 1, 9)
    path = slerp(a, b, t)
    assert path.shape == (9, 100, 1, 1) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    # the straight line's middle is shorter than both ends: slerp's is not
    middle = np.linalg.norm(path[4])
    assert middle > 1.2 * np.linalg.norm((a + b) / 2) and middle > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))
    # between vectors of one length: equal steps of angle, constant length
    b = b * (np.linalg.norm(a) / np.linalg.norm(b))
    flat_a, flat_b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    omega = _angle(flat_a, flat_b)
    for fraction, point in zip(t, slerp(a, b, t)):
        point = point.ravel().astype(np.float64)
        assert _angle(flat_a, point) == pytest.approx(fraction * omega, abs=1e-5)
        assert _angle(point, flat_b) == pytest.approx((1 - fraction) * omega, abs=1e-5)
        assert np.linalg.norm(point) == pytest.approx(np.linalg.norm(flat_a), rel=1e-5)


def test_slerp_of_parallel_vectors_is_the_straight_line():
    a = np.ones((4, 1, 1), np.float32)
    np.testing.assert_allclose(slerp(a, 3 * a, np.array([0.0, 0.5, 1.0]))[:, :, 0, 0], [[1] * 4, [2] * 4, [3] * 4])


@pytest.fixture(scope="module")
def generator():
    paddle.seed(0)
    net, _ = build_models(28, 16, 8, 8)
    return net


def test_interpolate_ends_at_the_sampled_digits(generator):
    walk = paddle_dcgan.interpolate(generator, 3, 7, steps=6)
    assert walk.shape == (6, 1, 28, 28) and walk.dtype == np.float32
    assert walk.min() >= -1 and walk.max() <= 1
    np.testing.assert_allclose(walk[0], sample(generator, 1, seed=3)[0], atol=1e-6)
    np.testing.assert_allclose(walk[-1], sample(generator, 1, seed=7)[0], atol=1e-6)
    steps = np.abs(np.diff(walk, axis=0)).max(axis=(1, 2, 3))
    assert (steps > 0).all()  # every image differs from the one before
    assert generator.training  # put back in the mode it was in


@pytest.mark.parametrize("seed_a, seed_b, steps, message", [
    (3, 7, 1, "steps must be an integer from 2"), (3, 7, 257, "from 2 to 256"), (-1, 7, 5, "seed must be"),
    (3, -2, 5, "seed must be"), (3, 7, True, "steps must be")])
def test_interpolate_rejects_bad_input(generator, seed_a, seed_b, steps, message):
    with pytest.raises(UserError, match=message):
        paddle_dcgan.interpolate(generator, seed_a, seed_b, steps)


def test_infer_interpolate_writes_strip_and_gif(tiny_run, tmp_path):
    result = run_tool("infer.py", "--run", str(tiny_run), "--interpolate", "3", "7", "--steps", "5", "--out",
                      str(tmp_path), cwd=tmp_path)
    assert "5-step walk" in result.stdout
    strip = Image.open(tmp_path / "interpolate_seed3_seed7.png")
    assert strip.size == ((5 * 30 + 2) * 3, 32 * 3)  # one row of 28-pixel digits with 2-pixel frames, 3x
    gif = Image.open(tmp_path / "interpolate_seed3_seed7.gif")
    assert gif.n_frames == 8 and gif.size == (28 * 4, 28 * 4)  # there and back: 5 + 3 frames
    # the strip's first digit is seed 3's sample, the last seed 7's
    generator, _ = paddle_dcgan.load_generator(tiny_run)
    pixels = np.asarray(strip)[::3, ::3]
    first, last = (paddle_dcgan.sample(generator, 1, seed=s)[0, 0] for s in (3, 7))
    for image, x in ((first, 2), (last, 2 + 4 * 30)):
        expected = np.clip(np.rint((image + 1) * 127.5), 0, 255)
        assert np.abs(pixels[2:30, x:x + 28].astype(int) - expected).max() <= 1


def test_infer_interpolate_errors(tiny_run, tmp_path):
    out = ["--run", str(tiny_run), "--out", str(tmp_path / "o")]
    assert_one_line_error(run_tool("infer.py", *out, "--interpolate", "3", "7", "--steps", "1", cwd=tmp_path,
                                   check=False), "steps must be an integer from 2")
    assert_one_line_error(run_tool("infer.py", *out, "--interpolate", "3", "-7", cwd=tmp_path, check=False),
                          "--interpolate: must be >= 0, got -7")
    assert_one_line_error(run_tool("infer.py", *out, "--interpolate", "3", cwd=tmp_path, check=False),
                          "--interpolate")
    assert not (tmp_path / "o").exists()
