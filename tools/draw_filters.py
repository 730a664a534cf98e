"""Draw what the discriminator's first convolution learned: its 4x4 filters over the image, as grey tiles.

python tools/draw_filters.py [--run output/dcgan]                  # <run>/d_filters.png
python tools/draw_filters.py --run output/dcgan --out docs/d_filters.png

--run takes a run folder (its newest checkpoint) or a .pdckpt file. A conditional discriminator's
first convolution also reads the label planes; only the weights over the image are drawn.
"""

from pathlib import Path

from paddle_dcgan import cli

FIRST_CONV = "blocks.0.0.weight"  # [ndf, image channels (+ classes), 4, 4]


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--run", default="output/dcgan", help="run folder (its newest checkpoint) or a .pdckpt file")
    parser.add_argument("--out", help="PNG to write (default: <run>/d_filters.png)")
    args = parser.parse_args()
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    import numpy as np

    from paddle_dcgan.errors import UserError
    from paddle_dcgan.files.checkpoint import load_checkpoint
    from paddle_dcgan.files.run_folder import find_checkpoint, run_folder_of
    from paddle_dcgan.visualize import save_filter_grid

    if not Path(args.run).exists():
        raise UserError(f"no run folder or checkpoint '{args.run}'; train one first (python tools/train.py)")
    path = find_checkpoint(args.run, Path(args.run))
    saved = load_checkpoint(path)
    weights = np.asarray(saved["discriminator"][FIRST_CONV], np.float32)
    image_channels = weights.shape[1] - saved["config"]["model"]["num_classes"]
    filters = weights[:, :image_channels]  # the label planes' weights follow the image's
    out = Path(args.out) if args.out else run_folder_of(path) / "d_filters.png"
    save_filter_grid(filters, out, f"D's first-layer filters: {filters.shape[0]} of "
                                   f"{filters.shape[2]}x{filters.shape[3]}, step {saved['step']}")
    print(f"{filters.shape[0]} filters of {path} (step {saved['step']}) -> {out}")


if __name__ == "__main__":
    cli.run(main)
