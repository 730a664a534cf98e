"""paddle-dcgan's file container: data only, checked on read.

A file is a safetensors file (the format of the ``safetensors`` package that paddlepaddle
installs: a JSON header and raw tensor bytes, nothing that runs when read) whose header holds

- ``paddle_dcgan``: everything that is not a tensor (format name, version, step,
  config, history, RNG states ...) as JSON, tensors replaced by ``{"tensor": NAME}``;
- ``sha256``: the digest of that JSON and of every tensor's name, dtype, shape and
  bytes, so that any damage to the file is found on read, not trained on.

The header is parsed here, with limits, before the safetensors parser sees the
file; files of paddle-dcgan 0.1 (pickles written by ``paddle.save``, which can run
code when opened) are recognised by their first bytes and never opened.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

MAGIC_KEY = "paddle_dcgan"
DIGEST_KEY = "sha256"
MAX_HEADER = 64 << 20  # bytes of a header: metadata and the tensor table (a checkpoint's is ~0.2 MB)
LEGACY_PREFIXES = (b"\x80", b"PK\x03\x04")  # a pickle (paddle.save) or a zip of pickles: never opened here


class Damaged(Exception):
    """What is wrong with a file (a phrase); the caller names the file and the fix."""


def _split(obj: Any, tensors: dict[str, np.ndarray], path: str) -> Any:
    """``obj`` as JSON data, each array or paddle tensor moved into ``tensors`` under its path."""
    if hasattr(obj, "numpy") and callable(obj.numpy):  # a paddle tensor
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        tensors[path] = np.ascontiguousarray(obj)
        return {"tensor": path}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"{path}: only string keys can be stored")
        if "tensor" in obj and len(obj) == 1:
            raise TypeError(f"{path}: a dict holding only 'tensor' would read back as a tensor")
        return {k: _split(v, tensors, f"{path}/{k}" if path else k) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (bool, type(None), str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if not math.isfinite(value):  # JSON has no inf / nan: stored as a string, read back as the float
            return {"float": repr(value)}
        return value
    raise TypeError(f"{path}: cannot store a {type(obj).__name__}")


def _join(data: Any, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(data, dict):
        if set(data) == {"tensor"} and isinstance(data["tensor"], str):
            if data["tensor"] not in tensors:
                raise Damaged(f"it names a tensor it does not hold ({data['tensor'][:80]})")
            return tensors[data["tensor"]]
        if set(data) == {"float"} and data["float"] in ("inf", "-inf", "nan"):
            return float(data["float"])
        return {k: _join(v, tensors) for k, v in data.items()}
    if isinstance(data, list):
        return [_join(v, tensors) for v in data]
    return data


def _digest(text: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(text.encode())
    for name in sorted(tensors):
        array = tensors[name]
        h.update(f"\0{name}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def encode(obj: dict[str, Any]) -> bytes:
    """The file's bytes for ``obj`` (a dict of JSON-able values, numpy arrays and paddle tensors)."""
    from safetensors.numpy import save

    tensors: dict[str, np.ndarray] = {}
    # insertion order is kept: an optimiser's state is matched to the parameters in the order it was saved
    text = json.dumps(_split(obj, tensors, ""), allow_nan=False)
    return save(tensors, metadata={MAGIC_KEY: text, DIGEST_KEY: _digest(text, tensors)})


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Damaged("its header repeats a key")
    return dict(pairs)


def _has_header(data: bytes) -> bool:
    """Whether ``data`` starts as a safetensors file: a header length that fits, then a JSON object."""
    return len(data) > 8 and struct.unpack("<Q", data[:8])[0] <= min(MAX_HEADER, len(data) - 8) and data[8:9] == b"{"


def is_legacy(data: bytes) -> bool:
    """Whether ``data`` is a file of paddle-dcgan 0.1 (a pickle of protocol 2 or later, as paddle.save writes)."""
    return not _has_header(data) and data.startswith(LEGACY_PREFIXES)


def decode(data: bytes) -> dict[str, Any]:
    """The dict :func:`encode` wrote; raises :class:`Damaged` for anything else."""
    if not _has_header(data):
        if is_legacy(data):
            raise Damaged("legacy")
        raise Damaged("no safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Damaged(f"its header is not valid JSON ({str(exc)[:60]})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get(MAGIC_KEY), str) or not isinstance(meta.get(DIGEST_KEY), str):
        raise Damaged("no paddle-dcgan header")
    try:
        from safetensors.numpy import load

        tensors = load(data)
    except Exception as exc:  # the parser's own errors: offsets, dtypes, sizes
        raise Damaged(f"its tensors cannot be read ({str(exc)[:80]})") from None
    text = meta[MAGIC_KEY]
    if _digest(text, tensors) != meta[DIGEST_KEY]:
        raise Damaged("its content does not match its digest (the file is damaged)")
    try:
        tree = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError:
        raise Damaged("its metadata is not valid JSON") from None
    obj = _join(tree, tensors)
    if not isinstance(obj, dict):
        raise Damaged("it does not hold a dict")
    return obj
