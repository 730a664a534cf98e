"""Shared fixtures: tiny MNIST-format data made here, and a runner for the real tools."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import paddle_dcgan

paddle_dcgan.tune_cpu()  # as the tools do: every core, and before any test module imports paddle

from paddle_dcgan.data.mnist import FILES, write_idx  # noqa: E402
from paddle_dcgan.logs import LOGGER  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Small nets and data so that an end-to-end run takes seconds on a CPU.
TINY = ["model.ngf=8", "model.ndf=8", "model.nz=16", "train.batch_size=20", "train.log_every=5",
        "train.num_fixed_samples=16", "data.name=mnist",
        # the generator file holds the trained weights as they are (no average, training's BatchNorm statistics);
        # tests of the average and of recomputed statistics ask for them
        "train.ema_halflife=0", "model.sample_bn=running"]


def make_idx_dataset(folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """Write a four-file MNIST-format dataset of blurry class-dependent blobs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):  # a bright bar whose position encodes the class
            images[i, 4 + 2 * label: 7 + 2 * label, 6:22] = 255
        image_file, label_file = FILES[split]
        write_idx(folder / image_file, images.astype(np.uint8))
        write_idx(folder / label_file, labels.astype(np.uint8))
    return folder


@pytest.fixture(autouse=True)
def restore_package_logger():
    """Every test leaves the package's logger as it found it: a Trainer built in-process gives it its
    own stderr handler and stops propagation, which would hide later tests' log lines from caplog."""
    logger = logging.getLogger(LOGGER)
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("tiny_mnist"))


def run_tool(script: str, *args: str, cwd: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run tools/<script> as a user would, in ``cwd``."""
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / script), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def train_tool(cwd: Path, data_dir: Path, *extra: str, config: Path | None = None, run_name: str | None = "tiny",
               **kwargs) -> subprocess.CompletedProcess:
    """tools/train.py on the TINY nets and ``data_dir``'s digits, in ``cwd``; ``extra``: more ``-o`` overrides,
    then any other arguments (``--resume latest``). ``run_name`` None: the config file's name."""
    head = ["-c", str(config)] if config else []
    named = [f"run_name={run_name}"] if run_name else []
    return run_tool("train.py", *head, "-o", *TINY, f"data.dir={data_dir}", *named, *extra, cwd=cwd, **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, a single 'error:' line naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """One epoch (10 steps) of the TINY config, trained by the real tool: a generator to export, sample, load."""
    cwd = tmp_path_factory.mktemp("tiny_run")
    run_tool("train.py", "-o", *TINY, f"data.dir={tiny_data}", "train.epochs=1", "run_name=tiny", cwd=cwd)
    return cwd / "output" / "tiny"


@pytest.fixture(scope="session")
def tiny_plain_run(tiny_data, tmp_path_factory) -> Path:
    """As tiny_run, for the unconditional DCGAN (model.num_classes=0, configs/dcgan_plain.yaml's model)."""
    cwd = tmp_path_factory.mktemp("tiny_plain_run")
    run_tool("train.py", "-o", *TINY, f"data.dir={tiny_data}", "train.epochs=1", "run_name=plain", "model.num_classes=0",
             cwd=cwd)
    return cwd / "output" / "plain"


@pytest.fixture(scope="session")
def tiny_cond_run(tiny_data, tmp_path_factory) -> Path:
    """Two epochs (20 steps) of configs/cdcgan.yaml at the TINY sizes: a conditional generator, trained by the tool."""
    cwd = tmp_path_factory.mktemp("tiny_cond_run")
    run_tool("train.py", "-c", str(ROOT / "configs" / "cdcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}",
             "train.epochs=2", cwd=cwd)
    return cwd / "output" / "cdcgan"


def run_without(module: str, script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run tools/<script> in an interpreter where ``import module`` fails, as if it were not installed."""
    code = (f"import runpy, sys; sys.modules[{module!r}] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, str(ROOT / "tools" / script), *args], cwd=cwd,
                          env=dict(os.environ, MPLBACKEND="Agg"), capture_output=True, text=True, timeout=300)


def pytest_addoption(parser):
    parser.addoption("--fuzz", type=int, default=0, metavar="N",
                     help="inputs per reader in tests/test_fuzz.py (default: a few seconds' worth)")
