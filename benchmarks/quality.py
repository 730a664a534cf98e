"""Quality per training budget: train each candidate recipe for the same budget, score it, print one table.

python benchmarks/quality.py --steps 2500                    # every candidate, 2,500 steps, 10,000 samples
python benchmarks/quality.py --steps 1000 -n 2000 --recipes plain,ema0.995   # a quicker screen
python benchmarks/quality.py --minutes 7                      # a wall-time budget (on a quiet machine only)
python benchmarks/quality.py --steps 2460 --recipes default,default/hl10k --seed 1   # the default and a longer average

Each recipe is configs/dcgan_plain.yaml (the DCGAN tutorial recipe) plus overrides,
on the shipped subset (4,000 digits) unless it sets data.name, a conditional D reading label planes
unless it sets model.conditioning, scored on the MNIST yardstick (the 10,000
test digits, the classifier trained on all of MNIST). Recipes that differ only in
the weight average (train.ema_decay, train.ema_halflife, train.ema_rampup) or
model.sample_bn follow the very same training trajectory (the
average never feeds back into training), so they share one training run; each
keeps its own average. ``sample_bn=batch`` (sampling in train mode, with each
batch's own statistics) is measured here only, as a reference point for the two
policies the library offers.

Columns: steps trained; wall-clock training time of the run (shared within a group);
seconds per 50 steps (the median of 50-step windows after 10 warm-up steps, the
candidate's own EMA update included) to convert steps to time on another machine;
then FID, MNIST score, precision and recall of ``-n`` samples against as many test digits, and for a
conditional recipe the share of samples the classifier reads as the digit asked for (each digit
drawn equally often, as tools/eval.py draws them).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN = ROOT / "configs" / "dcgan_plain.yaml"
TRAJECTORY_FREE = ("train.ema_decay", "train.ema_halflife", "train.ema_rampup", "model.sample_bn")  # keys that leave the training trajectory alone

# configs/dcgan.yaml without full MNIST on disk: the embedded digits, conditional (D reads label planes and a
# projection), both rates 1.2e-3, G averaged with a 5,000-image half-life
DEFAULT = {"data.name": "mnist_embedded", "model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
           "train.ema_halflife": 5000, "model.conditioning": "planes+projection"}

# name -> overrides on configs/dcgan_plain.yaml
RECIPES = {
    "plain": {},
    "default": DEFAULT,
    "default/recomputed": {**DEFAULT, "model.sample_bn": "recomputed"},
    # the default with D using the digit another way: label planes only, a read-out logit per digit only
    # (projection), or naming the digit (AC-GAN) with a class term of this weight
    "default/planes": {**DEFAULT, "model.conditioning": "planes"},
    "default/projection": {**DEFAULT, "model.conditioning": "projection"},
    **{f"default/classifier{w}": {**DEFAULT, "model.conditioning": "classifier", "train.class_loss": w}
       for w in (0.2, 0.5, 1.0)},
    "plain/recomputed": {"model.sample_bn": "recomputed"},
    "plain/batch": {"model.sample_bn": "batch"},
    "ema0.99": {"train.ema_decay": 0.99, "model.sample_bn": "recomputed"},
    "ema0.995": {"train.ema_decay": 0.995, "model.sample_bn": "recomputed"},
    "ema0.999": {"train.ema_decay": 0.999, "model.sample_bn": "recomputed"},
    "ema0.999/running": {"train.ema_decay": 0.999},
    "ttur": {"optim.lr_g": 1e-4, "optim.lr_d": 4e-4},
    "ttur/ema0.995": {"optim.lr_g": 1e-4, "optim.lr_d": 4e-4, "train.ema_decay": 0.995,
                      "model.sample_bn": "recomputed"},
    "lr4e-4": {"optim.lr_g": 4e-4, "optim.lr_d": 4e-4},
    "lr4e-4/ema0.995": {"optim.lr_g": 4e-4, "optim.lr_d": 4e-4, "train.ema_decay": 0.995,
                        "model.sample_bn": "recomputed"},
    "smooth0.9": {"train.real_label": 0.9},
    "smooth0.9/ema0.995": {"train.real_label": 0.9, "train.ema_decay": 0.995, "model.sample_bn": "recomputed"},
    "ngf128/ema0.995": {"model.ngf": 128, "train.ema_decay": 0.995, "model.sample_bn": "recomputed"},
    # the labels MNIST comes with: G draws the digit it is told (uniform labels when sampling), D judges (image, digit)
    "conditional": {"model.num_classes": 10},
    "conditional/ema0.999": {"model.num_classes": 10, "train.ema_decay": 0.999, "model.sample_bn": "recomputed"},
    "conditional/ema0.995": {"model.num_classes": 10, "train.ema_decay": 0.995, "model.sample_bn": "recomputed"},
    # a half-life in images that grows with the run (at most 5 % of the images seen so far)
    "conditional/hl5k": {"model.num_classes": 10, "train.ema_halflife": 5000, "model.sample_bn": "recomputed"},
    "conditional/hl10k": {"model.num_classes": 10, "train.ema_halflife": 10000, "model.sample_bn": "recomputed"},
    "conditional/hl20k": {"model.num_classes": 10, "train.ema_halflife": 20000, "model.sample_bn": "recomputed"},
    "conditional/hl10k/r0.1": {"model.num_classes": 10, "train.ema_halflife": 10000, "train.ema_rampup": 0.1,
                               "model.sample_bn": "recomputed"},
    "conditional/hl10k/running": {"model.num_classes": 10, "train.ema_halflife": 10000},
    "conditional/recomputed": {"model.num_classes": 10, "model.sample_bn": "recomputed"},
    "conditional/lr4e-4": {"model.num_classes": 10, "optim.lr_g": 4e-4, "optim.lr_d": 4e-4},
    "conditional/lr_d4e-4": {"model.num_classes": 10, "optim.lr_d": 4e-4},
    "conditional/lr_g4e-4": {"model.num_classes": 10, "optim.lr_g": 4e-4},
    "conditional/b128": {"model.num_classes": 10, "train.batch_size": 128, "optim.lr_g": 4e-4, "optim.lr_d": 4e-4},
    "conditional/lr6e-4": {"model.num_classes": 10, "optim.lr_g": 6e-4, "optim.lr_d": 6e-4},
    "conditional/lr8e-4": {"model.num_classes": 10, "optim.lr_g": 8e-4, "optim.lr_d": 8e-4},
    "conditional/lr1.2e-3": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3},
    "conditional/lr6e-4/hl5k": {"model.num_classes": 10, "optim.lr_g": 6e-4, "optim.lr_d": 6e-4,
                                "train.ema_halflife": 5000, "model.sample_bn": "recomputed"},
    "conditional/lr8e-4/hl5k": {"model.num_classes": 10, "optim.lr_g": 8e-4, "optim.lr_d": 8e-4,
                                "train.ema_halflife": 5000, "model.sample_bn": "recomputed"},
    "conditional/lr8e-4/hl10k": {"model.num_classes": 10, "optim.lr_g": 8e-4, "optim.lr_d": 8e-4,
                                 "train.ema_halflife": 10000, "train.ema_rampup": 0.1, "model.sample_bn": "recomputed"},
    "conditional/lr1.2e-3/hl5k": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                  "train.ema_halflife": 5000, "model.sample_bn": "recomputed"},
    "conditional/lr1.2e-3/hl5k/running": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                          "train.ema_halflife": 5000, "model.sample_bn": "running"},
    "conditional/lr1.2e-3/hl2.5k": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                    "train.ema_halflife": 2500, "model.sample_bn": "recomputed"},
    "conditional/lr1.2e-3/hl10k": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                   "train.ema_halflife": 10000, "model.sample_bn": "recomputed"},
    "conditional/lr1.6e-3": {"model.num_classes": 10, "optim.lr_g": 1.6e-3, "optim.lr_d": 1.6e-3},
    "conditional/lr8e-4/hinge": {"model.num_classes": 10, "optim.lr_g": 8e-4, "optim.lr_d": 8e-4,
                                 "train.loss": "hinge"},
    "conditional/lr1.2e-3/hinge": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                   "train.loss": "hinge"},
    "conditional/lr1.2e-3/beta2=0.99": {"model.num_classes": 10, "optim.lr_g": 1.2e-3, "optim.lr_d": 1.2e-3,
                                        "optim.beta2": 0.99},
    "conditional/lr8e-4/b128": {"model.num_classes": 10, "train.batch_size": 128, "optim.lr_g": 8e-4,
                                "optim.lr_d": 8e-4},
    "conditional/lr4e-4/betas0,0.99": {"model.num_classes": 10, "optim.lr_g": 4e-4, "optim.lr_d": 4e-4,
                                       "optim.beta1": 0.0, "optim.beta2": 0.99},
    "conditional/lr4e-4/beta2=0.99": {"model.num_classes": 10, "optim.lr_g": 4e-4, "optim.lr_d": 4e-4,
                                      "optim.beta2": 0.99},
}
TIMING_WARMUP, TIMING_WINDOW = 10, 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="train every recipe for this many steps")
    budget.add_argument("--minutes", type=float, help="train every group of recipes for this many minutes")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names, from: "
                        + ", ".join(RECIPES))
    parser.add_argument("--score-at", default="", metavar="STEPS",
                        help="also score every recipe at these earlier steps, e.g. 1000,2000 (a row each)")
    parser.add_argument("--num-early", type=int, default=2000, help="samples scored at the --score-at steps")
    parser.add_argument("-n", "--num", type=int, default=10000, help="samples scored per recipe")
    parser.add_argument("--seed", type=int, default=0, help="training seed (sampling uses the same)")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="applied to every recipe, e.g. data.name=mnist_subset (the default)")
    parser.add_argument("--out", default="output/quality", help="folder for results.json")
    return parser.parse_args()


def group_recipes(names: list[str]) -> dict[tuple, list[str]]:
    """Recipes keyed by what decides their training trajectory."""
    groups: dict[tuple, list[str]] = {}
    for name in names:
        key = tuple(sorted((k, v) for k, v in RECIPES[name].items() if k not in TRAJECTORY_FREE))
        groups.setdefault(key, []).append(name)
    return groups


def config_for(name: str, args: argparse.Namespace):
    from paddle_dcgan.config import load_config

    trajectory = {k: v for k, v in RECIPES[name].items() if k not in TRAJECTORY_FREE}
    overrides = ["data.name=mnist_subset", "model.conditioning=planes", f"seed={args.seed}", "train.epochs=100000",
                 *args.override]
    return load_config(str(PLAIN), overrides + [f"{k}={v}" for k, v in trajectory.items()])


def train_group(names: list[str], args: argparse.Namespace, scorers: dict) -> list[dict]:
    """Train the group's shared trajectory, scoring each recipe at --score-at and at the end; returns the rows."""
    from paddle_dcgan.training.ema import WeightAverage, decay_schedule
    from paddle_dcgan.training.run import Trainer

    trainer = Trainer(config_for(names[0], args))  # writes nothing: only fit() does
    schedules = {n: average_of(n, trainer.cfg.train) for n in names}
    averages = {key: WeightAverage(trainer.generator, decay_schedule(train))
                for key, train in schedules.values() if key}
    ema_seconds = {d: 0.0 for d in averages}
    trainer.generator.train()
    trainer.discriminator.train()
    deadline = time.perf_counter() + args.minutes * 60 if args.minutes else None
    windows, window_start, started = [], None, time.perf_counter()
    score_at = {int(s) for s in args.score_at.split(",") if s.strip()}
    ema_of = {n: averages.get(schedules[n][0]) for n in names}
    rows, done, epoch = [], False, 0
    while not done:
        for real, labels in trainer.batches.epoch(epoch):
            trainer.train_step(real, labels)
            for d, average in averages.items():
                t = time.perf_counter()
                average.update()
                ema_seconds[d] += time.perf_counter() - t
            if trainer.step == TIMING_WARMUP:
                window_start = time.perf_counter()
            elif window_start and (trainer.step - TIMING_WARMUP) % TIMING_WINDOW == 0:
                now = time.perf_counter()
                windows.append(now - window_start)
                window_start = now
            if trainer.step % 100 == 0:
                print(f"  {names[0]}: step {trainer.step} ({time.perf_counter() - started:.0f} s)", flush=True)
            done = trainer.step >= args.steps if args.steps else time.perf_counter() >= deadline
            if done or trainer.step in score_at:
                scoring_began = time.perf_counter()
                timing = {"seconds": scoring_began - started, "windows": windows, "ema_seconds": ema_seconds}
                rows += score_group(names, trainer, ema_of, timing, scorers["final" if done else "early"], args)
                paused = time.perf_counter() - scoring_began  # scoring is not training time
                started += paused
                deadline = deadline + paused if deadline else None
            if done:
                break
        epoch += 1
    return rows


def average_of(name: str, train) -> tuple[tuple | None, object]:
    """(key, TrainConfig) of the weight average recipe ``name`` samples from; key None: it samples G itself."""
    from paddle_dcgan.training.ema import decay_schedule

    train = copy.copy(train)
    for key in ("ema_decay", "ema_halflife", "ema_rampup"):
        if f"train.{key}" in RECIPES[name]:
            setattr(train, key, RECIPES[name][f"train.{key}"])
    key = (train.ema_decay, train.ema_halflife, train.ema_rampup) if decay_schedule(train) else None
    return key, train


def score_group(names: list[str], trainer, ema_of: dict, timing: dict, scorer, args) -> list[dict]:
    """A row per recipe of the group at the trainer's current step.

    ``timing``: training seconds so far, the 50-step window times (every average's update included)
    and each average's total update time; a recipe's s/50 steps counts its own average only.
    """
    steps, windows, ema_seconds = trainer.step, timing["windows"], timing["ema_seconds"]
    base = statistics.median(windows) - sum(ema_seconds.values()) * TIMING_WINDOW / steps if windows else None
    rows = []
    for name in names:
        own_ema = ema_seconds.get(average_of(name, trainer.cfg.train)[0], 0.0)
        result = score(name, trainer, ema_of[name], scorer, args)
        rows.append({"recipe": name, "steps": steps, "seconds": timing["seconds"], "samples": scorer.n,
                     "per_50": None if base is None else base + own_ema * TIMING_WINDOW / steps,
                     "accuracy": result.get("conditional_accuracy"),
                     **{k: result[k] for k in ("fid", "mnist_score", "precision", "recall")}})
        print(f"  {name} at step {steps}: FID {result['fid']:.1f}", flush=True)
    return rows


def samples_with_batch_stats(net, n: int, seed: int, batch_size: int):
    """``n`` images from a copy of ``net`` in train mode: every batch normalised by its own statistics."""
    import numpy as np
    import paddle

    from paddle_dcgan.sampling.batchnorm import quiet_batchnorm

    net = copy.deepcopy(net)
    net.train()
    z = np.random.default_rng(seed).standard_normal((n, net.nz, 1, 1), dtype=np.float32)
    with paddle.no_grad(), quiet_batchnorm():
        return np.concatenate([net(paddle.to_tensor(z[i:i + batch_size])).numpy() for i in range(0, n, batch_size)])


def score(name: str, trainer, average, scorer, args) -> dict:
    from paddle_dcgan.sampling.batchnorm import for_sampling

    net = average.average if average else trainer.generator
    policy = RECIPES[name].get("model.sample_bn", "running")
    if policy == "batch":
        return scorer.score(samples_with_batch_stats(net, scorer.n, args.seed, trainer.cfg.train.batch_size))
    return scorer.score_generator(for_sampling(net, policy, args.seed), args.seed)  # as tools/eval.py scores it


def format_table(rows: list[dict], floor: dict, floor_samples: int) -> str:
    head = f"{'recipe':<27}{'samples':>8}{'steps':>7}{'wall':>9}{'s/50 steps':>12}{'FID':>9}{'MNIST score':>13}{'precision':>11}" \
           f"{'recall':>8}{'accuracy':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        per_50 = f"{r['per_50']:.1f}" if r["per_50"] is not None else "-"
        lines.append(f"{r['recipe']:<27}{r['samples']:>8}{r['steps']:>7}{r['seconds'] / 60:>7.1f} m{per_50:>12}{r['fid']:>9.1f}"
                     f"{r['mnist_score']:>13.2f}{r['precision']:>11.3f}{r['recall']:>8.3f}"
                     + (f"{r['accuracy']:>10.3f}" if r["accuracy"] is not None else f"{'-':>10}"))
    lines.append(f"{'real vs real':<27}{floor_samples:>8}{'':>7}{'':>9}{'':>12}{floor['fid']:>9.1f}"
                 f"{floor['mnist_score']:>13.2f}{floor['precision']:>11.3f}{floor['recall']:>8.3f}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        sys.exit(f"error: unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    import paddle_dcgan

    paddle_dcgan.tune_cpu()
    from paddle_dcgan.evaluation.evaluate import YARDSTICK, make_scorer

    scorer = make_scorer(YARDSTICK, "", args.num, args.seed)
    scorers = {"final": scorer, "early": make_scorer(YARDSTICK, "", args.num_early, args.seed) if args.score_at
               else scorer}
    rows = []
    for group in group_recipes(names).values():
        print(f"training {', '.join(group)}", flush=True)
        rows += train_group(group, args, scorers)
        rows.sort(key=lambda r: (r["steps"], names.index(r["recipe"])))
    table = format_table(rows, scorer.floor(), scorer.n)
    print(f"\n{' '.join(sys.argv)}\n{scorer.n} samples vs {scorer.n} MNIST test digits "
          f"(classifier {scorer.classifier.id})\n{table}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"argv": sys.argv, "rows": rows, "floor": {
        k: scorer.floor()[k] for k in ("fid", "mnist_score", "precision", "recall")}}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
