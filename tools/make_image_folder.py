"""Write a folder of PNG pictures, one sub-folder per class, to try data.name=folder on real images.

python tools/make_image_folder.py fashion_mnist --out data/fashion    # Fashion-MNIST's 60,000 training pictures
python tools/make_image_folder.py coloured_mnist --out data/coloured  # 10,000 real digits in colour, 32x32

- ``fashion_mnist``: the training split of Fashion-MNIST (``apt-get install dataset-fashion-mnist``,
  or any folder of its four .gz files with ``--data-dir``), 28x28 grey, in ten folders named by class.
- ``coloured_mnist``: the 10,000 MNIST training digits of the shipped yardstick (none of MNIST's test
  digits), each drawn in a random colour on a random background colour (the pair at least 100 apart
  in brightness, so the digit stays legible), padded to 32x32, in folders 0 .. 9. The colours come
  from ``--seed``: the same seed writes the same pictures.

Then train on them:

python tools/train.py -c configs/dcgan.yaml -o data.name=folder -o data.dir=data/fashion
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paddle_dcgan import cli

COLOURED_SIZE = 32
MIN_BRIGHTNESS_GAP = 100  # of 255, between a digit's colour and its background's


def fashion_mnist(data_dir: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Grey [N, 28, 28, 1] pictures, labels and folder names of Fashion-MNIST's training split."""
    from paddle_dcgan.data import mnist
    from paddle_dcgan.data.sources import CLASS_NAMES

    name, folder = mnist.resolve("fashion_mnist", data_dir, split="train")
    images, labels = mnist.load_split(name, folder, "train")
    return images[..., None], labels, tuple(n.replace("/", "-") for n in CLASS_NAMES["fashion_mnist"])


def brightness(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def coloured_mnist(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Colour [N, 32, 32, 3] digits on coloured backgrounds, labels and folder names (the digits)."""
    from paddle_dcgan.data import mnist

    digits, labels = mnist.load_split("mnist_yardstick", mnist.YARDSTICK_DIR, "train")
    rng = np.random.default_rng(seed)
    ink, paper = rng.integers(0, 256, (2, len(digits), 3)).astype(np.float64)
    dull = np.abs(brightness(ink) - brightness(paper)) < MIN_BRIGHTNESS_GAP
    while dull.any():  # draw again until every pair is far enough apart
        ink[dull], paper[dull] = rng.integers(0, 256, (2, int(dull.sum()), 3))
        dull = np.abs(brightness(ink) - brightness(paper)) < MIN_BRIGHTNESS_GAP
    pad = (COLOURED_SIZE - digits.shape[1]) // 2
    alpha = np.pad(digits, ((0, 0), (pad, pad), (pad, pad))).astype(np.float64)[..., None] / 255.0
    pictures = paper[:, None, None] * (1 - alpha) + ink[:, None, None] * alpha
    return np.rint(pictures).astype(np.uint8), labels, tuple(str(d) for d in range(10))


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("set", choices=("fashion_mnist", "coloured_mnist"), help="which pictures to write")
    parser.add_argument("--out", type=cli.path, required=True, help="folder to write (must be new or empty)")
    parser.add_argument("--data-dir", type=cli.path, default="",
                        help="fashion_mnist: a folder of its .gz files (default: Debian's and paddle's)")
    parser.add_argument("--seed", type=cli.whole_number(0), default=0, help="coloured_mnist: seed of the colours")
    args = parser.parse_args()

    from PIL import Image

    from paddle_dcgan.errors import UserError
    from paddle_dcgan.files.io import make_folder

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"'{out}' exists and is not an empty folder; pass a new folder")
    if args.set == "fashion_mnist":
        pictures, labels, names = fashion_mnist(args.data_dir)
    else:
        pictures, labels, names = coloured_mnist(args.seed)
    folders = [make_folder(out / name) for name in names]
    for i, (picture, label) in enumerate(zip(pictures, labels)):
        Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(folders[label] / f"{i:05d}.png")
    print(f"{len(pictures):,} pictures in {len(names)} class folders -> {out}")


if __name__ == "__main__":
    cli.run(main)
