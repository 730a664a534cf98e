"""Train the LeNet digit classifier that tools/eval.py scores with.

python tools/train_classifier.py --data mnist_subset   # -> paddle_dcgan/evaluation/classifiers/mnist_subset.pdclf
python tools/train_classifier.py --data mnist --data-dir FOLDER --epochs 4   # -> classifiers/mnist.pdclf (the yardstick's)
python tools/train_classifier.py --data folder --data-dir PATH   # your labelled pictures -> output/classifiers/<name>.pdclf

A folder's classifier learns its class sub-folders from 32x32 copies of the pictures, on the nine
tenths of each class that data/folder.py keeps for training, and is measured on the held-out tenth:
the same split tools/eval.py scores generators against.
"""

from pathlib import Path

from paddle_dcgan import cli
from paddle_dcgan.config import DATASETS, MAX_SEED


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--data", default="auto", choices=DATASETS, help="dataset whose training split is used")
    parser.add_argument("--data-dir", type=cli.path, default="",
                        help="folder with the dataset's IDX files, or with --data folder your pictures (as data.dir)")
    parser.add_argument("--download", action="store_true", help="download a missing dataset (as data.download)")
    parser.add_argument("--epochs", type=cli.whole_number(1), default=10, help="passes over the training split")
    parser.add_argument("--seed", type=cli.whole_number(0, MAX_SEED), default=0,
                        help=f"weights and shuffling seed (0 to {MAX_SEED:,})")
    parser.add_argument("--out", type=cli.path,
                        help="output file (default: paddle_dcgan/evaluation/classifiers/<dataset>.pdclf)")
    args = parser.parse_args()
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    from paddle_dcgan.errors import UserError
    from paddle_dcgan.evaluation.classifier import (check_has_classes, default_classifier_path, folder_dataset,
                                                       train_classifier)
    from paddle_dcgan.data.mnist import resolve
    from paddle_dcgan.files.io import check_can_write
    from paddle_dcgan.logs import holding_notices, setup_logging, show_notices

    setup_logging()
    with holding_notices() as notices:  # shown only once every check below has passed
        if args.data == "folder":
            if not args.data_dir:
                raise UserError("--data folder needs the folder: add --data-dir PATH (one sub-folder per class)")
            dataset, folder = "folder", Path(args.data_dir)
            check_has_classes(folder)
            identity = folder_dataset(folder)
        else:
            dataset, folder = resolve(args.data, args.data_dir, args.download, split="test")
            identity = dataset
        out = check_can_write(Path(args.out) if args.out else default_classifier_path(identity))
    show_notices(notices)
    model = train_classifier(dataset, folder, args.epochs, args.seed)
    model.save(out)
    print(f"{model.id}: held-out accuracy {model.accuracy:.4f} -> {out}")


if __name__ == "__main__":
    cli.run(main)
