"""Sample-quality metrics on classifier outputs (pure numpy, float64).

- FID (Heusel et al. 2017) in the classifier's 128-d feature space.
- MNIST score: exp(E_x KL(p(y|x) || p(y))), the Inception score with a digit classifier.
- Class coverage: histogram of predicted classes, classes with >= 1 %, KL to uniform.
- Precision / recall with k-NN manifolds (Kynkäänniemi et al. 2019).
- For samples drawn as chosen classes (conditional generators): the share the
  classifier assigns to the chosen class, and the FID of each class.
"""

from __future__ import annotations

import numpy as np

CONDITIONAL_KEY = "conditional_accuracy"  # the headline score of a conditional generator


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(Ca + Cb - 2 (Ca Cb)^(1/2)).

    tr((Ca Cb)^(1/2)) is computed as tr((Ca^(1/2) Cb Ca^(1/2))^(1/2)): the same
    eigenvalues, but of a symmetric PSD matrix, so no complex square roots.
    """
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    cov_a, cov_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    fid = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(fid, 0.0))  # identical sets can round to -1e-6


def mnist_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` parts of exp(E KL(p(y|x) || p(y))); 1 (useless) to K, the number of classes
    (ideal). Fewer than 100 samples per part are taken as fewer parts (at least one)."""
    scores = []
    for part in np.array_split(probs, max(1, min(splits, len(probs) // 100))):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_coverage(probs: np.ndarray, num_classes: int | None = None) -> dict:
    """Histogram of argmax classes, classes with >= 1 % of samples, KL(histogram || uniform)."""
    num_classes = num_classes or probs.shape[1]
    counts = np.bincount(probs.argmax(1), minlength=num_classes)
    freq = counts / counts.sum()
    nonzero = freq[freq > 0]
    return {"histogram": counts.tolist(), "classes_covered": int((freq >= 0.01).sum()),
            "kl_to_uniform": float((nonzero * np.log(nonzero * num_classes)).sum())}


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d, 0, None))


def _knn_radii(feats: np.ndarray, k: int, chunk: int = 2000) -> np.ndarray:
    """Distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(feats))
    for i in range(0, len(feats), chunk):
        d = _pairwise(feats[i:i + chunk], feats)
        radii[i:i + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def _coverage_of(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 2000) -> float:
    inside = np.zeros(len(points), bool)
    for i in range(0, len(points), chunk):
        inside[i:i + chunk] = (_pairwise(points[i:i + chunk], centres) <= radii[None, :]).any(1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold; recall: share of reals inside the fake one."""
    precision = _coverage_of(fake, real, _knn_radii(real, k))
    recall = _coverage_of(real, fake, _knn_radii(fake, k))
    return precision, recall


def all_metrics(real_feats, real_probs, fake_feats, fake_probs, k: int = 3, splits: int = 10) -> dict:
    """Every metric for one (reference, candidate) pair of classifier outputs."""
    score_mean, score_std = mnist_score(fake_probs, splits)
    precision, recall = precision_recall(real_feats, fake_feats, k)
    return {"fid": frechet_distance(real_feats, fake_feats), "mnist_score": score_mean, "mnist_score_std": score_std,
            **class_coverage(fake_probs, fake_probs.shape[1]), "precision": precision, "recall": recall, "num_samples": len(fake_feats)}


def conditional_scores(real_feats: np.ndarray, real_labels: np.ndarray, fake_feats: np.ndarray,
                       fake_probs: np.ndarray, fake_labels: np.ndarray) -> dict:
    """Scores of samples drawn as the classes ``fake_labels`` [N].

    ``conditional_accuracy``: the share of samples whose argmax class is the one they were
    drawn as. ``per_digit_fid``: for each class c, the FID of the samples drawn as c against
    the real images labelled c (``real_labels``); ``per_digit_fid_mean``: their mean.
    """
    per_class = [frechet_distance(real_feats[real_labels == c], fake_feats[fake_labels == c])
                 for c in range(fake_probs.shape[1])]
    return {CONDITIONAL_KEY: float((fake_probs.argmax(1) == fake_labels).mean()),
            "per_digit_fid": per_class, "per_digit_fid_mean": float(np.mean(per_class))}
