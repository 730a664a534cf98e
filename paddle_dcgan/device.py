"""Choosing the device with ``paddle.set_device``, before any weights are loaded."""

from __future__ import annotations

import re

import paddle

from .config import DEVICE_PATTERN
from .errors import UserError


def resolve_device(request: str) -> tuple[str, str]:
    """The paddle place for ``request`` (auto | cpu | gpu | gpu:N), and a description of it.

    E.g. ``("cpu", "cpu (auto: this paddle build has no CUDA support)")`` or
    ``("gpu:0", "gpu:0 (auto)")``. Changes nothing; an explicit GPU request that
    cannot be met is a :class:`UserError`.
    """
    if not re.fullmatch(DEVICE_PATTERN, request):
        raise UserError(f"device '{request}' is not one of auto, cpu, gpu, gpu:N (N = 0, 1, ...); pick one of those")
    has_cuda = paddle.device.is_compiled_with_cuda()
    count = paddle.device.cuda.device_count() if has_cuda else 0
    if request == "auto":
        if count > 0:
            return "gpu:0", "gpu:0 (auto)"
        why = "this paddle build has no CUDA support" if not has_cuda else "no GPU is visible"
        return "cpu", f"cpu (auto: {why})"
    if request == "cpu":
        return "cpu", "cpu"
    index = 0 if request == "gpu" else int(request.split(":", 1)[1])
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


def select_device(request: str) -> str:
    """Apply ``request`` (auto | cpu | gpu | gpu:N) with paddle.set_device.

    Returns a description of the device now in use, e.g. ``"cpu (auto: this
    paddle build has no CUDA support)"``, for the caller's start-up line. An
    explicit GPU request that cannot be met is a :class:`UserError`.
    """
    place, description = resolve_device(request)
    paddle.set_device(place)
    return description
