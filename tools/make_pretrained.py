"""Write the generator that ships in the package from a trained run, with its yardstick scores.

    python tools/train.py -c configs/cdcgan.yaml
    python tools/make_pretrained.py --run output/cdcgan     # -> paddle_dcgan/pretrained/cdcgan.pdparams

The run's generator is scored on the MNIST yardstick (10,000 samples against the
10,000 MNIST test digits, as tools/eval.py does) and written with those scores and
the command that trained it, so ``paddle_dcgan.load_pretrained()`` says what it is.
"""

from __future__ import annotations

from paddle_dcgan import cli

TRAINED_BY = "python tools/train.py -c configs/cdcgan.yaml"


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--run", default="output/cdcgan", help="the trained run folder")
    parser.add_argument("--out", help="where to write it (default: paddle_dcgan/pretrained/cdcgan.pdparams)")
    args = parser.parse_args()
    cli.start_paddle()
    from pathlib import Path

    from paddle_dcgan.evaluation.evaluate import evaluate
    from paddle_dcgan.files.checkpoint import save_generator
    from paddle_dcgan.sampling.load import PRETRAINED, load_generator

    generator, info = load_generator(args.run)
    report, _ = evaluate(str(info.source), dataset="mnist_yardstick", num_samples=10000, seed=0,
                         out=str(Path(args.run) / "eval"))
    measured = report["samples"]
    scores = {k: measured[k] for k in ("fid", "mnist_score", "precision", "recall", "conditional_accuracy")}
    scores.update({k: report[k] for k in ("num_samples", "reference", "classifier")}, seed=0)
    out = Path(args.out) if args.out else PRETRAINED
    out.parent.mkdir(parents=True, exist_ok=True)
    save_generator(generator, info.model, info.dataset, info.step, out, scores=scores, made_by=TRAINED_BY)
    print(f"{out}: step {info.step}, " + ", ".join(f"{k} {v}" for k, v in scores.items()))


if __name__ == "__main__":
    cli.run(main)
