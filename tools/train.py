"""Train a DCGAN: python tools/train.py -c configs/dcgan.yaml [-o key=value ...] [--resume latest]"""

import paddle_dcgan
from paddle_dcgan import cli


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_config_args(parser)
    parser.add_argument("--resume", type=cli.path, metavar="latest|PATH",
                        help="continue a run: 'latest' (newest checkpoint of output_dir/run_name), "
                             "a run folder or a .pdckpt file")
    args = parser.parse_args()
    cfg = paddle_dcgan.load_config(args.config, cli.overrides(args))  # needs no paddle: a mistake is said at once
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)
    paddle_dcgan.train(cfg, resume=args.resume)


if __name__ == "__main__":
    cli.run(main)
