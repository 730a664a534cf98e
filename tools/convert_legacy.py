"""Convert files of paddle-dcgan 0.1 (checkpoints, generator files, classifiers) to the current format.

    python tools/convert_legacy.py output/dcgan                 # a run folder: its checkpoints and generators
    python tools/convert_legacy.py old/generator.pdparams a.pdclf

paddle-dcgan 0.1 wrote pickles (paddle.save). Opening a pickle runs whatever code it
names, so no other tool of this package opens one: they stop with a line naming
this command. This tool is the one place that does, because you ask it to: convert
only files you trust, such as your own runs. Each file is rewritten in the current
format (data only, with a digest of its content); the original is kept beside it as
NAME.pickle.
"""

from __future__ import annotations

from paddle_dcgan import cli

LEGACY_NAMES = ("checkpoints/*.pdckpt", "generator.pdparams", "generator_best.pdparams")


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("paths", nargs="+", help="files of paddle-dcgan 0.1, or run folders holding them")
    args = parser.parse_args()
    cli.start_paddle()
    from pathlib import Path

    from paddle_dcgan.errors import UserError
    from paddle_dcgan.files.io import load_tagged
    from paddle_dcgan.files.legacy import FORMATS, convert, is_legacy

    files = []
    for given in map(Path, args.paths):
        if given.is_dir():
            found = sorted(f for pattern in LEGACY_NAMES for f in given.glob(pattern))
            if not found:
                raise UserError(f"'{given}' holds no checkpoint or generator file; pass a run folder or a file")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise UserError(f"'{given}' not found; pass a file of paddle-dcgan 0.1 or a run folder")
    for file in files:
        if not is_legacy(file):
            load_tagged(file, FORMATS)  # anything but a current paddle-dcgan file is one error line
            print(f"{file}: already in the current format")
            continue
        kept = convert(file)
        print(f"{file}: converted (the original is kept as {kept.name})")


if __name__ == "__main__":
    cli.run(main)
