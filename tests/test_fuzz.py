"""Random and mutated bytes for every reader: each gives a correct result or one UserError, never another
exception, a hang or unbounded memory. Seeded, so a failure repeats; ``pytest --fuzz N`` tries N inputs per
reader instead of the default handful."""

from __future__ import annotations

import contextlib
import gzip
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from paddle_dcgan.config import load_config
from paddle_dcgan.data.mnist import SUBSET_DIR, read_idx
from paddle_dcgan.errors import UserError
from paddle_dcgan.evaluation.classifier import load_classifier
from paddle_dcgan.files.checkpoint import load_checkpoint
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.sampling.sample import load_noise

DEFAULT_INPUTS = 25
SECONDS_PER_INPUT = 20  # far above any reader's time on a good file: a hang fails the test
MEMORY_GROWTH_MB = 1024  # the process may not grow by more than this while fuzzing a reader


@pytest.fixture
def inputs(request) -> int:
    return request.config.getoption("--fuzz") or DEFAULT_INPUTS


def mutations(data: bytes, count: int, seed: int):
    """``count`` variants of ``data``: bit flips, cuts, inserted and repeated runs, random bytes, empty."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = i % 6
        out = bytearray(data)
        if kind == 0 and out:
            for _ in range(int(rng.integers(1, 8))):
                out[int(rng.integers(len(out)))] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            out = out[: int(rng.integers(len(out) + 1))]
        elif kind == 2:
            at = int(rng.integers(len(out) + 1))
            out[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif kind == 3 and out:
            a = int(rng.integers(len(out)))
            b = min(len(out), a + int(rng.integers(1, 256)))
            out[a:a] = out[a:b] * int(rng.integers(2, 20))
        elif kind == 4:
            out = bytearray(rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8).tobytes())
        else:
            out = bytearray()
        yield bytes(out)


@contextlib.contextmanager
def _bounded(what: str):
    def hang(signum, frame):
        raise TimeoutError(f"{what}: no answer within {SECONDS_PER_INPUT} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(SECONDS_PER_INPUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fuzz(read, original: bytes, path, count: int, seed: int) -> int:
    """Feed ``count`` mutations of ``original`` through ``read(path)``; returns how many it accepted."""
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    accepted = 0
    for i, data in enumerate(mutations(original, count, seed)):
        path.write_bytes(data)
        with _bounded(f"input {i}"):
            try:
                read(path)
                accepted += 1
            except UserError as exc:
                assert "\n" not in str(exc).strip(), str(exc)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - start
        assert grown < MEMORY_GROWTH_MB, f"input {i} grew the process by {grown} MB"
    return accepted


def test_config_files(tmp_path, inputs):
    original = (ROOT / "configs" / "dcgan.yaml").read_bytes()
    _fuzz(lambda p: load_config(str(p)), original, tmp_path / "c.yaml", inputs * 4, seed=1)


def test_override_values(inputs):
    rng = np.random.default_rng(2)
    alphabet = list("train.epochs=5 model.ngf: &*[]{}!|>'\"%@`#,\\\n\t-+.eE0123456789~") + ["\x00", "é", "\ud800"]
    for i in range(inputs * 4):
        text = "".join(rng.choice(alphabet, int(rng.integers(0, 40))))
        with _bounded(f"-o {text!r}"):
            with contextlib.suppress(UserError):
                load_config(None, [text])


def test_checkpoints(tiny_run, tmp_path, inputs):
    original = sorted((tiny_run / "checkpoints").iterdir())[-1].read_bytes()
    accepted = _fuzz(load_checkpoint, original, tmp_path / "step_00000010.pdckpt", inputs, seed=3)
    assert accepted == 0  # any change shows in the digest


def test_generator_files(tiny_run, tmp_path, inputs):
    original = (tiny_run / "generator.pdparams").read_bytes()
    assert _fuzz(load_generator, original, tmp_path / "generator.pdparams", inputs, seed=4) == 0


def test_classifiers(tmp_path, inputs):
    original = (ROOT / "paddle_dcgan" / "evaluation" / "classifiers" / "mnist_subset.pdclf").read_bytes()
    assert _fuzz(load_classifier, original, tmp_path / "c.pdclf", max(6, inputs // 4), seed=5) == 0


def test_idx_files(tmp_path, inputs):
    raw = gzip.decompress((SUBSET_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    _fuzz(read_idx, gzip.compress(raw), tmp_path / "x.gz", inputs, seed=6)
    _fuzz(read_idx, raw, tmp_path / "x", inputs, seed=7)
    bomb = gzip.compress(b"\0\0\x08\x01" + (2**31).to_bytes(4, "big") + bytes(1 << 26))  # inflates past the cap
    (tmp_path / "bomb.gz").write_bytes(bomb)
    with pytest.raises(UserError):
        read_idx(tmp_path / "bomb.gz")


def test_samples_files(tmp_path, inputs):
    from paddle_dcgan.evaluation.evaluate import read_samples

    path = tmp_path / "s.npy"
    np.save(path, np.zeros((100, 1, 28, 28), np.float32))
    _fuzz(read_samples, path.read_bytes(), path, inputs, seed=10)


def test_export_metadata(tiny_run, tmp_path, inputs):
    """metadata.json of a real export, mutated; the files it lists stay intact."""
    import shutil

    from paddle_dcgan.files.export_folder import METADATA, read_metadata
    from paddle_dcgan.sampling.export import export_generator

    folder, _ = export_generator(tiny_run, tmp_path / "export")
    original = (folder / METADATA).read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    _fuzz(lambda p: read_metadata(p.parent), original, copy / METADATA, inputs * 2, seed=11)


def test_noise_files(tmp_path, inputs):
    path = tmp_path / "z.npy"
    np.save(path, np.zeros((4, 16, 1, 1), np.float32))
    _fuzz(lambda p: load_noise(p, 16), path.read_bytes(), path, inputs, seed=8)


TUNING_READER = r"""
import sys
from pathlib import Path
import paddle
from paddle_dcgan import kernels
from paddle_dcgan.kernels import build
ops = build.load()
for name in sys.argv[1:]:
    build.use_tuning_file(name)
    layer = paddle.nn.Conv2D(3, 4, 4, 2, 1, bias_attr=False)
    kernels.apply(layer, ops)
    x = paddle.randn([2, 3, 8 + len(name) % 5 * 2, 8])  # a new shape now and then: the file is read again
    x.stop_gradient = False
    layer(x).sum().backward()
print("read", len(sys.argv) - 1)
"""


def test_tuning_files(tmp_path, inputs):
    """The C++ code reads the oneDNN tuning file: damaged ones never crash the process."""
    from paddle_dcgan.kernels import build

    try:
        build.load()
    except build.KernelsUnavailable as why:
        pytest.skip(f"oneDNN kernels unavailable here: {why}")
    good = "conv 2,3,8,8|4,3,4,4|2,4,4,4|s2p1|forward|threads2|isa1\tjit:avx2\t-\n" * 3
    files = []
    for i, data in enumerate(mutations(good.encode(), inputs, seed=9)):
        files.append(tmp_path / f"t{i}.tsv")
        files[-1].write_bytes(data)
    result = subprocess.run([sys.executable, "-c", TUNING_READER, *map(str, files)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and f"read {len(files)}" in result.stdout, result.stderr[-2000:]
