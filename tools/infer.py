"""Sample digits from a trained generator: python tools/infer.py [--run output/dcgan] [-n 64] [--seed 0]

--run uses the run's generator.pdparams (its last step); --checkpoint <run>/generator_best.pdparams
takes the step with the lowest in-training FID instead.
"""

from pathlib import Path

import paddle_dcgan
from paddle_dcgan import cli
from paddle_dcgan.errors import UserError


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
    parser.add_argument("-n", "--num", type=int, default=64, help="number of digits to draw")
    parser.add_argument("--seed", type=int, default=0, help="noise seed; the same seed draws the same digits")
    parser.add_argument("--out", help="output folder (default: <run>/infer)")
    parser.add_argument("--individual", action="store_true", help="also write one PNG per digit")
    parser.add_argument("--npy", action="store_true", help="also write samples_seed<SEED>.npy (uint8 [N, C, H, W])")
    args = parser.parse_args()
    if args.num < 1:
        raise UserError(f"--num must be >= 1, got {args.num}")
    paddle_dcgan.tune_cpu()  # thread and MKL settings; must come before paddle is imported

    from paddle_dcgan.sampling import write_samples

    written, info, device = write_samples(cli.generator_source(args), args.num, args.seed,
                                          Path(args.out) if args.out else None, args.individual, args.npy,
                                          args.device)
    print(f"{args.num} digits from {info.source} (step {info.step}, {device}) -> " + ", ".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)
