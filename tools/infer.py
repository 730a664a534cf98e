"""Sample digits from a trained generator: python tools/infer.py [--run output/dcgan] [-n 64] [--seed 0]"""

from pathlib import Path

import numpy as np

from paddle_dcgan import cli
from paddle_dcgan.checkpoint import run_folder_of
from paddle_dcgan.sampling import load_generator, sample
from paddle_dcgan.errors import UserError
from paddle_dcgan.runtime import select_device
from paddle_dcgan.visualize import save_grid, to_uint8


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--run", default="output/dcgan",
                        help="run folder (uses its generator.pdparams, else its newest checkpoint)")
    parser.add_argument("--checkpoint", help="a generator.pdparams or .pdckpt file; overrides --run")
    parser.add_argument("-n", "--num", type=int, default=64, help="number of digits to draw")
    parser.add_argument("--seed", type=int, default=0, help="noise seed; the same seed draws the same digits")
    parser.add_argument("--out", help="output folder (default: <run>/infer)")
    parser.add_argument("--individual", action="store_true", help="also write one PNG per digit")
    parser.add_argument("--npy", action="store_true", help="also write samples_seed<SEED>.npy (uint8 [N, C, H, W])")
    parser.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N")
    args = parser.parse_args()
    if args.num < 1:
        raise UserError(f"--num must be >= 1, got {args.num}")

    device = select_device(args.device)  # before loading, so the weights land on that device
    source = args.checkpoint or args.run
    generator = load_generator(source)
    images = to_uint8(sample(generator, args.num, seed=args.seed))
    out = Path(args.out) if args.out else run_folder_of(Path(source)) / "infer"
    out.mkdir(parents=True, exist_ok=True)
    grid = out / f"grid_seed{args.seed}.png"
    save_grid(images, grid, scale=3)
    written = [grid]
    if args.individual:
        from PIL import Image

        folder = out / f"seed{args.seed}"
        folder.mkdir(exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
        written.append(folder)
    if args.npy:
        np.save(out / f"samples_seed{args.seed}.npy", images)
        written.append(out / f"samples_seed{args.seed}.npy")
    print(f"{args.num} digits from {generator.source} (step {generator.step}, {device}) -> "
          + ", ".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)
