"""Sample digits from a trained generator, or walk between two of them.

python tools/infer.py --pretrained --digit 7                            # the shipped generator, no training needed
python tools/infer.py [--run output/dcgan] [-n 64] [--seed 0]          # <run>/infer/grid_seed0.png
python tools/infer.py --interpolate 3 7 --steps 10                      # strip PNG + GIF from seed 3 to seed 7
python tools/infer.py --engine inference [--export output/dcgan/export]  # the exported program, no training code
python tools/infer.py --engine onnx --z noise.npy --npy                  # ONNX Runtime on a saved noise batch

--run uses the run's generator.pdparams (its last step); --checkpoint <run>/generator_best.pdparams
takes the step with the lowest in-training FID instead.

Conditional models (model.num_classes=10: the default, and configs/cdcgan.yaml) also take digits:
python tools/infer.py --run output/dcgan --digit 7 -n 64                # 64 sevens: grid_seed0_digit7.png
python tools/infer.py --run output/dcgan --digit-grid                   # row d = digit d: digit_grid_seed0.png
python tools/infer.py --run output/dcgan --interpolate 3 7 --digits 1 4  # a walk from a 1 to a 4

A model trained on a folder of pictures names its classes after the sub-folders:
python tools/infer.py --run output/pets --class cat -n 16               # by name (or by index: --class 0)
"""

from pathlib import Path

from paddle_dcgan import cli
from paddle_dcgan.config import MAX_SAMPLES


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser)
    parser.add_argument("--engine", choices=("dygraph", "inference", "onnx"), default="dygraph",
                        help="dygraph: the generator net; inference: the export run by Paddle Inference; "
                             "onnx: the export's generator.onnx run by ONNX Runtime")
    parser.add_argument("--export", type=cli.path,
                        help="export folder for --engine inference / onnx (default: <run>/export)")
    parser.add_argument("-n", "--num", type=cli.whole_number(1, MAX_SAMPLES), default=64,
                        help=f"number of digits to draw (at most {MAX_SAMPLES:,})")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--seed", type=cli.whole_number(0), default=0,
                      help="noise seed (>= 0); the same seed draws the same digits")
    what.add_argument("--z", type=cli.path, metavar="NOISE_NPY",
                      help="draw from this noise batch instead ([N, nz, 1, 1] .npy)")
    what.add_argument("--interpolate", type=cli.whole_number(0), nargs=2, metavar=("SEED_A", "SEED_B"),
                      help="write a latent walk (slerp) from seed A's digit to seed B's as a PNG strip and a GIF")
    parser.add_argument("--steps", type=int, default=10, help="images in the --interpolate walk")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--digit", type=int, help="conditional models: draw only this digit (0-9); without it "
                                                 "the digits are drawn at random from the seed")
    which.add_argument("--class", dest="class_", metavar="NAME_OR_INDEX",
                       help="conditional models: draw only this class, by name (a class folder's name) or index")
    parser.add_argument("--digit-grid", action="store_true", help="conditional models: a 10 x 10 grid, row d "
                                                                  "digit d, each column one noise vector from --seed")
    parser.add_argument("--digits", nargs=2, metavar=("A", "B"),
                        help="conditional models, with --interpolate: walk from class A to class B, by index or "
                             "name (default: the classes the two seeds draw)")
    parser.add_argument("--out", type=cli.path, help="output folder (default: <run>/infer)")
    parser.add_argument("--individual", action="store_true", help="also write one PNG per digit")
    parser.add_argument("--npy", action="store_true", help="also write samples_<seed or noise file>.npy "
                                                           "(uint8 [N, C, H, W])")
    args = parser.parse_args()
    if args.class_ is not None:
        args.digit = args.class_
    if args.digit_grid and (args.z or args.interpolate or args.digit is not None):
        parser.error("--digit-grid draws every digit from --seed's noise; drop --z, --interpolate and --digit")
    if args.digit is not None and args.interpolate:
        parser.error("--interpolate takes the digits of its two ends as --digits A B, not --digit")
    if args.digits and not args.interpolate:
        parser.error("--digits A B goes with --interpolate; to draw one digit use --digit D")
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    from paddle_dcgan.sampling import sample as sampling
    from paddle_dcgan.sampling.engines import open_engine, output_folder

    engine = open_engine(args.engine, cli.generator_source(args), args.export, args.device)
    out = Path(cli.output_folder(args, "infer") or output_folder(engine))
    if args.interpolate:
        written = sampling.write_interpolation(engine, out, *args.interpolate, steps=args.steps, digits=args.digits)
        what = f"{args.steps}-step walk"
    elif args.digit_grid:
        written = sampling.write_digit_grid(engine, out, args.seed)
        what = "digit grid"
    else:
        written = sampling.write_samples(engine, out, args.num, args.seed, args.z, args.individual, args.npy,
                                         args.digit)
        what = f"the noise in {args.z}" if args.z else f"{args.num} digits"
    print(f"{what} from {engine.source} (step {engine.step}, {engine.description}) -> " + ", ".join(map(str, written)))

if __name__ == "__main__":
    cli.run(main)
