"""paddle-dcgan: a DCGAN digit generator for PaddlePaddle 3.

Notebook use::

    import paddle_dcgan
    paddle_dcgan.tune_cpu()                               # optional, first: ~3x faster on CPU
    paddle_dcgan.setup_logging()                          # optional: show a training run's log lines
    G, info = paddle_dcgan.load_pretrained()              # the generator that ships in the package
    G, info = paddle_dcgan.load_generator("output/dcgan") # or a run folder, generator.pdparams or .pdckpt
    images = paddle_dcgan.sample(G, 64, seed=0)           # [64, 1, 28, 28] in [-1, 1]
    paddle_dcgan.show_grid(images)
    walk = paddle_dcgan.interpolate(G, 3, 7, steps=10)    # [10, 1, 28, 28]: seed 3's digit -> seed 7's
    sevens = paddle_dcgan.sample(G, 64, seed=0, digit=7)  # the default model is conditional: 64 sevens

``import paddle_dcgan`` changes nothing in the process: it does not import
paddle (the names below are loaded on first use), set environment variables,
install warning filters or touch matplotlib's backend. :func:`tune_cpu` is the
one call that sets anything, and says what it set.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it, imported on first access (PEP 562)
_API = {
    "tune_cpu": "cpu_tuning",
    "Config": "config", "load_config": "config",
    "UserError": "errors", "setup_logging": "logs",
    "Generator": "core.models", "Discriminator": "core.models", "build_models": "core.models",
    "load_generator": "sampling.load", "GeneratorInfo": "sampling.load", "load_pretrained": "sampling.load",
    "sample": "sampling.sample", "interpolate": "sampling.sample",
    "export_generator": "sampling.export", "open_engine": "sampling.engines",
    "show_grid": "visualize",
    "Trainer": "training.run", "train": "training.run",
    "evaluate": "evaluation.evaluate",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        value = getattr(import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value  # later accesses skip this function
        return value
    raise AttributeError(f"module 'paddle_dcgan' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
