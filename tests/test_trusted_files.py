"""No file a tool reads runs code: a crafted pickle in every slot that reads a file is refused in one line
before anything opens it, and a file in the current format whose content was crafted or damaged is one
line too."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from conftest import ROOT, TINY, assert_one_line_error, run_tool
from paddle_dcgan.errors import UserError
from paddle_dcgan.files import container
from paddle_dcgan.files.checkpoint import load_checkpoint
from paddle_dcgan.files.io import load_tagged
from paddle_dcgan.sampling.load import load_generator


class _Touch:
    """Unpickling this creates the file ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted(path, marker, file_format="paddle-dcgan-generator", protocol=4):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"format": file_format, "version": 1, "payload": _Touch(marker)}, protocol=protocol))
    return path


SLOTS = {  # slot: (where the crafted file goes in a run folder, the tool's arguments)
    "infer --checkpoint": ("generator.pdparams", lambda run, f: ("infer.py", "--checkpoint", str(f))),
    "infer --run": ("generator.pdparams", lambda run, f: ("infer.py", "--run", str(run))),
    "eval --checkpoint": ("generator.pdparams", lambda run, f: ("eval.py", "--checkpoint", str(f), "-n", "100")),
    "eval --classifier": ("clf.pdclf", lambda run, f: ("eval.py", "--samples", str(run / "s.npy"), "--classifier",
                                                       str(f), "-n", "100")),
    "train --resume": ("checkpoints/step_00000010.pdckpt",
                       lambda run, f: ("train.py", "-o", *TINY, "run_name=r", f"output_dir={run.parent}", "--resume",
                                       str(f))),
    "export --run": ("generator.pdparams", lambda run, f: ("export.py", "--run", str(run))),
}


@pytest.mark.parametrize("slot, protocol", [*((slot, 4) for slot in sorted(SLOTS)), ("infer --checkpoint", 0)])
def test_a_crafted_pickle_runs_no_code_in_any_tool(tmp_path, slot, protocol):
    where, arguments = SLOTS[slot]
    run, marker = tmp_path / "output" / "r", tmp_path / "code_ran"
    run.mkdir(parents=True)
    np.save(run / "s.npy", np.zeros((100, 1, 28, 28), np.float32))
    crafted = _crafted(run / where, marker, protocol=protocol)
    result = run_tool(*arguments(run, crafted), cwd=tmp_path, check=False)
    assert not marker.exists(), f"{slot}: unpickling ran"
    assert_one_line_error(result, str(crafted.name))
    if protocol == 4:  # paddle.save's own protocol: recognised as a 0.1 file and the conversion named
        assert "tools/convert_legacy.py" in result.stderr


def test_a_crafted_pickle_runs_no_code_in_the_library_or_paddle_hub(tmp_path):
    import paddle

    marker = tmp_path / "code_ran"
    crafted = _crafted(tmp_path / "run" / "generator.pdparams", marker)
    with pytest.raises(UserError, match="convert it once"):
        load_generator(crafted)
    with pytest.raises(UserError, match="convert it once"):
        paddle.hub.load(str(ROOT), "generator", source="local", run=str(tmp_path / "run"))
    with pytest.raises(UserError, match="convert it once"):
        load_checkpoint(_crafted(tmp_path / "c.pdckpt", marker, "paddle-dcgan-checkpoint"))
    assert not marker.exists()


def test_the_conversion_opens_a_pickle_only_when_asked(tmp_path):
    """tools/convert_legacy.py is the one place a pickle is opened: a crafted one then runs, as its help warns."""
    marker = tmp_path / "code_ran"
    crafted = _crafted(tmp_path / "generator.pdparams", marker)
    result = run_tool("convert_legacy.py", str(crafted), cwd=tmp_path, check=False)
    assert_one_line_error(result, "paddle-dcgan 0.1 file", "nothing was converted")
    assert crafted.read_bytes().startswith(b"\x80")  # left as it was
    other = tmp_path / "notes.txt"
    other.write_text("not a model file")
    assert_one_line_error(run_tool("convert_legacy.py", str(other), cwd=tmp_path, check=False), "notes.txt", "corrupt")
    help_text = run_tool("convert_legacy.py", "--help", cwd=tmp_path).stdout
    assert "runs whatever code" in help_text and "trust" in help_text


def _generator_file(tiny_run):
    return tiny_run / "generator.pdparams"


def test_one_flipped_byte_anywhere_is_one_line_naming_the_file(tiny_run, tmp_path):
    original = _generator_file(tiny_run).read_bytes()
    rng = np.random.default_rng(0)
    for position in [0, 5, 8, 100, len(original) // 2, len(original) - 1, *rng.integers(0, len(original), 20)]:
        damaged = bytearray(original)
        damaged[int(position)] ^= 0x10
        path = tmp_path / f"g{position}.pdparams"
        path.write_bytes(bytes(damaged))
        with pytest.raises(UserError, match=path.name):
            load_generator(path)
    cut = tmp_path / "cut.pdparams"
    cut.write_bytes(original[: len(original) // 2])
    result = run_tool("infer.py", "--checkpoint", str(cut), cwd=tmp_path, check=False)
    assert_one_line_error(result, "cut.pdparams", "corrupt")


def _recrafted(path, out, change):
    """``path``'s content changed by ``change`` and written again with a valid digest: a crafted file."""
    obj = container.decode(path.read_bytes())
    change(obj)
    out.write_bytes(container.encode(obj))
    return out


@pytest.mark.parametrize("change, fragment", [
    (lambda o: o.update(step="ten"), "step"),
    (lambda o: o["model"].update(image_size=48), "image_size"),
    (lambda o: o["model"].update(nz=10**9), "nz"),
    (lambda o: o["generator"].update({"blocks.0.0.weight": np.zeros((2, 2), np.float32)}), "does not match"),
    (lambda o: o["generator"].update({"blocks.0.0.weight": np.zeros(3, np.int64)}), "float32"),
    (lambda o: o.pop("generator"), "generator"),
    (lambda o: o.update(format="something-else"), "not a paddle-dcgan"),
])
def test_a_crafted_generator_file_is_one_line(tiny_run, tmp_path, change, fragment):
    path = _recrafted(_generator_file(tiny_run), tmp_path / "generator.pdparams", change)
    result = run_tool("infer.py", "--checkpoint", str(path), "-n", "4", cwd=tmp_path, check=False)
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda o: o.update(history={"loss_d": ["x"]}), "history"),
    (lambda o: o["rng"].update(python=[3, [1, 2], None]), "rng.python"),
    (lambda o: o["rng"].update(paddle=[[0, 1, 2, [999]]]), "rng.paddle"),
    (lambda o: o["config"].update(model=[]), "model"),
    (lambda o: o.update(opt_g={}), "opt_g"),
])
def test_a_crafted_checkpoint_is_one_line_before_training(tiny_run, tmp_path, change, fragment):
    run = tmp_path / "output" / "tiny"
    shutil.copytree(tiny_run, run)
    checkpoint = sorted((run / "checkpoints").iterdir())[-1]
    _recrafted(checkpoint, checkpoint, change)
    result = run_tool("train.py", "-o", *TINY, "run_name=tiny", "train.epochs=2", "--resume", "latest", cwd=tmp_path,
                      check=False)
    assert_one_line_error(result, fragment)


def test_files_read_back_as_written(tiny_run):
    saved = load_checkpoint(sorted((tiny_run / "checkpoints").iterdir())[-1])
    assert isinstance(saved["generator"]["blocks.0.0.weight"], np.ndarray) and saved["step"] == 10
    assert load_tagged(_generator_file(tiny_run), ("paddle-dcgan-generator",))["format"] == "paddle-dcgan-generator"
