"""Score a generator (or a .npy of samples) against real held-out digits.

python tools/eval.py [--run output/dcgan] [-n 10000]        # table + eval.json + class_histogram.png
python tools/eval.py --samples samples.npy --data mnist_subset
python tools/eval.py --compare runA/eval/eval.json runB/eval/eval.json
"""

import json
import time
from pathlib import Path

import numpy as np

from paddle_dcgan import cli
from paddle_dcgan.classifier import find_classifier
from paddle_dcgan.config import DATASETS
from paddle_dcgan.data import resolve
from paddle_dcgan.errors import UserError
from paddle_dcgan.checkpoint import run_folder_of
from paddle_dcgan.evaluate import RealSets, Scorer, check_comparable, format_table, load_report, report, save_histogram
from paddle_dcgan.runtime import select_device
from paddle_dcgan.sampling import load_generator


def _compare(paths: list[str]) -> None:
    reports = [load_report(p) for p in paths]
    check_comparable(reports, paths)
    # name each column by its run: output/<run>/eval/eval.json -> <run>
    names = [Path(p).parent.parent.name if Path(p).parent.name == "eval" else Path(p).parent.name for p in paths]
    print(format_table(reports, names))


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--run", default="output/dcgan", help="run folder whose generator is scored")
    parser.add_argument("--checkpoint", help="generator.pdparams or .pdckpt to score; overrides --run")
    parser.add_argument("--samples", help=".npy of samples to score instead of a generator "
                                          "(uint8 or float in [-1, 1], [N, 1, S, S])")
    parser.add_argument("--data", choices=DATASETS, help="real dataset (default: the one the generator was "
                                                         "trained on; auto for --samples)")
    parser.add_argument("--data-dir", default="", help="folder with the dataset's IDX files (as data.dir)")
    parser.add_argument("--classifier", default="", help=".pdclf file (default: the one for the dataset in "
                                                         "paddle_dcgan/classifiers/)")
    parser.add_argument("-n", "--num", type=int, default=10000, help="samples to score (capped at the held-out size)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and the real reference draw")
    parser.add_argument("--out", help="folder for eval.json and class_histogram.png (default: <run>/eval)")
    parser.add_argument("--compare", nargs="+", metavar="EVAL_JSON", help="print saved results side by side")
    parser.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N")
    args = parser.parse_args()
    if args.compare:
        return _compare(args.compare)

    started = time.perf_counter()
    generator, samples = None, None
    if args.samples:
        try:
            samples = np.load(args.samples, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read samples '{args.samples}' ({exc}); pass a .npy file") from None
        source, dataset_name = args.samples, args.data or "auto"
    else:
        select_device(args.device)  # before loading, so the weights land on that device
        generator = load_generator(args.checkpoint or args.run)
        source, dataset_name = generator.source, args.data or generator.dataset
    dataset, folder = resolve(dataset_name, args.data_dir, split="test")
    classifier = find_classifier(args.classifier, dataset)
    if classifier.dataset != dataset:
        raise UserError(f"classifier {classifier.id} was trained on {classifier.dataset}, the samples are scored "
                        f"against {dataset}; pass a --classifier for {dataset}")
    scorer = Scorer(classifier, RealSets.load(dataset, folder, args.num if samples is None else len(samples),
                                              args.seed))
    n = scorer.n
    result = scorer.score(samples[:n]) if samples is not None else scorer.score_generator(generator, args.seed)
    full = report(result, scorer.floor(), classifier, str(source))
    full["dataset"], full["seconds"] = dataset, round(time.perf_counter() - started, 2)

    out = Path(args.out) if args.out else run_folder_of(Path(args.samples or source)) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
    save_histogram(result, scorer.floor(), out / "class_histogram.png")
    print(format_table([full], [Path(str(source)).name]))
    print(f"{n} samples scored against {dataset} held-out in {full['seconds']:.1f} s -> {out}/eval.json")


if __name__ == "__main__":
    cli.run(main)
