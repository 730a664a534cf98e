"""Sample digits from a trained generator: python tools/infer.py [--run output/dcgan] [-n 64] [--seed 0]"""

from pathlib import Path

from paddle_dcgan import cli
from paddle_dcgan.config import MAX_SAMPLES


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
    parser.add_argument("-n", "--num", type=cli.whole_number(1, MAX_SAMPLES), default=64,
                        help=f"number of digits to draw (at most {MAX_SAMPLES:,})")
    parser.add_argument("--seed", type=cli.whole_number(0), default=0,
                        help="noise seed (>= 0); the same seed draws the same digits")
    parser.add_argument("--out", help="output folder (default: <run>/infer)")
    parser.add_argument("--individual", action="store_true", help="also write one PNG per digit")
    parser.add_argument("--npy", action="store_true", help="also write samples_seed<SEED>.npy (uint8 [N, C, H, W])")
    args = parser.parse_args()
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    from paddle_dcgan.sampling import write_samples

    written, info, device = write_samples(cli.generator_source(args), args.num, args.seed,
                                          Path(args.out) if args.out else None, args.individual, args.npy,
                                          args.device)
    print(f"{args.num} digits from {info.source} (step {info.step}, {device}) -> " + ", ".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)
