"""Entry points for ``paddle.hub``: a trained generator from a clone of this repository.

    import paddle
    G = paddle.hub.load("path/to/paddle-dcgan", "generator", source="local", pretrained=True)  # no training
    G = paddle.hub.load("path/to/paddle-dcgan", "generator", source="local", run="output/dcgan")
    images = G(paddle.randn([16, G.nz, 1, 1]))     # [16, 1, 28, 28] in [-1, 1]

    # a conditional run (configs/cdcgan.yaml) also takes the digits: class ids int64 [N]
    G = paddle.hub.load("path/to/paddle-dcgan", "generator", source="local", run="output/cdcgan")
    sevens = G(paddle.randn([16, G.nz, 1, 1]), paddle.full([16], 7, "int64"))

paddle.hub imports this file with the repository first on ``sys.path``, so the
``paddle_dcgan`` package beside it is the one used (when no other copy was
imported before).
"""

dependencies = ["paddle", "numpy", "yaml"]  # import names paddle.hub checks before calling an entry point


def generator(run: str = "output/dcgan", checkpoint: str = "", pretrained: bool = False):
    """The trained DCGAN generator of a run, in eval mode (BatchNorm uses its running statistics).

    Args:
        run: a run folder (its generator.pdparams, else its newest checkpoint), relative to
            the current directory.
        checkpoint: a generator.pdparams or .pdckpt file; overrides ``run``.
        pretrained: the conditional generator that ships in the package; overrides both.

    Its ``nz`` attribute is the length of the noise it takes: z [N, nz, 1, 1] float32. Its
    ``num_classes`` is 0 for an unconditional generator, else the number of classes whose ids
    (labels [N] int64) it takes as its second argument; ``class_names`` names them by index
    (the digits, or the class folders of a model trained on your own pictures).
    """
    from paddle_dcgan.config import check_path
    from paddle_dcgan.sampling.load import PRETRAINED, load_generator

    if pretrained:
        return load_generator(PRETRAINED)[0]
    check_path("checkpoint" if checkpoint else "run", checkpoint or run)
    net, _info = load_generator(checkpoint or run)
    return net
