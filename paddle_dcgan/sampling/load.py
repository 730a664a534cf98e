"""Loading a trained generator for sampling: from a run folder, a generator file, a checkpoint, or the
generator that ships in the package (:func:`load_pretrained`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import BEFORE_THE_KEY
from ..core.models import Generator
from ..errors import UserError
from ..files.checkpoint import load_generator_state
from ..files.io import load_weights
from ..files.run_folder import find_checkpoint
from .batchnorm import for_sampling

# the conditional DCGAN of configs/cdcgan.yaml, trained by the command in its "made_by" (tools/make_pretrained.py)
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "cdcgan.pdparams"


@dataclass(frozen=True)
class GeneratorInfo:
    """Where a loaded generator came from."""

    source: Path  # the file its weights were read from
    step: int  # training step at which they were saved
    dataset: str  # the dataset it was trained on (mnist, mnist_subset, ...)
    model: dict  # the model section of its config (image_size, nz, ngf, ndf, channels and num_classes)
    scores: dict = field(default_factory=dict)  # the shipped generator's yardstick scores; {} for others
    class_names: tuple[str, ...] = ()  # a conditional generator's classes, by index (digits: "0" .. "9")
    data_dir: str = ""  # the folder of pictures it was trained on (data.name=folder); "" for the digit sets


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"'{path}' not found; train first (python tools/train.py -c configs/dcgan.yaml) or pass "
                        "a run folder, a generator.pdparams or a .pdckpt file")
    if path.is_dir():
        weights = path / "generator.pdparams"
        return weights if weights.is_file() else find_checkpoint(str(path), path)
    return path


def load_generator(path: str | Path) -> tuple[Generator, GeneratorInfo]:
    """A generator in eval mode, and its :class:`GeneratorInfo`.

    A generator file holds the net as the run sampled it. From a full checkpoint
    the same net is rebuilt: the EMA weights when the run kept an average, with the
    run's ``model.sample_bn`` policy applied.

    Args:
        path: a run folder (its generator.pdparams, else its newest checkpoint),
            a ``generator.pdparams`` or a ``.pdckpt`` file.

    Example::

        G, info = paddle_dcgan.load_generator("output/dcgan")
        images = paddle_dcgan.sample(G, 64, seed=0)
    """
    file = _resolve(path)
    saved = load_generator_state(file)
    model = saved["model"]
    # files written before conditional models existed lack num_classes: they are unconditional
    generator = Generator(model["image_size"], model["nz"], model["ngf"],
                          model.get("channels", BEFORE_THE_KEY["model.channels"]),
                          model.get("num_classes", BEFORE_THE_KEY["model.num_classes"]))
    load_weights(generator, saved["weights"], file)
    if saved["sample_bn"]:
        generator = for_sampling(generator, saved["sample_bn"], saved["seed"])
    generator.eval()
    generator.class_names = tuple(saved["class_names"])  # what sample(..., digit=NAME) and the engines read
    return generator, GeneratorInfo(file, saved["step"], saved["dataset"], dict(model), saved["scores"],
                                    generator.class_names, saved["data_dir"] if saved["dataset"] == "folder" else "")


def load_pretrained() -> tuple[Generator, GeneratorInfo]:
    """The generator that ships in the package, ready to sample offline, and its info (``info.scores``: its
    scores on the MNIST yardstick).

    Example::

        G, info = paddle_dcgan.load_pretrained()
        sevens = paddle_dcgan.sample(G, 16, seed=0, digit=7)
    """
    return load_generator(PRETRAINED)
