"""``<run>/export/``: the generator as a static program, to run without the training code.

``tools/export.py`` writes the folder (its files: ``paddle_dcgan/files/export_folder.py``),
``engines.py`` runs it.

The program takes noise ``z`` [N, nz, 1, 1] float32 (any N) and, for a
conditional generator, ``labels`` [N] int64 (class ids) as its second input; it
returns images [N, C, S, S] in [-1, 1]. BatchNorm is frozen in eval mode: it uses the running
statistics, as :func:`paddle_dcgan.sample` does. Before the folder is written,
the program (and the ONNX file) are run on the same noise as the generator and
must agree with it within :data:`PARITY_TOLERANCE`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle.static import InputSpec

from ..files.export_folder import (EXPORT_FORMAT, EXPORT_VERSION, FILES, METADATA, ONNX_FILE, PARAMS,
                                   PREFIX, PROGRAM, default_folder, digest, input_specs, read_metadata)
from ..errors import UserError
from ..extras import require
from ..files.io import native_output_captured, write_atomically
from .load import load_generator
from ..core.models import Generator

log = logging.getLogger(__name__)

BATCHNORM_POLICY = "running statistics (eval mode)"
ONNX_OPSET = 13  # every op of the generator exists there; old enough for most runtimes
PARITY_TOLERANCE = 1e-4  # max abs difference allowed between the engines and dygraph
PARITY_SAMPLES = 64  # noise vectors (seed 0) on which that is measured; a conditional model cycles through its classes


def _check_destination(out: Path) -> None:
    """Refuse a file, a folder holding anything but an earlier export, or a place that cannot be written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out '{out}' is a file; pass a folder")
    if out.is_dir() and any(p.name not in FILES for p in out.iterdir()):
        raise UserError(f"'{out}' holds files that are not part of an export; pass a new or empty folder "
                        "(or an earlier export, which is replaced)")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise UserError(f"cannot write '{out}' ('{existing}' is not writable); pass --out WRITABLE")


def _onnx_bytes(program: Path, params: Path) -> bytes:
    """paddle2onnx's conversion of the PIR program; its console chatter is kept out of the way."""
    paddle2onnx = require("paddle2onnx")
    try:
        with native_output_captured(1, 2) as chatter:
            model = paddle2onnx.export(str(program), str(params), None, opset_version=ONNX_OPSET,
                                       auto_upgrade_opset=False)
    except (Exception, SystemExit):  # paddle2onnx reports a failed conversion by calling sys.exit
        lines = [line.strip() for line in chatter.getvalue().splitlines() if line.strip()]
        raise UserError(f"paddle2onnx {paddle2onnx.__version__} could not convert {program.name}: "
                        f"{lines[-1] if lines else 'no reason given'}") from None
    return model


def _measure_parity(generator: Generator, folder: Path, onnx: bool) -> dict[str, float]:
    """Max abs difference between dygraph and each exported engine on the same noise."""
    from .engines import InferenceEngine, OnnxEngine
    from ..random_streams import noise_for_seed

    z = noise_for_seed(0, PARITY_SAMPLES, generator.nz)
    labels = np.arange(PARITY_SAMPLES) % generator.num_classes if generator.num_classes else None
    with paddle.no_grad():
        reference = generator(paddle.to_tensor(z), None if labels is None else paddle.to_tensor(labels)).numpy()
    metadata = read_metadata(folder)
    engines = [InferenceEngine(folder, metadata, "cpu")] + ([OnnxEngine(folder, metadata, "cpu")] if onnx else [])
    differences = {engine.name: float(np.abs(engine(z, labels) - reference).max()) for engine in engines}
    for name, difference in differences.items():
        if not difference <= PARITY_TOLERANCE:
            raise UserError(f"the {name} export differs from the generator by {difference:.2e} (more than "
                            f"{PARITY_TOLERANCE:g}); nothing was written")
    return differences


def _input_specs(generator: Generator) -> list[InputSpec]:
    """z [N, nz, 1, 1] float32, then (conditional generators) labels [N] int64; N is free: the inputs
    ``metadata.json`` states, which the engines check the program against."""
    return [InputSpec(spec["shape"], spec["dtype"], spec["name"])
            for spec in input_specs(generator.nz, generator.num_classes)]


def _metadata(generator: Generator, info, folder: Path) -> dict[str, Any]:
    """What ``metadata.json`` holds, with the size and sha256 of each file already written to ``folder``."""
    with paddle.no_grad():
        one_label = paddle.zeros([1], "int64") if generator.num_classes else None
        channels, size = generator(paddle.zeros([1, generator.nz, 1, 1]), one_label).shape[1:3]
    specs = input_specs(generator.nz, generator.num_classes)
    onnx = (folder / ONNX_FILE).exists()
    return {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
        "nz": generator.nz, "image_size": int(size), "channels": int(channels), "model": info.model,
        "num_classes": generator.num_classes,
        "class_names": list(info.class_names) if generator.num_classes else [],  # by index: --digit / --class NAME
        "input": specs[0],
        "labels_input": specs[1] if generator.num_classes else None,  # the second input of conditional generators
        "output": {"shape": [None, int(channels), int(size), int(size)], "range": [-1.0, 1.0]},
        "batchnorm": BATCHNORM_POLICY,
        "source": str(info.source.resolve()), "step": info.step, "dataset": info.dataset,
        "paddle_version": paddle.__version__,
        "files": {name: digest(folder / name) for name in (PROGRAM, PARAMS) + ((ONNX_FILE,) if onnx else ())},
        "onnx_opset": ONNX_OPSET if onnx else None,
    }


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8"))


def export_generator(source: str | Path, out: str | Path | None = None, onnx: bool = False) -> tuple[Path, dict]:
    """Write the export folder of a trained generator; returns the folder and its metadata.

    Args:
        source: a run folder, a generator.pdparams or a .pdckpt file.
        out: the folder; default ``<run>/export``. An earlier export there is replaced.
        onnx: also write ``generator.onnx`` (needs the ``export`` extra).

    Everything is checked, written to a staging folder beside ``out`` and verified
    before it replaces what ``out`` held: a failed export leaves ``out`` as it was.
    """
    if onnx:  # the extra as a whole: paddle2onnx converts, onnxruntime verifies
        require("paddle2onnx")
        require("onnxruntime")
    generator, info = load_generator(source)
    out = Path(out) if out else default_folder(source)
    _check_destination(out)
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        generator.eval()  # BatchNorm frozen to its running statistics in the traced program
        with native_output_captured():
            paddle.jit.save(generator, str(staging / PREFIX), input_spec=_input_specs(generator))
        if onnx:
            (staging / ONNX_FILE).write_bytes(_onnx_bytes(staging / PROGRAM, staging / PARAMS))
        metadata = _metadata(generator, info, staging)
        _write_json(staging / METADATA, metadata)
        metadata["parity_max_abs_diff"] = _measure_parity(generator, staging, onnx)
        metadata["parity_samples"] = PARITY_SAMPLES
        _write_json(staging / METADATA, metadata)
        _replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out, metadata


def _replace_folder(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``: an earlier export's metadata goes first and the new one comes
    last, so that a half-replaced folder is never taken for an export; a stale ONNX file is removed."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (METADATA, ONNX_FILE):
        (out / name).unlink(missing_ok=True)
    for name in FILES:  # METADATA last
        if (staging / name).exists():
            os.replace(staging / name, out / name)
