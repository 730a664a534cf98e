"""What a run trains on: the images of ``data.name`` at the model's size and channels, with their classes.

:func:`training_data` loads them (MNIST-format files through ``mnist.py``, a folder of
pictures through ``folder.py``); :func:`settle_model` then turns ``model.channels`` and
``model.num_classes`` = auto into numbers the data decides, or refuses a setting the
data cannot meet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import folder as folders
from . import mnist

log = logging.getLogger(__name__)

FOLDER = "folder"
AUTO_CHANNELS, AUTO_CLASSES = 0, -1  # model.channels / model.num_classes = auto
DIGITS = tuple(str(d) for d in range(10))
CLASS_NAMES = {  # class index -> name for the MNIST-format sets
    "mnist": DIGITS, "mnist_subset": DIGITS, "mnist_embedded": DIGITS,
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
}


@dataclass
class TrainingData:
    """The images a run trains on, before they are fitted to the model."""

    dataset: str  # mnist | mnist_embedded | mnist_subset | fashion_mnist | folder
    folder: Path
    images: np.ndarray  # uint8 [N, C, S, S]; C = 1, or 3 for a folder with colour pictures
    labels: np.ndarray  # int64 [N]
    class_names: tuple[str, ...]  # () when the images carry no classes
    colour: bool
    idx_split: tuple[np.ndarray, np.ndarray] | None = None  # MNIST-format sets: the split as read, [N, 28, 28]

    def fitted(self, channels: int) -> np.ndarray:
        """The images with ``channels`` channels (grey repeated, or colour to luma)."""
        return folders.with_channels(self.images, channels)


def training_data(data_cfg, image_size: int, write_cache: bool = True) -> TrainingData:
    """The training images of ``data_cfg`` (the config's ``data`` section) at ``image_size``."""
    if data_cfg.name == FOLDER:
        if not data_cfg.dir:
            raise UserError("data.name=folder needs the folder: add -o data.dir=PATH (a folder of pictures, one "
                            "sub-folder per class if they have classes)")
        found = folders.load(data_cfg.dir, image_size, write_cache)
        images, labels = found.split("train", found.images.shape[1])
        if found.skipped:
            log.warning("%d unreadable file(s) in %s were skipped", found.skipped, found.folder)
        return TrainingData(FOLDER, found.folder, images, labels, found.class_names, found.colour)
    dataset, where = mnist.resolve(data_cfg.name, data_cfg.dir, data_cfg.download, data_cfg.download_timeout, "train")
    images, labels = mnist.load_split(dataset, where, "train")
    return TrainingData(dataset, where, mnist.fit_to_size(images, image_size), labels, CLASS_NAMES[dataset], False,
                        (images, labels))


def settle_model(model_cfg, data: TrainingData) -> list[str]:
    """Set ``model.channels`` and ``model.num_classes`` left at auto from ``data``; returns log lines saying so.

    A setting the data cannot meet (classes asked of unlabelled images, a class count
    that differs from the data's) is a UserError naming the fix.
    """
    notes = []
    if model_cfg.channels == AUTO_CHANNELS:
        model_cfg.channels = 3 if data.colour else 1
        if data.dataset == FOLDER:
            notes.append(f"model.channels=auto: {'colour (3)' if data.colour else 'grey (1)'}: "
                         f"{'some images are' if data.colour else 'no image is'} in colour")
    classes = len(data.class_names)
    if model_cfg.num_classes == AUTO_CLASSES:
        model_cfg.num_classes = classes if classes > 1 else 0
        if data.dataset == FOLDER:
            notes.append(f"model.num_classes=auto: {classes} class folders, conditional" if classes > 1 else
                         "model.num_classes=auto: no class sub-folders (or one), the unconditional DCGAN")
    elif model_cfg.num_classes and classes < 2:
        raise UserError(f"model.num_classes={model_cfg.num_classes} asks for a conditional model, but '{data.folder}' "
                        "has no class sub-folders (or one); use -o model.num_classes=0 (or auto), or sort the "
                        "images into one sub-folder per class")
    elif model_cfg.num_classes and model_cfg.num_classes != classes:
        raise UserError(f"model.num_classes={model_cfg.num_classes}, but {data.dataset} in '{data.folder}' has "
                        f"{classes} classes; use -o model.num_classes=auto (or {classes})")
    return notes
