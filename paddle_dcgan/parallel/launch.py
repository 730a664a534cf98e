"""What ``paddle.distributed.launch`` tells a process through its environment, readable before paddle loads."""

from __future__ import annotations

import os


def launched_processes(environ=os.environ) -> int:
    """How many processes paddle.distributed.launch started for this job (1 without it)."""
    try:
        return max(1, int(environ.get("PADDLE_TRAINERS_NUM", "1")))
    except ValueError:
        return 1


def launched_rank(environ=os.environ) -> int:
    """This process's rank in the launched job (0 without a launch), readable before paddle starts."""
    try:
        return int(environ.get("PADDLE_TRAINER_ID", "0"))
    except ValueError:
        return 0


def launched_gpu(environ=os.environ) -> int:
    """The GPU the launcher gave this process (its FLAGS_selected_gpus, set from --devices); 0 without one."""
    try:
        return int(environ.get("FLAGS_selected_gpus", "0").split(",")[0])
    except ValueError:
        return 0
