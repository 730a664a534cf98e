"""Training progress: a terminal progress bar and the periodic log line with img/s and ETA."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressBar:
    """One self-rewriting line on a terminal; silent when stdout is a file or pipe."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stdout
        self.enabled = self.stream.isatty()
        self.width = width

    def update(self, done: int, total: int, text: str) -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {text}\033[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


class StepReporter:
    """After every step: update the bar; every ``log_every`` steps (and at the last): one log line.

    Images/s are measured over the steps since the previous log line, and the ETA
    extrapolates that rate to ``total_steps``.
    """

    def __init__(self, total_steps: int, steps_per_epoch: int, epochs: int, batch_size: int, log_every: int,
                 bar: ProgressBar | None = None):
        self.total, self.per_epoch, self.epochs = total_steps, steps_per_epoch, epochs
        self.batch_size, self.log_every = batch_size, log_every
        self.bar = bar or ProgressBar()
        self._window_start, self._window_steps = time.perf_counter(), 0

    def step_done(self, step: int, stats: dict[str, float]) -> None:
        """``step``: steps completed so far (1-based); ``stats``: the step's losses and D outputs."""
        self._window_steps += 1
        now = time.perf_counter()
        rate = self._window_steps * self.batch_size / max(now - self._window_start, 1e-9)
        eta = format_duration((self.total - step) * self.batch_size / rate)
        epoch = (step - 1) // self.per_epoch + 1
        self.bar.update(step - (epoch - 1) * self.per_epoch, self.per_epoch,
                        f"epoch {epoch}/{self.epochs} | {rate:.0f} img/s | eta {eta}")
        if step % self.log_every == 0 or step == self.total:
            self.bar.clear()
            log.info("epoch %d/%d step %d/%d | loss_d %.3f loss_g %.3f | D(x) %.3f D(G(z)) %.3f/%.3f "
                     "| %.0f img/s | eta %s", epoch, self.epochs, step, self.total, stats["loss_d"], stats["loss_g"],
                     stats["d_real"], stats["d_fake"], stats["d_fake_g"], rate, eta)
            self._window_start, self._window_steps = now, 0

    def clear(self) -> None:
        self.bar.clear()
