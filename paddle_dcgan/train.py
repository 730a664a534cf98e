"""Training: a visible D step and G step per batch, inside one small Trainer.

Per step (Goodfellow et al. 2014; Radford et al. 2016):

1. D step: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) over D's weights.
2. G step: minimise BCE(D(G(z)), 1) over G's weights, the non-saturating
   form of "maximise log D(G(z))", which keeps G's gradients alive early on.

Per epoch: a grid from a fixed noise batch, the loss curves, the animation,
and (by default) a checkpoint. Ctrl-C stops after the current step and saves.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F

from . import checkpoint as ckpt
from . import data, visualize
from .config import RESUME_KEYS, Config, get
from .errors import UserError
from .models import build_models
from .reporting import ProgressBar, StopRequest, add_log_file, format_duration, setup_logging
from .runtime import describe_cpu_env, select_device
from .sampling import STREAM_FIXED_NOISE, STREAM_TRAIN_NOISE, generator_file_contents, noise

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")


class TrainingStopped(KeyboardInterrupt):
    """Raised after a Ctrl-C/SIGTERM stop has saved its checkpoint."""


@contextlib.contextmanager
def frozen(layer: paddle.nn.Layer):
    """Skip weight gradients of ``layer`` (gradients still flow through it to its input)."""
    params = [p for p in layer.parameters() if not p.stop_gradient]
    for p in params:
        p.stop_gradient = True
    try:
        yield
    finally:
        for p in params:
            p.stop_gradient = False


class Precision:
    """Mixed precision for GPU runs (paddle.amp O1), or plain float32 when ``dtype`` is None.

    float16 needs loss scaling (GradScaler) so small gradients do not flush to
    zero; bfloat16 has float32's range and does not.
    """

    def __init__(self, dtype: str | None = None):
        self.dtype = dtype
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if dtype == "float16" else None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level="O1", dtype=self.dtype)

    def backward_and_step(self, optimizer, loss: paddle.Tensor) -> None:
        optimizer.clear_grad()
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaled = self.scaler.scale(loss)
            scaled.backward()
            self.scaler.minimize(optimizer, scaled)  # unscale, skip the step on inf/nan, adapt the scale


FLOAT32 = Precision()


def choose_precision(amp: str, device: str) -> Precision:
    """``train.amp`` on a GPU; on CPU mixed precision is skipped with a notice (paddle's CPU AMP
    kernels are slower than float32 and would change the results the tests pin down)."""
    if amp == "off":
        return FLOAT32
    if not device.startswith("gpu"):
        log.info("train.amp=%s needs a GPU; training in float32 on %s", amp, device.split()[0])
        return FLOAT32
    return Precision(amp)


def discriminator_step(generator, discriminator, opt_d, real, z,
                       precision: Precision = FLOAT32) -> tuple[paddle.Tensor, dict[str, float]]:
    """D step: push D(x) towards 1 and D(G(z)) towards 0.

    Args:
        real: images [B, C, S, S] in [-1, 1].
        z: noise [B, nz, 1, 1].
        precision: float32, or mixed precision on a GPU.

    Returns:
        The fake batch G(z), still attached to G's graph for the G step, and
        ``loss_d``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) before the update.
    """
    with precision.autocast():
        fake = generator(z)
        logit_real = discriminator(real)
        logit_fake = discriminator(fake.detach())  # no gradient into G here
        loss = (F.binary_cross_entropy_with_logits(logit_real, paddle.ones_like(logit_real))
                + F.binary_cross_entropy_with_logits(logit_fake, paddle.zeros_like(logit_fake)))
    precision.backward_and_step(opt_d, loss)
    stats = {"loss_d": loss, "d_real": F.sigmoid(logit_real).mean(), "d_fake": F.sigmoid(logit_fake).mean()}
    return fake, {k: float(v) for k, v in stats.items()}


def generator_step(discriminator, opt_g, fake, freeze_discriminator: bool = True,
                   precision: Precision = FLOAT32) -> dict[str, float]:
    """G step: push the freshly updated D's verdict on ``fake`` towards 1 (non-saturating loss).

    ``freeze_discriminator`` skips D's weight gradients, which the next D step would
    discard anyway (False only to measure what that saves).

    Returns ``loss_g`` and ``d_fake_g`` = mean D(G(z)) after the D step.
    """
    freeze = frozen(discriminator) if freeze_discriminator else contextlib.nullcontext()
    with freeze:
        with precision.autocast():
            logit = discriminator(fake)
            loss = F.binary_cross_entropy_with_logits(logit, paddle.ones_like(logit))
        precision.backward_and_step(opt_g, loss)
    return {"loss_g": float(loss), "d_fake_g": float(F.sigmoid(logit).mean())}


def _new_run_dir(output_dir: str, run_name: str) -> Path:
    """``output_dir/run_name``, or ``run_name-2``, ``-3``... if that already holds a run."""
    base = Path(output_dir) / run_name
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{run_name}-{n}")
    if candidate != base:
        log.info("%s already holds a run; this run writes to %s (continue that one with -o run_name=%s "
                 "--resume latest)", base, candidate, run_name)
    try:
        candidate.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create run folder '{candidate}' ({exc.strerror}); set -o output_dir=WRITABLE") from None
    return candidate


def _check_resumable(saved: dict[str, Any], cfg: Config, path: Path) -> None:
    """Raise if ``cfg`` differs from the checkpoint ``saved`` in a key that resuming must keep."""
    now = cfg.to_dict()
    for key in RESUME_KEYS:
        before, after = get(saved["config"], key), get(now, key)
        if before != after:
            raise UserError(f"cannot resume {path}: it was trained with {key}={before!r}, the config says "
                            f"{after!r}; use -o {key}={before!r} or start a new run")


class Trainer:
    """Holds one run: its folder, data, nets, optimisers and counters.

    Args:
        cfg: the resolved config.
        resume: None for a new run; ``"latest"``, a run folder or a checkpoint file.
    """

    def __init__(self, cfg: Config, resume: str | None = None):
        setup_logging()
        self.cfg = cfg
        resume_path = ckpt.find_checkpoint(resume, Path(cfg.output_dir) / cfg.run_name) if resume else None
        saved = ckpt.load_checkpoint(resume_path) if resume_path else None
        if saved:
            _check_resumable(saved, cfg, resume_path)
        self.dataset, folder = data.resolve(cfg.data.name, cfg.data.dir, cfg.data.download,
                                            cfg.data.download_timeout, "train")
        if saved and saved["dataset"] != self.dataset:
            raise UserError(f"cannot resume {resume_path}: it was trained on {saved['dataset']}, this config loads "
                            f"{self.dataset}; use -o data.name={saved['dataset']} or start a new run")
        images, labels = data.load_split(self.dataset, folder, "train")
        self.batches = data.Batches(data.fit_to_size(images, cfg.model.image_size), labels,
                                    cfg.train.batch_size, cfg.seed)
        self.scorer = self._make_scorer(folder, images) if cfg.eval.every_epochs else None
        self.device = select_device(cfg.device)

        # Everything that can be wrong with the input has been checked: only now touch the disk.
        self.run_dir = ckpt.run_folder_of(resume_path) if saved else _new_run_dir(cfg.output_dir, cfg.run_name)
        self._log_file = add_log_file(self.run_dir / "train.log")
        log.info("run folder %s | device %s | %s", self.run_dir, self.device, describe_cpu_env())
        self.precision = choose_precision(cfg.train.amp, self.device)
        log.info("config:\n%s", cfg.to_yaml().rstrip())
        (self.run_dir / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        log.info("data %s from %s: %d images, %d steps per epoch", self.dataset, folder, len(images), len(self.batches))
        if self.scorer:
            log.info("evaluating every %d epoch(s) on %d samples with %s", cfg.eval.every_epochs, self.scorer.n,
                     self.scorer.classifier.id)

        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        paddle.seed(cfg.seed)
        m, o = cfg.model, cfg.optim
        self.generator, self.discriminator = build_models(m.image_size, m.nz, m.ngf, m.ndf)
        self.opt_g = paddle.optimizer.Adam(o.lr_g, beta1=o.beta1, beta2=o.beta2, parameters=self.generator.parameters())
        self.opt_d = paddle.optimizer.Adam(o.lr_d, beta1=o.beta1, beta2=o.beta2,
                                           parameters=self.discriminator.parameters())
        self.fixed_z = noise(cfg.seed, STREAM_FIXED_NOISE, 0, cfg.train.num_fixed_samples, m.nz)
        self.step = 0
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self.evals: list[dict[str, float]] = []  # one entry per in-training evaluation
        if saved:
            self._restore(saved, resume_path)
            log.info("resumed from %s at step %d (epoch %d)", resume_path, self.step, self.step // len(self.batches))

    def _make_scorer(self, folder: Path, train_images: np.ndarray):
        from .classifier import find_classifier
        from .evaluate import RealSets, Scorer

        classifier = find_classifier(self.cfg.eval.classifier, self.dataset)
        if classifier.dataset != self.dataset:
            raise UserError(f"eval.classifier {classifier.id} was trained on {classifier.dataset}, this run trains "
                            f"on {self.dataset}; pass one for {self.dataset}")
        return Scorer(classifier, RealSets.load(self.dataset, folder, self.cfg.eval.num_samples, self.cfg.seed,
                                                train_images))

    def evaluate(self, epoch: int) -> None:
        result = self.scorer.score_generator(self.generator, seed=self.cfg.seed)
        keys = ("fid", "mnist_score", "classes_covered", "kl_to_uniform", "precision", "recall")
        self.evals.append({"step": self.step, "epoch": epoch, **{k: result[k] for k in keys}})
        floor = self.scorer.floor()
        log.info("eval epoch %d | FID %.2f (real %.2f) | MNIST score %.2f | classes %d | precision %.3f recall %.3f",
                 epoch, result["fid"], floor["fid"], result["mnist_score"], result["classes_covered"],
                 result["precision"], result["recall"])

    # ------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.step // len(self.batches),  # completed epochs
            "config": self.cfg.to_dict(),
            "dataset": self.dataset,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "history": self.history,
            "evals": self.evals,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "paddle": paddle.get_rng_state()},
            "scaler": self.precision.scaler.state_dict() if self.precision.scaler else None,
        }

    def _restore(self, saved: dict[str, Any], path: Path) -> None:
        ckpt.load_weights(self.generator, saved["generator"], path)
        ckpt.load_weights(self.discriminator, saved["discriminator"], path)
        self.opt_g.set_state_dict(saved["opt_g"])
        self.opt_d.set_state_dict(saved["opt_d"])
        self.step = int(saved["step"])
        self.history = {k: [float(v) for v in saved["history"][k]] for k in HISTORY_KEYS}
        self.evals = list(saved.get("evals", []))
        random.setstate(saved["rng"]["python"])
        np.random.set_state(saved["rng"]["numpy"])
        paddle.set_rng_state(saved["rng"]["paddle"])
        if self.precision.scaler and saved.get("scaler"):
            self.precision.scaler.load_state_dict(saved["scaler"])

    def save(self) -> Path:
        path = ckpt.save_checkpoint(self.run_dir, self._state(), self.cfg.train.keep_checkpoints)
        ckpt.atomic_save(generator_file_contents(self.generator, vars(self.cfg.model), self.dataset, self.step),
                         self.run_dir / "generator.pdparams")
        log.info("saved %s", path)
        return path

    # ------------------------------------------------------------ pictures
    @paddle.no_grad()
    def _fixed_grid(self) -> np.ndarray:
        self.generator.eval()
        images = self.generator(self.fixed_z).numpy()
        self.generator.train()
        return visualize.to_uint8(images)

    def end_of_epoch(self, epoch: int) -> None:
        """Write the epoch's fixed-noise grid, the animation, the curves and history.csv (and evaluate)."""
        if self.scorer and epoch % self.cfg.eval.every_epochs == 0:
            self.evaluate(epoch)
        samples = self.run_dir / "samples"
        visualize.save_grid(self._fixed_grid(), samples / f"epoch_{epoch:03d}.png")
        frames = [samples / f"epoch_{e:03d}.png" for e in range(1, epoch + 1)]
        visualize.save_gif([f for f in frames if f.exists()], self.run_dir / "progress.gif")
        extra = {"FID (in-training eval)": ([e["step"] for e in self.evals], [e["fid"] for e in self.evals])}
        visualize.save_training_curves(self.history, self.run_dir / "loss_curve.png", len(self.batches),
                                       extra if self.evals else None)
        rows = zip(range(1, self.step + 1), *(self.history[k] for k in HISTORY_KEYS))
        text = "step," + ",".join(HISTORY_KEYS) + "\n" + "".join(
            f"{s}," + ",".join(f"{v:.6g}" for v in vals) + "\n" for s, *vals in rows)
        (self.run_dir / "history.csv").write_text(text, encoding="utf-8")
        if self.evals:
            keys = list(self.evals[0])
            rows = "".join(",".join(f"{e[k]:.6g}" for k in keys) + "\n" for e in self.evals)
            (self.run_dir / "evals.csv").write_text(",".join(keys) + "\n" + rows, encoding="utf-8")

    # ------------------------------------------------------------ loop
    def fit(self) -> Path:
        """Train to ``train.epochs``; returns the run folder. Ctrl-C saves, then raises TrainingStopped."""
        cfg, per_epoch = self.cfg.train, len(self.batches)
        total = cfg.epochs * per_epoch
        if self.step >= total:
            log.info("nothing to do: the run is at step %d and train.epochs=%d ends at step %d; raise train.epochs "
                     "to continue", self.step, cfg.epochs, total)
            return self.run_dir
        bar = ProgressBar()
        self.generator.train()
        self.discriminator.train()
        started, window_start, window_steps = time.perf_counter(), time.perf_counter(), 0
        first_step = self.step
        try:
            with StopRequest() as stop:
                for epoch in range(self.step // per_epoch, cfg.epochs):
                    for real, _labels in self.batches.epoch(epoch, start=self.step % per_epoch):
                        z = noise(self.cfg.seed, STREAM_TRAIN_NOISE, self.step, cfg.batch_size, self.cfg.model.nz)
                        fake, stats = discriminator_step(self.generator, self.discriminator, self.opt_d, real, z,
                                                         self.precision)
                        stats.update(generator_step(self.discriminator, self.opt_g, fake, precision=self.precision))
                        self.step += 1
                        window_steps += 1
                        for key in HISTORY_KEYS:
                            self.history[key].append(stats[key])

                        now = time.perf_counter()
                        rate = window_steps * cfg.batch_size / max(now - window_start, 1e-9)
                        eta = format_duration((total - self.step) * cfg.batch_size / rate)
                        bar.update(self.step - epoch * per_epoch, per_epoch,
                                   f"epoch {epoch + 1}/{cfg.epochs} | {rate:.0f} img/s | eta {eta}")
                        if self.step % cfg.log_every == 0 or self.step == total:
                            bar.clear()
                            log.info("epoch %d/%d step %d/%d | loss_d %.3f loss_g %.3f | D(x) %.3f D(G(z)) %.3f/%.3f "
                                     "| %.0f img/s | eta %s", epoch + 1, cfg.epochs, self.step, total,
                                     stats["loss_d"], stats["loss_g"], stats["d_real"], stats["d_fake"],
                                     stats["d_fake_g"], rate, eta)
                            window_start, window_steps = now, 0
                        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                            self.save()
                        if stop.requested:
                            bar.clear()
                            self.save()
                            log.info("stopped at step %d; continue with --resume latest", self.step)
                            raise TrainingStopped(self.step)
                    self.end_of_epoch(epoch + 1)
                    if not cfg.checkpoint_every or self.step == total:
                        self.save()
        finally:
            bar.clear()
            logging.getLogger("paddle_dcgan").removeHandler(self._log_file)
            self._log_file.close()
        elapsed = time.perf_counter() - started
        log.info("done: %d steps in %s (%.0f img/s); results in %s", self.step - first_step,
                 format_duration(elapsed), (self.step - first_step) * cfg.batch_size / elapsed, self.run_dir)
        return self.run_dir


def train(cfg: Config, resume: str | None = None) -> Path:
    """Train (or resume) one run as configured; returns its folder."""
    return Trainer(cfg, resume).fit()
