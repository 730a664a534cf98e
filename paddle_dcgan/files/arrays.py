"""A user's ``.npy`` array read as data only: noise for ``tools/infer.py --z``, samples for
``tools/eval.py --samples``.

The header is read and checked before any data: a pickle, an ``.npz`` archive, an
object array (whose loading would unpickle), a shape or type the caller does not
take, more items than it takes, or a file shorter or longer than its header
announces is a :class:`UserError`, and memory never grows past what a file of
the accepted shape needs. The data is then mapped read-only and scanned for NaN
and inf a block at a time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_SCAN_ITEMS = 1 << 22  # values checked for NaN / inf at a time


def read_npy(path: Path, what: str, check: Callable[[tuple[int, ...], np.dtype], str | None]) -> np.ndarray:
    """The array in the ``.npy`` file ``path``, mapped read-only, after every check of the module docstring.

    Args:
        what: how messages name the file, e.g. "noise file".
        check: ``check(shape, dtype)`` says what is wrong with an array of that shape and type (None if
            nothing): called on the header, before the data is read.
    """
    if not path.is_file():
        state = "not found" if not path.exists() else "not a regular file"
        raise UserError(f"{what} '{path}' is {state}; pass a .npy file saved with np.save")
    try:
        with open(path, "rb") as f:
            shape, dtype, offset = _header(f, path, what)
    except OSError as exc:
        raise UserError(f"{what} '{path}' cannot be read ({exc.strerror}); pass a file you can read") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise UserError(f"{what} '{path}' holds Python objects or records ({dtype}), which are never loaded "
                        "(unpickling can run code); save a plain numeric array with np.save")
    problem = check(shape, dtype)
    if problem:
        raise UserError(f"{what} '{path}' {problem}")
    count = math.prod(shape)  # Python's integers: a crafted shape cannot overflow into a plausible size
    expected = offset + count * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        how = "cut short" if size < expected else "longer than its header announces"
        raise UserError(f"{what} '{path}' is {how} ({size:,} bytes, {expected:,} expected); save it again with np.save")
    if not count:  # nothing to map (and mmap refuses an empty range)
        return np.zeros(shape, dtype)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:  # the file changed since its header was read, or cannot be mapped
        raise UserError(f"{what} '{path}' cannot be read ({exc}); save it again with np.save") from None
    if array.dtype.kind == "f":
        order = "C" if array.flags.c_contiguous else "F"  # as the data lies in the file: a view, no copy
        flat = array.reshape(-1, order=order)
        for start in range(0, flat.size, _SCAN_ITEMS):
            bad = np.flatnonzero(~np.isfinite(flat[start:start + _SCAN_ITEMS]))
            if bad.size:
                where = [int(i) for i in np.unravel_index(start + bad[0], shape, order=order)]
                raise UserError(f"{what} '{path}' holds NaN or inf (the first at {where}); every value must be "
                                "a finite number")
    return array


def _header(f, path: Path, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset from a ``.npy`` header; anything else is a UserError naming what it is."""
    start = f.read(6)
    if start != b"\x93NUMPY":
        if start.startswith(b"PK"):
            kind = "an .npz archive (several arrays); save one array with np.save"
        elif start[:1] == b"\x80":
            kind = "a pickle, which is never loaded (unpickling can run code); save the array with np.save"
        else:
            kind = "not a .npy file; save the array with np.save"
        raise UserError(f"{what} '{path}' is {kind}")
    f.seek(0)
    try:
        version = np.lib.format.read_magic(f)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise UserError(f"{what} '{path}' is a .npy file of format {version[0]}.{version[1]}, which is not "
                            "read; save a plain numeric array with np.save")
        shape, _, dtype = reader(f)  # the order matters not: the data is mapped as it lies
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, tokenize errors...
        raise UserError(f"{what} '{path}' has a damaged .npy header; save it again with np.save") from None
    return tuple(shape), dtype, f.tell()
