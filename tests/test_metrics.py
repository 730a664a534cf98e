"""Metric code on cases whose answers are known."""

import numpy as np
import pytest

from paddle_dcgan.evaluation import metrics


@pytest.fixture
def feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))


def test_fid_of_a_set_with_itself_is_zero(feats):
    assert abs(metrics.frechet_distance(feats, feats)) < 1e-6


def test_fid_grows_with_shift_and_blur(feats):
    rng = np.random.default_rng(1)
    other = feats[rng.permutation(len(feats))[:1000]]
    base = metrics.frechet_distance(feats, other)
    shifted = [metrics.frechet_distance(feats, other + s) for s in (0.5, 1.0, 2.0)]
    assert base < shifted[0] < shifted[1] < shifted[2]
    # the mean term alone for a shift of s in every one of 16 dims is 16 s^2
    assert shifted[2] == pytest.approx(base + 16 * 4.0, rel=0.05)
    blurred = 0.5 * other + 0.5 * other.mean(0)  # shrink towards the mean, like a blur does to pixels
    assert metrics.frechet_distance(feats, blurred) > base + 1.0


def test_fid_matches_the_closed_form_for_gaussians():
    # N(0, I) vs N(0, 4I) in d dims: tr(I + 4I - 2*2I) = d
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200000, 4))
    b = 2 * rng.normal(size=(200000, 4))
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.02)


def test_mnist_score_bounds():
    uniform = np.full((1000, 10), 0.1)
    assert metrics.mnist_score(uniform)[0] == pytest.approx(1.0)
    confident = np.full((1000, 10), 1e-6)
    confident[np.arange(1000), np.arange(1000) % 10] = 1 - 9e-6
    mean, std = metrics.mnist_score(confident)
    assert mean == pytest.approx(10.0, rel=1e-3) and std < 1e-3
    one_class = np.zeros((1000, 10))
    one_class[:, 3] = 1.0
    assert metrics.mnist_score(one_class)[0] == pytest.approx(1.0)


def test_collapsed_generator_coverage():
    probs = np.zeros((500, 10))
    probs[:, 7] = 1.0
    cov = metrics.class_coverage(probs)
    assert cov["classes_covered"] == 1 and cov["kl_to_uniform"] == pytest.approx(np.log(10))
    assert cov["histogram"][7] == 500
    balanced = np.eye(10)[np.arange(500) % 10]
    assert metrics.class_coverage(balanced) == {"histogram": [50] * 10, "classes_covered": 10,
                                                 "kl_to_uniform": pytest.approx(0.0)}


def test_precision_recall(feats):
    assert metrics.precision_recall(feats[:500], feats[:500]) == (1.0, 1.0)
    far = feats[:500] + 1000.0
    assert metrics.precision_recall(feats[:500], far) == (0.0, 0.0)
    # a generator that covers only half of the real distribution: precise, but low recall
    real = feats[:1000]
    half = real[np.argsort(real[:, 0])[:500]]  # real points, but only the lower half along one axis
    precision, recall = metrics.precision_recall(real, half)
    assert precision == 1.0 and 0.5 <= recall < 0.8  # the lower half is covered, most of the upper is not


def test_knn_radius_excludes_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(metrics._knn_radii(points, k=1), [1.0, 1.0, 2.0, 4.0])
