"""Files of paddle-dcgan 0.1: pickles written by ``paddle.save``, turned into the current format on request.

Nothing else in the package opens them (``io.load_tagged`` refuses them with a line
naming ``tools/convert_legacy.py``): unpickling runs whatever code the file names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ..errors import UserError
from . import container
from .io import read_file, save_tagged

FORMATS = ("paddle-dcgan-checkpoint", "paddle-dcgan-generator", "paddle-dcgan-classifier")


def is_legacy(path: Path) -> bool:
    return container.is_legacy(read_file(path))


def _as_data(value: Any) -> Any:
    """``value`` with tensors as numpy arrays, tuples as lists and paddle's random states as lists."""
    if isinstance(value, paddle.Tensor):
        return value.numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, dict):
        return {str(k): _as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_data(v) for v in value]
    if hasattr(value, "__getstate__") and type(value).__name__ == "GeneratorState":
        return [_as_data(v) for v in value.__getstate__()]
    return value


def convert(path: Path) -> Path:
    """Rewrite the 0.1 file ``path`` in the current format; returns where the original is kept."""
    try:
        old = paddle.load(str(path))
    except Exception as exc:  # paddle raises many types for a damaged file
        raise UserError(f"'{path}' cannot be read as a paddle-dcgan 0.1 file ({type(exc).__name__}): it is not "
                        "one, or it is damaged; nothing was converted") from None
    if not isinstance(old, dict) or old.get("format") not in FORMATS:
        raise UserError(f"'{path}' is a pickle but not a paddle-dcgan 0.1 file; nothing was converted")
    kept = path.with_name(path.name + ".pickle")
    if kept.exists():
        raise UserError(f"'{kept}' exists already; move it away and run the command again")
    data = {k: _as_data(v) for k, v in old.items() if k not in ("format", "version")}
    converted = path.with_name(f".{path.name}.converted")
    save_tagged(data, old["format"], converted)
    os.link(path, kept)  # the original stays under its new name before the converted file replaces it
    os.replace(converted, path)
    return kept
