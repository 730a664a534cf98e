"""Quality over training: score every checkpoint a run kept, on the MNIST yardstick.

python benchmarks/checkpoints.py output/cdcgan                 # every kept checkpoint, 10,000 samples each
python benchmarks/checkpoints.py output/cdcgan -n 2000 --steps 2480,3720

To keep one checkpoint per 10 epochs, train with e.g.
``-o train.checkpoint_every=620 train.keep_checkpoints=10`` (62 steps per epoch on the subset).

For each checkpoint it scores the trained generator G with the running BatchNorm
statistics of training (what a run with the default ``model.sample_bn`` and no
``train.ema_decay`` samples), and, when the run kept a weight average, that average
with the run's ``model.sample_bn`` policy. Neither the average nor the policy feeds
back into training, so one run with both on gives the rows of both recipes.
A conditional generator is scored with every digit equally often and adds its
conditional accuracy. One line per row, then a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (its checkpoints/ are scored)")
    parser.add_argument("-n", "--num", type=int, default=10000, help="samples per score")
    parser.add_argument("--steps", default="", help="only these steps, comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    args = parser.parse_args()
    import paddle_dcgan

    paddle_dcgan.tune_cpu()
    from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
    from paddle_dcgan.evaluation.evaluate import choose_reference, make_scorer
    from paddle_dcgan.evaluation.metrics import CONDITIONAL_KEY
    from paddle_dcgan.core.models import build_models
    from paddle_dcgan.sampling.batchnorm import for_sampling

    paths = list_checkpoints(Path(args.run))
    wanted = {int(s) for s in args.steps.split(",") if s.strip()}
    if not paths:
        sys.exit(f"error: no checkpoints in '{args.run}/checkpoints'; pass a run folder")
    scorer = None
    rows = []
    for path in paths:
        saved = load_checkpoint(path)
        if wanted and saved["step"] not in wanted:
            continue
        m = saved["config"]["model"]
        if scorer is None:
            scorer = make_scorer(choose_reference(None, saved["dataset"]), "", args.num, args.seed)
        net, _ = build_models(m["image_size"], m["nz"], m["ngf"], m["ndf"], num_classes=m.get("num_classes", 0))
        candidates = [("G", saved["generator"], "running")]
        if saved.get("ema"):
            decay = saved["config"]["train"]["ema_decay"]
            candidates.append((f"average {decay}", saved["ema"]["weights"], m.get("sample_bn", "running")))
        for name, weights, policy in candidates:
            net.set_state_dict(weights)
            result = scorer.score_generator(for_sampling(net, policy, saved["config"]["seed"]), seed=args.seed)
            row = {"step": saved["step"], "epoch": saved["epoch"], "net": name, "bn": policy, **result}
            rows.append(row)
            print(f"step {row['step']} epoch {row['epoch']} {name} ({policy}): FID {result['fid']:.2f}"
                  + (f", conditional accuracy {result[CONDITIONAL_KEY]:.4f}, per-digit FID "
                     + " ".join(f"{v:.1f}" for v in result["per_digit_fid"])
                     + f" (mean {result['per_digit_fid_mean']:.1f})" if CONDITIONAL_KEY in result else ""),
                  flush=True)
    conditional = any(CONDITIONAL_KEY in r for r in rows)
    print(f"\n{' '.join(sys.argv)}\n{args.num} samples per row vs {scorer.n} MNIST test digits "
          f"(classifier {scorer.classifier.id})\n")
    print("| step | epoch | net | BatchNorm | FID | MNIST score | precision | recall |"
          + (" conditional accuracy | per-digit FID, mean |" if conditional else ""))
    print("| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if conditional else ""))
    for r in rows:
        print(f"| {r['step']} | {r['epoch']} | {r['net']} | {r['bn']} | {r['fid']:.2f} | {r['mnist_score']:.2f} | "
              f"{r['precision']:.3f} | {r['recall']:.3f} |" + (f" {r[CONDITIONAL_KEY]:.4f} | {r['per_digit_fid_mean']:.1f} |" if conditional else ""))


if __name__ == "__main__":
    main()
