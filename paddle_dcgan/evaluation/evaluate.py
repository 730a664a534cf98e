"""Score generated digits against real held-out digits, with a real-vs-real floor.

The candidate set (generated images, quantised to 8 bits like real data) and a
second real set drawn from the training split (disjoint from the held-out set)
are both scored against the held-out set, with equal sizes, so the floor shows
what a perfect generator would get on the same scale.

Which real digits (the :class:`Reference`): generators of MNIST digits (trained
on ``mnist``, ``mnist_embedded`` or ``mnist_subset``) are scored by default on the MNIST yardstick
shipped in ``data.YARDSTICK_DIR``: all 10,000 MNIST test digits, with a fixed
10,000 MNIST training digits for the floor and the classifier trained on full
MNIST. Whatever data a generator was trained on, its scores then mean the same.
Other datasets, or an explicit ``--data`` / ``--data-dir``, use a dataset's own
test split.

A conditional generator is asked for an equal number of each digit, and two
scores are added: the conditional accuracy (the share of samples the classifier
assigns to the digit that was asked for) and the FID of each digit (its samples
against the held-out images of that digit). Their floor is the real set scored
with its true labels.

:func:`evaluate` is what ``tools/eval.py`` runs; :func:`make_scorer` is shared
with in-training evaluation.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data import mnist as data
from . import metrics
from ..files.run_folder import run_folder_of
from .classifier import Classifier, classifier_data, find_classifier, folder_dataset
from ..config import IMAGE_SIZES, MAX_SAMPLES, MIN_EVAL_SAMPLES, MNIST_VARIANTS, MNIST_YARDSTICK
from ..device import select_device
from ..errors import UserError
from ..files.arrays import read_npy
from ..files.io import make_folder, write_atomically, write_text
from ..sampling.load import load_generator
from .metrics import CONDITIONAL_KEY
from ..random_streams import EVAL_REAL_SUBSET, keyed, noise_for_seed
from ..sampling.sample import generate, sample
from ..visualize import to_uint8

log = logging.getLogger(__name__)

METRIC_ROWS = (  # key, label, format, which direction is better
    ("fid", "FID (classifier features)", "{:.3f}", "lower"),
    ("mnist_score", "MNIST score (1-10)", "{:.3f}", "higher"),
    ("classes_covered", "classes with >= 1%", "{:d}", "10"),
    ("kl_to_uniform", "class KL to uniform", "{:.4f}", "lower"),
    ("precision", "precision (k=3)", "{:.3f}", "higher"),
    ("recall", "recall (k=3)", "{:.3f}", "higher"),
)
METRIC_KEYS = tuple(row[0] for row in METRIC_ROWS)  # what in-training evaluation records
CONDITIONAL_ROWS = (  # conditional generators only; then also one FID row per digit
    (CONDITIONAL_KEY, "conditional accuracy", "{:.3f}", "higher"),
    ("per_digit_fid_mean", "per-digit FID, mean", "{:.3f}", "lower"),
)


def to_classifier_input(images: np.ndarray) -> np.ndarray:
    """Generated or stored images -> uint8 [N, 1, 28, 28].

    Accepts float in [-1, 1] or uint8, shaped [N, 1, S, S] or [N, S, S] with S in
    (28, 32, 64): 32 drops the 2-pixel padding, 64 is averaged down 2x2 then cropped.
    """
    images = np.asarray(images)
    problem = _samples_problem(images.shape, images.dtype)
    if problem:
        raise UserError(f"samples {problem}")
    if images.ndim == 3:
        images = images[:, None]
    if images.dtype != np.uint8:
        low, high = float(images.min()), float(images.max())
        if not -1.001 <= low <= high <= 1.001:  # written so that NaN fails it too
            raise UserError(f"float samples must be finite and lie in [-1, 1] (the generator's Tanh range), "
                            f"got [{low:.3g}, {high:.3g}]; save uint8 pixels or rescale")
        images = to_uint8(images)  # quantise like real data
    size = images.shape[2]
    if size == 32:
        images = images[:, :, 2:30, 2:30]
    elif size == 64:
        pooled = images.reshape(len(images), 1, 32, 2, 32, 2).mean((3, 5))
        images = np.rint(pooled[:, :, 2:30, 2:30]).astype(np.uint8)
    return np.ascontiguousarray(images)


def to_folder_input(images: np.ndarray, channels: int, size: int) -> np.ndarray:
    """Generated images (float in [-1, 1] or uint8, [N, C, S, S]) -> uint8 [N, channels, size, size], resized
    with the filter data/folder.py reads pictures with, grey repeated or colour turned to luma as needed."""
    from PIL import Image

    from ..data.folder import with_channels

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"samples must be [N, 1 or 3, S, S] images; got shape {list(images.shape)}")
    if images.dtype != np.uint8:
        images = to_uint8(images)
    images = with_channels(images, channels)
    if images.shape[2:] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), channels, size, size), np.uint8)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[0] if channels == 1 else image.transpose(1, 2, 0))
        resized = np.asarray(picture.resize((size, size), Image.LANCZOS))
        out[i] = resized[None] if channels == 1 else resized.transpose(2, 0, 1)
    return out


def _samples_problem(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """What keeps an array of ``shape`` and ``dtype`` from being samples (None if nothing): grey images
    [N, 1, S, S] or [N, S, S], S in 28, 32, 64, uint8 or float, at most MAX_SAMPLES of them."""
    grey = (shape[0], 1, *shape[1:]) if len(shape) == 3 else tuple(shape)
    if len(grey) != 4 or grey[1] != 1 or grey[2] != grey[3] or grey[2] not in IMAGE_SIZES:
        return f"must be [N, 1, S, S] or [N, S, S] grey images with S in 28, 32, 64; got shape {list(shape)}"
    if shape[0] > MAX_SAMPLES:
        return f"has {shape[0]:,} images, more than the {MAX_SAMPLES:,} scored at most; pass fewer"
    if dtype != np.uint8 and dtype.kind != "f":
        return f"must be uint8 or float in [-1, 1], got {dtype}"
    return None


def read_samples(path: str | Path) -> np.ndarray:
    """A ``.npy`` of samples for :func:`evaluate`, read as data only (``files/arrays.py``): a pickle, an object
    array, NaN or inf anywhere, a shape or type that is not samples, or a damaged file is a UserError."""
    return read_npy(Path(path), "samples file", _samples_problem)


@dataclass(frozen=True)
class Reference:
    """The real digits samples are scored against.

    The test split in ``folder`` is the reference set; its training split gives
    the second real set of the floor.
    """

    name: str  # mnist_yardstick, or the dataset's name
    dataset: str  # what the classifier must have been trained on
    folder: Path


YARDSTICK = Reference(MNIST_YARDSTICK, "mnist", data.YARDSTICK_DIR)


def choose_reference(requested: str | None, trained_on: str, data_dir: str = "") -> Reference:
    """The reference named by ``requested`` (a ``--data`` value), or the default for ``trained_on``.

    Args:
        requested: mnist_yardstick or a dataset name; None = the default: the
            MNIST yardstick for a generator of MNIST digits (unless ``data_dir``
            points at a dataset), else the generator's own dataset.
        trained_on: the dataset the generator was trained on (``auto`` when unknown).
        data_dir: a folder with the dataset's IDX files (as ``data.dir``).
    """
    name = requested or (MNIST_YARDSTICK if trained_on in MNIST_VARIANTS and not data_dir else trained_on)
    if name == "folder":
        if not data_dir:
            raise UserError("scoring against a folder of pictures needs the folder: add --data-dir PATH")
        return folder_reference(Path(data_dir))
    if name == MNIST_YARDSTICK:
        if data_dir:
            raise UserError(f"the MNIST yardstick is shipped in the package and takes no --data-dir; drop it, or "
                            f"pass --data mnist to score against the MNIST files in '{data_dir}'")
        return YARDSTICK
    dataset, folder = data.resolve(data.HELD_OUT_AS.get(name, name), data_dir, split="test")
    return Reference(dataset, dataset, folder)


def folder_reference(folder: Path) -> Reference:
    """The held-out pictures of a labelled folder; an unlabelled one cannot be scored (a UserError says why)."""
    from ..data.folder import scan

    if not scan(folder)[2]:
        raise UserError(f"cannot score against '{folder}': FID, precision, recall and class accuracy are measured in "
                        "the features of a classifier trained on the folder's classes, and it has no class "
                        "sub-folders; sort the pictures into one sub-folder per class to score them")
    return Reference("folder", folder_dataset(folder), folder)


def training_reference(setting: str, dataset: str, folder: Path) -> Reference:
    """The reference of in-training evaluation (``eval.reference``) for a run on ``dataset`` in ``folder``."""
    if setting == MNIST_YARDSTICK or (setting == "auto" and dataset in MNIST_VARIANTS):
        return YARDSTICK
    if dataset == "folder":
        return folder_reference(folder)
    held_out = data.HELD_OUT_AS.get(dataset, dataset)
    return Reference(held_out, held_out, folder)


@dataclass
class RealSets:
    """Held-out reference images and a disjoint real set of the same size from the training split,
    uint8 [n, 1, 28, 28] each, with their labels int64 [n]."""

    held_out: np.ndarray
    other: np.ndarray
    held_out_labels: np.ndarray
    other_labels: np.ndarray

    @classmethod
    def load(cls, dataset: str, folder: Path, requested: int, seed: int,
             train: tuple[np.ndarray, np.ndarray] | None = None) -> "RealSets":
        """Sets of ``sample_count(requested, held-out size)`` images each.

        ``train``: the training split's uint8 [N, 28, 28] images and labels [N] when the caller holds them already.
        """
        if dataset == "folder":
            (train_x, train_y), (test_x, test_y), _ = classifier_data(dataset, folder)
            return cls._draw(dataset, (train_x, train_y), (test_x, test_y), requested, seed)
        test_x, test_y = data.load_split(dataset, folder, "test")
        train_x, train_y = train if train is not None else data.load_split(dataset, folder, "train")
        return cls._draw(dataset, (train_x[:, None], train_y), (test_x[:, None], test_y), requested, seed)

    @classmethod
    def _draw(cls, dataset: str, train: tuple, test: tuple, requested: int, seed: int) -> "RealSets":
        (train_x, train_y), (test_x, test_y) = train, test
        n = sample_count(requested, len(test_x))
        if len(train_x) < n:
            raise UserError(f"the {dataset} training split has {len(train_x)} images, fewer than the {n} needed "
                            "for the real-vs-real floor; lower --num")
        rng = keyed(seed, EVAL_REAL_SUBSET)
        held_out, other = (np.sort(rng.choice(len(x), size=n, replace=False)) for x in (test_x, train_x))
        if dataset == "folder":  # a folder's pictures lie class by class; the class score's splits need them mixed
            held_out, other = rng.permutation(held_out), rng.permutation(other)
        return cls(test_x[held_out], train_x[other], test_y[held_out], train_y[other])


def sample_count(requested: int, held_out_size: int) -> int:
    """How many samples to score: at most the held-out set's size, at least MIN_EVAL_SAMPLES."""
    if requested < MIN_EVAL_SAMPLES:
        raise UserError(f"need at least {MIN_EVAL_SAMPLES} samples for stable scores, asked for {requested}")
    if held_out_size < requested:
        log.info("the held-out set has %d images: scoring %d samples instead of %d", held_out_size,
                 held_out_size, requested)
    return min(requested, held_out_size)


class Scorer:
    """A classifier plus cached features of the real sets, reused across evaluations."""

    def __init__(self, classifier: Classifier, reals: RealSets, reference_name: str = ""):
        self.classifier, self.reference_name = classifier, reference_name
        self.held_out = classifier.run(reals.held_out)
        self.other = classifier.run(reals.other)
        self.held_out_labels, self.other_labels = reals.held_out_labels, reals.other_labels
        self.n = len(reals.held_out)
        self._floors: dict[bool, dict] = {}

    def score(self, images: np.ndarray, labels: np.ndarray | None = None) -> dict:
        """Every metric of ``images`` against the held-out set; with ``labels`` (the digit each image
        was drawn as), also the conditional accuracy and the FID of each digit."""
        net = self.classifier.net
        images = (to_folder_input(images, net.channels, net.size) if self.classifier.reads_pictures
                  else to_classifier_input(images))
        if len(images) != self.n:
            raise UserError(f"expected {self.n} samples (the reference set's size), got {len(images)}")
        return self._metrics(*self.classifier.run(images), labels)

    def _metrics(self, feats: np.ndarray, probs: np.ndarray, labels: np.ndarray | None) -> dict:
        result = metrics.all_metrics(*self.held_out, feats, probs)
        if labels is not None:
            result.update(metrics.conditional_scores(self.held_out[0], self.held_out_labels, feats, probs, labels))
        return result

    def floor(self, conditional: bool = False) -> dict:
        """The disjoint real set's scores; ``conditional``: with its true labels as the asked-for digits."""
        if conditional not in self._floors:
            self._floors[conditional] = self._metrics(*self.other, self.other_labels if conditional else None)
        return self._floors[conditional]

    def score_generator(self, generator, seed: int) -> dict:
        """Score ``n`` samples of a Generator or engine; a conditional one draws each digit equally often."""
        num_classes = generator.num_classes
        if not num_classes:
            return self.score(sample(generator, self.n, seed=seed))
        labels = np.arange(self.n, dtype=np.int64) % num_classes
        return self.score(generate(generator, noise_for_seed(seed, self.n, generator.nz), labels), labels)


def make_scorer(reference: Reference, classifier_path: str, num_samples: int, seed: int,
                train: tuple[np.ndarray, np.ndarray] | None = None) -> Scorer:
    """A Scorer with the classifier for ``reference.dataset`` and real sets drawn from ``reference.folder``.

    ``train``: the training split's uint8 [N, 28, 28] images and labels [N] of that folder when the caller
    holds them already.
    """
    classifier = find_classifier(classifier_path, reference.dataset)
    reals = RealSets.load(reference.name, reference.folder, num_samples, seed, train)
    return Scorer(classifier, reals, reference.name)


def evaluate(generator_path: str | None = None, samples_path: str | None = None, dataset: str | None = None,
             data_dir: str = "", classifier_path: str = "", num_samples: int = 10000, seed: int = 0,
             out: str | None = None, device: str = "auto") -> tuple[dict, Path]:
    """Score a generator (or a .npy of samples) and write ``eval.json`` + ``class_histogram.png``.

    Args:
        generator_path: a run folder, generator.pdparams or .pdckpt (ignored when ``samples_path`` is given).
        samples_path: a .npy of samples (uint8 or float in [-1, 1], [N, 1, S, S]).
        dataset: mnist_yardstick or a dataset name (see :func:`choose_reference`); default: the MNIST
            yardstick for generators of MNIST digits and for samples, else the generator's own dataset.
        out: output folder; default ``<run>/eval``.
        device: auto | cpu | gpu | gpu:N, chosen before the generator is loaded.

    Returns:
        The report (as written to eval.json) and the output folder.
    """
    started = time.perf_counter()
    if samples_path:
        samples = read_samples(samples_path)
        generator, source, trained_on, requested = None, Path(samples_path), "auto", len(samples)
    else:
        select_device(device)  # before loading, so the weights land on that device
        generator, info = load_generator(generator_path)
        source, trained_on, requested = info.source, info.dataset, num_samples
        if trained_on == "folder" and dataset in (None, "folder") and not data_dir:
            data_dir = info.data_dir  # its own pictures' held-out tenth
    reference = choose_reference(dataset, trained_on, data_dir)
    folder_out = make_folder(Path(out) if out else run_folder_of(source) / "eval")
    scorer = make_scorer(reference, classifier_path, requested, seed)
    if generator is None:
        result = scorer.score(np.array(samples[:scorer.n]))  # only these are read into memory
    else:
        result = scorer.score_generator(generator, seed)
    full = report(result, scorer.floor(CONDITIONAL_KEY in result), scorer.classifier, str(source))
    full.update(reference=reference.name, dataset=reference.dataset, reference_folder=str(reference.folder),
                seconds=round(time.perf_counter() - started, 2))
    write_text(folder_out / "eval.json", json.dumps(full, indent=2))
    save_histogram(result, scorer.floor(), folder_out / "class_histogram.png")
    return full, folder_out


def compare(paths: list[str]) -> str:
    """Saved eval.json files side by side (refused when their classifiers differ)."""
    reports = [load_report(p) for p in paths]
    check_comparable(reports, paths)
    # name each column by its run: output/<run>/eval/eval.json -> <run>
    names = [Path(p).parent.parent.name if Path(p).parent.name == "eval" else Path(p).parent.name for p in paths]
    return format_table(reports, names)


def report(result: dict, floor: dict, classifier: Classifier, source: str) -> dict:
    return {"source": source, "classifier": classifier.id, "classifier_accuracy": classifier.accuracy,
            "class_names": list(classifier.class_names), "num_samples": result["num_samples"], "samples": result,
            "real_vs_real": floor}


def _table_rows(reports: list[dict]) -> list[tuple[str, Callable[[dict], Any], str, str]]:
    """(label, value getter, format, better) per row; the conditional rows when any report has them."""
    rows = [(label, itemgetter(key), fmt, better) for key, label, fmt, better in METRIC_ROWS]
    if any(CONDITIONAL_KEY in r["samples"] for r in reports):
        rows += [(label, itemgetter(key), fmt, better) for key, label, fmt, better in CONDITIONAL_ROWS]
        digits = len(next(r for r in reports if CONDITIONAL_KEY in r["samples"])["samples"]["per_digit_fid"])
        rows += [(f"  FID of digit {d}", lambda result, d=d: result["per_digit_fid"][d], "{:.3f}", "lower")
                 for d in range(digits)]
    return rows


def _cell(result: dict, value: Callable[[dict], Any], fmt: str, width: int) -> str:
    try:
        return f"{fmt.format(value(result)):>{width}}"
    except KeyError:  # an unconditional report has no conditional scores
        return f"{'-':>{width}}"


def format_table(reports: list[dict], names: list[str]) -> str:
    """Rows of metrics, one column per report, then the real-vs-real floor."""
    header = f"{'metric':<26}" + "".join(f"{n[-18:]:>20}" for n in names) + f"{'real vs real':>16}  better"
    lines = [header, "-" * len(header)]
    classes = len(reports[0]["samples"]["histogram"])
    for label, value, fmt, better in _table_rows(reports):
        if _reference_of(reports[0]) == "folder":  # pictures, not digits: the scores keep their names, the rows say so
            label = label.replace("MNIST score (1-10)", f"class score (1-{classes})").replace("digit", "class")
            names = reports[0].get("class_names") or []
            index = label.removeprefix("  FID of class ")
            if index != label and index.isdigit() and int(index) < len(names) and names[int(index)] != index:
                label = f"  FID of {names[int(index)]}"[:25]
            better = str(classes) if better == "10" else better
        cells = "".join(_cell(r["samples"], value, fmt, 20) for r in reports)
        lines.append(f"{label:<26}{cells}{_cell(reports[0]['real_vs_real'], value, fmt, 16)}  {better}")
    first = reports[0]
    lines.append(f"{'samples scored':<26}" + "".join(f"{r['num_samples']:>20d}" for r in reports))
    lines.append(f"reference {_reference_of(first)}; classifier {first['classifier']} "
                 f"(held-out accuracy {first['classifier_accuracy']:.4f})")
    return "\n".join(lines)


def _reference_of(report: dict) -> str:
    return report.get("reference", report.get("dataset", "?"))  # reports older than the yardstick name a dataset


def check_comparable(reports: list[dict], names: list[str]) -> None:
    """Scores compare only when made by one classifier, against one reference, with one sample count."""
    for what, key, fix in (("classifiers", lambda r: r["classifier"], "the same --classifier"),
                           ("references", _reference_of, "the same --data"),
                           ("sample counts", lambda r: r["num_samples"], "the same -n")):
        if len({key(r) for r in reports}) > 1:
            detail = ", ".join(f"{n}: {key(r)}" for n, r in zip(names, reports))
            raise UserError(f"scores were made with different {what} ({detail}); re-run tools/eval.py on both "
                            f"with {fix}")


def load_report(path: str) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"results file '{path}' not found; pass an eval.json written by tools/eval.py") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"'{path}' is not a JSON file; pass an eval.json written by tools/eval.py") from None
    if not isinstance(obj, dict) or "classifier" not in obj or "samples" not in obj:
        raise UserError(f"'{path}' is not an eval.json written by tools/eval.py")
    return obj


def save_histogram(result: dict, floor: dict, path: Path) -> None:
    """Bar chart of predicted classes of the samples, beside the real set's."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    digits = np.arange(len(result["histogram"]))
    for offset, res, label in ((-0.2, result, "samples"), (0.2, floor, "real (other split)")):
        counts = np.asarray(res["histogram"], float)
        ax.bar(digits + offset, counts / counts.sum(), width=0.4, label=label)
    ax.axhline(1 / len(digits), color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(digits)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("share of samples")
    ax.set_title(f"class histogram: {result['classes_covered']} classes >= 1%, KL {result['kl_to_uniform']:.3f}")
    ax.legend()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
