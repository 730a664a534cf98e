"""The optional VisualDL dashboard of a run (``train.visualdl: true``): ``<run>/vdl/``.

Logs per-step losses and discriminator outputs, the fixed-noise grid after every
epoch and the in-training evaluation scores. View it with
``visualdl --logdir output/dcgan/vdl``. visualdl is imported only when the
dashboard is on; if it is missing, the Trainer says so before anything is written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..extras import require
from .history import STEP_KEYS, History
from ..visualize import make_grid

# scalar tag of each per-step statistic; VisualDL groups tags by the part before "/"
STEP_TAGS = {"loss_d": "loss/D", "loss_g": "loss/G", "d_real": "D output/D(x)",
             "d_fake": "D output/D(G(z)) before D step", "d_fake_g": "D output/D(G(z)) after D step"}
FOLDER = "vdl"  # inside the run folder
GRID_TAG = "samples/fixed noise"
EVAL_PREFIX = "eval/"


class Dashboard:
    """Writes a run's VisualDL log; every method does nothing when the dashboard is off.

    Args:
        enabled: ``train.visualdl``. When true, visualdl is imported here, so that a
            missing package is reported before the run writes anything.
    """

    def __init__(self, enabled: bool):
        self._visualdl = require("visualdl") if enabled else None
        self._writer = None

    @contextlib.contextmanager
    def open(self, run_dir: Path, history: History, steps_per_epoch: int) -> Iterator[None]:
        """Log into ``<run_dir>/vdl`` until the block ends.

        VisualDL shows only the newest log file of a folder, so a resumed run replaces
        the older file with a new one that first replays everything so far (from
        ``history`` and the saved epoch grids).
        """
        if self._visualdl is None:
            yield
            return
        folder = run_dir / FOLDER
        for older in folder.glob("vdlrecords.*"):  # superseded: the new file replays what they held
            older.unlink()
        self._writer = self._visualdl.LogWriter(logdir=str(folder))
        try:
            self._replay(run_dir, history, steps_per_epoch)
            yield
        finally:
            self._writer.close()
            self._writer = None

    def _replay(self, run_dir: Path, history: History, steps_per_epoch: int) -> None:
        for index in range(len(history.steps["loss_d"])):
            self.log_step(index + 1, {key: values[index] for key, values in history.steps.items()})
        for path in sorted((run_dir / "samples").glob("epoch_*.png")):
            step = int(path.stem.split("_")[1]) * steps_per_epoch
            if step <= len(history.steps["loss_d"]):  # grids of epochs after a resumed checkpoint are redone
                self._add_grid(np.asarray(Image.open(path).reduce(2).convert("RGB")), step)  # saved at 2x
        for result in history.evals:
            self._add_eval(result)

    def log_step(self, step: int, stats: dict[str, float]) -> None:
        """The step's losses and D outputs (:data:`~paddle_dcgan.training.history.STEP_KEYS`)."""
        if self._writer:
            for key in STEP_KEYS:
                self._writer.add_scalar(tag=STEP_TAGS[key], step=step, value=float(stats[key]))

    def log_epoch(self, step: int, grid_images: np.ndarray, evals: list[dict], ncols: int | None = None) -> None:
        """The fixed-noise images (uint8 [N, C, H, W]) as one grid of ``ncols`` columns (default: square),
        and the scores of an evaluation at ``step``."""
        if not self._writer:
            return
        grid = make_grid(grid_images, ncols)
        self._add_grid(np.repeat(grid, 3, axis=2) if grid.shape[2] == 1 else grid, step)
        for result in evals:
            if result["step"] == step:
                self._add_eval(result)

    def _add_grid(self, rgb: np.ndarray, step: int) -> None:
        self._writer.add_image(tag=GRID_TAG, img=rgb, step=step)

    def _add_eval(self, result: dict) -> None:
        for key, value in result.items():
            if key not in ("step", "epoch"):
                self._writer.add_scalar(tag=EVAL_PREFIX + key, step=result["step"], value=float(value))
