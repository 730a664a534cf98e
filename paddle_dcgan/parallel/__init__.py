"""Several processes training one run (``paddle.distributed.launch``: world.py), and BatchNorm shards
that repeat such a run in one process (shards.py)."""
