"""paddle-dcgan: a DCGAN digit generator for PaddlePaddle 3.

Notebook use::

    import paddle_dcgan
    G = paddle_dcgan.load_generator("output/dcgan")   # run folder, generator.pdparams or .pdckpt
    images = paddle_dcgan.sample(G, 64, seed=0)       # [64, 1, 28, 28] in [-1, 1]
    paddle_dcgan.show_grid(images)
"""

from .runtime import configure_cpu_env, import_paddle_quietly

configure_cpu_env()  # must run before anything below imports paddle
import_paddle_quietly()

from .config import Config, load_config  # noqa: E402
from .errors import UserError  # noqa: E402
from .models import Discriminator, Generator, build_models  # noqa: E402
from .sampling import load_generator, sample  # noqa: E402
from .train import Trainer, train  # noqa: E402
from .visualize import show_grid  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Config", "load_config", "UserError", "Generator", "Discriminator", "build_models",
           "load_generator", "sample", "show_grid", "Trainer", "train"]
