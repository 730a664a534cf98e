"""Three ways to run a generator, all as numpy noise in, numpy images out.

============  =================================================  =====================
engine        runs                                               needs
============  =================================================  =====================
dygraph       the :class:`~paddle_dcgan.core.models.Generator` itself  the training code
inference     ``<export>/generator.json`` with Paddle Inference  paddle only
onnx          ``<export>/generator.onnx`` with ONNX Runtime       the ``export`` extra
============  =================================================  =====================

Every engine takes ``z`` [N, nz, 1, 1] float32 and returns [N, C, S, S] float32 in
[-1, 1]; BatchNorm uses its running statistics in all three. A conditional
generator also takes ``labels``, class ids int64 [N] (dygraph also takes class
weights float32 [N, num_classes], which walks between digits use); an
unconditional one takes none. A batch of the wrong shape, labels where none are
taken or none where they are needed, a missing or damaged export are
:class:`UserError` s.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ..files.run_folder import run_folder_of
from ..config import DEVICE_PATTERN
from ..cpu_tuning import usable_cores
from ..device import resolve_device, select_device
from ..errors import UserError
from ..files.export_folder import METADATA, ONNX_FILE, PARAMS, PREFIX, PROGRAM, default_folder, read_metadata
from ..extras import require
from ..files.io import native_output_captured
from .load import load_generator
from ..core.models import Generator

log = logging.getLogger(__name__)

ENGINES = ("dygraph", "inference", "onnx")
GPU_MEMORY_POOL_MB = 256  # Paddle Inference's initial GPU memory pool; it grows on demand


def default_class_names(num_classes: int) -> tuple[str, ...]:
    """Class names where a file names none: the indices ("0" .. "9" for the digit models)."""
    return tuple(str(i) for i in range(num_classes))


class Engine:
    """Maps noise (and labels) to images: ``engine(z)``, ``engine(z, labels)``. Subclasses set the
    attributes and implement ``_run``.

    Attributes:
        name: one of :data:`ENGINES`.
        nz: length of z.
        num_classes: 0 for an unconditional generator, else the number of classes its labels name.
        source: the file the weights come from.
        step: the training step they were saved at.
        description: engine, device and settings, for a log line.
        class_names: a conditional generator's class names by index (digits: "0" .. "9").
    """

    name = ""
    takes_class_weights = False  # whether labels may also be float class weights [N, num_classes]

    def __init__(self, nz: int, source: Path, step: int, description: str, num_classes: int = 0,
                 class_names=()):
        self.nz, self.source, self.step, self.description = nz, source, step, description
        self.num_classes = num_classes
        self.class_names = tuple(class_names) or default_class_names(num_classes)

    def __call__(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        z = self.check_noise(z)
        return self._run(z, self.check_labels(labels, len(z)))

    def check_noise(self, z: Any) -> np.ndarray:
        """``z`` as a contiguous float32 array, after checking it is [N, nz, 1, 1] with N >= 1, of finite numbers."""
        z = np.asarray(z)
        if z.ndim != 4 or z.shape[0] < 1 or z.shape[1:] != (self.nz, 1, 1):
            raise UserError(f"noise batch of shape {list(z.shape)} does not fit this generator; it takes "
                            f"[N, {self.nz}, 1, 1] float32 (N >= 1)")
        if z.dtype.kind not in "fiu":
            raise UserError(f"noise batch of type {z.dtype} is not real numbers; pass float32 noise")
        with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused below
            z = np.ascontiguousarray(z, dtype=np.float32)
        if not np.isfinite(z).all():
            raise UserError("the noise batch holds NaN, inf or values beyond float32's range; every value must be "
                            "a finite float32 number")
        return z

    def check_labels(self, labels: Any, n: int) -> np.ndarray | None:
        """``labels`` as int64 [n] class ids (or float32 class weights [n, num_classes] where the engine
        takes them), after checking that they fit this generator; None for an unconditional one."""
        if not self.num_classes:
            if labels is not None:
                raise UserError("this generator is unconditional (model.num_classes=0): it takes no labels and "
                                "cannot be asked for a digit; drop the labels / --digit")
            return None
        if labels is None:
            raise UserError(f"this generator is conditional ({self.num_classes} classes): pass labels, one class id "
                            f"0..{self.num_classes - 1} per noise vector")
        labels = np.asarray(labels)
        if labels.shape == (n, self.num_classes) and np.issubdtype(labels.dtype, np.floating):
            if not self.takes_class_weights:
                raise UserError(f"the {self.name} engine takes class ids, not the mix of two classes that a walk "
                                "between two digits needs; use the dygraph engine, or walk within one digit "
                                "(--digits D D)")
            return np.ascontiguousarray(labels, dtype=np.float32)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise UserError(f"labels of shape {list(labels.shape)} and type {labels.dtype} do not fit {n} noise "
                            f"vectors; pass {n} integer class ids")
        if n and not 0 <= labels.min() <= labels.max() < self.num_classes:
            raise UserError(f"labels must lie in 0..{self.num_classes - 1}, got {labels.min()}..{labels.max()}")
        return np.ascontiguousarray(labels, dtype=np.int64)

    def _run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError


class DygraphEngine(Engine):
    """The generator net itself, in eval mode (it is put back in the mode it was in)."""

    name = "dygraph"
    takes_class_weights = True

    def __init__(self, generator: Generator, source: Path | None = None, step: int = 0, device: str = ""):
        super().__init__(generator.nz, source or Path("(in memory)"), step,
                         f"dygraph on {device or paddle.device.get_device()}", generator.num_classes,
                         getattr(generator, "class_names", ()))
        self.generator = generator

    @paddle.no_grad()
    def _run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        was_training = self.generator.training
        self.generator.eval()
        try:
            inputs = (z,) if labels is None else (z, labels)  # an unconditional net is called as before: net(z)
            return self.generator(*map(paddle.to_tensor, inputs)).numpy()
        finally:
            self.generator.train(was_training)


class InferenceEngine(Engine):
    """``generator.json`` + ``.pdiparams`` run by Paddle Inference's predictor.

    Before first use the program's inputs and its output for a probe batch are
    checked against ``metadata.json`` (:func:`check_program`). On CPU it uses as
    many math-library threads as there are usable cores and tries oneDNN; if the
    oneDNN program fails on the probe batch (Paddle 3.3's PIR + oneDNN executor
    rejects some attributes: "ConvertPirAttribute2RuntimeAttribute not support"),
    it logs one line and runs without oneDNN. On a CUDA build it runs on the GPU
    that ``device`` selects.
    """

    name = "inference"

    def __init__(self, folder: Path, metadata: dict[str, Any], device: str = "auto"):
        place, _ = resolve_device(device)  # "cpu" or "gpu:N"
        self.gpu = int(place.split(":")[1]) if place.startswith("gpu") else None
        self.folder = folder
        super().__init__(metadata["nz"], folder / PROGRAM, metadata["step"], "", metadata["num_classes"],
                         metadata.get("class_names", ()))
        check_program(folder, PROGRAM, metadata, inputs=_paddle_inputs(folder))
        for onednn in ((True, False) if self.gpu is None else (False,)):
            self.onednn = onednn
            self.predictor = self._create()
            try:
                output = self._run(*probe_batch(metadata))
                break
            except Exception as exc:  # noqa: BLE001 - a oneDNN kernel failing for any reason
                if not self.onednn:
                    raise UserError(f"export '{folder}' cannot run in Paddle Inference ({_first_line(exc)}); "
                                    "export it again with python tools/export.py") from None
                log.warning("Paddle Inference with oneDNN failed on this program (%s); running without oneDNN",
                            _first_line(exc))
        check_program(folder, PROGRAM, metadata, output=output)
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

    def _run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        for name, array in zip(self.predictor.get_input_names(), (z, labels)):  # z, then labels (export's order)
            handle = self.predictor.get_input_handle(name)
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        self.predictor.run()
        return self.predictor.get_output_handle(self.predictor.get_output_names()[0]).copy_to_cpu()


class OnnxEngine(Engine):
    """``generator.onnx`` run by ONNX Runtime: on CPU with a thread per usable core, or on a GPU
    where the installed onnxruntime has the CUDA provider (onnxruntime-gpu). Its inputs and its
    output for a probe batch are checked against ``metadata.json`` before first use."""

    name = "onnx"

    def __init__(self, folder: Path, metadata: dict[str, Any], device: str = "auto"):
        ort = require("onnxruntime")
        path = folder / ONNX_FILE
        if ONNX_FILE not in metadata["files"]:  # an ONNX file the metadata does not vouch for is not used
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
        check_program(folder, ONNX_FILE, metadata, inputs=[
            {"name": node.name, "dtype": _ONNX_TYPES.get(node.type, node.type),
             "shape": [d if isinstance(d, int) else None for d in node.shape]} for node in self.session.get_inputs()])
        self.input_names = [node.name for node in self.session.get_inputs()]  # z, then labels (export's order)
        try:
            output = self._run(*probe_batch(metadata))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise UserError(f"'{path}' cannot run in ONNX Runtime ({_first_line(exc)}); write it again with "
                            "python tools/export.py --onnx") from None
        check_program(folder, ONNX_FILE, metadata, output=output)
        where = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
        super().__init__(metadata["nz"], path, metadata["step"],
                         f"ONNX Runtime {ort.__version__} ({where}, {usable_cores()} threads)", metadata["num_classes"],
                         metadata.get("class_names", ()))

    def _run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        return self.session.run(None, dict(zip(self.input_names, (z, labels))))[0]


_ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
               "tensor(int32)": "int32"}  # ONNX Runtime's type names -> numpy's
PROBE_SIZE = 2  # the probe batch: more than one, so that a program fixed to one image is caught


def probe_batch(metadata: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Zero noise (and class 0) for PROBE_SIZE images, shaped as ``metadata.json`` says the program takes them."""
    labels = np.zeros(PROBE_SIZE, np.int64) if metadata["num_classes"] else None
    return np.zeros((PROBE_SIZE, metadata["nz"], 1, 1), np.float32), labels


def _paddle_inputs(folder: Path) -> list[dict[str, Any]]:
    """The inputs ``generator.json`` declares: name, dtype and shape (None for a free dimension)."""
    try:
        with native_output_captured():
            specs = paddle.jit.load(str(folder / PREFIX))._input_spec()
    except Exception as exc:  # noqa: BLE001 - paddle raises several types for a damaged program
        raise UserError(f"export '{folder}' is corrupt ({_first_line(exc)}); write it again with "
                        "python tools/export.py") from None
    return [{"name": spec.name, "dtype": str(spec.dtype).removeprefix("paddle."),
             "shape": [None if d < 0 else int(d) for d in spec.shape]} for spec in specs]


def check_program(folder: Path, file: str, metadata: dict[str, Any], inputs: list[dict[str, Any]] | None = None,
                  output: np.ndarray | None = None) -> None:
    """Refuse a program (``file``) that disagrees with ``metadata.json``: its ``inputs`` (name, dtype, shape)
    must be the ones the metadata states, and its ``output`` for :func:`probe_batch` float32 images
    [PROBE_SIZE, channels, image_size, image_size] in [-1, 1]. Without this, a disagreement is a crash inside
    the engine or, worse, labels dropped without a word."""
    fix = "export again with python tools/export.py --run RUN"
    stated = f"{METADATA} (nz={metadata['nz']}, num_classes={metadata['num_classes']})"
    if inputs is not None:
        expected = [metadata["input"]] + ([metadata["labels_input"]] if metadata["num_classes"] else [])
        if inputs != expected:
            raise UserError(f"export '{folder}' disagrees with its {stated}: {file} takes {_described(inputs)} where "
                            f"the metadata says {_described(expected)}; {fix}")
    if output is not None:
        size = metadata["image_size"]
        shape = [PROBE_SIZE, metadata["channels"], size, size]
        if list(output.shape) != shape or output.dtype != np.float32:
            raise UserError(f"export '{folder}' disagrees with its {METADATA}: {file} returns {output.dtype} "
                            f"{list(output.shape)} for {PROBE_SIZE} noise vectors where the metadata says float32 "
                            f"{shape}; {fix}")
        if not np.all(np.abs(output) <= 1.0 + 1e-6):  # also false for NaN
            raise UserError(f"export '{folder}': {file} returns values outside [-1, 1] (or NaN) for zero noise; {fix}")


def _described(specs: list[dict[str, Any]]) -> str:
    """``z float32 [N, 16, 1, 1], labels int64 [N]``: inputs as a message names them, N for a free dimension."""
    return ", ".join(f"{spec['name']} {spec['dtype']} [{', '.join('N' if d is None else str(d) for d in spec['shape'])}]"
                     for spec in specs) or "no inputs"


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
