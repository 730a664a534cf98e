"""A LeNet-style classifier: the feature extractor behind FID and the MNIST score.

Inception weights cannot be downloaded here and do not suit 28x28 grey digits,
so, like TF-GAN's ``mnist_frechet_distance``, scores use a small classifier
trained on the same dataset: for MNIST-format sets on 28x28 grey images, for a
labelled folder of pictures (``data.name=folder``) on its images at 32x32, grey
or colour as the folder is, with one output per class folder. Its file carries a checksum of its weights: every
score names the classifier that made it, and scores of different classifiers
are never compared.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..data import mnist as data
from ..files.io import field, float32_tensors, load_tagged, load_weights, save_tagged
from ..errors import UserError

log = logging.getLogger(__name__)

FORMAT = "paddle-dcgan-classifier"
SHIPPED_DIR = Path(__file__).parent / "classifiers"


FOLDER_SIZE = 32  # side of the images a folder's classifier reads


class LeNet(nn.Layer):
    """[N, C, S, S] in [-1, 1] -> K logits; ``features`` gives the 128-d penultimate layer.

    The digit classifiers: C = 1, S = 28, K = 10. A folder's: C = 1 or 3, S = 32, K = its classes.
    """

    def __init__(self, channels: int = 1, size: int = 28, num_classes: int = 10):
        super().__init__()
        self.channels, self.size, self.num_classes = channels, size, num_classes
        self.conv = nn.Sequential(
            nn.Conv2D(channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2D(2),  # [N, 32, S/2, S/2]
            nn.Conv2D(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2D(2),  # [N, 64, S/4, S/4]
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128), nn.ReLU())  # [N, 128]
        self.head = nn.Linear(128, num_classes)  # [N, K]

    def features(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.hidden(self.conv(x))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.head(self.features(x))


def weights_checksum(net: nn.Layer) -> str:
    """sha256 over the weights in key order: the classifier's identity."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    return digest.hexdigest()


class Classifier:
    """A loaded classifier file: the net plus its provenance."""

    def __init__(self, net: LeNet, dataset: str, accuracy: float, checksum: str, class_names=()):
        self.net, self.dataset, self.accuracy, self.checksum = net, dataset, accuracy, checksum
        self.class_names = tuple(class_names) or tuple(str(i) for i in range(net.num_classes))
        self.net.eval()

    @property
    def id(self) -> str:
        name = Path(self.dataset.partition(":")[2]).name if self.dataset.startswith("folder:") else self.dataset
        return f"lenet-{name}-{self.checksum[:12]}"

    @property
    def reads_pictures(self) -> bool:
        """Trained on a folder of pictures (32x32, its own channels), not on 28x28 digits."""
        return self.dataset.startswith("folder:")

    @paddle.no_grad()
    def run(self, images_uint8: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [N, C, S, S] -> (features [N, 128] float64, probabilities [N, K] float64)."""
        feats, probs = [], []
        for i in range(0, len(images_uint8), batch_size):
            x = data.to_unit_range(images_uint8[i:i + batch_size])
            f = self.net.features(x)
            feats.append(f.numpy())
            probs.append(F.softmax(self.net.head(f), axis=1).numpy())
        return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)

    def accuracy_on(self, images_uint8: np.ndarray, labels: np.ndarray) -> float:
        _, probs = self.run(images_uint8)
        return float((probs.argmax(1) == labels).mean())

    def save(self, path: Path) -> None:
        net = self.net
        save_tagged({"dataset": self.dataset, "accuracy": self.accuracy, "checksum": self.checksum,
                     "channels": net.channels, "size": net.size, "class_names": list(self.class_names),
                     "weights": net.state_dict()}, FORMAT, path)


def load_classifier(path: str | Path) -> Classifier:
    path = Path(path)
    obj = load_tagged(path, (FORMAT,))
    for key, kind in (("dataset", str), ("checksum", str)):
        field(obj, key, kind, path)
    field(obj, "accuracy", float, path, 0, 1)
    channels, size = obj.get("channels", 1), obj.get("size", 28)
    names = obj.get("class_names") or [str(d) for d in range(10)]
    if channels not in (1, 3) or size not in (28, FOLDER_SIZE) or not (
            isinstance(names, list) and 2 <= len(names) <= 1000 and all(isinstance(n, str) for n in names)):
        raise UserError(f"classifier '{path}' is not a valid classifier file (its shape fields); retrain it with "
                        "python tools/train_classifier.py")
    net = LeNet(channels, size, len(names))
    load_weights(net, float32_tensors(obj.get("weights"), "weights", path), path)
    if weights_checksum(net) != obj["checksum"]:
        raise UserError(f"classifier '{path}' fails its checksum (damaged or edited); retrain it with "
                        "python tools/train_classifier.py")
    return Classifier(net, obj["dataset"], float(obj["accuracy"]), obj["checksum"], names)


def folder_dataset(folder: Path) -> str:
    """The dataset name of a folder of pictures, as classifiers and references record it."""
    return f"folder:{os.path.abspath(folder)}"


def default_classifier_path(dataset: str) -> Path:
    """Where the classifier for ``dataset`` is looked for: in the package for the MNIST-format sets,
    ``output/classifiers/<folder name>.pdclf`` for a folder of pictures."""
    if dataset.startswith("folder:"):
        return Path("output") / "classifiers" / f"{Path(dataset.partition(':')[2]).name}.pdclf"
    return SHIPPED_DIR / f"{dataset}.pdclf"


def find_classifier(path: str, dataset: str) -> Classifier:
    """The classifier at ``path``, or the one for ``dataset`` shipped with / trained into the package.

    It must have been trained on ``dataset``: scores against one dataset made with
    another dataset's classifier mean nothing.
    """
    file = Path(path) if path else default_classifier_path(dataset)
    if not file.is_file():
        which = (f"--data folder --data-dir {dataset.partition(':')[2]}" if dataset.startswith("folder:")
                 else f"--data {dataset}")
        raise UserError(f"no classifier at '{file}'; train one: python tools/train_classifier.py {which}"
                        + (f" --out {file}" if path else ""))
    classifier = load_classifier(file)
    if classifier.dataset != dataset:
        raise UserError(f"classifier {classifier.id} was trained on {classifier.dataset}, the samples are scored "
                        f"against {dataset}; pass a classifier for {dataset}")
    return classifier


def classifier_data(dataset: str, folder: Path) -> tuple[tuple, tuple, tuple[str, ...]]:
    """``(train, test, class_names)`` of ``dataset`` as a classifier reads them; each split uint8 [N, C, S, S]
    images and int64 labels. ``dataset`` = folder: the pictures in ``folder`` at 32x32, split as data/folder.py does."""
    if dataset == "folder":
        from ..data import folder as folders

        check_has_classes(folder)
        found = folders.load(folder, FOLDER_SIZE)
        channels = found.images.shape[1]
        return found.split("train", channels), found.split("test", channels), found.class_names
    (train_x, train_y), (test_x, test_y) = (data.load_split(dataset, folder, s) for s in ("train", "test"))
    return (train_x[:, None], train_y), (test_x[:, None], test_y), ()


def check_has_classes(folder: Path) -> None:
    """A UserError, before any picture is read, when ``folder`` has fewer than two class sub-folders."""
    from ..data.folder import scan

    if len(scan(Path(folder))[2]) < 2:
        raise UserError(f"'{folder}' has no class sub-folders (or one), so there are no classes to learn: a "
                        "classifier (and the FID, precision and recall measured in its features) needs one "
                        "sub-folder per class")


def train_classifier(dataset: str, folder: Path, epochs: int, seed: int = 0, batch_size: int = 128,
                     lr: float = 1e-3) -> Classifier:
    """Train LeNet on the training split of ``dataset``; accuracy is measured on its held-out split."""
    (train_x, train_y), (test_x, test_y), names = classifier_data(dataset, folder)
    paddle.seed(seed)
    net = LeNet(train_x.shape[1], train_x.shape[2], len(names) or 10)
    opt = paddle.optimizer.Adam(lr, parameters=net.parameters())
    batches = data.Batches(train_x, train_y, min(batch_size, len(train_x)), seed)
    model = Classifier(net, folder_dataset(folder) if dataset == "folder" else dataset, 0.0, "", names)
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for images, labels in batches.epoch(epoch):
            loss = F.cross_entropy(net(images), paddle.to_tensor(labels))
            opt.clear_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        net.eval()
        model.accuracy = model.accuracy_on(test_x, test_y)
        log.info("classifier epoch %d/%d | loss %.4f | held-out accuracy %.4f", epoch + 1, epochs,
                 total / len(batches), model.accuracy)
    model.checksum = weights_checksum(net)
    return model
