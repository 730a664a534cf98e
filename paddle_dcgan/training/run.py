"""One training run around the core's loop (``paddle_dcgan/core/loop.py``).

The core yields after every D and G step; this module does the rest: a progress
update, a check that the losses are still numbers, and per epoch: a grid from a fixed noise batch (for a conditional
model a column per digit), the loss curves, the animation, history.csv, an
optional evaluation and (by default) a checkpoint. Ctrl-C stops after the
current step and saves.

A process killed at any moment resumes into a complete run: the epoch's files
are written before the checkpoint that records them, and a resume writes
generator.pdparams again when it is missing or older than the checkpoint.

Everything that can be wrong with the input (config, checkpoint, data, device,
classifier, a run folder in use) is checked in :class:`Trainer`'s constructor;
only :meth:`Trainer.fit` writes to disk.

Started by ``paddle.distributed.launch``, every process runs this loop on its
slice of each batch and process 0 alone writes (``paddle_dcgan/parallel``).

The nets the steps call are the core's, wrapped here from outside: their layers
swapped for faster ones (``paddle_dcgan.kernels``, unless ``train.kernels=stock``),
BatchNorm shards, mixed precision and ``paddle.DataParallel`` where configured.
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

from .. import cpu_tuning, kernels, visualize
from ..config import RESUME_KEYS, Config, get, resume_key_matters
from ..core.loop import train_step, training_steps
from ..core.models import build_models
from ..core.steps import Objective
from ..data import mnist, sources
from ..device import select_device
from ..errors import UserError
from ..evaluation.metrics import CONDITIONAL_KEY
from ..files import checkpoint as ckpt
from ..files import run_folder
from ..files.io import write_text
from ..logs import holding_notices, log_to_file, show_notices
from ..parallel import world as parallel
from ..parallel.shards import Shards
from ..random_streams import STREAM_FAKE_LABELS, STREAM_FIXED_NOISE, STREAM_TRAIN_NOISE, noise, random_labels
from ..sampling.batchnorm import for_sampling, quiet_batchnorm, stock_copy
from .amp import choose_precision
from .dashboard import Dashboard
from .divergence import CollapseWatch, TrainingDiverged, loss_problem, weight_problem
from .ema import WeightAverage, decay_schedule
from .history import History
from .interrupt import StopRequest, TrainingStopped
from .progress import StepReporter, format_duration

log = logging.getLogger(__name__)
PICTURES_EVERY_S = 30.0  # progress.gif and loss_curve.png: redrawn at most this often (Trainer.draw_pictures)


def _check_resumable(saved: dict[str, Any], cfg: Config, path: Path) -> None:
    """Raise if ``cfg`` differs from the checkpoint ``saved`` in a key that resuming must keep."""
    now, defaults = cfg.to_dict(), Config().to_dict()
    for key in RESUME_KEYS:
        if not resume_key_matters(key, now):
            continue
        try:
            before = get(saved["config"], key)
        except KeyError:  # a checkpoint older than the key was trained with its default
            before = get(defaults, key)
        after = get(now, key)
        if before != after:
            raise UserError(f"cannot resume {path}: it was trained with {key}={before!r}, the config says "
                            f"{after!r}; use -o {key}={before!r} or start a new run")


def _check_same_data(saved: dict[str, Any], dataset: str, folder: Path, class_names: tuple[str, ...],
                     path: Path) -> None:
    """Raise if the checkpoint ``saved`` was trained on other data than this start loads."""
    if saved["dataset"] != dataset:
        raise UserError(f"cannot resume {path}: it was trained on {saved['dataset']}, this config loads "
                        f"{dataset}; use -o data.name={saved['dataset']} or start a new run")
    before = saved.get("data_dir")
    if dataset == sources.FOLDER and before and before != str(folder):
        raise UserError(f"cannot resume {path}: it was trained on the pictures in '{before}', this config loads "
                        f"'{folder}'; use -o data.dir={before} or start a new run")
    saved_names = tuple(saved.get("class_names") or ())
    if saved_names and class_names and saved_names != class_names:
        raise UserError(f"cannot resume {path}: it was trained on the classes {', '.join(saved_names)[:200]}, "
                        f"'{folder}' now has {', '.join(class_names)[:200]}; restore the class folders or start "
                        "a new run")


class Trainer:
    """Holds one run: its folder, data, nets, optimisers and counters.

    Args:
        cfg: the resolved config.
        resume: None for a new run; ``"latest"``, a run folder or a checkpoint file.
    """

    def __init__(self, cfg: Config, resume: str | None = None):
        with holding_notices() as self.start_notices:  # shown by fit(), once the run folder is this run's
            self._load(cfg, resume)

    def _load(self, cfg: Config, resume: str | None) -> None:
        """Check everything (config, checkpoint, data, device, classifier, run folder) and build the run."""
        self.cfg = cfg
        # first: weights loaded below land on this device; each launched process takes the GPU it was given
        self.device = select_device(cfg.device, parallel.launched_gpu(), parallel.launched_processes())
        self.world = parallel.join()
        self.shards = self._shards()
        named_run = Path(cfg.output_dir) / cfg.run_name
        if resume and self.world.writes:  # before reading it: a run in training may be rotating its checkpoints
            run_folder.check_not_in_use(run_folder.run_folder_of(run_folder.resume_target(resume, named_run)))
        resume_path = run_folder.find_checkpoint(resume, named_run) if resume else None
        saved = ckpt.load_checkpoint(resume_path) if resume_path else None
        found = sources.training_data(cfg.data, cfg.model.image_size, write_cache=self.world.writes)
        for note in sources.settle_model(cfg.model, found):
            log.info("%s", note)
        self.dataset, self.data_folder = found.dataset, found.folder
        self.class_names = found.class_names if cfg.model.num_classes else ()
        class_term = cfg.model.num_classes and cfg.model.conditioning == "classifier"
        self.objective = Objective(cfg.train.loss, cfg.train.real_label, cfg.train.class_loss if class_term else 0.0)
        if saved:
            _check_resumable(saved, cfg, resume_path)
            _check_same_data(saved, self.dataset, self.data_folder, self.class_names, resume_path)
            if saved.get("shards", 1) != self.shards:
                s = saved.get("shards", 1)
                raise UserError(f"cannot resume {resume_path}: its batch was split in {s} BatchNorm shard(s) "
                                f"({s} process(es) or train.shards={s}), this start splits it in {self.shards}; "
                                f"launch {s} process(es) with train.shards=0, or add -o train.shards={s}")
        self.batches = mnist.Batches(found.fitted(cfg.model.channels), found.labels, cfg.train.batch_size, cfg.seed)
        writes = self.world.writes
        self.scorer = self._make_scorer(found) if cfg.eval.every_epochs and writes else None
        # imports visualdl only when on; missing = UserError
        self.dashboard = Dashboard(cfg.train.visualdl and writes)
        self.precision = choose_precision(cfg.train.amp, self.device)
        if saved:
            self.run_dir, self.folder_note = run_folder.run_folder_of(resume_path), None
        elif writes:
            self.run_dir, self.folder_note = run_folder.new_run_folder(cfg.output_dir, cfg.run_name)
        else:  # never written to by this process
            self.run_dir, self.folder_note = named_run, None

        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        paddle.seed(cfg.seed)
        m, o = cfg.model, cfg.optim
        self.generator, self.discriminator = build_models(m.image_size, m.nz, m.ngf, m.ndf, m.channels, m.num_classes,
                                                          m.conditioning)
        self.kernels_note = self._apply_kernels()
        self.opt_g = paddle.optimizer.Adam(o.lr_g, beta1=o.beta1, beta2=o.beta2, parameters=self.generator.parameters())
        self.opt_d = paddle.optimizer.Adam(o.lr_d, beta1=o.beta1, beta2=o.beta2,
                                           parameters=self.discriminator.parameters())
        ema_decay = decay_schedule(cfg.train)
        self.ema = WeightAverage(self.generator, ema_decay) if ema_decay else None
        self._sampler: tuple[int, paddle.nn.Layer] | None = None  # (step, net) cache of sampling_generator()
        self.fixed_z = noise(cfg.seed, STREAM_FIXED_NOISE, 0, cfg.train.num_fixed_samples, m.nz)
        # a conditional grid has a column per digit: 0 1 2 ... 9 along every row
        self.fixed_labels = (paddle.arange(cfg.train.num_fixed_samples, dtype="int64") % m.num_classes
                             if m.num_classes else None)
        self.step = 0
        self.epoch_outputs = 0  # the last epoch whose end-of-epoch files are written
        self._pictures_drawn = (0, None)  # (epoch, time.monotonic()) of the last progress.gif and loss_curve.png
        self.history = History()
        self.collapse = CollapseWatch()
        self.resumed_from = resume_path if saved else None
        self.checkpoint_seen = self._newest_checkpoint()  # fit() checks, under the run's lock, that it still is
        if saved:
            self._restore(saved, resume_path)
        # what the steps call (self.generator / self.discriminator keep their state_dict keys): BatchNorm
        # shards, mixed precision, and paddle.DataParallel with several processes (built last: it broadcasts
        # process 0's weights)
        self.step_generator = self._for_steps(self.generator, logits=False)
        self.step_discriminator = self._for_steps(self.discriminator, logits=True)
        self.step_opt_g, self.step_opt_d = self.precision.optimizer(self.opt_g), self.precision.optimizer(self.opt_d)

    def _apply_kernels(self) -> str:
        """Swap the nets' stock layers for faster ones (``train.kernels``); returns the log line saying which."""
        operators, note = kernels.choose(self.cfg.train.kernels, self.device)
        bfloat16, precision = kernels.conv_precision(self.cfg.train.conv_precision, operators)  # None for stock
        if self.cfg.train.kernels != "stock":
            for net in (self.generator, self.discriminator):
                kernels.apply(net, operators, bfloat16)
        if operators is not None or self.cfg.train.conv_precision != "float32":
            note += f"; {precision}"
        if operators is not None:  # a layer of a shape no stand-in takes runs on paddle's kernels: say which
            left = [f"{type(net).__name__}.{name}" for net in (self.generator, self.discriminator)
                    for name in kernels.left_stock(net)]
            if left:
                note += f"; on paddle's own kernels (no faster form for their shape): {', '.join(left)}"
        return note

    def _for_steps(self, net: paddle.nn.Layer, logits: bool) -> paddle.nn.Layer:
        per_process = self.shards // self.world.size
        if per_process > 1:
            net = Shards(net, per_process)
        return self.world.wrap(self.precision.net(net, logits))

    def _shards(self) -> int:
        """BatchNorm shards of a step (train.shards, 0 = one per process), checked against the processes."""
        t, processes = self.cfg.train, self.world.size
        shards = t.shards or processes
        if processes > 1 and shards != processes:
            raise UserError(f"train.shards={t.shards} with {processes} processes: each process takes one shard; "
                            f"use -o train.shards=0 (or {processes}), or launch {t.shards} processes")
        if t.batch_size % shards:
            raise UserError(f"train.batch_size={t.batch_size} (the batch of all processes together) does not split "
                            f"into {shards} equal parts; use a multiple of {shards}")
        return shards

    def _make_scorer(self, found: sources.TrainingData):
        from ..evaluation.evaluate import make_scorer, training_reference

        reference = training_reference(self.cfg.eval.reference, self.dataset, self.data_folder)
        own = reference.folder == self.data_folder and found.idx_split is not None  # the floor's real set: as loaded
        return make_scorer(reference, self.cfg.eval.classifier, self.cfg.eval.num_samples, self.cfg.seed,
                           found.idx_split if own else None)

    @property
    def total_steps(self) -> int:
        return self.cfg.train.epochs * len(self.batches)

    def learning_rate_factor(self, step: int) -> float:
        """The share of optim.lr_g / lr_d that step ``step`` (0 = the first) trains with: 1, then with optim.lr_decay
        a straight line from 1 down to 0 over the run's last ``lr_decay`` share of steps."""
        decay, total = self.cfg.optim.lr_decay, self.total_steps
        start = total * (1 - decay)
        return 1.0 if not decay or step < start else (total - step) / (total - start)

    def _set_learning_rates(self, step: int) -> None:
        if self.cfg.optim.lr_decay:  # a pure function of the step: a resumed run sets what an unbroken one had
            factor = self.learning_rate_factor(step)
            self.opt_g.set_lr(self.cfg.optim.lr_g * factor)
            self.opt_d.set_lr(self.cfg.optim.lr_d * factor)

    # ------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return ckpt.training_state(
            step=self.step, steps_per_epoch=len(self.batches), config=self.cfg.to_dict(), dataset=self.dataset,
            generator=self.generator, discriminator=self.discriminator, opt_g=self.opt_g, opt_d=self.opt_d,
            epoch_outputs=self.epoch_outputs, history=self.history, ema=self.ema, scaler=self.precision.scaler,
            shards=self.shards, class_names=list(self.class_names), data_dir=str(self.data_folder))

    def _restore(self, saved: dict[str, Any], path: Path) -> None:
        ckpt.restore_training_state(saved, path, generator=self.generator, discriminator=self.discriminator,
                                    opt_g=self.opt_g, opt_d=self.opt_d, ema=self.ema, scaler=self.precision.scaler)
        self.step = int(saved["step"])
        self.epoch_outputs = int(saved.get("epoch_outputs", 0))  # older checkpoints: write the files again
        self.history = History(saved["history"], saved.get("evals", []))

    def sampling_generator(self) -> paddle.nn.Layer:
        """The net every sample of this step comes from: the EMA of G (if on) or G, with model.sample_bn applied."""
        if self._sampler is None or self._sampler[0] != self.step:
            source = stock_copy(self.ema.average if self.ema else self.generator)
            self._sampler = (self.step, for_sampling(source, self.cfg.model.sample_bn, self.cfg.seed))
        return self._sampler[1]

    def _save_generator(self, name: str) -> None:
        ckpt.save_generator(self.sampling_generator(), vars(self.cfg.model), self.dataset, self.step, self.run_dir / name,
                            class_names=list(self.class_names), data_dir=str(self.data_folder))

    def save(self) -> Path | None:
        """A full checkpoint of this step, then ``generator.pdparams`` for sampling (process 0; None elsewhere)."""
        self._stop_if_diverged(weight_problem(generator=self.generator, discriminator=self.discriminator))
        if not self.world.writes:
            return None
        path = ckpt.save_checkpoint(self.run_dir, self._state(), self.cfg.train.keep_checkpoints)
        self._save_generator("generator.pdparams")
        log.info("saved %s", path)
        return path

    def _stop_if_diverged(self, problem: str | None) -> None:
        if problem:
            found = ckpt.list_checkpoints(self.run_dir)
            kept = f"checkpoints up to {found[-1].name} are kept" if found else "no checkpoint had been written yet"
            raise TrainingDiverged(f"training diverged at step {self.step}: {problem}; stopped without saving it "
                                   f"({kept}); lower optim.lr_d / optim.lr_g and start a new run")

    # ------------------------------------------------------------ per epoch
    def evaluate(self, epoch: int) -> None:
        """Score the sampling generator; a new lowest FID also writes ``generator_best.pdparams``."""
        from ..evaluation.evaluate import METRIC_KEYS

        best_before = min((e["fid"] for e in self.history.evals), default=float("inf"))
        result = self.scorer.score_generator(self.sampling_generator(), seed=self.cfg.seed)
        keys = METRIC_KEYS + ((CONDITIONAL_KEY,) if CONDITIONAL_KEY in result else ())
        self.history.evals.append({"step": self.step, "epoch": epoch, **{k: result[k] for k in keys}})
        floor = self.scorer.floor()
        log.info("eval epoch %d | FID %.2f (real %.2f) | MNIST score %.2f | classes %d | precision %.3f recall %.3f%s",
                 epoch, result["fid"], floor["fid"], result["mnist_score"], result["classes_covered"],
                 result["precision"], result["recall"],
                 f" | conditional accuracy {result[CONDITIONAL_KEY]:.3f}" if CONDITIONAL_KEY in result else "")
        if result["fid"] < best_before:
            self._save_generator("generator_best.pdparams")
            log.info("lowest FID so far: generator_best.pdparams is now step %d", self.step)

    @paddle.no_grad()
    def _fixed_grid(self) -> np.ndarray:
        net = self.sampling_generator()
        was_training = net.training
        net.eval()
        images = net(self.fixed_z, self.fixed_labels).numpy()
        net.train(was_training)
        return visualize.to_uint8(images)

    def end_of_epoch(self, epoch: int) -> None:
        """Write the epoch's fixed-noise grid, the animation, the curves and the CSV files (and evaluate).

        Idempotent at the epoch's last step: a resume runs it again for an epoch whose
        end was checkpointed by an older version before these files were written.
        """
        self._stop_if_diverged(weight_problem(generator=self.generator, discriminator=self.discriminator))
        if not self.world.writes:
            return
        if self.scorer and epoch % self.cfg.eval.every_epochs == 0 \
                and not any(e["step"] == self.step for e in self.history.evals):
            self.evaluate(epoch)
        grid, columns = self._fixed_grid(), self.cfg.model.num_classes or None
        visualize.save_grid(grid, self.run_dir / "samples" / f"epoch_{epoch:03d}.png", ncols=columns)
        self.dashboard.log_epoch(self.step, grid, self.history.evals, columns)
        self.history.write_csv(self.run_dir)
        self.epoch_outputs = epoch
        drawn_at = self._pictures_drawn[1]
        if epoch == self.cfg.train.epochs or drawn_at is None or time.monotonic() - drawn_at >= PICTURES_EVERY_S:
            self.draw_pictures(epoch)

    def draw_pictures(self, epoch: int) -> None:
        """progress.gif (the grids of epochs 1..``epoch``) and loss_curve.png (the whole history so far).

        Drawing them takes ~0.5 s on 2 cores (mostly matplotlib; the GIF grows with the epochs), too
        much after every one of many short epochs. So they are redrawn after an epoch when
        PICTURES_EVERY_S have passed since the last time, after the run's last epoch and when a run
        stops; the grid and history.csv are written after every epoch.
        """
        samples = self.run_dir / "samples"
        frames = [samples / f"epoch_{e:03d}.png" for e in range(1, epoch + 1)]
        visualize.save_gif([f for f in frames if f.exists()], self.run_dir / "progress.gif")
        evals = self.history.evals
        extra = {"FID (in-training eval)": ([e["step"] for e in evals], [e["fid"] for e in evals])}
        if evals and CONDITIONAL_KEY in evals[-1]:
            extra["conditional accuracy (in-training eval)"] = ([e["step"] for e in evals],
                                                                [e[CONDITIONAL_KEY] for e in evals])
        visualize.save_training_curves(self.history.steps, self.run_dir / "loss_curve.png", len(self.batches),
                                       extra if evals else None)
        self._pictures_drawn = (epoch, time.monotonic())

    # ------------------------------------------------------------ loop
    def _draw(self, step: int) -> tuple[paddle.Tensor, paddle.Tensor | None]:
        """This process's part of step ``step``'s noise and (conditional models) fake labels."""
        seed, batch_size, m = self.cfg.seed, self.cfg.train.batch_size, self.cfg.model
        z = self.world.part(noise(seed, STREAM_TRAIN_NOISE, step, batch_size, m.nz))
        if not m.num_classes:
            return z, None
        return z, self.world.part(random_labels(seed, STREAM_FAKE_LABELS, step, batch_size, m.num_classes))

    def _part(self, real: paddle.Tensor, labels: np.ndarray | None) -> tuple[paddle.Tensor, paddle.Tensor | None]:
        """This process's part of a batch, labels as int64 (None for an unconditional model)."""
        if not self.cfg.model.num_classes:
            return self.world.part(real), None
        if labels is None:
            raise ValueError(f"this model is conditional ({self.cfg.model.num_classes} classes); pass the batch's labels")
        return self.world.part(real), self.world.part(paddle.to_tensor(labels, dtype="int64"))

    def train_step(self, real: paddle.Tensor, real_labels: np.ndarray | None = None) -> dict[str, float]:
        """One D step and one G step on the batch ``real`` (the whole batch; with several processes each trains on
        its part) with ``real_labels`` [B] (conditional models); returns the step's statistics."""
        self._set_learning_rates(self.step)
        z, fake_labels = self._draw(self.step)
        with quiet_batchnorm():
            stats = train_step(self.step_generator, self.step_discriminator, self.step_opt_g, self.step_opt_d,
                               *self._part(real, real_labels), z, fake_labels, self.objective)
        return self._after_step(self.step + 1, stats)

    def _after_step(self, step: int, stats: dict[str, float]) -> dict[str, float]:
        """What every process does after a step: agree on BatchNorm statistics and losses, average G, count,
        record, and stop on divergence."""
        self.world.average_batchnorm(self.generator, self.discriminator)
        stats = self.world.mean(stats)
        if self.ema:
            self.ema.update()
        self.step = step
        self._set_learning_rates(step)  # for the next step
        self.history.append(stats)
        self._stop_if_diverged(loss_problem(stats))
        self.collapse.update(self.step, stats)
        return stats

    def _open_run(self) -> Path:
        """Create the run folder (the first write of the run); returns it."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create run folder '{self.run_dir}' ({exc.strerror}); "
                            "set -o output_dir=WRITABLE") from None
        return self.run_dir

    def _announce(self) -> None:
        cfg = self.cfg
        show_notices(self.start_notices)
        if self.folder_note:
            log.info("%s", self.folder_note)
        log.info("run folder %s | device %s | %s", self.run_dir, self.device, cpu_tuning.describe())
        log.info("convolutions: %s", self.kernels_note)
        if self.world.size > 1:
            log.info("data-parallel over %d processes (%s): each step's batch of %d = %d x %d, one BatchNorm shard "
                     "per process; process 0 writes", self.world.size, parallel.backend(), cfg.train.batch_size,
                     self.world.size, cfg.train.batch_size // self.world.size)
        elif self.shards > 1:
            log.info("each batch of %d runs as %d BatchNorm shards of %d (train.shards), as %d processes would",
                     cfg.train.batch_size, self.shards, cfg.train.batch_size // self.shards, self.shards)
        log.info("config:\n%s", cfg.to_yaml().rstrip())
        log.info("data %s from %s: %d images, %d steps per epoch", self.dataset, self.data_folder,
                 len(self.batches.images), len(self.batches))
        if self.class_names and self.dataset == sources.FOLDER:
            names = self.class_names
            if names == tuple(str(i) for i in range(len(names))):
                log.info("classes: %s", ", ".join(names))
            else:
                log.info("classes (index name): %s", ", ".join(f"{i} {name}" for i, name in enumerate(names)))
        if cfg.optim.lr_decay:
            first = self.total_steps - int(self.total_steps * cfg.optim.lr_decay)
            log.info("learning rates: constant to step %d, then falling linearly to 0 at step %d (optim.lr_decay=%g)",
                     first, self.total_steps, cfg.optim.lr_decay)
        if self.scorer:
            log.info("evaluating every %d epoch(s) on %d samples against %s with %s", cfg.eval.every_epochs,
                     self.scorer.n, self.scorer.reference_name, self.scorer.classifier.id)
        if self.resumed_from:
            log.info("resumed from %s at step %d (epoch %d)", self.resumed_from, self.step,
                     self.step // len(self.batches))

    def _finish_interrupted_work(self) -> None:
        """Clear up after an interrupted process: delete its temporary files (and, for a new run, the files of
        a start that never reached a checkpoint), and write what the checkpoint's step calls for that it never
        wrote: the files of the epoch ending there (checkpoints of older versions), generator.pdparams."""
        removed = run_folder.tidy(self.run_dir, new_run=self.resumed_from is None)
        if removed:
            log.info("removed what an interrupted process left here: %s",
                     ", ".join(str(p.relative_to(self.run_dir)) for p in removed))
        epoch = self.step // len(self.batches)
        if self.step == epoch * len(self.batches) and self.epoch_outputs < epoch:
            log.info("writing the files of epoch %d: its end was checkpointed before they were written", epoch)
            self.end_of_epoch(epoch)
            self.save()
        elif self.resumed_from and (ckpt.saved_step(self.run_dir / "generator.pdparams") or 0) < self.step:
            log.info("writing generator.pdparams of step %d: the run stopped before writing it", self.step)
            self._save_generator("generator.pdparams")

    def _newest_checkpoint(self) -> str | None:
        found = ckpt.list_checkpoints(self.run_dir) if self.world.writes else []
        return found[-1].name if found else None

    def _run_files(self) -> contextlib.ExitStack:
        """The run folder's lock, train.log and dashboard, held while training (process 0 only)."""
        stack = contextlib.ExitStack()
        if self.world.writes:
            stack.enter_context(run_folder.RunLock(self._open_run()))
            now = self._newest_checkpoint()
            if now != self.checkpoint_seen:  # another process trained this run between our checks and our lock
                stack.close()
                raise UserError(f"run folder '{self.run_dir}' was trained by another process while this one started "
                                f"(its newest checkpoint is now {now}); nothing was written: run the command again")
            stack.enter_context(log_to_file(self.run_dir / "train.log"))
            stack.enter_context(self.dashboard.open(self.run_dir, self.history, len(self.batches)))
        return stack

    def fit(self) -> Path:
        """Train to ``train.epochs``; returns the run folder. Ctrl-C saves, then raises TrainingStopped."""
        cfg = self.cfg.train
        with self._run_files():
            if self.world.writes:
                self._announce()
                self._finish_interrupted_work()
            if self.step >= self.total_steps:
                log.info("nothing to do: the run is at step %d and train.epochs=%d ends at step %d; raise "
                         "train.epochs to continue", self.step, cfg.epochs, self.total_steps)
                return self.run_dir
            if self.world.writes:
                write_text(self.run_dir / "config.yaml", self.cfg.to_yaml())
            reporter = StepReporter(self.total_steps, len(self.batches), cfg.epochs, cfg.batch_size, cfg.log_every)
            self.generator.train()
            self.discriminator.train()
            started, first_step = time.perf_counter(), self.step
            self._set_learning_rates(self.step)
            steps = training_steps(self.step_generator, self.step_discriminator, self.step_opt_g, self.step_opt_d,
                                   _ProcessBatches(self), cfg.epochs, self.step, self._draw, self.objective)
            try:
                with StopRequest() as stop, quiet_batchnorm():
                    for step, epoch, stats in steps:
                        self._step_done(self._after_step(step, stats), epoch, reporter, stop)
            finally:
                reporter.clear()
            elapsed = time.perf_counter() - started
            log.info("done: %d steps in %s (%.0f img/s); results in %s", self.step - first_step,
                     format_duration(elapsed), (self.step - first_step) * cfg.batch_size / elapsed, self.run_dir)
        return self.run_dir

    def _step_done(self, stats: dict[str, float], epoch: int, reporter: StepReporter, stop: StopRequest) -> None:
        """Between two steps: progress, the epoch's files at its end, a stop request, a checkpoint when due.

        A stop request is honoured after the step it came in, once that step's epoch
        files are written; at the run's last step the run simply completes.
        """
        reporter.step_done(self.step, stats)
        self.dashboard.log_step(self.step, stats)
        at_epoch_end = self.step % len(self.batches) == 0
        if at_epoch_end:
            self.end_of_epoch(epoch + 1)
        if self.world.any(stop.requested) and self.step < self.total_steps:  # every process stops here
            reporter.clear()
            if self.world.writes and self._pictures_drawn[0] < self.epoch_outputs:
                self.draw_pictures(self.epoch_outputs)  # they lag behind the epochs done
            self.save()
            log.info("stopped at step %d; continue with --resume latest", self.step)
            raise TrainingStopped(self.step)
        if self._checkpoint_due(at_epoch_end):
            self.save()

    def _checkpoint_due(self, at_epoch_end: bool) -> bool:
        every = self.cfg.train.checkpoint_every
        return self.step == self.total_steps or (self.step % every == 0 if every else at_epoch_end)


def train(cfg: Config, resume: str | None = None) -> Path:
    """Train (or resume) one run as configured; returns its folder."""
    return Trainer(cfg, resume).fit()


class _ProcessBatches:
    """The run's batches as the core's loop takes them: this process's part, labels as int64 tensors."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def __len__(self) -> int:
        return len(self.trainer.batches)

    def epoch(self, epoch: int, start: int = 0):
        for real, labels in self.trainer.batches.epoch(epoch, start=start):
            yield self.trainer._part(real, labels)
