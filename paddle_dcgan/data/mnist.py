"""Digit datasets in MNIST's gzip IDX format, held in memory as uint8 arrays.

Sources, by ``data.name``:

- ``mnist``: full MNIST from ``data.dir``, else paddle's cache
  (``~/.cache/paddle/dataset/mnist``), else paddle's downloader when
  ``data.download`` is true (bounded by ``data.download_timeout``).
- ``fashion_mnist``: the same, also looking in Debian's
  ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
- ``mnist_subset``: 5,000 real MNIST digits shipped in this package (4,000
  train / 1,000 held out, 400 / 100 per class); see tools/make_mnist_subset.py.
- ``mnist_embedded``: every MNIST training digit the package holds: the subset's
  4,000 and the yardstick's 10,000 training digits, each once and none of the
  subset's held-out digits (13,160; :func:`embedded_split`); held out: the
  subset's 1,000, scored as ``mnist_subset`` (:data:`HELD_OUT_AS`).
- ``auto``: ``mnist`` when it is on disk, otherwise ``mnist_embedded``.

Another dataset in the same format is one more :data:`SOURCES` entry.

Not a training source: the MNIST yardstick in :data:`YARDSTICK_DIR` (all 10,000
MNIST test digits and 10,000 of its training digits, see
tools/make_mnist_yardstick.py), the real digits evaluation/evaluate.py scores against.

Files are parsed here with numpy rather than through
``paddle.vision.datasets.MNIST``: paddle's parser walks records in blocks of
100 (other counts fail) and builds one Python object per image, while one
``np.frombuffer`` reads the whole file. Paddle's dataset classes are still used
for what they are good at: their URLs, checksums and cache layout for downloads.
"""

from __future__ import annotations

import gzip
import logging
import math
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import UserError
from ..random_streams import STREAM_SHUFFLE, stream

log = logging.getLogger(__name__)

SUBSET_DIR = Path(__file__).parent / "mnist_subset"
# MNIST's 10,000 test digits + 10,000 of its training digits: the reference for scoring (evaluation/evaluate.py)
YARDSTICK_DIR = Path(__file__).parent / "mnist_yardstick"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class Source:
    paddle_class: str  # class in paddle.vision.datasets that can download it; "" = none
    cache_name: str  # folder under paddle's DATA_HOME
    system_dirs: tuple[str, ...] = ()  # other folders searched when data.dir is empty


SOURCES = {
    "mnist": Source("MNIST", "mnist"),
    "fashion_mnist": Source("FashionMNIST", "fashion-mnist", ("/usr/share/datasets/fashion-mnist",)),
    "mnist_subset": Source("", ""),
    "mnist_embedded": Source("", ""),
}
SHIPPED = ("mnist_subset", "mnist_embedded")  # in the package: nothing to find or download
HELD_OUT_AS = {"mnist_embedded": "mnist_subset"}  # a set whose held-out digits (and classifier) are another's


def paddle_cache_dir(cache_name: str) -> Path:
    from paddle.dataset.common import DATA_HOME

    return Path(DATA_HOME) / cache_name


# ---------------------------------------------------------------- IDX files
MAX_IDX_BYTES = 1 << 30  # an IDX file's pixels, uncompressed (full MNIST's training images: 47 MB)
_IDX_DTYPE = 0x08  # unsigned byte, the only element type MNIST-style files use


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a uint8 array of the shape its header gives."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read(MAX_IDX_BYTES + 1)  # bounded: a small gzip file can inflate to any size
    except (OSError, EOFError, zlib.error) as exc:  # missing, truncated, not gzip, damaged deflate stream
        raise UserError(f"cannot read '{path}': {exc}; replace the file with an intact copy") from None
    if len(raw) > MAX_IDX_BYTES:
        raise UserError(f"'{path}' holds more than {MAX_IDX_BYTES >> 20} MB of pixels, more than any digit set; "
                        "point data.dir at MNIST-format files")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_DTYPE:
        raise UserError(f"'{path}' is not an IDX file of unsigned bytes; point data.dir at MNIST-format files")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = math.prod(shape)
    if len(raw) != header + count:
        raise UserError(f"'{path}' is truncated or padded: header says {shape}, file has "
                        f"{len(raw) - header} data bytes; replace it with an intact copy")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array as the bytes of an uncompressed IDX file (header, then the values)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_DTYPE, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip IDX file (mtime 0, so rebuilds are byte-identical)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(idx_bytes(array))


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name[: -len(".gz")]):
        if candidate.is_file():
            return candidate
    return None


def _has_split(folder: Path, split: str) -> bool:
    return all(_find(folder, name) for name in FILES[split])


def load_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 28, 28] uint8 and labels [N] int64 of one split in ``folder``."""
    image_file, label_file = (_find(folder, name) for name in FILES[split])
    if image_file is None or label_file is None:
        raise UserError(f"'{folder}' lacks {' and '.join(FILES[split])}; point data.dir at a folder holding them")
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"'{image_file}' {images.shape} and '{label_file}' {labels.shape} do not pair up "
                        "as images [N, H, W] and labels [N]; check the files")
    return images, labels.astype(np.int64)


# ------------------------------------------------------------ finding data
def _candidate_dirs(name: str, data_dir: str) -> list[Path]:
    if data_dir:
        return [Path(data_dir).expanduser()]
    source = SOURCES[name]
    return [Path(d) for d in source.system_dirs] + [paddle_cache_dir(source.cache_name)]


def _download_command(name: str) -> list[str]:
    code = (
        "import paddle.vision.datasets as d\n"
        f"for mode in ('train', 'test'): d.{SOURCES[name].paddle_class}(mode=mode, download=True)\n"
    )
    return [sys.executable, "-c", code]


def _download(name: str, timeout: float) -> None:
    """Run paddle's downloader in a child process, killed after ``timeout`` seconds.

    Paddle's downloader sets no network timeout, so on a link that drops packets
    it can wait forever; a child process can always be stopped.
    """
    log.info("downloading %s with paddle's downloader (giving up after %.0f s)", name, timeout)
    try:
        result = subprocess.run(_download_command(name), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"downloading {name} took over {timeout:.0f} s; raise data.download_timeout, or put the "
                        f"files in a folder and pass -o data.dir=FOLDER") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise UserError(f"downloading {name} failed ({last[:200]}); put the four .gz files in a folder "
                        "and pass -o data.dir=FOLDER")


def resolve(name: str, data_dir: str = "", download: bool = False, timeout: float = 120.0,
            split: str = "train") -> tuple[str, Path]:
    """Decide which dataset and folder to use; returns ``(dataset name, folder)``."""
    if name in SHIPPED:
        return name, SUBSET_DIR
    if name == "auto":
        found = next((d for d in _candidate_dirs("mnist", data_dir) if _has_split(d, split)), None)
        if found is not None:
            return "mnist", found
        log.info("full MNIST not found in %s; using the MNIST digits embedded in the package "
                 "(for full MNIST: -o data.name=mnist -o data.download=true, or -o data.dir=FOLDER)",
                 " or ".join(str(d) for d in _candidate_dirs("mnist", data_dir)))
        return "mnist_embedded", SUBSET_DIR
    dirs = _candidate_dirs(name, data_dir)
    found = next((d for d in dirs if _has_split(d, split)), None)
    if found is None and download:
        if data_dir:
            raise UserError(f"data.dir='{data_dir}' lacks the {name} files and downloads go to paddle's cache; "
                            "drop data.dir or put the files there")
        _download(name, timeout)
        found = next((d for d in dirs if _has_split(d, split)), None)
    if found is None:
        where = " or ".join(str(d) for d in dirs)
        raise UserError(f"{name} {split} files not found in {where}; pass -o data.download=true, "
                        f"or -o data.dir=FOLDER holding {', '.join(FILES[split])}")
    return name, found


def embedded_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``mnist_embedded``'s split: held out (``test``) the subset's 1,000 digits; ``train`` the subset's
    4,000 training digits, then the yardstick's training digits that are neither of those nor held out."""
    subset_x, subset_y = load_folder(SUBSET_DIR, split)
    if split == "test":
        return subset_x, subset_y
    held_out = load_folder(SUBSET_DIR, "test")[0]
    known = {image.tobytes() for image in np.concatenate([subset_x, held_out])}
    more_x, more_y = load_folder(YARDSTICK_DIR, "train")
    new = np.array([image.tobytes() not in known for image in more_x], dtype=bool)
    return np.concatenate([subset_x, more_x[new]]), np.concatenate([subset_y, more_y[new]])


def load_split(name: str, folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = embedded_split(split) if name == "mnist_embedded" else load_folder(folder, split)
    if images.shape[1:] != (28, 28):
        raise UserError(f"{name} images in '{folder}' are {images.shape[1:]}, expected 28x28")
    return images, labels


# ------------------------------------------------------------ model input
def fit_to_size(images: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 [N, 28, 28] -> uint8 [N, 1, S, S]: 32 pads 2 px of background, 64 resizes bilinearly."""
    images = images[:, None]
    if image_size == 28:
        return np.ascontiguousarray(images)
    if image_size == 32:
        return np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    import paddle
    import paddle.nn.functional as F

    out = np.empty((len(images), 1, image_size, image_size), np.uint8)
    for start in range(0, len(images), 4096):
        chunk = paddle.to_tensor(images[start:start + 4096].astype(np.float32))
        resized = F.interpolate(chunk, size=[image_size, image_size], mode="bilinear", align_corners=False)
        out[start:start + 4096] = np.clip(np.rint(resized.numpy()), 0, 255).astype(np.uint8)
    return out


def to_unit_range(batch_uint8: np.ndarray):
    """uint8 pixels -> float32 paddle tensor in [-1, 1] (the Tanh range)."""
    import paddle

    return paddle.to_tensor(batch_uint8, dtype="float32") * (2.0 / 255.0) - 1.0


class Batches:
    """Shuffled mini-batches of one in-memory image array.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed in
    the middle of an epoch sees exactly the batches it would have seen. The last
    incomplete batch is dropped: BatchNorm statistics of a tiny batch are noise.

    Args:
        images: uint8 [N, C, S, S].
        labels: int64 [N], yielded with each batch.
        batch_size: images per batch.
        seed: shuffling seed.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        if len(images) < batch_size:
            raise UserError(f"train.batch_size={batch_size} exceeds the {len(images)} training images; "
                            "lower train.batch_size")
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        return stream(self.seed, STREAM_SHUFFLE, epoch).permutation(len(self.images))

    def epoch(self, epoch: int, start: int = 0, convert: Callable = to_unit_range) -> Iterator[tuple]:
        """Yield ``(images [B, C, S, S] float32 in [-1, 1], labels [B])`` from batch ``start`` on.

        ``convert`` turns the uint8 batch into the model's input: a paddle tensor unless told otherwise
        (benchmarks/torch_twin.py feeds the same batches to PyTorch).
        """
        order = self.order(epoch)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield convert(self.images[idx]), self.labels[idx]
