"""paddle-dcgan: a DCGAN digit generator for PaddlePaddle 3."""
from .runtime import configure_cpu_env, import_paddle_quietly

configure_cpu_env()  # must run before anything below imports paddle
import_paddle_quietly()
