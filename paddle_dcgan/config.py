"""Typed configuration: the dataclasses below are the only source of defaults.

A YAML file (``-c``) and ``-o section.key=value`` overrides may only change keys
that exist here, and each value must keep the field's type. Values are parsed
with ``yaml.safe_load``'s rules (``-o train.epochs=5`` gives an int, ``-o device=cpu``
a str), less what a config never needs: anchors and aliases, merge keys, a key
given twice, deep nesting (:class:`_ConfigLoader`). Any mistake is a
:class:`UserError` naming the key and what is allowed, and quoting at most
``SHOWN`` characters of the value.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import math
import os
import re
import reprlib
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import UserError

DATASETS = ("auto", "mnist", "mnist_embedded", "mnist_subset", "fashion_mnist", "folder")
MNIST_VARIANTS = ("auto", "mnist", "mnist_embedded", "mnist_subset")  # their generators are scored on the MNIST yardstick by default
MNIST_YARDSTICK = "mnist_yardstick"  # the shipped reference for MNIST digits (data.mnist.YARDSTICK_DIR, evaluation/evaluate.py)
EVAL_REFERENCES = ("auto", MNIST_YARDSTICK, "held_out")
IMAGE_SIZES = (28, 32, 64)
MAX_CLASSES = 1000  # model.num_classes: class folders one model can be conditioned on
CHANNELS = (1, 3)  # model.channels: grey or colour
# keys that also take the word auto, and the number that stands for it (the data decides: data/sources.py)
AUTO_VALUES = {"model.channels": 0, "model.num_classes": -1}
AMP_MODES = ("off", "float16", "bfloat16")
LOSSES = ("bce", "hinge")  # train.loss (core/steps.py)
CONDITIONINGS = ("planes", "projection", "planes+projection", "classifier")  # model.conditioning: how a conditional D uses the class (core/models.py)
KERNELS = ("auto", "onednn", "paddle", "stock")  # train.kernels (paddle_dcgan/kernels)
CONV_PRECISIONS = ("float32", "bfloat16")  # train.conv_precision (paddle_dcgan/kernels)
DEVICE_PATTERN = r"auto|cpu|gpu|gpu:\d+"  # what device.select_device accepts
SAMPLE_BN_POLICIES = ("running", "recomputed")  # sampling/batchnorm.py
MIN_EVAL_SAMPLES = 100  # fewer samples give FID / precision / recall too noisy to compare
MAX_SAMPLES = 100_000  # most digits one sample() call draws: they are held in memory (1.6 GB as float32 at 64x64)
MAX_CONFIG_BYTES = 1 << 20  # a config file, or one -o value, is a few hundred bytes; over 1 MB it is something else
MAX_NESTING = 8  # sections hold keys, keys hold scalars: YAML nested deeper than this is no config
MAX_WIDTH = 1024  # model.ngf / ndf: G's widest layer then holds 8192 x 4096 x 4 x 4 weights (2 GB as float32)
MAX_NZ = 4096  # model.nz
MAX_BATCH_SIZE = 65_536  # train.batch_size: a batch of real images and as many fakes is held in memory at once
MAX_SEED = 2**32 - 1  # np.random.seed (the training run seeds numpy with it) takes 32-bit seeds
MAX_TIMEOUT = 86_400.0  # data.download_timeout: a day
NAME_MAX = 255  # bytes in one file or folder name (Linux file systems)
PATH_MAX = 4095  # bytes in a whole path (Linux's PATH_MAX, less the terminating NUL)
SHOWN = 60  # characters of a value an error message quotes


@dataclass
class ModelConfig:
    image_size: int = 28  # side of generated images in pixels: 28 (native MNIST), 32 or 64
    nz: int = 100  # length of the noise vector z fed to the generator
    ngf: int = 64  # generator width: channels of its last hidden block (doubling towards z)
    ndf: int = 64  # discriminator width: channels of its first block (doubling towards the logit)
    sample_bn: str = "running"  # G's BatchNorm statistics when sampling: running (training's; for an average of G, the average of them) | recomputed for the weights sampled from (sampling/batchnorm.py)
    num_classes: int = -1  # auto (-1) = the data's classes: 10 for digits, one per class folder; conditional: G draws the class asked for, D judges (image, class) pairs; 0 = plain DCGAN
    conditioning: str = "planes+projection"  # how a conditional D uses the class: planes (label planes beside the image) | projection (a read-out logit per class, added to the shared one) | planes+projection (both) | classifier (D names the class: AC-GAN, weighted by train.class_loss); a plain model ignores it (core/models.py)
    channels: int = 0  # image channels: 1 grey, 3 colour; auto (0) = colour when any training image is


@dataclass
class DataConfig:
    name: str = "auto"  # auto | mnist | mnist_embedded | mnist_subset | fashion_mnist | folder (your pictures in data.dir); auto = mnist if on disk, else mnist_embedded (13,160 digits in the package)
    dir: str = ""  # folder holding the gzip IDX files, or with data.name=folder your pictures (data/folder.py); "" = paddle's cache (~/.cache/paddle/dataset/<name>)
    download: bool = False  # fetch missing mnist / fashion_mnist files with paddle's downloader
    download_timeout: float = 120.0  # seconds after which a download is abandoned (paddle's own has no limit)


@dataclass
class OptimConfig:
    lr_g: float = 1.2e-3  # Adam learning rate of the generator; 6x the DCGAN paper's 2e-4 (docs/recipe.md)
    lr_d: float = 1.2e-3  # Adam learning rate of the discriminator
    beta1: float = 0.5  # Adam beta1; DCGAN's 0.5 instead of 0.9 keeps training stable
    beta2: float = 0.999  # Adam beta2
    lr_decay: float = 0.0  # share of the run's last steps over which both learning rates fall linearly to 0; 0 = constant


@dataclass
class TrainConfig:
    epochs: int = 11  # passes over the training images (11 x the 13,160 embedded MNIST digits: 2,255 steps)
    batch_size: int = 64  # images per step (real images for D; as many fakes); with several processes, all of theirs
    shards: int = 0  # BatchNorm shards of a batch, 0 = one per process; =N in one process repeats an N-process run
    log_every: int = 20  # steps between log lines
    checkpoint_every: int = 0  # steps between checkpoints; 0 = at the end of every epoch
    keep_checkpoints: int = 3  # newest full checkpoints kept in <run>/checkpoints; older ones are deleted
    num_fixed_samples: int = 64  # images in the fixed-noise grid drawn after every epoch
    ema_decay: float = 0.0  # sample from an exponential moving average of G's weights with this fixed decay (warmed up); 0 = off
    ema_halflife: int = 5000  # or: an average whose half-life is this many training images (training/ema.py); 0 = off
    ema_rampup: float = 0.05  # the half-life is at most this share of the images seen so far (0 = no cap)
    real_label: float = 1.0  # D's target for real images; < 1 is one-sided label smoothing (0.9 is the usual choice)
    loss: str = "bce"  # bce (DCGAN's cross-entropy, G non-saturating) | hinge (core/steps.py)
    class_loss: float = 1.0  # with model.conditioning=classifier: weight of the class term (D names the class of real images, G is rewarded when D reads its fakes as the class asked for)
    kernels: str = "auto"  # onednn (oneDNN convolutions, fused BatchNorm + activation) | paddle (GEMM forms only) | stock (the core's layers as written); auto = onednn on CPU if it builds
    conv_precision: str = "float32"  # CPU only, with the oneDNN kernels: float32 | bfloat16 (the strided convolutions read their inputs rounded to bfloat16 and sum in float32; weights, gradients and Adam stay float32; CPUs with AVX512_BF16 or AMX; faster, FID a little higher: docs/performance.md)
    amp: str = "off"  # GPU only: off | float16 | bfloat16 mixed precision (paddle.amp O1); CPU runs ignore it, saying so
    visualdl: bool = False  # also log losses, D outputs, grids and FID for VisualDL in <run>/vdl (pip install -e ".[dashboard]")


@dataclass
class EvalConfig:
    every_epochs: int = 0  # score the generator every N epochs while training (FID, MNIST score, ...); 0 = off
    num_samples: int = 1000  # samples per in-training evaluation (capped at the held-out set's size)
    reference: str = "auto"  # scored against: mnist_yardstick | held_out (the data's test split); auto = yardstick for MNIST
    classifier: str = ""  # .pdclf file from tools/train_classifier.py; "" = paddle_dcgan/evaluation/classifiers/<dataset>.pdclf


@dataclass
class Config:
    run_name: str = ""  # results go to <output_dir>/<run_name>/; "" = the config file's name (dcgan)
    output_dir: str = "output"  # parent folder of all runs
    seed: int = 0  # seeds weights, noise, shuffling: two CPU runs with one seed log identical losses
    device: str = "auto"  # auto | cpu | gpu | gpu:N; auto = first GPU when paddle has CUDA, else CPU
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def shown(value: Any) -> str:
    """``repr(value)`` cut to SHOWN characters: an error message never repeats a huge value."""
    limits = reprlib.Repr()  # cuts long strings and numbers, and long or deep lists, while it writes them
    limits.maxstring = limits.maxother = limits.maxlong = SHOWN
    text = limits.repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 3] + "..."


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file or folder on this system (a phrase), or None when it can.

    The operating system refuses a NUL byte, a name over NAME_MAX bytes and a path
    over PATH_MAX bytes; Python turns each into a ValueError or OSError deep in
    whatever opens the path. Checking up front names the key or argument instead.
    """
    if "\0" in path:
        return "holds a NUL byte (\\0), which no file name can contain; remove it"
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a YAML "\ud800" escape
        return "holds a character no file name can hold (a lone surrogate such as \\ud800); remove it"
    longest = max(len(part) for part in raw.split(b"/"))
    if longest > NAME_MAX:
        return f"has a name of {longest:,} bytes, over the {NAME_MAX} a file or folder name may have; shorten it"
    if len(raw) > PATH_MAX:
        return f"is {len(raw):,} bytes long, over the {PATH_MAX:,} a path may have; shorten it"
    return None


def check_path(name: str, path: str) -> None:
    """A UserError naming ``name`` (a config key, an argument) when :func:`path_problem` finds one."""
    problem = path_problem(path)
    if problem:
        raise UserError(f"{name} = {shown(path)} {problem}")


class _Refused(Exception):
    """YAML that parses but is not allowed in a config; the message says what and where."""


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, less what a config never needs and what can hurt.

    - anchors and aliases (``&a`` / ``*a``): a few hundred bytes of nested aliases expand to gigabytes;
    - merge keys (``<<``) and a key given twice in one mapping: one of the values would be dropped without a word;
    - nesting deeper than MAX_NESTING: the composer recurses once per level.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
            raise _Refused(f"uses an anchor or alias (&name, *name) at line {line}; write the value out instead")
        if self._depth >= MAX_NESTING:
            raise _Refused(f"nests more than {MAX_NESTING} levels deep at line {line}; a config holds sections of keys")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        self._check_keys(node, "")
        return super().construct_document(node)

    def _check_keys(self, node, path: str) -> None:
        """Refuse merge keys and keys given twice, anywhere under ``node`` (``path``: where it is, for the message)."""
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check_keys(item, path)
        if not isinstance(node, yaml.MappingNode):
            return
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(f"uses a merge key (<<) at line {line}; write the keys out instead")
            key = self.construct_object(key_node, deep=True)
            name = f"{path}.{key}" if path else str(key)
            try:
                if key in first_line:
                    where = f"lines {first_line[key]} and {line}" if first_line[key] != line else f"line {line}"
                    raise _Refused(f"gives {shown(name)} twice ({where}): one would be dropped; keep one, with "
                                   "every key it should set")
                first_line[key] = line
            except TypeError:  # an unhashable key: the constructor refuses it, with its line
                continue
            self._check_keys(value_node, name)


def _type_name(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[t]


def _coerce(key: str, value: Any, target: type) -> Any:
    """Check ``value`` against the field type; ints are accepted where floats are, infinities and NaN nowhere."""
    if target is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value) if abs(value) < 1e308 else math.inf  # a huge int overflows float()
        elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            number = float(value)  # YAML 1.1 reads "1e-4" (no dot) as a string
        if number is not None:
            if not math.isfinite(number):
                raise UserError(f"config key '{key}' must be a finite number, got {shown(value)}")
            return number
    if target is str and value is None:
        return ""
    if isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    raise UserError(f"config key '{key}' must be {_type_name(target)}, got {shown(value)}")


def _field_types(obj: Any) -> dict[str, Any]:
    return {f.name: f.type for f in dataclasses.fields(obj)}


def _set(cfg: Config, dotted: str, value: Any, given: set[str] | None = None) -> None:
    """Set ``cfg.<dotted>`` = value after checking the key exists and the type fits.

    ``given``: for a config file, the keys it has set so far; a file that sets one
    key twice (``train: {epochs: 3}`` and ``train.epochs: 5``) is refused.
    """
    node: Any = cfg
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(node)]
        if part not in names:
            prefix = ".".join(parts[:depth])
            full = [f"{prefix}.{n}" if prefix else n for n in names]
            hint = difflib.get_close_matches(dotted, full, n=1) if len(dotted) <= 100 else []
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed here: {', '.join(full)}"
            raise UserError(f"unknown config key {shown(dotted)}; {fix}")
        child = getattr(node, part)
        last = depth == len(parts) - 1
        if dataclasses.is_dataclass(child):
            if last:
                if value is None:  # a section whose keys are all commented out
                    return
                if not isinstance(value, dict):
                    raise UserError(f"config key '{dotted}' is a section; set its keys, e.g. {dotted}.<key>=...")
                for k, v in value.items():
                    _set(cfg, f"{dotted}.{k}", v, given)
                return
            node = child
            continue
        if not last:
            raise UserError(f"config key '{'.'.join(parts[: depth + 1])}' is not a section")
        if given is not None:
            if dotted in given:
                raise UserError(f"sets '{dotted}' twice (in its section and as '{dotted}'): one value would be "
                                "dropped; keep one")
            given.add(dotted)
        target = eval_type(_field_types(node)[part])
        if value == "auto" and dotted in AUTO_VALUES:
            value = AUTO_VALUES[dotted]
        setattr(node, part, _coerce(dotted, value, target))


def eval_type(annotation: Any) -> type:
    # With ``from __future__ import annotations`` field types are strings.
    return {"int": int, "float": float, "bool": bool, "str": str}.get(annotation, annotation)


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``["a.b=1", "c=x"]`` -> ``[("a.b", 1), ("c", "x")]`` with yaml.safe_load values (:class:`_ConfigLoader`)."""
    pairs = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"override {shown(item)} is not of the form section.key=value")
        if len(text) > MAX_CONFIG_BYTES:
            raise UserError(f"override '{shown(key)[1:-1]}=...' is a value of {len(text):,} characters, over "
                            f"{MAX_CONFIG_BYTES:,}; no config key takes one that long")
        try:
            value = yaml.load(text, Loader=_ConfigLoader) if text.strip() else ""
        except _Refused as exc:
            raise UserError(f"override {shown(item)} {exc}") from None
        except (yaml.YAMLError, ValueError, OverflowError):
            value = text  # an unparseable scalar (or a date such as 2024-13-45) is taken as a plain string
        pairs.append((key, value))
    return pairs


def read_config_file(path: str) -> Any:
    """The YAML in the file at ``path``, parsed by :class:`_ConfigLoader`; anything else is a UserError.

    The file is opened without blocking and checked to be a regular file before it
    is read (a FIFO or a device would hang or never end), and at most
    MAX_CONFIG_BYTES of it are read.
    """
    check_path("config file", path)
    name = f"config file '{path}'"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{name} not found; pass an existing YAML file, e.g. -c configs/dcgan.yaml") from None
    except OSError as exc:
        raise UserError(f"cannot open {name}: {exc.strerror}; pass a readable YAML file") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"{name} is not a regular file (a folder, device or pipe); pass a YAML file")
        raw = os.read(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror}; pass a readable YAML file") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"{name} is over {MAX_CONFIG_BYTES:,} bytes; a config file sets a few keys, pass one")
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UserError(f"{name} is saved as UTF-32 text; save it as UTF-8")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError(f"{name} is saved as UTF-16 text; save it as UTF-8")
    if b"\0" in raw:
        raise UserError(f"{name} holds NUL bytes: it is binary, or text in UTF-16 or UTF-32; save it as UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")  # a leading byte order mark (Windows editors) is dropped
    except UnicodeDecodeError as exc:
        raise UserError(f"{name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start:,}); "
                        "save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except _Refused as exc:
        raise UserError(f"{name} {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        problem = getattr(exc, "problem", None)
        why = f" ({shown(problem)[1:-1]})" if problem else ""
        raise UserError(f"{name} is not valid YAML{at}{why}; fix it there") from None
    except (ValueError, OverflowError) as exc:  # a scalar YAML resolves but cannot build: 2024-13-45, 5,000 digits
        raise UserError(f"{name} holds a value YAML cannot read ({shown(str(exc))}); quote it to make it "
                        "a string, or fix it") from None


def load_config(path: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults <- YAML file at ``path`` <- ``overrides``; then validate."""
    cfg = Config()
    if path:
        data = read_config_file(path)
        if data is None:
            raise UserError(f"config file '{path}' is empty (or only comments); give it keys to change, e.g. "
                            "train.epochs, or leave out -c to use the defaults")
        if not isinstance(data, dict):
            raise UserError(f"config file '{path}' must hold a mapping of keys, not {type(data).__name__}")
        given: set[str] = set()
        for key, value in data.items():
            try:
                _set(cfg, str(key), value, given)
            except UserError as exc:
                raise UserError(f"config file '{path}': {exc}") from None
        if not cfg.run_name:
            cfg.run_name = Path(path).stem
    for key, value in parse_overrides(overrides):
        _set(cfg, key, value)
    if not cfg.run_name:
        cfg.run_name = "dcgan"
    validate(cfg)
    return cfg


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise UserError(f"config key '{key}' = {shown(value)} is out of range; allowed: {allowed}")


def validate(cfg: Config) -> None:
    m, d, o, t = cfg.model, cfg.data, cfg.optim, cfg.train
    # "." and ".." would put the run's files into output_dir itself, or beside it
    _check(bool(re.fullmatch(r"[A-Za-z0-9_.-]+", cfg.run_name)) and cfg.run_name not in (".", ".."), "run_name",
           cfg.run_name, "letters, digits, '_', '-', '.' (a folder name, no '/', not . or ..)")
    for key, path in (("output_dir", cfg.output_dir), ("run_name", cfg.run_name), ("data.dir", d.dir),
                      ("eval.classifier", cfg.eval.classifier)):
        check_path(f"config key '{key}'", path)
    check_path("config keys 'output_dir' / 'run_name' together", str(Path(cfg.output_dir) / cfg.run_name))
    _check(0 <= cfg.seed <= MAX_SEED, "seed", cfg.seed, f"an integer from 0 to {MAX_SEED:,}")
    _check(bool(re.fullmatch(DEVICE_PATTERN, cfg.device)), "device", cfg.device, "auto, cpu, gpu or gpu:N")
    _check(m.image_size in IMAGE_SIZES, "model.image_size", m.image_size, "28, 32 or 64")
    for key, most in (("nz", MAX_NZ), ("ngf", MAX_WIDTH), ("ndf", MAX_WIDTH)):
        _check(1 <= getattr(m, key) <= most, f"model.{key}", getattr(m, key), f"an integer from 1 to {most:,}")
    _check(m.num_classes == AUTO_VALUES["model.num_classes"] or 0 <= m.num_classes <= MAX_CLASSES,
           "model.num_classes", m.num_classes,
           f"auto (the data's classes), 0 (unconditional) or a class count up to {MAX_CLASSES}")
    _check(m.channels == AUTO_VALUES["model.channels"] or m.channels in CHANNELS, "model.channels", m.channels,
           "auto (colour when any image is), 1 (grey) or 3 (colour)")
    _check(d.name in DATASETS, "data.name", d.name, " | ".join(DATASETS))
    _check(0 < d.download_timeout <= MAX_TIMEOUT, "data.download_timeout", d.download_timeout,
           f"seconds > 0, at most {MAX_TIMEOUT:,.0f}")
    for key in ("lr_g", "lr_d"):
        _check(getattr(o, key) > 0, f"optim.{key}", getattr(o, key), "a number > 0")
    for key in ("beta1", "beta2"):
        _check(0 <= getattr(o, key) < 1, f"optim.{key}", getattr(o, key), "0 <= beta < 1")
    _check(0 <= o.lr_decay <= 1, "optim.lr_decay", o.lr_decay, "a share from 0 (constant) to 1 (decay from the start)")
    _check(t.epochs >= 1, "train.epochs", t.epochs, "an integer >= 1")
    _check(1 <= t.batch_size <= MAX_BATCH_SIZE, "train.batch_size", t.batch_size,
           f"an integer from 1 to {MAX_BATCH_SIZE:,}")
    _check(t.shards >= 0, "train.shards", t.shards, "0 (one per process) or an integer >= 1")
    _check(t.shards == 0 or t.batch_size % t.shards == 0, "train.shards", t.shards,
           f"a divisor of train.batch_size={t.batch_size}, or 0")
    _check(t.log_every >= 1, "train.log_every", t.log_every, "an integer >= 1")
    _check(t.checkpoint_every >= 0, "train.checkpoint_every", t.checkpoint_every, "0 (every epoch) or steps >= 1")
    _check(t.keep_checkpoints >= 1, "train.keep_checkpoints", t.keep_checkpoints, "an integer >= 1")
    _check(1 <= t.num_fixed_samples <= 1024, "train.num_fixed_samples", t.num_fixed_samples, "1 to 1024")
    _check(m.conditioning in CONDITIONINGS, "model.conditioning", m.conditioning, " | ".join(CONDITIONINGS))
    _check(m.sample_bn in SAMPLE_BN_POLICIES, "model.sample_bn", m.sample_bn, " | ".join(SAMPLE_BN_POLICIES))
    _check(0 <= t.ema_decay < 1, "train.ema_decay", t.ema_decay, "0 (off) or 0 < decay < 1, e.g. 0.995")
    _check(t.ema_halflife >= 0, "train.ema_halflife", t.ema_halflife, "0 (off) or images >= 1, e.g. 10000")
    _check(not (t.ema_halflife and t.ema_decay), "train.ema_halflife", t.ema_halflife,
           f"0 to average G with train.ema_decay={t.ema_decay} instead (one way at a time)")
    _check(0 <= t.ema_rampup <= 1, "train.ema_rampup", t.ema_rampup, "a share from 0 (no cap) to 1")
    _check(0.5 < t.real_label <= 1, "train.real_label", t.real_label, "0.5 < label <= 1 (1 = no smoothing)")
    _check(t.loss in LOSSES, "train.loss", t.loss, " | ".join(LOSSES))
    _check(t.loss == "bce" or t.real_label == 1, "train.real_label", t.real_label,
           "1 with train.loss=hinge (label smoothing is a cross-entropy target)")
    _check(0 < t.class_loss <= 10, "train.class_loss", t.class_loss, "a weight above 0, at most 10, e.g. 1")
    _check(t.amp in AMP_MODES, "train.amp", t.amp, " | ".join(AMP_MODES))
    _check(t.kernels in KERNELS, "train.kernels", t.kernels, " | ".join(KERNELS))
    _check(t.conv_precision in CONV_PRECISIONS, "train.conv_precision", t.conv_precision, " | ".join(CONV_PRECISIONS))
    _check(cfg.eval.every_epochs >= 0, "eval.every_epochs", cfg.eval.every_epochs, "0 (off) or epochs >= 1")
    _check(cfg.eval.num_samples >= MIN_EVAL_SAMPLES, "eval.num_samples", cfg.eval.num_samples,
           f"an integer >= {MIN_EVAL_SAMPLES}")
    _check(cfg.eval.reference in EVAL_REFERENCES, "eval.reference", cfg.eval.reference, " | ".join(EVAL_REFERENCES))
    _check(cfg.eval.reference != MNIST_YARDSTICK or d.name in MNIST_VARIANTS, "eval.reference", cfg.eval.reference,
           f"auto or held_out when data.name={d.name} (the MNIST yardstick scores MNIST digits)")


# Keys that must match between a checkpoint and the config that resumes it:
# they change the shapes of the weights or what the optimiser and the step mean.
RESUME_KEYS = (
    "seed", "model.image_size", "model.nz", "model.ngf", "model.ndf", "model.num_classes", "model.channels",
    "model.conditioning",
    "optim.lr_g", "optim.lr_d", "optim.beta1", "optim.beta2", "optim.lr_decay", "train.batch_size",
    "train.ema_decay", "train.ema_halflife", "train.ema_rampup", "train.real_label",
    "train.loss", "train.class_loss",
)


def resume_key_matters(key: str, cfg_dict: dict[str, Any]) -> bool:
    """Whether the RESUME_KEYS entry ``key`` changes this model's training: the class term's weight
    does only with a conditional classifier D (elsewhere the weight is unused, so it may differ)."""
    if key == "train.class_loss":
        return bool(get(cfg_dict, "model.num_classes")) and get(cfg_dict, "model.conditioning") == "classifier"
    return True


def _lookup(cfg_dict: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg_dict
    for part in dotted.split("."):
        node = node[part]
    return node


# What a key meant before it existed, where its default has changed since: checkpoints written then
# lack it. Conditional models came with model.num_classes; its default became 10 later. Conditional
# discriminators read label planes only until model.conditioning came.
BEFORE_THE_KEY = {"model.num_classes": 0, "model.channels": 1, "train.ema_halflife": 0,
                  "model.conditioning": "planes"}


def get(cfg_dict: dict[str, Any], dotted: str) -> Any:
    """``cfg_dict[a][b]`` for ``"a.b"``; a key that the dict lacks (it comes from a checkpoint written
    before the key existed) has the value that older version behaved as: BEFORE_THE_KEY, else the default."""
    try:
        return _lookup(cfg_dict, dotted)
    except KeyError:
        return BEFORE_THE_KEY[dotted] if dotted in BEFORE_THE_KEY else _lookup(Config().to_dict(), dotted)
