"""Score a generator (or a .npy of samples) against real held-out digits.

Generators of MNIST digits (trained on mnist, mnist_embedded or mnist_subset) and .npy samples are
scored by default, offline, on the MNIST yardstick shipped in the package: the
10,000 MNIST test digits, with the classifier trained on full MNIST.

python tools/eval.py [--run output/dcgan] [-n 10000]        # table + eval.json + class_histogram.png
python tools/eval.py --samples samples.npy                  # against the MNIST yardstick
python tools/eval.py --run output/fashion --classifier fashion.pdclf   # Fashion-MNIST's own test split
python tools/eval.py --run output/dcgan                      # a conditional run (the default) adds conditional accuracy, per-digit FID
python tools/eval.py --run output/pets                       # trained on a labelled folder: its held-out tenth,
                                                             # with output/classifiers/<folder>.pdclf (train_classifier.py)
python tools/eval.py --compare runA/eval/eval.json runB/eval/eval.json
"""

from pathlib import Path

from paddle_dcgan import cli
from paddle_dcgan.config import DATASETS, MNIST_YARDSTICK


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
    parser.add_argument("--samples", type=cli.path, help=".npy of samples to score instead of a generator "
                                                         "(uint8 or float in [-1, 1], [N, 1, S, S])")
    parser.add_argument("--data", choices=(MNIST_YARDSTICK,) + DATASETS,
                        help=f"real digits to score against: {MNIST_YARDSTICK} (shipped: MNIST's 10,000 test digits) "
                             "or a dataset's test split (default: the yardstick for MNIST generators and --samples, "
                             "else the generator's dataset)")
    parser.add_argument("--data-dir", type=cli.path, default="",
                        help="folder with the dataset's IDX files, or with --data folder a labelled folder of "
                             "pictures (as data.dir)")
    parser.add_argument("--classifier", type=cli.path, default="",
                        help=".pdclf file (default: the one for the dataset in "
                             "paddle_dcgan/evaluation/classifiers/; mnist.pdclf for the yardstick)")
    parser.add_argument("-n", "--num", type=int, default=10000, help="samples to score (capped at the held-out size)")
    parser.add_argument("--seed", type=cli.whole_number(0), default=0,
                        help="seed (>= 0) for sampling and the real reference draw")
    parser.add_argument("--out", type=cli.path,
                        help="folder for eval.json and class_histogram.png (default: <run>/eval)")
    parser.add_argument("--compare", type=cli.path, nargs="+", metavar="EVAL_JSON",
                        help="print saved results side by side")
    args = parser.parse_args()
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    from paddle_dcgan.evaluation import evaluate as evaluation
    from paddle_dcgan.logs import holding_notices, show_notices

    if args.compare:
        print(evaluation.compare(args.compare))
        return
    with holding_notices() as notices:  # a failed check prints only its error line
        report, out = evaluation.evaluate(cli.generator_source(args), args.samples, args.data, args.data_dir,
                                          args.classifier, args.num, args.seed, cli.output_folder(args, "eval"),
                                          args.device)
    show_notices(notices)
    print(evaluation.format_table([report], [Path(report["source"]).name]))
    print(f"{report['num_samples']} samples scored against {report['reference']} in "
          f"{report['seconds']:.1f} s -> {out}/eval.json")


if __name__ == "__main__":
    cli.run(main)
