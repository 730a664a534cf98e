"""A local web page to play with a trained generator: a grid of digits and a latent walk.

python tools/demo.py                          # the shipped generator, on http://127.0.0.1:7860
python tools/demo.py --run output/cdcgan --port 8000
python tools/demo.py --checkpoint output/dcgan/generator_best.pdparams

Pick a digit (conditional models) and a seed to see 64 samples; pick two seeds
and move the slider to walk between their digits. The page needs the 'demo'
extra (pip install -e ".[demo]") and fetches nothing from the internet.
"""

from paddle_dcgan import cli


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
    parser.set_defaults(run=None)  # None: the generator that ships in the package
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on; 0.0.0.0 shows the page to other machines too")
    parser.add_argument("--port", type=cli.whole_number(1, 65535), default=7860, help="port to serve on")
    args = parser.parse_args()
    from paddle_dcgan.sampling import demo  # imports neither paddle nor gradio: its functions do

    demo.check_address(args.host, args.port)  # a busy port is told before paddle loads
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)
    demo.load_gradio()  # a missing extra is told before the generator loads
    demo.launch(demo.open_generator(cli.generator_source(args), args.device), args.host, args.port)


if __name__ == "__main__":
    cli.run(main)
