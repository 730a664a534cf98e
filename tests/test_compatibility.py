"""Files written by paddle-dcgan 0.1.0 (tests/fixtures, made with the command in made_on.json): pickles, which
no tool opens; once converted by tools/convert_legacy.py they load, sample and resume exactly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, TINY, assert_one_line_error, run_tool
from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
from paddle_dcgan.kernels.build import cpu_identity
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.sampling.sample import sample

FIXTURES = ROOT / "tests" / "fixtures"
RUN = FIXTURES / "run_v0.1"


def _same_machine() -> bool:
    """Float results repeat bit for bit on the CPU that made them; elsewhere only to rounding."""
    return json.loads((FIXTURES / "made_on.json").read_text())["cpu"] == cpu_identity()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A copy of the 0.1 run folder, converted by the tool."""
    run = tmp_path_factory.mktemp("converted") / "output" / "fixture"
    shutil.copytree(RUN, run)
    run_tool("convert_legacy.py", str(run), cwd=run.parent)
    return run


def test_an_old_file_is_refused_with_the_conversion_named(tmp_path):
    result = run_tool("infer.py", "--run", str(RUN), "--out", str(tmp_path / "out"), cwd=tmp_path, check=False)
    assert_one_line_error(result, "paddle-dcgan 0.1 file", "python tools/convert_legacy.py")
    assert not (tmp_path / "out").exists()


def test_an_old_generator_file_samples_what_it_sampled(converted):
    assert (converted / "generator.pdparams.pickle").read_bytes() == (RUN / "generator.pdparams").read_bytes()
    generator, info = load_generator(converted / "generator.pdparams")
    assert info.step == 10 and info.model["num_classes"] == 10
    expected = np.load(FIXTURES / "expected_samples_seed0.npy")
    np.testing.assert_allclose(sample(generator, 16, seed=0), expected, atol=1e-5, rtol=0)


def test_an_old_checkpoint_resumes_to_the_weights_the_old_version_reached(converted, tiny_data):
    run, tmp_path = converted, converted.parent.parent
    # written before model.conditioning existed: its D read label planes only, and a resume says so
    refused = run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}",
                       "run_name=fixture", "train.epochs=2", "--resume", "latest", "-o", "optim.lr_g=2e-4",
                       "optim.lr_d=2e-4", cwd=tmp_path, check=False)
    assert_one_line_error(refused, "model.conditioning='planes'", "-o model.conditioning='planes'")
    run_tool("train.py", "-c", str(ROOT / "configs" / "dcgan.yaml"), "-o", *TINY, f"data.dir={tiny_data}",
             "train.kernels=paddle", "run_name=fixture", "train.epochs=2", "--resume", "latest",
             "-o", "optim.lr_g=2e-4", "optim.lr_d=2e-4", "model.conditioning=planes",  # the fixture's; the default's differ
             cwd=tmp_path)
    saved = load_checkpoint(list_checkpoints(run)[-1])
    assert saved["step"] == 20
    expected = np.load(FIXTURES / "expected_step20.npz")
    for key in expected.files:
        net, name = key.split("/", 1)
        ours = np.asarray(saved[net][name])
        if _same_machine():
            np.testing.assert_array_equal(ours, expected[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours, expected[key], atol=1e-4, rtol=0, err_msg=key)
    before = load_checkpoint(run / "checkpoints" / "step_00000010.pdckpt") if (
        run / "checkpoints" / "step_00000010.pdckpt").exists() else None
    old_history = np.loadtxt(RUN / "history.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(saved["history"]["loss_d"][:10], old_history[:, 1], rtol=1e-5)
    assert before is None or before["step"] == 10
