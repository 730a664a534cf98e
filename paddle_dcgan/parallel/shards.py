"""BatchNorm shards: one process computing what N data-parallel processes compute together.

With N processes each normalises its own slice of the batch (no SyncBatchNorm), so
a run's arithmetic depends on N. ``train.shards=N`` in one process wraps both nets
in :class:`Shards`: every forward cuts the batch into N equal parts, each normalised
alone, and the losses over the whole batch then average the parts' losses, as
``paddle.DataParallel`` averages the processes' gradients.
"""

from __future__ import annotations

import paddle

from .world import batchnorm_statistics, shard_of


class Shards(paddle.nn.Layer):
    """``net`` run on ``n`` equal parts of every batch; its BatchNorm running statistics behave as if each part
    ran alone from the statistics the call started with, and end at their mean over the parts (what
    ``World.average_batchnorm`` does across processes)."""

    def __init__(self, net: paddle.nn.Layer, n: int):
        super().__init__()
        self.net, self.n = net, n

    def forward(self, x: paddle.Tensor, labels: paddle.Tensor | None = None) -> paddle.Tensor:
        stats = batchnorm_statistics(self.net) if self.net.training else []
        start = [t.clone() for t in stats]
        total = [paddle.zeros_like(t) for t in stats]
        outputs = []
        for i in range(self.n):
            for t, s in zip(stats, start):
                t.set_value(s)
            outputs.append(self.net(shard_of(x, i, self.n), shard_of(labels, i, self.n)))
            for t, s in zip(total, stats):
                t.add_(s)
        for t, s in zip(stats, total):
            t.set_value(s / self.n)
        return paddle.concat(outputs)
