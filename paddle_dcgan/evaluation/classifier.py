"""A LeNet-style digit classifier: the feature extractor behind FID and the MNIST score.

Inception weights cannot be downloaded here and do not suit 28x28 grey digits,
so, like TF-GAN's ``mnist_frechet_distance``, scores use a small classifier
trained on the same dataset. Its file carries a checksum of its weights: every
score names the classifier that made it, and scores of different classifiers
are never compared.
"""

from __future__ import annotations

import hashlib
import logging
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


class LeNet(nn.Layer):
    """[N, 1, 28, 28] in [-1, 1] -> 10 logits; ``features`` gives the 128-d penultimate layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2D(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2D(2),  # [N, 32, 14, 14]
            nn.Conv2D(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2D(2),  # [N, 64, 7, 7]
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())  # [N, 128]
        self.head = nn.Linear(128, 10)  # [N, 10]

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

    def __init__(self, net: LeNet, dataset: str, accuracy: float, checksum: str):
        self.net, self.dataset, self.accuracy, self.checksum = net, dataset, accuracy, checksum
        self.net.eval()

    @property
    def id(self) -> str:
        return f"lenet-{self.dataset}-{self.checksum[:12]}"

    @paddle.no_grad()
    def run(self, images_uint8: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [N, 1, 28, 28] -> (features [N, 128] float64, probabilities [N, 10] float64)."""
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
        save_tagged({"dataset": self.dataset, "accuracy": self.accuracy, "checksum": self.checksum,
                     "weights": self.net.state_dict()}, FORMAT, path)


def load_classifier(path: str | Path) -> Classifier:
    path = Path(path)
    obj = load_tagged(path, (FORMAT,))
    for key, kind in (("dataset", str), ("checksum", str)):
        field(obj, key, kind, path)
    field(obj, "accuracy", float, path, 0, 1)
    net = LeNet()
    load_weights(net, float32_tensors(obj.get("weights"), "weights", path), path)
    if weights_checksum(net) != obj["checksum"]:
        raise UserError(f"classifier '{path}' fails its checksum (damaged or edited); retrain it with "
                        "python tools/train_classifier.py")
    return Classifier(net, obj["dataset"], float(obj["accuracy"]), obj["checksum"])


def default_classifier_path(dataset: str) -> Path:
    return SHIPPED_DIR / f"{dataset}.pdclf"


def find_classifier(path: str, dataset: str) -> Classifier:
    """The classifier at ``path``, or the one for ``dataset`` shipped with / trained into the package.

    It must have been trained on ``dataset``: scores against one dataset made with
    another dataset's classifier mean nothing.
    """
    file = Path(path) if path else default_classifier_path(dataset)
    if not file.is_file():
        raise UserError(f"no classifier at '{file}'; train one: python tools/train_classifier.py --data {dataset}"
                        + (f" --out {file}" if path else ""))
    classifier = load_classifier(file)
    if classifier.dataset != dataset:
        raise UserError(f"classifier {classifier.id} was trained on {classifier.dataset}, the samples are scored "
                        f"against {dataset}; pass a classifier for {dataset}")
    return classifier


def train_classifier(dataset: str, folder: Path, epochs: int, seed: int = 0, batch_size: int = 128,
                     lr: float = 1e-3) -> Classifier:
    """Train LeNet on the training split of ``dataset``; accuracy is measured on its held-out split."""
    train_x, train_y = data.load_split(dataset, folder, "train")
    test_x, test_y = data.load_split(dataset, folder, "test")
    paddle.seed(seed)
    net = LeNet()
    opt = paddle.optimizer.Adam(lr, parameters=net.parameters())
    batches = data.Batches(train_x[:, None], train_y, batch_size, seed)
    model = Classifier(net, dataset, 0.0, "")
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
        model.accuracy = model.accuracy_on(test_x[:, None], test_y)
        log.info("classifier epoch %d/%d | loss %.4f | held-out accuracy %.4f", epoch + 1, epochs,
                 total / len(batches), model.accuracy)
    model.checksum = weights_checksum(net)
    return model
