"""Score a generator (or a .npy of samples) against real held-out digits.

python tools/eval.py [--run output/dcgan] [-n 10000]        # table + eval.json + class_histogram.png
python tools/eval.py --run output/cdcgan                     # conditional: + conditional accuracy, per-digit FID
python tools/eval.py --samples samples.npy --data mnist_subset
python tools/eval.py --compare runA/eval/eval.json runB/eval/eval.json
"""

from pathlib import Path

import paddle_dcgan
from paddle_dcgan import cli
from paddle_dcgan.config import DATASETS


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
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
    args = parser.parse_args()
    paddle_dcgan.tune_cpu()  # thread and MKL settings; must come before paddle is imported

    from paddle_dcgan import evaluation

    if args.compare:
        print(evaluation.compare(args.compare))
        return
    report, out = evaluation.evaluate(cli.generator_source(args), args.samples, args.data, args.data_dir,
                                      args.classifier, args.num, args.seed, args.out, args.device)
    print(evaluation.format_table([report], [Path(report["source"]).name]))
    print(f"{report['num_samples']} samples scored against {report['dataset']} held-out in "
          f"{report['seconds']:.1f} s -> {out}/eval.json")


if __name__ == "__main__":
    cli.run(main)
