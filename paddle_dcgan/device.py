"""Choosing the device with ``paddle.set_device``, before any weights are loaded."""

from __future__ import annotations

import re

import paddle

from .config import DEVICE_PATTERN
from .errors import UserError


def resolve_device(request: str, gpu: int = 0, processes: int = 1) -> tuple[str, str]:
    """The paddle place for ``request`` (auto | cpu | gpu | gpu:N), and a description of it.

    E.g. ``("cpu", "cpu (auto: this paddle build has no CUDA support)")`` or
    ``("gpu:0", "gpu:0 (auto)")``. Changes nothing; an explicit GPU request that
    cannot be met is a :class:`UserError`. Under paddle.distributed.launch
    (``processes`` > 1) auto and gpu mean ``gpu``, the GPU the launcher gave the process.
    """
    if not re.fullmatch(DEVICE_PATTERN, request):
        raise UserError(f"device '{request}' is not one of auto, cpu, gpu, gpu:N (N = 0, 1, ...); pick one of those")
    has_cuda = paddle.device.is_compiled_with_cuda()
    count = paddle.device.cuda.device_count() if has_cuda else 0
    if processes > 1 and request.startswith("gpu:"):
        raise UserError(f"device={request} under paddle.distributed.launch: each process takes the GPU the "
                        "launcher gives it; use -o device=gpu (or auto) and pick GPUs with --devices")
    if request == "auto":
        if count > gpu:
            return f"gpu:{gpu}", f"gpu:{gpu} (auto)"
        if count > 0:
            raise UserError(f"this process was given GPU {gpu}, but only {count} are visible; "
                            f"pick visible GPUs with --devices, or use -o device=cpu")
        why = "this paddle build has no CUDA support" if not has_cuda else "no GPU is visible"
        return "cpu", f"cpu (auto: {why})"
    if request == "cpu":
        return "cpu", "cpu"
    index = gpu if request == "gpu" else int(request.split(":", 1)[1])
    if not has_cuda:
        raise UserError(
            f"device={request}: the installed paddlepaddle is a CPU-only build; "
            "install a CUDA build (paddlepaddle-gpu) or use -o device=cpu (or auto)"
        )
    if index >= count:
        raise UserError(
            f"device={request}: only {count} GPU(s) visible; use gpu:0..gpu:{count - 1}, cpu or auto"
        )
    return f"gpu:{index}", f"gpu:{index}"


def select_device(request: str, gpu: int = 0, processes: int = 1) -> str:
    """Apply ``request`` (auto | cpu | gpu | gpu:N) with paddle.set_device.

    Returns a description of the device now in use, e.g. ``"cpu (auto: this
    paddle build has no CUDA support)"``, for the caller's start-up line. An
    explicit GPU request that cannot be met is a :class:`UserError`.
    """
    place, description = resolve_device(request, gpu, processes)
    paddle.set_device(place)
    return description
