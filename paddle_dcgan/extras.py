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
    """Import the optional ``module``, or raise a UserError saying how to install it, or reinstall it.

    An installed package can fail to import with any exception, not only ImportError:
    a protobuf release newer or older than the one its generated code was made for
    raises TypeError, a half-upgraded dependency AttributeError. Those say the
    installed versions do not fit together, and reinstalling the extra is the fix.
    """
    extra, purpose = EXTRAS[module]
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the package is there; one of its own imports is missing
            raise _broken(module, extra, purpose, exc) from None
        raise UserError(f"{purpose} needs {module}, which is not installed; install the '{extra}' extra: "
                        f'pip install -e ".[{extra}]"') from None
    except Exception as exc:  # noqa: BLE001 (whatever the package's import raises, the fix is the same)
        raise _broken(module, extra, purpose, exc) from None


def _broken(module: str, extra: str, purpose: str, exc: Exception) -> UserError:
    lines = str(exc).strip().splitlines()
    why = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    why = why if len(why) <= 100 else why[:97] + "..."
    return UserError(f"{purpose} needs {module}, which is installed but fails to import ({why}); reinstall the "
                     f"'{extra}' extra so that pip picks versions that work together: "
                     f'pip install --force-reinstall -e ".[{extra}]"')
