"""What a run records over time: per-step losses and per-evaluation scores, and their CSV files."""

from __future__ import annotations

from pathlib import Path

from ..files.io import write_text

STEP_KEYS = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")  # one value of each per training step


class History:
    """Per-step values of :data:`STEP_KEYS` and a list of in-training evaluation results."""

    def __init__(self, steps: dict[str, list[float]] | None = None, evals: list[dict] | None = None):
        self.steps = {k: [float(v) for v in (steps or {}).get(k, [])] for k in STEP_KEYS}
        self.evals = list(evals or [])

    def append(self, stats: dict[str, float]) -> None:
        for key in STEP_KEYS:
            self.steps[key].append(stats[key])

    def write_csv(self, run_dir: Path) -> None:
        """``history.csv`` (one row per step) and, once there are evaluations, ``evals.csv``."""
        rows = zip(range(1, len(self.steps["loss_d"]) + 1), *(self.steps[k] for k in STEP_KEYS))
        text = "step," + ",".join(STEP_KEYS) + "\n" + "".join(
            f"{s}," + ",".join(f"{v:.6g}" for v in vals) + "\n" for s, *vals in rows)
        write_text(run_dir / "history.csv", text)
        if self.evals:
            keys = list(self.evals[0])
            rows = "".join(",".join(f"{e[k]:.6g}" for k in keys) + "\n" for e in self.evals)
            write_text(run_dir / "evals.csv", ",".join(keys) + "\n" + rows)

