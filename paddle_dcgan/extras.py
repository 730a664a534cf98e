"""Optional dependencies: imported only by the feature that needs them, never at import time.

Each belongs to an extra of setup.cfg, and a missing one is a :class:`UserError`
that names the pip command installing it.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from .errors import UserError

# module -> (extra in setup.cfg, what it is used for)
EXTRAS = {
    "paddle2onnx": ("export", "converting the exported generator to ONNX"),
    "onnxruntime": ("export", "running the ONNX generator"),
    "visualdl": ("dashboard", "the VisualDL dashboard (train.visualdl)"),
    "gradio": ("demo", "the demo page (tools/demo.py)"),
}


def require(module: str) -> ModuleType:
    """Import the optional ``module``, or raise a UserError saying how to install it."""
    extra, purpose = EXTRAS[module]
    try:
        return import_module(module)
    except ImportError:
        raise UserError(f"{purpose} needs {module}, which is not installed; install the '{extra}' extra: "
                        f'pip install -e ".[{extra}]"') from None
