"""Train a DCGAN: python tools/train.py -c configs/dcgan.yaml [-o key=value ...] [--resume latest]"""

from paddle_dcgan import cli
from paddle_dcgan.config import load_config
from paddle_dcgan.train import train


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_config_args(parser)
    parser.add_argument("--resume", metavar="latest|PATH",
                        help="continue a run: 'latest' (newest checkpoint of output_dir/run_name), "
                             "a run folder or a .pdckpt file")
    args = parser.parse_args()
    train(load_config(args.config, cli.overrides(args)), resume=args.resume)


if __name__ == "__main__":
    cli.run(main)
