"""The shipped MNIST yardstick, classifier training, and tools/eval.py end to end on tiny data."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from paddle_dcgan.data import mnist as data
from paddle_dcgan.evaluation import evaluate as evaluation
from paddle_dcgan.evaluation.classifier import default_classifier_path, load_classifier, train_classifier
from paddle_dcgan.data.mnist import SUBSET_DIR, YARDSTICK_DIR, idx_bytes, load_split
from paddle_dcgan.sampling.engines import Engine
from paddle_dcgan.errors import UserError
from paddle_dcgan.evaluation.evaluate import YARDSTICK, RealSets, Reference, Scorer, choose_reference, to_classifier_input
from paddle_dcgan.sampling.load import load_generator

from conftest import ROOT, TINY, assert_one_line_error, make_idx_dataset, run_tool


@pytest.fixture(scope="module")
def tiny_eval(tmp_path_factory):
    """A dataset with 200 held-out images, a classifier for it, and a trained tiny unconditional generator."""
    root = tmp_path_factory.mktemp("eval")
    folder = make_idx_dataset(root / "data", n_train=400, n_test=200)
    run_tool("train_classifier.py", "--data", "mnist", "--data-dir", str(folder), "--epochs", "2",
             "--out", str(root / "clf.pdclf"), cwd=root)
    run_tool("train.py", "-o", *TINY, f"data.dir={folder}", "train.epochs=1", "run_name=g", "model.num_classes=0",
             cwd=root)
    return root, folder


def test_train_classifier_checks_its_output_before_training(tiny_eval, tmp_path):
    root, folder = tiny_eval
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out, fragment in ((tmp_path, "is a folder"), (blocker / "clf.pdclf", "is a file, not a folder")):
        result = run_tool("train_classifier.py", "--data", "mnist", "--data-dir", str(folder), "--epochs", "1",
                          "--out", str(out), cwd=tmp_path, check=False)
        assert_one_line_error(result, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_classifier_is_reproducible_and_checksummed(tiny_eval, tmp_path):
    root, folder = tiny_eval
    first = load_classifier(root / "clf.pdclf")
    assert first.dataset == "mnist" and first.accuracy > 0.5  # bars encode the class: easy to learn
    again = train_classifier("mnist", folder, epochs=2, seed=0)
    assert again.checksum == first.checksum
    damaged = tmp_path / "damaged.pdclf"
    again.checksum = "0" * 64
    again.save(damaged)
    with pytest.raises(UserError, match="fails its checksum"):
        load_classifier(damaged)


def test_shipped_classifier_accuracy():
    clf = load_classifier(ROOT / "paddle_dcgan" / "evaluation" / "classifiers" / "mnist_subset.pdclf")
    images, labels = load_split("mnist_subset", SUBSET_DIR, "test")
    measured = clf.accuracy_on(images[:, None], labels)
    assert measured == pytest.approx(clf.accuracy) and measured >= 0.97


# ------------------------------------------------------------ the shipped MNIST yardstick
MNIST_TEST_IMAGES_MD5 = "2646ac647ad5339dbf082846283269ea"  # the official uncompressed t10k-images file
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _pixel_keys(images):
    return {row.tobytes() for row in images.reshape(len(images), -1)}


def test_yardstick_holds_the_mnist_test_set_and_a_disjoint_training_sample():
    test_x, test_y = load_split("mnist", YARDSTICK_DIR, "test")
    assert hashlib.md5(idx_bytes(test_x)).hexdigest() == MNIST_TEST_IMAGES_MD5
    assert np.bincount(test_y, minlength=10).tolist() == MNIST_TEST_CLASS_COUNTS
    train_x, train_y = load_split("mnist", YARDSTICK_DIR, "train")
    assert train_x.shape == (10000, 28, 28) and np.bincount(train_y, minlength=10).min() > 800
    assert not _pixel_keys(train_x) & _pixel_keys(test_x)


def test_subset_digits_are_not_yardstick_test_digits():
    """A generator trained on the embedded digits never saw a digit it is scored against."""
    test_keys = _pixel_keys(load_split("mnist", YARDSTICK_DIR, "test")[0])
    for name in ("mnist_subset", "mnist_embedded"):
        for split in ("train", "test"):
            assert not _pixel_keys(load_split(name, SUBSET_DIR, split)[0]) & test_keys


def test_embedded_digits_are_scored_on_the_subsets_held_out_digits():
    """--data mnist_embedded (or eval.reference=held_out on it): the subset's 1,000 held-out digits and its classifier."""
    for reference in (evaluation.choose_reference("mnist_embedded", "auto"),
                      evaluation.training_reference("held_out", "mnist_embedded", SUBSET_DIR)):
        assert (reference.name, reference.dataset, reference.folder) == ("mnist_subset", "mnist_subset", SUBSET_DIR)
        assert default_classifier_path(reference.dataset).is_file()
    assert evaluation.choose_reference(None, "mnist_embedded") is evaluation.YARDSTICK


def test_shipped_mnist_classifier_accuracy():
    clf = load_classifier(default_classifier_path("mnist"))
    images, labels = load_split("mnist", YARDSTICK_DIR, "test")
    measured = clf.accuracy_on(images[:, None], labels)
    assert clf.dataset == "mnist" and measured == pytest.approx(clf.accuracy) and measured >= 0.98


def test_default_reference_is_the_yardstick_without_looking_for_data(monkeypatch, tiny_data):
    def no_lookup(*args, **kwargs):
        raise AssertionError("the yardstick needs no dataset lookup")

    with monkeypatch.context() as patch:
        patch.setattr(data, "resolve", no_lookup)
        for trained_on in ("mnist", "mnist_subset", "auto"):
            assert choose_reference(None, trained_on) == YARDSTICK
        assert choose_reference("mnist_yardstick", "fashion_mnist") == YARDSTICK
    assert YARDSTICK.dataset == "mnist" and YARDSTICK.folder == YARDSTICK_DIR
    # an explicit folder or dataset takes the dataset's own test split
    assert choose_reference(None, "mnist", str(tiny_data)) == Reference("mnist", "mnist", tiny_data)
    assert choose_reference("mnist", "mnist_subset", str(tiny_data)) == Reference("mnist", "mnist", tiny_data)
    assert choose_reference("mnist_subset", "mnist") == Reference("mnist_subset", "mnist_subset", SUBSET_DIR)
    with pytest.raises(UserError, match="takes no --data-dir"):
        choose_reference("mnist_yardstick", "mnist", str(tiny_data))


def test_training_reference():
    assert evaluation.training_reference("auto", "mnist_subset", SUBSET_DIR) == YARDSTICK
    assert evaluation.training_reference("held_out", "mnist_subset", SUBSET_DIR).folder == SUBSET_DIR
    assert evaluation.training_reference("auto", "fashion_mnist", ROOT).folder == ROOT


def test_eval_tool_end_to_end(tiny_eval):
    root, folder = tiny_eval
    result = run_tool("eval.py", "--run", str(root / "output/g"), "--data-dir", str(folder),
                      "--classifier", str(root / "clf.pdclf"), "-n", "500", cwd=root)
    assert "scoring 200 samples instead of 500" in result.stderr
    report = json.loads((root / "output/g/eval/eval.json").read_text())
    assert report["num_samples"] == 200 and report["dataset"] == report["reference"] == "mnist"
    for key in ("fid", "mnist_score", "classes_covered", "kl_to_uniform", "precision", "recall"):
        assert key in report["samples"] and key in report["real_vs_real"]
    assert report["real_vs_real"]["fid"] < report["samples"]["fid"]  # one epoch of a tiny GAN is not real data
    assert (root / "output/g/eval/class_histogram.png").stat().st_size > 1000
    assert "real vs real" in result.stdout and "FID" in result.stdout

    # real images as "samples" score like the floor; a collapsed set covers one class
    test_x, test_y = load_split("mnist", folder, "test")
    np.save(root / "real.npy", test_x[:, None])
    run_tool("eval.py", "--samples", str(root / "real.npy"), "--data", "mnist", "--data-dir", str(folder),
             "--classifier", str(root / "clf.pdclf"), "--out", str(root / "real_eval"), cwd=root)
    real = json.loads((root / "real_eval/eval.json").read_text())
    assert real["samples"]["fid"] == pytest.approx(0.0, abs=1e-4)
    assert real["samples"]["precision"] == 1.0 and real["samples"]["recall"] == 1.0
    np.save(root / "ones.npy", np.repeat(test_x[test_y == 1][:1, None], 200, axis=0))
    run_tool("eval.py", "--samples", str(root / "ones.npy"), "--data", "mnist", "--data-dir", str(folder),
             "--classifier", str(root / "clf.pdclf"), "--out", str(root / "ones_eval"), cwd=root)
    ones = json.loads((root / "ones_eval/eval.json").read_text())
    assert ones["samples"]["classes_covered"] == 1
    assert ones["samples"]["kl_to_uniform"] == pytest.approx(np.log(10))

    compared = run_tool("eval.py", "--compare", str(root / "real_eval/eval.json"), str(root / "ones_eval/eval.json"),
                        cwd=root)
    assert compared.stdout.count("FID") == 1 and "real_eval" in compared.stdout


def test_eval_tool_defaults_to_the_yardstick(tiny_eval):
    """With no --data, --data-dir or --classifier, a generator of MNIST digits is scored on the shipped yardstick."""
    root, _ = tiny_eval
    result = run_tool("eval.py", "--run", str(root / "output/g"), "-n", "100", "--out", str(root / "yard"), cwd=root)
    report = json.loads((root / "yard/eval.json").read_text())
    assert report["reference"] == "mnist_yardstick" and report["dataset"] == "mnist"
    assert report["classifier"] == load_classifier(default_classifier_path("mnist")).id
    assert report["num_samples"] == 100 and "against mnist_yardstick" in result.stdout
    # samples in a .npy go the same way: 100 real MNIST training digits score close to the floor
    np.save(root / "train_digits.npy", load_split("mnist", YARDSTICK_DIR, "train")[0][-100:, None])
    run_tool("eval.py", "--samples", str(root / "train_digits.npy"), "--out", str(root / "yard_npy"), cwd=root)
    real = json.loads((root / "yard_npy/eval.json").read_text())
    assert real["reference"] == "mnist_yardstick"
    assert real["samples"]["fid"] < 0.5 * report["samples"]["fid"]  # a 1-epoch tiny GAN is far from real digits


def test_eval_errors(tiny_eval, tmp_path):
    root, folder = tiny_eval
    common = ["--data", "mnist", "--data-dir", str(folder), "--classifier", str(root / "clf.pdclf")]
    np.save(tmp_path / "rgb.npy", np.zeros((200, 3, 28, 28), np.uint8))
    assert_one_line_error(run_tool("eval.py", "--samples", str(tmp_path / "rgb.npy"), *common, cwd=tmp_path,
                                   check=False), "[200, 3, 28, 28]")
    np.save(tmp_path / "range.npy", np.full((200, 1, 28, 28), 3.0, np.float32))
    assert_one_line_error(run_tool("eval.py", "--samples", str(tmp_path / "range.npy"), *common, cwd=tmp_path,
                                   check=False), "[-1, 1]")
    np.save(tmp_path / "few.npy", np.zeros((20, 1, 28, 28), np.uint8))
    assert_one_line_error(run_tool("eval.py", "--samples", str(tmp_path / "few.npy"), *common, cwd=tmp_path,
                                   check=False), "at least 100")
    # the shipped subset classifier does not match the tiny dataset
    assert_one_line_error(run_tool("eval.py", "--samples", str(tmp_path / "few.npy"), "--data", "mnist",
                                   "--data-dir", str(folder), "--classifier",
                                   str(ROOT / "paddle_dcgan/evaluation/classifiers/mnist_subset.pdclf"), cwd=tmp_path,
                                   check=False), "trained on mnist_subset")
    # results made with different classifiers are not compared
    test_x, _ = load_split("mnist", folder, "test")
    np.save(tmp_path / "real.npy", test_x[:, None])
    run_tool("eval.py", "--samples", str(tmp_path / "real.npy"), *common, "--out", str(tmp_path / "mine"),
             cwd=tmp_path)
    mine = json.loads((tmp_path / "mine/eval.json").read_text())
    for key, value, fragment in (("classifier", "lenet-mnist-000000000000", "different classifiers"),
                                 ("reference", "mnist_yardstick", "different references"),
                                 ("num_samples", 10000, "different sample counts")):
        (tmp_path / "other.json").write_text(json.dumps({**mine, key: value}))
        assert_one_line_error(run_tool("eval.py", "--compare", str(tmp_path / "mine/eval.json"),
                                       str(tmp_path / "other.json"), cwd=tmp_path, check=False), fragment)
    # the yardstick is shipped: a --data-dir beside it is a mistake
    assert_one_line_error(run_tool("eval.py", "--samples", str(tmp_path / "real.npy"), "--data", "mnist_yardstick",
                                   "--data-dir", str(folder), cwd=tmp_path, check=False), "takes no --data-dir")


def test_to_classifier_input_sizes():
    for size in (28, 32, 64):
        out = to_classifier_input(np.zeros((3, 1, size, size), np.float32))
        assert out.shape == (3, 1, 28, 28) and out.dtype == np.uint8 and out.max() == 128  # 0.0 -> mid grey


def test_in_training_evaluation(tiny_eval, tmp_path):
    root, folder = tiny_eval
    common = ["-o", *TINY, f"data.dir={folder}", "run_name=e", "eval.every_epochs=1", "eval.num_samples=100",
              "eval.reference=held_out"]
    result = run_tool("train.py", *common, "train.epochs=2", f"eval.classifier={root / 'clf.pdclf'}", cwd=tmp_path,
                      check=False)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "output/e/evals.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,fid,mnist_score") and len(rows) == 3
    assert result.stderr.count("eval epoch") == 2 and "FID" in result.stderr
    assert "against mnist with lenet-mnist-" in result.stderr
    # the lowest in-training FID is kept beside the last generator
    fids = [(float(row.split(",")[2]), int(row.split(",")[0])) for row in rows[1:]]
    best = load_generator(tmp_path / "output/e/generator_best.pdparams")[1]
    assert best.step == min(fids)[1] and load_generator(tmp_path / "output/e")[1].step == 40
    # a missing classifier is caught before anything is written
    missing = run_tool("train.py", *common, f"eval.classifier={tmp_path / 'none.pdclf'}", "run_name=m", cwd=tmp_path,
                       check=False)
    assert_one_line_error(missing, "no classifier at", "train_classifier.py")
    assert not (tmp_path / "output/m").exists()


def test_in_training_evaluation_defaults_to_the_yardstick(tmp_path):
    result = run_tool("train.py", "-o", *TINY, "data.name=mnist_subset", "train.batch_size=100", "train.epochs=1",
                      "run_name=y", "eval.every_epochs=1", "eval.num_samples=100", cwd=tmp_path)
    shipped = load_classifier(default_classifier_path("mnist")).id
    assert f"on 100 samples against mnist_yardstick with {shipped}" in result.stderr
    assert len((tmp_path / "output/y/evals.csv").read_text().splitlines()) == 2


def test_a_real_set_scores_exactly_the_floor(tiny_eval):
    """Scoring the disjoint real set as if it were samples reproduces the real-vs-real row."""
    root, folder = tiny_eval
    reals = RealSets.load("mnist", folder, 150, seed=0)
    scorer = Scorer(load_classifier(root / "clf.pdclf"), reals)
    assert scorer.score(reals.other) == scorer.floor()
    assert scorer.score(reals.held_out)["fid"] == pytest.approx(0.0, abs=1e-4)


class _RealDigits(Engine):
    """A stand-in 'generator' that answers the digit d with real held-out images of digit (d + shift) % 10
    (it ignores the noise)."""

    def __init__(self, images, labels, shift=0):
        super().__init__(nz=4, source=Path("real"), step=0, description="real digits", num_classes=10)
        self.by_class = [images[labels == d] for d in range(10)]
        self.shift, self.calls = shift, []

    def _run(self, z, labels):
        self.calls.append(labels)
        served = np.zeros(10, int)  # the k-th request for a class gets that class's k-th image
        picked = []
        for d in labels:
            source = self.by_class[(d + self.shift) % 10]
            picked.append(source[served[d] % len(source)])
            served[d] += 1
        return np.stack(picked).astype(np.float32) / 127.5 - 1.0


def test_conditional_scores(tiny_eval):
    root, folder = tiny_eval
    reals = RealSets.load("mnist", folder, 200, seed=0)
    scorer = Scorer(load_classifier(root / "clf.pdclf"), reals)
    honest = _RealDigits(reals.held_out, reals.held_out_labels)
    result = scorer.score_generator(honest, seed=0)
    asked = np.concatenate(honest.calls)
    assert np.bincount(asked).tolist() == [20] * 10  # an equal number of each digit
    images = honest(np.zeros((200, 4, 1, 1), np.float32), asked)
    accuracy = scorer.classifier.accuracy_on(to_classifier_input(images), asked)
    assert result["conditional_accuracy"] == pytest.approx(accuracy) and accuracy > 0.5
    assert len(result["per_digit_fid"]) == 10 and result["per_digit_fid_mean"] == pytest.approx(
        np.mean(result["per_digit_fid"]))
    liar = scorer.score_generator(_RealDigits(reals.held_out, reals.held_out_labels, shift=3), seed=0)
    assert liar["conditional_accuracy"] < accuracy - 0.4  # good digits, but not the ones asked for
    assert liar["per_digit_fid_mean"] > result["per_digit_fid_mean"]
    assert liar["fid"] == pytest.approx(result["fid"])  # the same images overall: only the labels tell them apart
    # the floor: the real set with its own labels
    floor = scorer.floor(conditional=True)
    assert floor == scorer.score(reals.other, reals.other_labels)
    assert floor["conditional_accuracy"] == pytest.approx(scorer.classifier.accuracy_on(reals.other,
                                                                                         reals.other_labels))
    assert "conditional_accuracy" not in scorer.floor()


def test_eval_tool_on_a_conditional_run(tiny_eval, tiny_cond_run, tmp_path):
    root, folder = tiny_eval
    result = run_tool("eval.py", "--run", str(tiny_cond_run), "--data-dir", str(folder), "--classifier",
                      str(root / "clf.pdclf"), "-n", "200", "--out", str(tmp_path), cwd=tmp_path)
    report = json.loads((tmp_path / "eval.json").read_text())
    for part in ("samples", "real_vs_real"):
        assert 0 <= report[part]["conditional_accuracy"] <= 1 and len(report[part]["per_digit_fid"]) == 10
    assert "conditional accuracy" in result.stdout and "FID of digit 9" in result.stdout
    # beside an unconditional report, the conditional rows show '-'
    run_tool("eval.py", "--run", str(root / "output/g"), "--data-dir", str(folder), "--classifier",
             str(root / "clf.pdclf"), "-n", "200", "--out", str(tmp_path / "plain"), cwd=tmp_path)
    compared = run_tool("eval.py", "--compare", str(tmp_path / "eval.json"), str(tmp_path / "plain/eval.json"),
                        cwd=tmp_path).stdout
    row = next(line for line in compared.splitlines() if line.startswith("conditional accuracy"))
    assert row.split()[3] == "-"


def test_in_training_evaluation_of_a_conditional_run(tiny_eval, tmp_path):
    root, folder = tiny_eval
    result = run_tool("train.py", "-c", str(ROOT / "configs/cdcgan.yaml"), "-o", *TINY, f"data.dir={folder}",
                      "train.epochs=1", "eval.every_epochs=1", "eval.num_samples=100",
                      f"eval.classifier={root / 'clf.pdclf'}", cwd=tmp_path)
    rows = (tmp_path / "output/cdcgan/evals.csv").read_text().splitlines()
    assert rows[0].endswith(",conditional_accuracy") and len(rows) == 2
    assert "conditional accuracy" in result.stderr
