"""Three ways to run a generator, all as numpy noise in, numpy images out.

============  =================================================  =====================
engine        runs                                               needs
============  =================================================  =====================
dygraph       the :class:`~paddle_dcgan.models.Generator` itself  the training code
inference     ``<export>/generator.json`` with Paddle Inference  paddle only
onnx          ``<export>/generator.onnx`` with ONNX Runtime       the ``export`` extra
============  =================================================  =====================

Every engine takes ``z`` [N, nz, 1, 1] float32 and returns [N, C, S, S] float32 in
[-1, 1]; BatchNorm uses its running statistics in all three. A batch of the wrong
shape, a missing or damaged export are :class:`UserError` s.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from .checkpoint import run_folder_of
from .config import DEVICE_PATTERN
from .cpu_tuning import usable_cores
from .device import resolve_device, select_device
from .errors import UserError
from .export import ONNX_FILE, PARAMS, PROGRAM, default_folder, read_metadata
from .extras import require
from .files import native_output_captured
from .generator_file import load_generator
from .models import Generator

log = logging.getLogger(__name__)

ENGINES = ("dygraph", "inference", "onnx")
GPU_MEMORY_POOL_MB = 256  # Paddle Inference's initial GPU memory pool; it grows on demand


class Engine:
    """Maps noise to images: ``engine(z)``. Subclasses set the attributes and implement ``_run``.

    Attributes:
        name: one of :data:`ENGINES`.
        nz: length of z.
        source: the file the weights come from.
        step: the training step they were saved at.
        description: engine, device and settings, for a log line.
    """

    name = ""

    def __init__(self, nz: int, source: Path, step: int, description: str):
        self.nz, self.source, self.step, self.description = nz, source, step, description

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self._run(self.check_noise(z))

    def check_noise(self, z: Any) -> np.ndarray:
        """``z`` as a contiguous float32 array, after checking it is [N, nz, 1, 1] with N >= 1."""
        z = np.asarray(z)
        if z.ndim != 4 or z.shape[0] < 1 or z.shape[1:] != (self.nz, 1, 1):
            raise UserError(f"noise batch of shape {list(z.shape)} does not fit this generator; it takes "
                            f"[N, {self.nz}, 1, 1] float32 (N >= 1)")
        return np.ascontiguousarray(z, dtype=np.float32)

    def _run(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class DygraphEngine(Engine):
    """The generator net itself, in eval mode (it is put back in the mode it was in)."""

    name = "dygraph"

    def __init__(self, generator: Generator, source: Path | None = None, step: int = 0, device: str = ""):
        super().__init__(generator.nz, source or Path("(in memory)"), step,
                         f"dygraph on {device or paddle.device.get_device()}")
        self.generator = generator

    @paddle.no_grad()
    def _run(self, z: np.ndarray) -> np.ndarray:
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(paddle.to_tensor(z)).numpy()
        finally:
            self.generator.train(was_training)


class InferenceEngine(Engine):
    """``generator.json`` + ``.pdiparams`` run by Paddle Inference's predictor.

    On CPU it uses as many math-library threads as there are usable cores and
    tries oneDNN; if the oneDNN program fails on a first probe batch (Paddle 3.3's
    PIR + oneDNN executor rejects some attributes: "ConvertPirAttribute2RuntimeAttribute
    not support"), it logs one line and runs without oneDNN. On a CUDA build it
    runs on the GPU that ``device`` selects.
    """

    name = "inference"

    def __init__(self, folder: Path, metadata: dict[str, Any], device: str = "auto"):
        place, _ = resolve_device(device)  # "cpu" or "gpu:N"
        self.gpu = int(place.split(":")[1]) if place.startswith("gpu") else None
        self.folder = folder
        super().__init__(metadata["nz"], folder / PROGRAM, metadata.get("step", 0), "")
        self.onednn = self.gpu is None
        self.predictor = self._create()
        try:
            self._run(np.zeros((1, self.nz, 1, 1), np.float32))
        except Exception as exc:  # noqa: BLE001 - a oneDNN kernel failing for any reason
            if not self.onednn:
                raise UserError(f"export '{folder}' cannot run in Paddle Inference ({_first_line(exc)}); "
                                "export it again with tools/export.py") from None
            log.warning("Paddle Inference with oneDNN failed on this program (%s); running without oneDNN",
                        _first_line(exc))
            self.onednn = False
            self.predictor = self._create()
        where = (f"gpu:{self.gpu}" if self.gpu is not None else
                 f"cpu, {usable_cores()} threads, oneDNN {'on' if self.onednn else 'off'}")
        self.description = f"Paddle Inference {paddle.__version__} on {where}"

    def _config(self):
        config = paddle.inference.Config(str(self.folder / PROGRAM), str(self.folder / PARAMS))
        config.disable_glog_info()  # the predictor otherwise logs every optimisation pass
        if self.gpu is not None:
            config.enable_use_gpu(GPU_MEMORY_POOL_MB, self.gpu)
            return config
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(usable_cores())
        if self.onednn:  # older Paddle releases call it enable_mkldnn
            (getattr(config, "enable_onednn", None) or config.enable_mkldnn)()
        else:
            (getattr(config, "disable_onednn", None) or config.disable_mkldnn)()
        return config

    def _create(self):
        try:
            with native_output_captured():
                return paddle.inference.create_predictor(self._config())
        except Exception as exc:  # noqa: BLE001 - paddle raises several types for a damaged program
            raise UserError(f"export '{self.folder}' is corrupt ({_first_line(exc)}); write it again with "
                            "python tools/export.py") from None

    def _run(self, z: np.ndarray) -> np.ndarray:
        handle = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        handle.reshape(list(z.shape))
        handle.copy_from_cpu(z)
        self.predictor.run()
        return self.predictor.get_output_handle(self.predictor.get_output_names()[0]).copy_to_cpu()


class OnnxEngine(Engine):
    """``generator.onnx`` run by ONNX Runtime: on CPU with a thread per usable core, or on a GPU
    where the installed onnxruntime has the CUDA provider (onnxruntime-gpu)."""

    name = "onnx"

    def __init__(self, folder: Path, metadata: dict[str, Any], device: str = "auto"):
        ort = require("onnxruntime")
        path = folder / ONNX_FILE
        if not path.is_file():
            raise UserError(f"export '{folder}' has no {ONNX_FILE}; write it with python tools/export.py --onnx")
        providers = _onnx_providers(ort, device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = usable_cores()
        options.log_severity_level = 3  # errors only: no notes about unused initializers
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file
            raise UserError(f"'{path}' is corrupt ({_first_line(exc)}); write it again with "
                            "python tools/export.py --onnx") from None
        self.input_name = self.session.get_inputs()[0].name
        where = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
        super().__init__(metadata["nz"], path, metadata.get("step", 0),
                         f"ONNX Runtime {ort.__version__} ({where}, {usable_cores()} threads)")

    def _run(self, z: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: z})[0]


def _onnx_providers(ort, device: str) -> list:
    """ONNX Runtime's providers for ``device`` (auto | cpu | gpu | gpu:N), CPU always last as fallback."""
    if not re.fullmatch(DEVICE_PATTERN, device):
        raise UserError(f"device '{device}' is not one of auto, cpu, gpu, gpu:N (N = 0, 1, ...); pick one of those")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cpu" or (device == "auto" and not has_cuda):
        return ["CPUExecutionProvider"]
    if not has_cuda:
        raise UserError(f"device={device}: the installed onnxruntime has no CUDA provider; install onnxruntime-gpu "
                        "or use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def _first_line(exc: BaseException) -> str:
    """The message of an exception from paddle's C++ core, without the source location that ends it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0].split(" (at ")[0] if lines else type(exc).__name__)[:200]


def open_engine(engine: str, source: str | Path, export_dir: str | Path | None = None,
                device: str = "auto") -> Engine:
    """The generator of a run, as the ``engine`` of :data:`ENGINES` runs it.

    Args:
        source: a run folder, a generator.pdparams or a .pdckpt file (dygraph), or
            the run whose ``export/`` folder the other engines use.
        export_dir: the export folder for ``inference`` / ``onnx``; default ``<run>/export``.
        device: auto | cpu | gpu | gpu:N.
    """
    if engine not in ENGINES:
        raise UserError(f"engine '{engine}' is not one of {', '.join(ENGINES)}")
    if engine == "dygraph":
        description = select_device(device)  # before loading, so the weights land on that device
        generator, info = load_generator(source)
        return DygraphEngine(generator, info.source, info.step, description)
    folder = Path(export_dir) if export_dir else default_folder(source)
    metadata = read_metadata(folder)
    return InferenceEngine(folder, metadata, device) if engine == "inference" else OnnxEngine(folder, metadata, device)


def output_folder(engine: Engine) -> Path:
    """Where results of ``engine`` go by default: ``<run>/infer``."""
    source = engine.source.parent.parent if engine.name != "dygraph" else engine.source
    return run_folder_of(source) / "infer"
