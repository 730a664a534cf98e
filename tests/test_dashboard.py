"""train.visualdl: the VisualDL log of a run, read back with VisualDL's own reader."""

import io

import numpy as np
import pytest
from PIL import Image

from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint
from paddle_dcgan.config import Config
from paddle_dcgan.training.dashboard import GRID_TAG, STEP_TAGS

from conftest import TINY, assert_one_line_error, run_tool, run_without, train_tool

visualdl = pytest.importorskip("visualdl", reason="the dashboard extra is not installed: pip install -e \".[dashboard]\"")


def _train(cwd, data_dir, *extra, check=True):
    return train_tool(cwd, data_dir, "train.visualdl=true", *extra, run_name="v", check=check)


def test_off_by_default():
    assert Config().train.visualdl is False


def test_log_holds_losses_grids_and_scores_after_a_resume(tiny_data, tmp_path):
    """Epoch 1, then a resume to epoch 2: one log file (VisualDL reads one per folder) with all 20 steps."""
    run_tool("train_classifier.py", "--data", "mnist", "--data-dir", str(tiny_data), "--epochs", "1", "--out",
             str(tmp_path / "clf.pdclf"), cwd=tmp_path)
    evaluation = ["eval.every_epochs=1", "eval.num_samples=100", f"eval.classifier={tmp_path / 'clf.pdclf'}"]
    _train(tmp_path, tiny_data, "train.epochs=1", *evaluation)
    _train(tmp_path, tiny_data, "train.epochs=2", *evaluation, "--resume", "latest")
    run = tmp_path / "output" / "v"
    logs = list((run / "vdl").iterdir())
    assert len(logs) == 1 and logs[0].name.startswith("vdlrecords.")
    reader = visualdl.LogReader(file_path=str(logs[0]))
    tags = reader.get_tags()
    assert set(tags["scalar"]) == set(STEP_TAGS.values()) | {"eval/fid", "eval/mnist_score", "eval/classes_covered",
                                                             "eval/kl_to_uniform", "eval/precision", "eval/recall",
                                                             "eval/conditional_accuracy"}  # the default model is conditional
    saved = load_checkpoint(list_checkpoints(run)[-1])
    for key, tag in STEP_TAGS.items():
        records = reader.get_data("scalar", tag)
        assert [r.id for r in records] == list(range(1, 21))
        np.testing.assert_allclose([r.value for r in records], saved["history"][key], rtol=1e-6)
    fid = reader.get_data("scalar", "eval/fid")
    assert [r.id for r in fid] == [10, 20]
    np.testing.assert_allclose([r.value for r in fid], [e["fid"] for e in saved["evals"]], rtol=1e-6)
    grids = reader.get_data("image", GRID_TAG)
    assert [r.id for r in grids] == [10, 20]
    for record, epoch in zip(grids, (1, 2)):  # epoch 1 replayed from its PNG after the resume, epoch 2 live
        logged = Image.open(io.BytesIO(record.image.encoded_image_string)).convert("RGB")
        on_disk = Image.open(run / "samples" / f"epoch_{epoch:03d}.png").reduce(2).convert("RGB")
        assert logged.size == (10 * 30 + 2, 2 * 30 + 2)  # 16 digits of the conditional default: a column per digit
        np.testing.assert_array_equal(np.asarray(logged), np.asarray(on_disk))


def test_missing_visualdl_is_reported_before_anything_is_written(tiny_data, tmp_path):
    result = run_without("visualdl", "train.py", "-o", *TINY, f"data.dir={tiny_data}", "train.visualdl=true",
                         cwd=tmp_path)
    assert_one_line_error(result, "visualdl", 'pip install -e ".[dashboard]"')
    assert not (tmp_path / "output").exists()
