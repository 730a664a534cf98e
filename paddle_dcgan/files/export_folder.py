"""An export folder's files and ``metadata.json``: what ``sampling/export.py`` writes and the engines read.

=====================  ==========================================================
``generator.json``     the program, in Paddle 3's PIR format (``paddle.jit.save``)
``generator.pdiparams`` its weights
``generator.onnx``     with ``onnx=True``: the same network converted by paddle2onnx
``metadata.json``      nz, image size, channels, num_classes, the program's inputs and
                       output, the BatchNorm policy, source file and step, dataset,
                       versions, the parity measured on export, and the size and
                       sha256 of each file above (``files``)
=====================  ==========================================================

:func:`read_metadata` is the one way in: it refuses metadata that is not what an
export writes (duplicate keys, NaN, a value of the wrong type or out of range, a
file far larger than any export writes) and checks every listed file against its
recorded size and digest, so that a cut or altered weights file is an error and
never wrong images. Metadata without digests (written before they were recorded)
is refused too: an export is quick to write again, and nothing else could vouch
for its files.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from ..config import IMAGE_SIZES
from ..errors import UserError
from .run_folder import run_folder_of

EXPORT_FORMAT = "paddle-dcgan-export"
EXPORT_VERSION = 2  # the first version whose metadata records file digests; others are refused
PREFIX = "generator"  # paddle.jit.save path prefix inside the folder
PROGRAM, PARAMS, ONNX_FILE, METADATA = f"{PREFIX}.json", f"{PREFIX}.pdiparams", f"{PREFIX}.onnx", "metadata.json"
FILES = (PROGRAM, PARAMS, ONNX_FILE, METADATA)  # all an export folder may hold, metadata last
MAX_METADATA_BYTES = 64 * 1024  # an export writes about 2 KB; a larger file is not one of ours
MAX_FILE_BYTES = 2 ** 31  # largest program, weights or ONNX file accepted (ONNX's protobuf limit)
MAX_NZ = 65_536  # longest noise vector accepted; DCGANs use about 100
MAX_NUM_CLASSES = 65_536  # most classes accepted; the digit models have 10
CHANNELS = (1, 3)  # grey or colour images
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20  # bytes hashed at a time


def default_folder(source: str | Path) -> Path:
    """``<run>/export`` for a run folder, or the run a generator / checkpoint file belongs to."""
    source = Path(source)
    return (run_folder_of(source) if source.exists() else source) / "export"


def digest(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file, as ``metadata.json`` records it."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return {"size": path.stat().st_size, "sha256": sha.hexdigest()}


def input_specs(nz: int, num_classes: int) -> list[dict[str, Any]]:
    """The program's inputs as ``metadata.json`` states them: z, then labels for a conditional generator."""
    z = {"name": "z", "shape": [None, nz, 1, 1], "dtype": "float32"}
    return [z, {"name": "labels", "shape": [None], "dtype": "int64"}] if num_classes else [z]


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The checked ``metadata.json`` of an export folder, after checking every file it lists against its
    size and sha256; any problem is a UserError."""
    folder = Path(folder)
    fix = "export again with python tools/export.py --run RUN"
    if not folder.is_dir():
        raise UserError(f"export folder '{folder}' not found; write one with python tools/export.py --run RUN")
    path = folder / METADATA
    if not path.is_file():
        raise UserError(f"'{folder}' is not a paddle-dcgan export (no {METADATA}); "
                        "write one with python tools/export.py --run RUN")
    metadata = _parse(path, fix)
    if metadata.get("format") != EXPORT_FORMAT:
        raise UserError(f"'{path}' is not the metadata of a paddle-dcgan export; {fix}")
    version = metadata.get("version")
    if type(version) is not int:
        raise UserError(f"'{path}' is corrupt (version is {_shown(version)}, expected an integer); {fix}")
    if version > EXPORT_VERSION:
        raise UserError(f"'{folder}' was exported by a newer paddle-dcgan (version {version}); upgrade")
    if version < EXPORT_VERSION:
        raise UserError(f"'{folder}' was exported by an earlier paddle-dcgan, whose metadata records no file "
                        f"digests to check it by; {fix} (it takes seconds)")
    problem = _field_problem(metadata)
    if problem:
        raise UserError(f"'{path}' is corrupt ({problem}); {fix}")
    for name, recorded in metadata["files"].items():
        _check_file(folder, name, recorded, fix)
    return metadata


def _parse(path: Path, fix: str) -> dict[str, Any]:
    """``metadata.json`` as a dict: at most MAX_METADATA_BYTES of UTF-8 JSON, no key twice, finite numbers."""
    with open(path, "rb") as f:
        raw = f.read(MAX_METADATA_BYTES + 1)  # bounded even if the file grows after a size check
    if len(raw) > MAX_METADATA_BYTES:
        raise UserError(f"'{path}' is larger than {MAX_METADATA_BYTES // 1024} KiB, far more than an export "
                        f"writes; {fix}")
    try:
        metadata = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                              parse_float=_finite_float)
    except _BadValue as exc:
        raise UserError(f"'{path}' is corrupt ({exc}); {fix}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UserError(f"'{path}' is corrupt (not JSON); {fix}") from None
    if not isinstance(metadata, dict):
        raise UserError(f"'{path}' is not the metadata of a paddle-dcgan export; {fix}")
    return metadata


class _BadValue(Exception):
    """Raised by the JSON hooks: valid JSON that no export writes."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) < len(pairs):  # json keeps the last silently: which one was meant is unknown
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _BadValue(f"key {_shown(twice)} appears twice")
    return result


def _no_constant(name: str) -> None:
    raise _BadValue(f"{name} is not a number an export writes")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise _BadValue(f"{_shown(text)} is not a finite number")
    return value


def _field_problem(metadata: dict[str, Any]) -> str | None:
    """What is wrong with the fields the engines rely on, or None."""
    allowed = {
        "nz": (lambda v: 1 <= v <= MAX_NZ, f"an integer from 1 to {MAX_NZ:,}"),
        "image_size": (lambda v: v in IMAGE_SIZES, "28, 32 or 64"),
        "channels": (lambda v: v in CHANNELS, "1 or 3"),
        "num_classes": (lambda v: 0 <= v <= MAX_NUM_CLASSES, f"an integer from 0 to {MAX_NUM_CLASSES:,}"),
        "step": (lambda v: v >= 0, "an integer >= 0"),
    }
    for key, (ok, expected) in allowed.items():
        value = metadata.get(key)
        if type(value) is not int or not ok(value):  # bool is an int in Python, never a count here
            return f"{key} is {_shown(value)}, expected {expected}"
    nz, size, channels, num_classes = (metadata[k] for k in ("nz", "image_size", "channels", "num_classes"))
    specs = input_specs(nz, num_classes)
    stated = {"input": specs[0], "labels_input": specs[1] if num_classes else None}
    for key, expected in stated.items():
        if metadata.get(key) != expected:
            return f"{key} is {_shown(metadata.get(key))}, but nz={nz} and num_classes={num_classes} mean {expected}"
    names = metadata.get("class_names", [])
    if not (isinstance(names, list) and (len(names) in (0, num_classes) or not num_classes)
            and all(isinstance(n, str) and 0 < len(n) <= 255 for n in names)):
        return f"class_names is {_shown(names)}, expected one name per class ({num_classes})"
    output = metadata.get("output")
    if not isinstance(output, dict) or output.get("shape") != [None, channels, size, size]:
        return f"output is {_shown(output)}, expected the shape [None, {channels}, {size}, {size}]"
    files = metadata.get("files")
    if not isinstance(files, dict) or set(files) not in ({PROGRAM, PARAMS}, {PROGRAM, PARAMS, ONNX_FILE}):
        return f"files is {_shown(files)}, expected the size and sha256 of {PROGRAM}, {PARAMS} (and {ONNX_FILE})"
    for name, recorded in files.items():
        if not (isinstance(recorded, dict) and set(recorded) == {"size", "sha256"}
                and type(recorded["size"]) is int and 0 <= recorded["size"] <= MAX_FILE_BYTES
                and isinstance(recorded["sha256"], str) and _SHA256.fullmatch(recorded["sha256"])):
            return f"the record of {name} is {_shown(recorded)}, expected its size and sha256"
    return None


def _check_file(folder: Path, name: str, recorded: dict[str, Any], fix: str) -> None:
    """``folder/name`` is a file of the recorded size and sha256; the size is compared first, so that a cut
    file is named as such without hashing it."""
    path = folder / name
    if not path.is_file():
        raise UserError(f"export '{folder}' is incomplete ({name} is missing); {fix}")
    size = path.stat().st_size
    if size != recorded["size"]:
        raise UserError(f"export '{folder}' is damaged: {name} has {size:,} bytes where {METADATA} records "
                        f"{recorded['size']:,} (cut short or replaced); {fix}")
    if digest(path)["sha256"] != recorded["sha256"]:
        raise UserError(f"export '{folder}' is damaged: {name} does not match the sha256 {METADATA} records "
                        f"(changed after export); {fix}")


def _shown(value: Any) -> str:
    """``repr(value)``, cut short: a message quotes a value, never a whole file."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
