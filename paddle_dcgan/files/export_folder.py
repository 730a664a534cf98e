"""An export folder's files and ``metadata.json``: what ``sampling/export.py`` writes and the engines read.

=====================  ==========================================================
``generator.json``     the program, in Paddle 3's PIR format (``paddle.jit.save``)
``generator.pdiparams`` its weights
``generator.onnx``     with ``onnx=True``: the same network converted by paddle2onnx
``metadata.json``      nz, image size, channels, the BatchNorm policy, source file
                       and step, dataset, versions, and the parity measured on export
=====================  ==========================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from .run_folder import run_folder_of

EXPORT_FORMAT = "paddle-dcgan-export"
EXPORT_VERSION = 1  # newer metadata is refused by the readers
PREFIX = "generator"  # paddle.jit.save path prefix inside the folder
PROGRAM, PARAMS, ONNX_FILE, METADATA = f"{PREFIX}.json", f"{PREFIX}.pdiparams", f"{PREFIX}.onnx", "metadata.json"
FILES = (PROGRAM, PARAMS, ONNX_FILE, METADATA)  # all an export folder may hold, metadata last


def default_folder(source: str | Path) -> Path:
    """``<run>/export`` for a run folder, or the run a generator / checkpoint file belongs to."""
    source = Path(source)
    return (run_folder_of(source) if source.exists() else source) / "export"


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The checked ``metadata.json`` of an export folder; any problem is a UserError."""
    folder = Path(folder)
    fix = "write one with python tools/export.py --run RUN"
    if not folder.is_dir():
        raise UserError(f"export folder '{folder}' not found; {fix}")
    path = folder / METADATA
    if not path.is_file():
        raise UserError(f"'{folder}' is not a paddle-dcgan export (no {METADATA}); {fix}")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"'{path}' is corrupt (not JSON); {fix}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != EXPORT_FORMAT:
        raise UserError(f"'{path}' is not the metadata of a paddle-dcgan export; {fix}")
    if metadata.get("version", 0) > EXPORT_VERSION:
        raise UserError(f"'{folder}' was exported by a newer paddle-dcgan (version {metadata['version']}); upgrade")
    if not all(isinstance(metadata.get(key), int) and metadata[key] >= 1 for key in ("nz", "image_size", "channels")):
        raise UserError(f"'{path}' is corrupt (nz, image_size or channels missing); {fix}")
    metadata.setdefault("num_classes", 0)  # exports written before conditional models existed
    if not isinstance(metadata["num_classes"], int) or metadata["num_classes"] < 0:
        raise UserError(f"'{path}' is corrupt (num_classes is {metadata['num_classes']!r}); {fix}")
    for name in (PROGRAM, PARAMS):
        if not (folder / name).is_file():
            raise UserError(f"export '{folder}' is incomplete ({name} is missing); {fix}")
    return metadata
