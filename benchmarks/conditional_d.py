"""Which label-aware discriminator trains the conditional DCGAN better here: label planes or projection?

python tools/train.py -c configs/cdcgan.yaml -o eval.every_epochs=5      # label planes (paddle_dcgan.core.models)
python benchmarks/conditional_d.py --against output/cdcgan [--epochs 10] [--compare-only RUN]

Trains the configuration of the ``--against`` run (configs/cdcgan.yaml with in-training evaluation)
once more for ``--epochs`` epochs, with the same seed, data, generator and evaluation, but with a
projection discriminator (Miyato & Koyama, "cGANs with Projection Discriminator", 2018) instead of
label planes: the plain discriminator's logit plus the dot product of its last feature map with a
learned embedding of the label. Prints both runs' in-training evaluations (conditional accuracy and
FID on the held-out set's 1,000 digits, 100 per digit) side by side, at the epochs both have reached.
``--compare-only RUN`` prints that table for a projection run trained before.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import paddle_dcgan


def _evals(run: Path) -> dict[int, dict[str, str]]:
    with open(run / "evals.csv", encoding="utf-8") as f:
        return {int(row["epoch"]): row for row in csv.DictReader(f)}


def _print_table(planes_run: Path, projection_run: Path) -> None:
    planes, projection = _evals(planes_run), _evals(projection_run)
    print(f"\n{'epoch':>5}  {'conditional accuracy':>32}  {'FID':>24}")
    print(f"{'':>5}  {'label planes':>15} {'projection':>16}  {'label planes':>12} {'projection':>11}")
    for epoch in sorted(set(planes) & set(projection)):
        a, b = planes[epoch], projection[epoch]
        print(f"{epoch:>5}  {float(a['conditional_accuracy']):>15.3f} {float(b['conditional_accuracy']):>16.3f}  "
              f"{float(a['fid']):>12.2f} {float(b['fid']):>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="output/cdcgan", help="the label-planes run (trained with "
                                                                   "eval.every_epochs)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the projection run")
    parser.add_argument("--out", default="output", help="parent folder of the projection run (conditional_d)")
    parser.add_argument("--compare-only", metavar="RUN", help="print the table for this projection run; no training")
    args = parser.parse_args()
    against = Path(args.against)
    if not (against / "config.yaml").is_file():
        parser.error(f"{against}/config.yaml not found: train it with -o eval.every_epochs=5 first")
    if args.compare_only:
        _print_table(against, Path(args.compare_only))
        return
    paddle_dcgan.tune_cpu()

    from paddle import nn

    from paddle_dcgan.training import run as trainer
    from paddle_dcgan.core.models import Discriminator, Generator, init_dcgan_weights

    class ProjectionDiscriminator(Discriminator):
        """The plain discriminator's logit plus <e_y, phi(x)>: phi(x) its last feature map
        [N, W, base, base] flattened, e_y a learned embedding of the label y."""

        def __init__(self, image_size: int, ndf: int, channels: int, num_classes: int):
            super().__init__(image_size, ndf, channels)
            read_out = self.blocks[-1].weight  # [1, W, base, base]
            # label [N] -> [N, W * base * base]: one more read-out kernel per class
            self.class_embedding = nn.Embedding(num_classes, read_out.shape[1] * read_out.shape[2] * read_out.shape[3])

        def forward(self, images, labels=None):
            *body, read_out = self.blocks
            features = images
            for block in body:
                features = block(features)  # ends as [N, W, base, base]
            projection = (self.class_embedding(labels) * features.flatten(1)).sum(axis=1)  # [N]
            return read_out(features).flatten() + projection

    def with_projection(image_size, nz, ngf, ndf, channels=1, num_classes=0):
        generator = Generator(image_size, nz, ngf, channels, num_classes)
        discriminator = ProjectionDiscriminator(image_size, ndf, channels, num_classes)
        init_dcgan_weights(generator)
        init_dcgan_weights(discriminator)
        nn.initializer.Normal(0.0, 0.02)(discriminator.class_embedding.weight)  # the scale of the read-out's kernel
        return generator, discriminator

    cfg = paddle_dcgan.load_config(str(against / "config.yaml"), [
        f"train.epochs={args.epochs}", f"output_dir={args.out}", "run_name=conditional_d"])
    trainer.build_models = with_projection  # what the Trainer builds its nets with
    _print_table(against, trainer.Trainer(cfg).fit())


if __name__ == "__main__":
    main()
