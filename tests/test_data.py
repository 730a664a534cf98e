import gzip
import sys
import time

import numpy as np
import paddle
import pytest

from paddle_dcgan.data import mnist as data
from paddle_dcgan.errors import UserError

from conftest import make_idx_dataset


def test_idx_roundtrip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data.write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), array)
    with gzip.open(tmp_path / "a.gz", "rb") as f:
        (tmp_path / "a").write_bytes(f.read())  # an unzipped copy reads the same
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), array)


def test_tiny_mnist_pair_loads_here_and_in_paddle(tiny_data):
    name, folder = data.resolve("mnist", str(tiny_data))
    images, labels = data.load_split(name, folder, "train")
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(200)]
    # The files are real MNIST format: paddle's own reader agrees with ours.
    reference = paddle.vision.datasets.MNIST(image_path=str(tiny_data / data.FILES["train"][0]),
                                             label_path=str(tiny_data / data.FILES["train"][1]),
                                             mode="train", download=False)
    image, label = reference[17]
    np.testing.assert_array_equal(np.asarray(image).reshape(28, 28), images[17])
    assert int(label[0]) == labels[17]


def test_shipped_subset_counts():
    for split, per_class in (("train", 400), ("test", 100)):
        images, labels = data.load_split("mnist_subset", data.SUBSET_DIR, split)
        assert images.shape == (per_class * 10, 28, 28)
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert images.max() == 255 and images.min() == 0
    train, _ = data.load_split("mnist_subset", data.SUBSET_DIR, "train")
    test, _ = data.load_split("mnist_subset", data.SUBSET_DIR, "test")
    overlap = set(map(bytes, train.reshape(len(train), -1))) & set(map(bytes, test.reshape(len(test), -1)))
    assert not overlap  # held-out digits are not in the training split


def test_embedded_digits_join_the_subset_and_the_yardstick_training_digits():
    """mnist_embedded: every training digit the package holds, each once, none of them held out."""
    train, train_labels = data.load_split("mnist_embedded", data.SUBSET_DIR, "train")
    held_out, held_out_labels = data.load_split("mnist_embedded", data.SUBSET_DIR, "test")
    subset, subset_labels = data.load_split("mnist_subset", data.SUBSET_DIR, "train")
    yardstick = data.load_split("mnist", data.YARDSTICK_DIR, "train")[0]
    np.testing.assert_array_equal(held_out, data.load_split("mnist_subset", data.SUBSET_DIR, "test")[0])
    np.testing.assert_array_equal(train[:len(subset)], subset)  # the subset first, in its order
    np.testing.assert_array_equal(train_labels[:len(subset)], subset_labels)
    keys = [bytes(image) for image in train.reshape(len(train), -1)]
    assert len(set(keys)) == len(keys) == 13160  # each digit once
    assert set(keys) == set(map(bytes, subset.reshape(len(subset), -1))) | (
        set(map(bytes, yardstick.reshape(len(yardstick), -1))) - set(map(bytes, held_out.reshape(len(held_out), -1))))
    assert not set(keys) & set(map(bytes, held_out.reshape(len(held_out), -1)))
    assert held_out_labels.shape == (1000,) and set(train_labels.tolist()) == set(range(10))


def test_auto_falls_back_to_the_embedded_digits(tmp_path, caplog):
    caplog.set_level("INFO", logger="paddle_dcgan")
    assert data.resolve("auto", str(tmp_path)) == ("mnist_embedded", data.SUBSET_DIR)
    assert "data.download=true" in caplog.text


def test_auto_prefers_full_mnist(tiny_data):
    assert data.resolve("auto", str(tiny_data)) == ("mnist", tiny_data)


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="data.download=true"):
        data.resolve("fashion_mnist", str(tmp_path))


@pytest.mark.parametrize("damage, fragment", [
    (lambda b: b[:1000], "cannot read"),  # truncated gzip stream
    (lambda b: b"not gzip at all", "cannot read"),
    (lambda b: gzip.compress(b"", mtime=0)[:10] + b"\xff" * 64, "invalid block type"),  # zlib.error, no OSError
])
def test_damaged_files(tmp_path, damage, fragment):
    folder = make_idx_dataset(tmp_path / "d", n_train=20, n_test=10)
    target = folder / data.FILES["train"][0]
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(UserError, match=fragment):
        data.load_split("mnist", folder, "train")


def test_wrong_header_and_mismatched_pair(tmp_path):
    folder = make_idx_dataset(tmp_path / "d", n_train=20, n_test=10)
    data.write_idx(folder / data.FILES["train"][1], np.zeros(19, np.uint8))
    with pytest.raises(UserError, match="do not pair up"):
        data.load_split("mnist", folder, "train")
    (folder / "x").write_bytes(b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + b"\x00" * 16)
    with pytest.raises(UserError, match="not an IDX file of unsigned bytes"):
        data.read_idx(folder / "x")


def test_download_is_bounded_in_time(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "paddle_cache_dir", lambda name: tmp_path / name)
    monkeypatch.setattr(data, "_download_command", lambda name: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    with pytest.raises(UserError, match="data.download_timeout"):
        data.resolve("mnist", "", download=True, timeout=1.0)
    assert time.monotonic() - started < 30  # generous bound: the child was killed, not waited for


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "paddle_cache_dir", lambda name: tmp_path / name)
    monkeypatch.setattr(data, "_download_command",
                        lambda name: [sys.executable, "-c", "raise RuntimeError('Cannot download x within retry limit 3')"])
    with pytest.raises(UserError, match="retry limit 3.*data.dir=FOLDER"):
        data.resolve("mnist", "", download=True, timeout=30)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_fit_to_size(size):
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 10:18, 10:18] = 255
    out = data.fit_to_size(images, size)
    assert out.shape == (3, 1, size, size) and out.dtype == np.uint8
    assert out.max() == 255 and out.min() == 0


def test_batches_are_deterministic_and_drop_the_remainder():
    images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    batches = data.Batches(images, np.zeros(50, np.int64), batch_size=8, seed=3)
    assert len(batches) == 6
    first = [b.numpy().ravel().tolist() for b, _ in batches.epoch(0)]
    again = [b.numpy().ravel().tolist() for b, _ in batches.epoch(0)]
    other = [b.numpy().ravel().tolist() for b, _ in batches.epoch(1)]
    assert first == again and first != other and len(first) == 6
    tail = [b.numpy().ravel().tolist() for b, _ in batches.epoch(0, start=4)]
    assert tail == first[4:]  # resuming mid-epoch sees the same batches
    values = np.concatenate(first)
    assert values.min() >= -1.0 and values.max() <= 1.0 and len(set(values.tolist())) == 48
    with pytest.raises(UserError, match="train.batch_size=60"):
        data.Batches(images, np.zeros(50, np.int64), batch_size=60, seed=0)
    raw = np.stack([b.ravel() for b, _ in batches.epoch(0, convert=np.copy)])  # other frameworks take the uint8
    assert raw.dtype == np.uint8
    np.testing.assert_allclose(raw * (2 / 255) - 1, first, atol=1e-6)
