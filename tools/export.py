"""Export a trained generator to run without the training code.

python tools/export.py [--run output/dcgan] [--checkpoint FILE] [--out DIR] [--onnx]

Writes <run>/export/: generator.json + generator.pdiparams (paddle.jit.save, BatchNorm in eval mode; the inputs
are z and, for a conditional run, labels), metadata.json and, with --onnx, generator.onnx (needs:
pip install -e ".[export]"). Run the export with python tools/infer.py --engine inference (or --engine onnx).
"""

from paddle_dcgan import cli


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_generator_args(parser, device=False)  # export takes no --device
    parser.add_argument("--out", type=cli.path,
                        help="export folder (default: <run>/export); an earlier export there is replaced")
    parser.add_argument("--onnx", action="store_true", help="also convert to generator.onnx with paddle2onnx")
    args = parser.parse_args()
    cli.start_paddle()  # thread and MKL settings, then paddle (must come before anything imports it)

    from paddle_dcgan.sampling.export import export_generator

    folder, meta = export_generator(cli.generator_source(args), cli.output_folder(args, "export"), args.onnx)
    parity = ", ".join(f"{name} {diff:.1e}" for name, diff in meta["parity_max_abs_diff"].items())
    print(f"exported {meta['source']} (step {meta['step']}) -> {folder} "
          f"(max abs difference to dygraph on {meta['parity_samples']} samples: {parity})")


if __name__ == "__main__":
    cli.run(main)
