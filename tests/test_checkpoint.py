import errno
import os
from pathlib import Path

import paddle
import pytest

from paddle_dcgan.files import checkpoint as ckpt
from paddle_dcgan.files import run_folder
from paddle_dcgan.errors import UserError
from paddle_dcgan.files.io import load_tagged, save_tagged
from paddle_dcgan.files.checkpoint import save_generator
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.core.models import Generator


def _state(step):
    return {"step": step, "value": paddle.to_tensor([float(step)])}


def test_rotation_keeps_newest(tmp_path):
    for step in (5, 10, 15, 20):
        ckpt.save_checkpoint(tmp_path, _state(step), keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000015.pdckpt", "step_00000020.pdckpt"]
    assert run_folder.find_checkpoint("latest", tmp_path).name == "step_00000020.pdckpt"
    newest = run_folder.find_checkpoint(str(tmp_path), tmp_path)
    assert load_tagged(newest, (ckpt.CHECKPOINT_FORMAT,))["value"].item() == 20.0  # a toy state: not a checkpoint
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "the file system is read-only"),
                                          (errno.EIO, "Input/output error")])
def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch, code, cause):
    path = tmp_path / "x.pdckpt"
    save_tagged({"step": 1}, ckpt.CHECKPOINT_FORMAT, path)

    def crash(file, data):
        open(file, "wb").close()  # a write dying after opening its file
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_bytes", crash)
    with pytest.raises(UserError, match=f"cannot write x.pdckpt in '{tmp_path}': {cause}"):
        save_tagged({"step": 2}, ckpt.CHECKPOINT_FORMAT, path)
    monkeypatch.undo()
    assert load_tagged(path, (ckpt.CHECKPOINT_FORMAT,))["step"] == 1
    assert os.listdir(tmp_path) == ["x.pdckpt"]


def test_rotation_deletes_old_checkpoints_only_after_writing_the_new_one(tmp_path, monkeypatch):
    for step in (5, 10):
        ckpt.save_checkpoint(tmp_path, _state(step), keep=2)
    monkeypatch.setattr(Path, "write_bytes", lambda file, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(UserError, match="the disk is full"):
        ckpt.save_checkpoint(tmp_path, _state(15), keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000005.pdckpt", "step_00000010.pdckpt"]


def test_bad_checkpoints_are_user_errors(tmp_path):
    empty = tmp_path / "empty.pdckpt"
    empty.touch()
    with pytest.raises(UserError, match="is empty"):
        ckpt.load_checkpoint(empty)
    garbage = tmp_path / "garbage.pdckpt"
    garbage.write_bytes(os.urandom(2000))
    with pytest.raises(UserError, match="corrupt"):
        ckpt.load_checkpoint(garbage)
    other = tmp_path / "other.pdckpt"
    paddle.save({"weights": paddle.ones([2])}, str(other))  # a pickle: never opened, the conversion is named
    with pytest.raises(UserError, match="0.1 file.*convert_legacy"):
        ckpt.load_checkpoint(other)
    with pytest.raises(UserError, match="not found"):
        run_folder.find_checkpoint(str(tmp_path / "nothing"), tmp_path)
    with pytest.raises(UserError, match="no checkpoint in"):
        run_folder.find_checkpoint("latest", tmp_path)


def test_generator_file_roundtrip(tmp_path):
    paddle.seed(0)
    g = Generator(32, nz=16, ngf=8)
    model = {"image_size": 32, "nz": 16, "ngf": 8, "ndf": 8}
    save_generator(g, model, "mnist", 42, tmp_path / "generator.pdparams")
    loaded, info = load_generator(tmp_path)
    assert info.step == 42 and info.dataset == "mnist" and info.model == model and not loaded.training
    assert info.source == tmp_path / "generator.pdparams"
    z = paddle.randn([3, 16, 1, 1])
    g.eval()
    assert paddle.allclose(g(z), loaded(z)).item()


def test_generator_file_with_wrong_shapes(tmp_path):
    g = Generator(28, nz=16, ngf=8)
    model = {"image_size": 28, "nz": 16, "ngf": 16, "ndf": 8}  # says ngf=16, weights are ngf=8
    save_generator(g, model, "mnist", 1, tmp_path / "generator.pdparams")
    with pytest.raises(UserError, match="does not match"):
        load_generator(tmp_path / "generator.pdparams")
