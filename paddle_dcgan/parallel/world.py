"""Data-parallel training across processes started by ``paddle.distributed.launch``.

    python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py -c configs/dcgan.yaml

How one step is shared (docs/parallel.md):

- ``train.batch_size`` is the global batch: every process draws the same global
  batch, the same noise and the same fake labels, and keeps its own slice (rank r
  takes images ``r*b .. (r+1)*b - 1`` of it, b = batch_size / processes).
- Each process runs the D and G steps on its slice; ``paddle.DataParallel``
  averages the gradients across processes (gloo on CPU, NCCL on GPUs), so every
  process applies the same update to the same weights.
- BatchNorm normalises each slice with its own statistics (no SyncBatchNorm: it
  needs GPUs, and a CPU run would differ from a GPU run). The running statistics,
  which only sampling uses, are averaged across processes after every step.
- The step's statistics (losses, D outputs) are averaged across processes, so
  every process sees the same numbers and stops at the same step on divergence;
  a stop request (Ctrl-C, SIGTERM) on any process stops all of them after the step.
- Process 0 alone writes: the run folder, its lock, logs, pictures, checkpoints.

One process reproduces a run of N processes step for step with
``-o train.shards=N``: the batch is cut into N shards, each normalised on its
own, and the gradients averaged (shards.py). ``tests/test_parallel.py`` checks
that two gloo processes and one process with two shards train the same weights.
"""

from __future__ import annotations

import logging
import os

import paddle

from .launch import launched_gpu, launched_processes, launched_rank  # noqa: F401 (this module's API too)

log = logging.getLogger(__name__)


def backend(environ=os.environ) -> str:
    """The collective backend the launcher chose: gloo on CPU, nccl on GPUs."""
    return environ.get("PADDLE_DISTRI_BACKEND", "nccl" if paddle.device.is_compiled_with_cuda() else "gloo")


def shard_of(tensor: paddle.Tensor | None, i: int, n: int) -> paddle.Tensor | None:
    """Part ``i`` of ``n`` equal parts of a batch, along its first axis (the whole batch when n is 1;
    None stays None): a process's slice of the global batch, or a BatchNorm shard's."""
    if tensor is None or n == 1:
        return tensor
    each = tensor.shape[0] // n
    return tensor[i * each:(i + 1) * each]


class World:
    """The processes training one run together: this one's ``rank`` among ``size``."""

    def __init__(self, rank: int = 0, size: int = 1):
        self.rank, self.size = rank, size

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (process 0 only)."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size})"

    def wrap(self, net: paddle.nn.Layer) -> paddle.nn.Layer:
        """``net`` for the training steps: under paddle.DataParallel when there are several processes.

        The wrapper averages gradients across processes during backward; the
        unwrapped ``net`` keeps its own state_dict keys for checkpoints and export.
        """
        return paddle.DataParallel(net) if self.size > 1 else net

    def part(self, tensor: paddle.Tensor) -> paddle.Tensor:
        """This process's slice of a global batch (the whole batch for one process)."""
        return shard_of(tensor, self.rank, self.size)

    def mean(self, stats: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (unchanged for one process)."""
        if self.size == 1:
            return stats
        keys = sorted(stats)
        total = paddle.to_tensor([stats[k] for k in keys], dtype="float64")
        paddle.distributed.all_reduce(total)
        return {k: float(v) / self.size for k, v in zip(keys, total.numpy())}

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on at least one of them."""
        if self.size == 1:
            return flag
        total = paddle.to_tensor([1 if flag else 0], dtype="int32")
        paddle.distributed.all_reduce(total)
        return int(total.numpy()[0]) > 0

    def average_batchnorm(self, *nets: paddle.nn.Layer) -> None:
        """Replace every BatchNorm running mean and variance by its average over the processes."""
        if self.size == 1:
            return
        buffers = [t for net in nets for t in batchnorm_statistics(net)]
        flat = paddle.concat([t.reshape([-1]) for t in buffers])
        paddle.distributed.all_reduce(flat)
        flat = flat / self.size
        start = 0
        for t in buffers:
            n = t.size
            t.set_value(flat[start:start + n].reshape(t.shape))
            start += n


def batchnorm_statistics(net: paddle.nn.Layer) -> list[paddle.Tensor]:
    """The running mean and variance tensors of every BatchNorm in ``net``, in layer order."""
    found = []
    for layer in net.sublayers(include_self=True):
        if isinstance(layer, paddle.nn.layer.norm._BatchNormBase):
            found += [layer._mean, layer._variance]
    return found


_JOINED: list[World] = []


def join() -> World:
    """This process's place in the launched job; initialises paddle's process group once.

    Call after ``paddle.set_device``: on GPUs each process uses the GPU of its local rank.
    """
    size = launched_processes()
    if size == 1:
        return World()
    if not _JOINED:
        paddle.distributed.init_parallel_env()
        _JOINED.append(World(paddle.distributed.get_rank(), paddle.distributed.get_world_size()))
    return _JOINED[0]
